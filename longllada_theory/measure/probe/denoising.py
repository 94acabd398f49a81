"""Attention during denoising: the attention probe (:mod:`.probe`) watching every forward pass of a diffusion model's
sampler as it answers (``longllada attention … --niah-depth D --during-denoising``).

The sampler starts from the prompt followed by ``gen_length`` mask tokens and unmasks some at each step (LLaDA's
low-confidence remasking, Dream's sampler: :mod:`..sampling`). At every step the probe takes the answer positions as
queries and records, per layer, each query's share of attention within T_train of it (``local``; beyond T is
1 − local) and on the needle's tokens (``needle``), averaged over heads, together with which answer positions were
still masked when the step's forward ran — so one sees where the masked positions look as unmasking proceeds.
Each step also keeps the attention mass by signed relative distance (key − query, log-spaced bins in both
directions: a diffusion model attends forward too) of the masked and of the decoded answer positions, and the
:data:`SINKS` keys receiving the most attention (the attention sinks, arXiv 2510.15731) — drawn as step × distance
heatmaps with the sinks' track (:func:`denoising_distances`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LongLLaDAError
from ..sampling import SamplerOptions, answers
from .probe import AttentionProbe
from .reducers import distance_edges

if TYPE_CHECKING:
    from ...models.loading import LoadedModel

#: how many attention sinks each step keeps
SINKS = 4


def denoising_statistics(loaded: LoadedModel, prompt: Sequence[int], options: SamplerOptions, seed: int = 0,
                         **probe_options) -> tuple[list[int], dict[int, list[dict]]]:
    """Answer ``prompt`` with the model's sampler under the probe; returns the answer's ids and, by layer, one row
    per sampler step: ``{"masked": [bool per answer position], "local": [...], "needle": [...], "mass_masked":
    [2][bins], "mass_decoded": [2][bins], "sinks": [[position, mass], …]}`` (each query's value averaged over heads;
    ``needle`` only with a needle span; a mass row is the mean over the masked or decoded answer positions, None
    where there are none; with ``head_argmax=True`` also each head's most-attended key per answer position)."""
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
            if stats.query_mass is not None:
                for name, chosen in (("mass_masked", masked), ("mass_decoded", [not m for m in masked])):
                    rows = stats.query_mass[np.array(chosen, dtype=bool)]
                    row[name] = _rounded(rows.mean(0)) if len(rows) else None
            if stats.sink_positions is not None:
                row["sinks"] = [[int(p), round(float(w), 6)]
                                for p, w in zip(stats.sink_positions, stats.sink_weights, strict=True)]
            if stats.head_argmax is not None:
                row["head_argmax"] = stats.head_argmax.tolist()
            steps.setdefault(layer, []).append(row)

    probe_options = {"query_mass": True, "sinks": SINKS, **probe_options}
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


def denoising_distances(cells: list[dict], tokens: int) -> dict:
    """By sampler step, averaged over layers: the attention mass of the masked and of the decoded answer positions by
    signed relative distance — ``masked`` / ``decoded`` [steps, columns]: the keys before the query (Δ < 0, farthest
    first), the query itself (Δ = 0), then the keys after it, each column named in ``labels`` by its |Δ| lower edge
    (``edges``: :func:`~.reducers.distance_edges`) — and the attention sinks, pooled over layers: ``sinks``
    [steps][(position, mass)], the :data:`SINKS` keys with the most mass. Needs cells from a run that kept them."""
    edges = distance_edges(tokens)
    bins = len(edges) - 1  # the last bin, |Δ| ≥ its edge ≥ tokens, is always empty
    steps = min(len(c["steps"]) for c in cells)

    def signed(rows: list) -> np.ndarray:
        rows = [np.asarray(r, dtype=np.float64) for r in rows if r is not None]
        if not rows:
            return np.full(2 * bins - 1, np.nan)
        mean = np.mean(rows, axis=0)[:, :bins]
        return np.concatenate((mean[0][::-1], mean[1][1:]))  # Δ > 0 has no |Δ| < 1 bin

    out: dict = {"step": np.arange(steps), "edges": edges,
                 "labels": [f"−{e}" if e else "0" for e in edges[bins - 1::-1]] + [f"+{e}" for e in edges[1:bins]]}
    for name in ("masked", "decoded"):
        out[name] = np.array([signed([c["steps"][s][f"mass_{name}"] for c in cells]) for s in range(steps)])
    out["sinks"] = []
    for s in range(steps):
        pooled: dict[int, float] = {}
        for c in cells:
            for position, mass in c["steps"][s]["sinks"]:
                pooled[position] = pooled.get(position, 0.0) + mass / len(cells)
        out["sinks"].append(sorted(pooled.items(), key=lambda item: -item[1])[:SINKS])
    return out


def denoising_row(run) -> dict:
    """One row for a table of ``--during-denoising`` runs: the answer and its score, the masked positions' share
    within T at the first and the last step, the masked and decoded positions' share on the needle (mean over steps)
    and the needle's share under uniform attention."""
    curve = denoising_curve(run.cells)
    start, end = run.settings["needle_span"]
    return {"answer": run.cells[0]["answer"].strip(), "score": run.cells[0]["score"],
            "masked: within T, first step": curve["local_masked"][0],
            "masked: within T, last step": curve["local_masked"][-1],
            "masked: on the needle, mean over steps": np.nanmean(curve["needle_masked"]),
            "decoded: on the needle, mean over steps": np.nanmean(curve["needle_decoded"]),
            "uniform share of the needle": (end - start) / run.settings["length"]}
