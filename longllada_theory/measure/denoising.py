"""Attention during denoising: the attention probe (:mod:`.probe`) watching every forward pass of a diffusion model's
sampler as it answers (``longllada attention … --niah-depth D --during-denoising``).

The sampler starts from the prompt followed by ``gen_length`` mask tokens and unmasks some at each step (LLaDA's
low-confidence remasking, Dream's sampler: :mod:`.sampling`). At every step the probe takes the answer positions as
queries and records, per layer, each query's share of attention within T_train of it (``local``; beyond T is
1 − local) and on the needle's tokens (``needle``), averaged over heads, together with which answer positions were
still masked when the step's forward ran — so one sees where the masked positions look as unmasking proceeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LongLLaDAError
from .probe import AttentionProbe
from .sampling import SamplerOptions, answers

if TYPE_CHECKING:
    from ..models.loading import LoadedModel


def denoising_statistics(loaded: LoadedModel, prompt: Sequence[int], options: SamplerOptions, seed: int = 0,
                         **probe_options) -> tuple[list[int], dict[int, list[dict]]]:
    """Answer ``prompt`` with the model's sampler under the probe; returns the answer's ids and, by layer, one row
    per sampler step: ``{"masked": [bool per answer position], "local": [...], "needle": [...]}`` (each query's
    value averaged over heads; ``needle`` only with a needle span)."""
    import torch

    if loaded.kind != "diffusion":
        raise LongLLaDAError(f"{loaded.name} is an AR model; attention during denoising needs a diffusion model",
                             parameters=("during_denoising",))
    start = len(prompt)
    queries = list(range(start, start + options.gen_length))
    steps: dict[int, list[dict]] = {}

    def record(module, args, kwargs, output):
        ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        masked = (ids[0, start:] == loaded.mask_token_id).tolist()
        for layer, stats in probe.stats.items():
            row = {"masked": masked, "local": _rounded(stats.local.mean(0))}
            if stats.needle is not None:
                row["needle"] = _rounded(stats.needle.mean(0))
            steps.setdefault(layer, []).append(row)

    with AttentionProbe(loaded, queries=queries, **probe_options) as probe:
        handle = loaded.model.register_forward_hook(record, with_kwargs=True)
        try:
            with torch.no_grad():
                answer = answers(loaded, [list(prompt)], options, seeds=[seed])[0]
        finally:
            handle.remove()
    return answer, steps


def _rounded(values) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


def denoising_curve(cells: list[dict]) -> dict[str, np.ndarray]:
    """By sampler step, averaged over layers: the share of attention within T_train and on the needle of the answer
    positions still masked and of those already decoded (NaN where a step has none), and how many were masked."""
    steps = min(len(c["steps"]) for c in cells)

    def mean(statistic: str, masked: bool, step: int) -> float:
        values = [v for c in cells if statistic in c["steps"][step]
                  for v, m in zip(c["steps"][step][statistic], c["steps"][step]["masked"]) if m == masked]
        return float(np.mean(values)) if values else float("nan")

    curve = {"step": np.arange(steps), "masked": np.array([sum(cells[0]["steps"][s]["masked"]) for s in range(steps)])}
    for statistic in ("local", "needle"):
        for masked, name in ((True, "masked"), (False, "decoded")):
            curve[f"{statistic}_{name}"] = np.array([mean(statistic, masked, s) for s in range(steps)])
    return curve
