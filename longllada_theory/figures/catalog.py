"""The figure catalog: every figure in ``figures/`` (theory figures, the paper's figures redrawn from its published
numbers, and figures of the runs stored with the package), by name; :func:`regenerate` writes them as PNG and PDF
(``longllada figures``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import LongLLaDAError
from ..lengths import format_length
from ..measure.niah import niah_grid
from ..measure.perplexity import window_perplexity
from ..measure.results import load_results
from ..reference import reference_curve, reference_grid
from .draw import COLORS, attention_figure, niah_figure, perplexity_figure, save_figure, style
from .theory import arc_coverage_figure, cos_over_distance_figure, rope_periods_figure, scaling_factors_figure

DATA = Path(__file__).resolve().parents[1] / "data"


def paper_figure1a_figure():
    """Figure 1a of the paper redrawn from its published numbers."""
    series = []
    for model, color in (("LLaMA3-8B-Base", COLORS["ar"]), ("LLaMA3-8B-Instruct", "#ff9896"),
                         ("LLaDA-8B-Base", COLORS["diffusion"]), ("LLaDA-8B-Instruct", "#aec7e8")):
        ends, values = reference_curve(model)
        series.append({"label": model, "end": ends, "ppl": values, "color": color,
                       "train_length": 8192 if model.startswith("LLaMA") else 4096})
    return perplexity_figure(series, "Paper, Figure 1a: perplexity on gov_report_001 (published numbers)",
                             log_y=False)


def paper_figure2_figure():
    """Figure 2 of the paper (NIAH, no scaling) redrawn from its published numbers."""
    return niah_figure([(f"paper: {m}", reference_grid(m)) for m in
                        ("LLaMA3-8B-Base", "LLaMA3-8B-Instruct", "LLaDA-8B-Base", "LLaDA-8B-Instruct")])


def smollm2_perplexity_figure():
    """SmolLM2-135M on gov_report_001 to 16k: per-1k-window perplexity, direct and with the law's λ (stored runs)."""
    series = []
    for name, label, color in (("direct", "direct extrapolation", COLORS["ar"]),
                               ("longllada16k", "law's λ for 16k (2.92)", "#2ca02c")):
        run = load_results([DATA / "runs" / f"ppl_smollm2_{name}.jsonl"])
        windows = window_perplexity(run.cells, 1024)
        series.append({"label": f"SmolLM2-135M, {label}", "end": windows["end"], "ppl": windows["ppl"],
                       "color": color, "train_length": 8192})
    return perplexity_figure(series, "SmolLM2-135M (CPU, fp32): perplexity of each 1k-token window")


def smollm2_niah_figure():
    """SmolLM2-135M NIAH grid, direct vs with the law's λ for 16k (stored runs)."""
    runs = (("direct", "direct"), ("longllada16k", "law's λ for 16k"))
    return niah_figure([(f"SmolLM2-135M, {label}",
                         niah_grid(load_results([DATA / "runs" / f"niah_smollm2_{name}.jsonl"]).cells))
                        for name, label in runs])


def smollm2_attention_figure():
    """SmolLM2-135M's last 64 queries at 4k (in its window) and 12k (beyond), direct and with the law's λ for 16k
    (stored runs of ``longllada attention``)."""
    series = []
    for length, ls in (("4k", ":"), ("12k", "-")):
        for scaling, label, color in (("direct", "direct", COLORS["ar"]),
                                      ("longllada16k", "law's λ for 16k", "#2ca02c")):
            run = load_results([DATA / "runs" / f"attention_smollm2_{length}_{scaling}.jsonl"])
            series.append({"label": f"{length}, {label}", "cells": run.cells, "train_length": 8192, "color": color,
                           "ls": ls})
    return attention_figure(series, "SmolLM2-135M: last 64 queries' attention by distance")


def _twins_report() -> dict:
    path = DATA / "twins" / "report.json"
    if not path.is_file():
        raise LongLLaDAError(f"{path} is missing; regenerate it with `longllada toy report --output {path}`")
    return json.loads(path.read_text())


def twins_perplexity_figure():
    """Last-window perplexity against context length for the AR and diffusion twins (stored report)."""
    report = _twins_report()
    t = report["train_length"]
    series = []
    for kind in ("ar", "diffusion"):
        lengths = [int(x) for x in report["ppl"][kind]]
        values = np.array([report["ppl"][kind][str(x)]["ppl"] for x in lengths])
        se = np.array([report["ppl"][kind][str(x)]["log_se"] for x in lengths])
        series.append({"label": f"{kind} twin", "end": np.array(lengths), "ppl": values, "se": se,
                       "color": COLORS[kind], "train_length": t})
    fig = perplexity_figure(series, f"Twins: perplexity of the last T = {t} tokens against context length")
    fig.axes[0].set_xscale("log", base=2)
    return fig


def twins_niah_figure():
    """Passkey retrieval (hit rate × 100) by length × depth for the AR and diffusion twins (stored report)."""
    import pandas as pd

    report = _twins_report()
    grids = []
    for kind in ("ar", "diffusion"):
        table = pd.DataFrame({int(length): {float(d): 100 * v for d, v in by.items()}
                              for length, by in report["retrieval"][kind].items()}).sort_index()
        grids.append((f"{kind} twin (T = {report['train_length']})", table))
    return niah_figure(grids)


def twins_ntk_figure():
    """Retrieval of each twin by length under each scaling method and target (stored report)."""
    import pandas as pd
    import seaborn as sns

    plt = style()
    report = _twins_report()
    lengths = report["breakdown_lengths"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    for ax, kind in zip(axes, ("ar", "diffusion")):
        rows = {}
        for row in report["ntk"][kind]:
            label = ("direct" if row["method"] == "direct" else
                     f"{row['method']} → {format_length(row['target'])} (λ {row['scaling_factor']:.3g})")
            rows[label] = [100 * (v or 0) for v in row["retrieval"]]
        table = pd.DataFrame(rows, index=[format_length(x) for x in lengths]).T
        sns.heatmap(table, ax=ax, vmin=0, vmax=100, cmap="RdYlGn", annot=True, fmt=".0f", annot_kws={"fontsize": 7},
                    cbar=kind == "diffusion")
        ax.set_title(f"{kind} twin: passkey retrieval (%) with NTK scaling", fontsize=10)
        ax.set_xlabel("context length")
    fig.tight_layout()
    return fig


#: figure file name → function drawing it
FIGURES: dict[str, Callable] = {
    "rope_periods": rope_periods_figure,
    "arc_coverage": arc_coverage_figure,
    "cos_over_distance": cos_over_distance_figure,
    "scaling_factors": scaling_factors_figure,
    "paper_figure1a": paper_figure1a_figure,
    "paper_figure2": paper_figure2_figure,
    "smollm2_perplexity": smollm2_perplexity_figure,
    "smollm2_niah": smollm2_niah_figure,
    "smollm2_attention": smollm2_attention_figure,
    "twins_perplexity": twins_perplexity_figure,
    "twins_niah": twins_niah_figure,
    "twins_ntk": twins_ntk_figure,
}


def regenerate(directory: Path, only: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Draw every figure (or those in ``only``) into ``directory``; return the files written."""
    names = only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise LongLLaDAError(f"unknown figure(s) {', '.join(unknown)}; available: {', '.join(FIGURES)}")
    written = []
    for name in names:
        written += save_figure(FIGURES[name](), Path(directory) / name)
        if progress:
            print(f"wrote {Path(directory) / name}.png/.pdf")
    return written
