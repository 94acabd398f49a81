"""Retrieval heads (Wu et al., arXiv 2404.15574): the attention heads that copy a needle into the answer (the
``retrieval`` measurement) — for AR models and, at the sampler step that unmasks each answer token, for diffusion
models.

A NIAH grid (the ``niah`` measurement's cells, package protocol) is answered while the attention probe
(:mod:`..probe.probe`) records each head's most-attended key at the query that writes each answer token:

- AR: the token at position t is chosen by the query at t − 1. Attention is causal, so one forward pass over the
  prompt and the greedy answer gives every step's attention exactly as decoding saw it.
- Diffusion: the query is the answer position itself, in the forward pass of the sampler step that unmasked it (the
  probe watches every step, :mod:`..probe.denoising`); the answer is the one ``niah`` gives for the same cell and seed.

A *copy step* writes a token that occurs in the needle. Head h of layer l *hits* when its most-attended key at that
query lies in the needle and holds the token written. A head's retrieval score is hits / copy steps, pooled over the
cells: the share of the needle's copies the head points at (Wu et al. divide by the needle's length in tokens; per
copy step the score is 0–1 whatever the answer length). Heads scoring ≥ :data:`THRESHOLD` are retrieval heads, Wu et
al.'s threshold. ``longllada niah … --ablate-heads`` (:mod:`..probe.ablation`) measures what the top heads are worth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import LongLLaDAError
from ..probe.ablation import heads_ablated
from ..probe.denoising import denoising_statistics
from ..probe.probe import instrumented_forward
from ..protocol import option, register_protocol
from ..sampling import answers as model_answers
from ..stats import seed_interval
from .niah import NeedleInAHaystack, NiahSettings, answer_seed, cell_prompt, niah_grid, scored

#: the retrieval score from which Wu et al. call a head a retrieval head
THRESHOLD = 0.1
#: heads a summary names
TOP = 10


@dataclass(frozen=True)
class RetrievalSettings(NiahSettings):
    """NIAH's settings, less the two a retrieval run cannot vary (not options of its command)."""

    protocol: str = option("the package's prompts: the needle's token span is known", "package", cli=False)
    batch_size: int = option("one prompt at a time: the probe reads one sequence", 1, cli=False)

    def __post_init__(self):
        super().__post_init__()
        if self.protocol != "package":
            raise LongLLaDAError("retrieval heads need the needle's token span: use --protocol package",
                                 parameters=("protocol",))
        if self.batch_size != 1:
            raise LongLLaDAError("the attention probe reads one sequence at a time: leave batch_size at 1",
                                 parameters=("batch_size",))


def copy_hits(ids: list[int], span: tuple[int, int], written: list[int], argmax: np.ndarray) -> tuple[int, np.ndarray]:
    """Copy steps and hits [layers, heads] of one answer: ``ids`` the prompt and answer, ``span`` the needle's
    tokens in it, ``written[i]`` the i-th token written and ``argmax[l, h, i]`` the key head h of layer l attends
    to most at the query that wrote it."""
    needle = set(ids[span[0]:span[1]])
    copying = np.array([token in needle for token in written])
    keys = np.asarray(argmax)
    in_needle = (keys >= span[0]) & (keys < span[1])
    same_token = np.asarray(ids)[keys] == np.asarray(written)[None, None, :]
    return int(copying.sum()), (in_needle & same_token & copying[None, None, :]).sum(-1)


def written_and_argmax(loaded, prompt: list[int], options, seed: int) -> tuple[list[int], np.ndarray]:
    """The model's answer after ``prompt`` and, for each token of it, every head's most-attended key at the query
    that wrote it: [layers, heads, answer tokens] (module docstring)."""
    if loaded.kind == "diffusion":
        answer, steps = denoising_statistics(loaded, prompt, options, seed, head_argmax=True, query_mass=False,
                                             sinks=0)
        layers = sorted(steps)
        unmasked_at = [max(s for s, row in enumerate(steps[layers[0]]) if row["masked"][j])
                       for j in range(len(answer))]
        return answer, np.array([[[steps[layer][s]["head_argmax"][h][j] for j, s in enumerate(unmasked_at)]
                                  for h in range(len(steps[layer][0]["head_argmax"]))] for layer in layers])
    answer = model_answers(loaded, [prompt], options, seeds=[seed])[0]
    if not answer:
        return answer, np.zeros((0, 0, 0), dtype=int)
    queries = list(range(len(prompt) - 1, len(prompt) - 1 + len(answer)))
    stats = instrumented_forward(loaded, list(prompt) + list(answer), queries=queries, head_argmax=True)
    return answer, np.array([stats[layer].head_argmax for layer in sorted(stats)])


def head_scores(cells: list[dict]) -> tuple[int, np.ndarray]:
    """Copy steps and retrieval scores [layers, heads] pooled over cells (NaN where nothing was copied)."""
    copies = sum(c["copies"] for c in cells)
    hits = np.sum([np.asarray(c["hits"]) for c in cells if np.size(c["hits"])], axis=0)
    return copies, hits / copies if copies else np.full(np.shape(hits), np.nan)


def top_heads(scores: np.ndarray, count: int = TOP) -> list[tuple[str, float]]:
    """The ``count`` heads with the highest scores as (``layer.head``, score), best first."""
    order = np.argsort(-np.nan_to_num(scores, nan=-1).ravel(), kind="stable")[:count]
    return [(f"{i // scores.shape[1]}.{i % scores.shape[1]}", float(scores.flat[i])) for i in order]


def retrieval_row(run) -> dict:
    """One row for a table of runs (a :class:`~longllada_theory.measure.results.Results` of ``retrieval``)."""
    summary = RetrievalHeads.summarize(run.settings, run.cells)
    best = summary["top"][0] if summary["top"] else {"head": None, "score": None}
    return {"model": run.settings["model"], "prompts": summary["cells"], "NIAH mean": summary["niah_mean"],
            "copied tokens": summary["copies"], "heads": summary["heads"],
            f"heads ≥ {THRESHOLD:g}": summary["retrieval_heads"], "best head": best["head"],
            "best score": best["score"]}


def retrieval_intervals(runs: list, confidence: float = 0.95) -> dict:
    """For runs of one training recipe on independently trained models (seeds): the number of retrieval heads and
    the best head's score, each a mean with its Student-t interval over the models, clipped to what is possible."""
    rows = [retrieval_row(run) for run in runs]
    count = f"heads ≥ {THRESHOLD:g}"
    return {count: seed_interval([r[count] for r in rows], confidence, bounds=(0, rows[0]["heads"])),
            "best score": seed_interval([r["best score"] for r in rows], confidence, bounds=(0, 1))}


def control_heads(scores: np.ndarray, count: int, seed: int = 0) -> list[str]:
    """``count`` heads drawn at random (seeded) among those scoring below :data:`THRESHOLD`: the control an ablation
    of as many retrieval heads is compared with."""
    others = [f"{i // scores.shape[1]}.{i % scores.shape[1]}" for i in range(scores.size)
              if not np.nan_to_num(scores.flat[i]) >= THRESHOLD]
    chosen = np.random.default_rng(seed).choice(len(others), size=min(count, len(others)), replace=False)
    return [others[i] for i in chosen]


def ablation_effect(retrieval_runs: list, niah_runs: list, confidence: float = 0.95) -> dict:
    """What ablating heads costs NIAH, per model and over models. Each model (its ``model`` header field) has a
    ``retrieval`` run naming its top heads and ``niah`` runs on the same cells, one without ablation (the
    baseline), others with ``--ablate-heads``: a set of the model's top heads is a *retrieval* ablation, any other
    set a *control*. Per model the drop of the mean score from the baseline (a model's control drops averaged);
    over models the mean drop of each and the paired difference retrieval − control with their t intervals
    (clipped to the possible −100…100; :func:`~longllada_theory.measure.stats.seed_interval`; the units are
    independently trained models)."""
    rows = []
    for retrieval in retrieval_runs:
        model = retrieval.settings["model"]
        top = {head for head, score in top_heads(head_scores(retrieval.cells)[1]) if score > 0}
        mine = [run for run in niah_runs if run.settings["model"] == model]
        baseline = [run for run in mine if not run.settings.get("ablate_heads")]
        if len(baseline) != 1:
            raise LongLLaDAError(f"{model}: expected one NIAH run without ablation, found {len(baseline)}")
        base = float(np.mean([c["score"] for c in baseline[0].cells]))
        drops: dict[str, list[float]] = {"retrieval": [], "control": []}
        heads: dict[str, list[str]] = {"retrieval": [], "control": []}
        for run in mine:
            ablated = run.settings.get("ablate_heads")
            if ablated:
                kind = "retrieval" if set(ablated) <= top else "control"
                drops[kind].append(base - float(np.mean([c["score"] for c in run.cells])))
                heads[kind].append(",".join(ablated))
        rows.append({"model": model, "baseline": base, **{f"{k}_drop": float(np.mean(v)) if v else None
                                                          for k, v in drops.items()},
                     **{f"{k}_heads": v for k, v in heads.items()}})
    paired = [r for r in rows if r["retrieval_drop"] is not None and r["control_drop"] is not None]
    return {"rows": rows, **{kind: seed_interval([r[f"{kind}_drop"] for r in rows], confidence, bounds=(-100, 100),
                                                 over="models") for kind in ("retrieval", "control")},
            "difference": seed_interval([r["retrieval_drop"] - r["control_drop"] for r in paired], confidence,
                                        bounds=(-100, 100), over="models")}


@register_protocol
class RetrievalHeads(NeedleInAHaystack):
    """Retrieval heads over a NIAH grid (module docstring)."""

    name = "retrieval"
    help = "retrieval heads: which attention heads copy the needle into the answer (AR and diffusion)"
    description = ("A NIAH grid (package protocol) answered under the attention probe: at the query that writes each "
                   "answer token — for diffusion models at the sampler step that unmasks it — each head's most-"
                   "attended key; a head's retrieval score is the share of copied needle tokens it points at "
                   "(arXiv 2404.15574). One cell per length × depth × needle.")
    settings_type = RetrievalSettings
    refused_by = "no_probe"

    def measure(self, keys: list[str]) -> list[dict]:
        cells = []
        options = self.settings.resolved(self.loaded).sampler_options()
        for key in keys:
            prompt = cell_prompt(self.loaded, self.cell_inputs, self.settings, key)
            with heads_ablated(self.loaded, self.settings.ablate_heads):
                answer, argmax = written_and_argmax(self.loaded, prompt.ids, options, answer_seed(self.settings, key))
            copies, hits = (copy_hits(prompt.ids + list(answer), prompt.needle_span, answer, argmax) if answer
                            else (0, []))
            cells.append({**scored(self.loaded, prompt, answer), "copies": copies, "hits": np.asarray(hits).tolist()})
        return cells

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        copies, scores = head_scores(cells)
        top = top_heads(scores) if copies else []
        return {"niah_mean": round(float(niah_grid(cells).to_numpy().mean()), 2), "cells": len(cells),
                "copies": copies, "heads": scores.size,
                "retrieval_heads": int(np.sum(np.nan_to_num(scores) >= THRESHOLD)),
                "top": [{"head": head, "score": round(score, 4)} for head, score in top],
                "ablate": ",".join(head for head, score in top[:5] if score > 0),
                "control": ",".join(control_heads(scores, 5, int(settings.get("seed", 0)))) if copies else "",
                "scores": np.round(np.nan_to_num(scores), 4).tolist()}

    @classmethod
    def result(cls, summary: dict) -> str:
        if not summary["copies"]:
            return f"no needle token copied in {summary['cells']} cells (NIAH mean {summary['niah_mean']:.1f})"
        best = summary["top"][0]
        return (f"{summary['retrieval_heads']} of {summary['heads']} heads score ≥ {THRESHOLD:g} over "
                f"{summary['copies']} copied tokens; best {best['head']} ({best['score']:.2f}); NIAH mean "
                f"{summary['niah_mean']:.1f}")

    @classmethod
    def describe(cls, summary: dict) -> str:
        lines = [cls.result(summary)]
        if summary["copies"]:
            lines.append("top heads (layer.head: share of copied needle tokens the head's top attention points at):")
            lines += [f"  {row['head']:>7}: {row['score']:.3f}" for row in summary["top"]]
            lines.append(f"to measure what they are worth: longllada niah … --ablate-heads {summary['ablate']} (as "
                         f"many heads below {THRESHOLD:g}, drawn at random, as a control: {summary['control']})")
        return "\n".join(lines)
