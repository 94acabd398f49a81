"""The figure of each measurement's runs (``longllada plot``, ``report``), chosen here on the figures side, so the
measurements never import drawing code. A protocol without an entry has no figure; another package adds one through
the entry-point group ``longllada_theory.protocol_figures`` (name: the protocol's, value: ``module:function``)."""

from __future__ import annotations

from collections.abc import Callable

from ..measure.probe.denoising import denoising_curve
from ..measure.protocols.niah import niah_grid
from ..measure.protocols.perplexity import perplexity_curve
from ..measure.protocols.retrieval import RetrievalHeads
from ..measure.protocols.ruler import ruler_summary
from ..measure.readings.pairs import pair_use
from ..measure.results import Results
from ..registry import Registry
from .draw import (
    attention_figure,
    denoising_distance_figure,
    denoising_figure,
    denoising_panel,
    niah_figure,
    pair_use_figure,
    perplexity_figure,
    retrieval_figure,
    ruler_figure,
    run_label,
    run_marks,
)


def perplexity_runs(runs: list[Results], title: str | None = None):
    """Running perplexity against context length, one line per run."""
    series = []
    for run in runs:
        curve = perplexity_curve(run.cells)
        series.append({"label": run_label(run.settings), "end": curve["end"], "ppl": curve["running_ppl"],
                       "se": curve["running_log_se"], "train_length": run.settings.get("train_length")})
    return perplexity_figure(series, title or "Running perplexity against context length")


def niah_runs(runs: list[Results], title: str | None = None):
    """One NIAH heatmap per run, the theory's lengths drawn."""
    return niah_figure([(run_label(run.settings), niah_grid(run.cells), run_marks(run.settings)) for run in runs])


def ruler_runs(runs: list[Results], title: str | None = None):
    """One task × length heatmap per run, the theory's lengths drawn."""
    return ruler_figure([(run_label(run.settings), ruler_summary(run.cells), run_marks(run.settings))
                         for run in runs])


def attention_runs(runs: list[Results], title: str | None = None):
    """Attention during denoising by distance (or, for runs before the distances were kept, its curves), RoPE pair
    use, or attention by distance with the local-perception index — as the runs measured."""
    denoising = [run for run in runs if run.settings.get("during_denoising")]
    if denoising and all("sinks" in row for run in denoising for c in run.cells for row in c["steps"]):
        return denoising_distance_figure([denoising_panel(run.settings, run.cells) for run in denoising],
                                         title or "Attention of the answer positions during denoising, by distance")
    if denoising:
        return denoising_figure([(run_label(run.settings), denoising_curve(run.cells)) for run in denoising],
                                title or "Attention of the answer positions during denoising")
    if all(run.settings.get("pair_use") for run in runs):
        return pair_use_figure([(f"{run_label(run.settings)}, {run.settings['length']} tokens",
                                 pair_use(run.settings, run.cells)) for run in runs],
                               title or "Which RoPE pairs the model uses")
    series = [{"label": f"{run_label(run.settings)}, {run.settings['length']} tokens", "cells": run.cells,
               "train_length": run.settings.get("train_length"), "marks": run_marks(run.settings)} for run in runs]
    return attention_figure(series, title or "Attention by relative distance")


def retrieval_runs(runs: list[Results], title: str | None = None):
    """One layers × heads heatmap of retrieval scores per run."""
    return retrieval_figure([(run_label(run.settings), RetrievalHeads.summarize(run.settings, run.cells))
                             for run in runs],
                            title or "Retrieval heads: share of copied needle tokens each head points at")


#: protocol name → figure of its runs
PROTOCOL_FIGURES: Registry[Callable] = Registry("protocol_figures", "protocol figure", {
    "ppl": perplexity_runs, "niah": niah_runs, "ruler": ruler_runs, "attention": attention_runs,
    "retrieval": retrieval_runs,
})


def protocol_figure(protocol: str, runs: list[Results], title: str | None = None):
    """The figure of runs of ``protocol``; None for a protocol that has none."""
    draw = PROTOCOL_FIGURES.get(protocol)
    return None if draw is None else draw(runs, title)
