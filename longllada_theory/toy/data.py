"""Byte-level data for the twins, from a source every Python install has: the standard-library corpus of
:mod:`longllada_theory.measure.inputs.texts` (every 10th file held out for evaluation).

Training rows mix plain text windows with passkey rows built by the same
:func:`~longllada_theory.measure.inputs.needles.build_prompt` the evaluation uses. Everything is a pure function of
(seed, step), so training resumes exactly.
"""

from __future__ import annotations

import random

import numpy as np

from ..measure.inputs.needles import FORMATS, build_prompt, passkey_needle
from ..measure.inputs.texts import load_corpus
from ..models.tokenizers import ByteTokenizer

MASK_ID = ByteTokenizer.MASK_ID
PAD_ID = ByteTokenizer.PAD_ID
VOCAB_SIZE = ByteTokenizer.VOCAB_SIZE
ANSWER_LENGTH = 8  # " 12345.\n": the answer slots the evaluation masks (diffusion) or generates (AR)


def text_window(source: np.ndarray, length: int, rng: random.Random) -> list[int]:
    start = rng.randrange(0, len(source) - length)
    return source[start:start + length].tolist()


def passkey_row(source: np.ndarray, length: int, rng: random.Random, depth: float | None = None):
    """A passkey prompt of ``length`` bytes (filler from ``source``, needle at ``depth`` %, random if None) and its
    answer (" 12345.\n" as bytes, :data:`ANSWER_LENGTH` of them). Returns (prompt ids, answer ids, NeedlePrompt)."""
    needle = passkey_needle(rng)
    filler = text_window(source, length, rng)
    prompt = build_prompt(ByteTokenizer(), filler, needle, length, rng.uniform(0, 100) if depth is None else depth,
                          FORMATS["plain"])
    answer = ByteTokenizer().encode(f" {needle.keyword}.\n")
    return prompt.ids, answer, prompt


def training_batch(seed: int, step: int, batch_size: int, length: int, passkey_share: float = 0.5):
    """Rows of ``length`` bytes for one step, and for each row the positions of the passkey answer — every answer
    slot the evaluation asks for (empty for text rows). A pure function of (seed, step)."""
    corpus = load_corpus()
    rng = random.Random(f"{seed}:{step}")
    rows, answers = [], []
    for _ in range(batch_size):
        if rng.random() < passkey_share:
            ids, answer, _ = passkey_row(corpus.train, length - ANSWER_LENGTH, rng)
            rows.append(ids + answer)
            answers.append(list(range(len(ids), len(ids) + len(answer))))
        else:
            rows.append(text_window(corpus.train, length, rng))
            answers.append([])
    return np.array(rows, dtype=np.int64), answers
