"""Where the twins look when they answer a passkey: the attention probe on passkey prompts in held-out text
(notebooks 04 and 05)."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

import numpy as np

from ..measure.inputs.needles import FORMATS, build_prompt, passkey_needle
from ..measure.inputs.texts import load_corpus
from ..measure.probe.probe import instrumented_forward
from ..measure.readings.locality import first_token_share

if TYPE_CHECKING:
    from ..models.loading import LoadedModel


def passkey_probe(loaded: LoadedModel, length: int, depth: float = 100.0, seed: int = 0,
                  answer_length: int = 8) -> tuple[list[int], list[int], tuple[int, int]]:
    """A passkey prompt of ``length`` tokens on held-out text for the attention probe: its ids (a diffusion model's
    answer as ``answer_length`` mask tokens at the end), the answer's query positions (an AR model's: its last
    position) and the needle's span."""
    rng = random.Random(seed)
    needle = passkey_needle(rng)
    answer = answer_length if loaded.kind == "diffusion" else 0
    heldout = load_corpus().heldout
    start = rng.randrange(len(heldout) - length)
    prompt = build_prompt(loaded.tokenizer, heldout[start:start + length].tolist(), needle, length - answer, depth,
                          FORMATS["plain"])
    ids = prompt.ids + [loaded.mask_token_id] * answer
    queries = list(range(len(ids) - answer, len(ids))) if answer else [len(ids) - 1]
    return ids, queries, (prompt.needle_start, prompt.needle_end)


def passkey_attention(loaded: LoadedModel, length: int, seeds: int = 8, train_length: int | None = None
                      ) -> tuple[dict, dict]:
    """Where a twin's answer looks in ``seeds`` passkey prompts of ``length`` tokens (needle at depth 100 %,
    :func:`passkey_probe`): the share within T (mean over layers, heads and answer queries), the best head's share on
    the needle (max over layers of the mean over queries), the share on the first token — each the mean over the
    prompts — and the first prompt's probe statistics by layer."""
    local, needle, sink, first = [], [], [], None
    for seed in range(seeds):
        ids, queries, span = passkey_probe(loaded, length, seed=seed)
        stats = instrumented_forward(loaded, ids, queries=queries, needle=span, train_length=train_length)
        local.append(np.mean([s.local.mean() for s in stats.values()]))
        needle.append(max(s.needle.mean(axis=1).max() for s in stats.values()))
        sink.append(np.mean([first_token_share(s.topk_positions, s.topk_weights) for s in stats.values()]))
        first = first or stats
    return {"share within T (mean over layers, heads)": round(float(np.mean(local)), 2),
            "best head's share on the needle": round(float(np.mean(needle)), 2),
            "share on the first token": round(float(np.mean(sink)), 2)}, first


def answer_attention(loaded: LoadedModel, length: int, depth: float, prompts: int = 4) -> dict:
    """Where a twin looks when it produces the passkey, in a prompt of ``length`` tokens with the needle at
    ``depth`` % (the attention probe on :func:`passkey_probe` prompts, mean over ``prompts`` of them). The queries
    are the positions that produce the answer: a diffusion twin's masked answer slots; for an AR twin, the answer is
    teacher-forced and the queries are the positions that predict its five digits. ``needle`` — the best head's
    share on the needle (max over layers and heads of the mean over the queries); ``within_T`` — the share within T
    of each query (mean over layers, heads and queries); ``uniform`` — the needle's share under uniform attention."""

    needle, local, uniform = [], [], []
    for seed in range(prompts):
        ids, queries, span = passkey_probe(loaded, length, depth=depth, seed=seed)
        if loaded.kind != "diffusion":
            key = re.search(r"\d{5}", loaded.tokenizer.decode(ids[span[0]:span[1]])).group()
            answer = loaded.tokenizer.encode(f" {key}")
            queries = list(range(len(ids), len(ids) + len(answer) - 1))
            ids = ids + answer[:-1]
        stats = instrumented_forward(loaded, ids, queries=queries, needle=span, train_length=loaded.spec.train_length)
        needle.append(max(float(s.needle.mean(axis=1).max()) for s in stats.values()))
        local.append(float(np.mean([s.local.mean() for s in stats.values()])))
        uniform.append((span[1] - span[0]) / len(ids))
    return {"needle": round(float(np.mean(needle)), 3), "within_T": round(float(np.mean(local)), 3),
            "uniform": round(float(np.mean(uniform)), 3)}

