"""Figures from results files: files with the same run settings (shards) are merged; different runs become
different series (perplexity) or panels (NIAH)."""

from __future__ import annotations

from pathlib import Path

from .errors import LongLLaDAError
from .results import _read, load_results


def group_runs(paths: list[str]) -> list:
    """Results of each distinct run, in the order first seen."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        if not Path(path).is_file():
            raise LongLLaDAError(f"results file {path} does not exist")
        header, _ = _read(Path(path))
        key = repr((header.get("protocol"), header.get("settings")))
        groups.setdefault(key, []).append(Path(path))
    return [load_results(files) for files in groups.values()]


def run_label(settings: dict) -> str:
    scaling = settings.get("scaling")
    name = str(settings.get("model", "?")).split("/")[-1]
    if not scaling:
        return f"{name} (direct)"
    return f"{name} ({scaling['method']} λ={scaling['scaling_factor']:.3g})"


def plot_results(paths: list[str], title: str | None = None):
    from .figures import attention_figure, niah_figure, perplexity_figure
    from .niah import niah_grid
    from .perplexity import perplexity_curve

    runs = group_runs(paths)
    protocols = {r.protocol for r in runs}
    if len(protocols) > 1:
        raise LongLLaDAError(f"cannot draw {' and '.join(sorted(protocols))} results in one figure")
    protocol = protocols.pop()
    if protocol == "ppl":
        series = []
        for run in runs:
            curve = perplexity_curve(run.cells)
            series.append({"label": run_label(run.settings), "end": curve["end"], "ppl": curve["running_ppl"],
                           "se": curve["running_log_se"], "train_length": run.settings.get("train_length")})
        return perplexity_figure(series, title or "Running perplexity against context length")
    if protocol == "niah":
        return niah_figure([(run_label(run.settings), niah_grid(run.cells)) for run in runs])
    if protocol == "attention":
        series = [{"label": f"{run_label(run.settings)}, {run.settings['length']} tokens", "cells": run.cells,
                   "train_length": run.settings.get("train_length")} for run in runs]
        return attention_figure(series, title or "Attention by relative distance")
    raise LongLLaDAError(f"no figure for {protocol!r} results")
