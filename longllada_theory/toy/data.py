"""Byte-level data for the twins, from a source every Python install has: the standard library's own ``.py``
files (test suites and IDLE left out). Every 10th file (sorted by path) is held out for evaluation.

Training rows mix plain text windows with passkey rows built by the same :func:`~longllada_theory.needles.build_prompt`
the evaluation uses. Everything is a pure function of (seed, step), so training resumes exactly.
"""

from __future__ import annotations

import hashlib
import random
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..needles import FORMATS, build_prompt, passkey_needle

MASK_ID = 256
PAD_ID = 257
VOCAB_SIZE = 258
EXCLUDED_PARTS = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo"}


class ByteTokenizer:
    """UTF-8 bytes as token ids 0–255; 256 is [MASK], 257 padding."""

    mask_token_id = MASK_ID
    pad_token_id = PAD_ID
    vocab_size = VOCAB_SIZE

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray      # uint8 bytes of the training files
    heldout: np.ndarray    # uint8 bytes of every 10th file
    digest: str            # sha256 of both, to tell whether another Python install gives the same data
    files: int


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(f for f in root.rglob("*.py")
                  if not EXCLUDED_PARTS.intersection(f.relative_to(root).parts))


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    files = stdlib_files()
    train, heldout = [], []
    for index, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        (heldout if index % 10 == 0 else train).append(data + b"\n\n")
    train_bytes, heldout_bytes = b"".join(train), b"".join(heldout)
    digest = hashlib.sha256(train_bytes + b"\0" + heldout_bytes).hexdigest()[:16]
    return Corpus(np.frombuffer(train_bytes, dtype=np.uint8), np.frombuffer(heldout_bytes, dtype=np.uint8),
                  digest, len(files))


def text_window(source: np.ndarray, length: int, rng: random.Random) -> list[int]:
    start = rng.randrange(0, len(source) - length)
    return source[start:start + length].tolist()


def passkey_row(source: np.ndarray, length: int, rng: random.Random, depth: float | None = None):
    """A passkey prompt of ``length`` bytes (filler from ``source``, needle at ``depth`` %, random if None) and its
    answer (" 12345." as bytes). Returns (prompt ids, answer ids, NeedlePrompt)."""
    needle = passkey_needle(rng)
    filler = text_window(source, length, rng)
    prompt = build_prompt(ByteTokenizer(), filler, needle, length, rng.uniform(0, 100) if depth is None else depth,
                          FORMATS["plain"])
    answer = ByteTokenizer().encode(f" {needle.keyword}.")
    return prompt.ids, answer, prompt


def training_batch(seed: int, step: int, batch_size: int, length: int, passkey_share: float = 0.5):
    """Rows of ``length`` bytes for one step, and for each row the positions of the passkey answer (empty for
    text rows). A pure function of (seed, step)."""
    corpus = load_corpus()
    rng = random.Random(f"{seed}:{step}")
    rows, answers = [], []
    for _ in range(batch_size):
        if rng.random() < passkey_share:
            answer_len = 7  # " 12345."
            ids, answer, _ = passkey_row(corpus.train, length - answer_len, rng)
            rows.append(ids + answer)
            answers.append(list(range(len(ids), len(ids) + len(answer) - 1)))  # the space and 5 digits
        else:
            rows.append(text_window(corpus.train, length, rng))
            answers.append([])
    return np.array(rows, dtype=np.int64), answers
