"""Figures, one function each, drawn with seaborn's style; :func:`regenerate` writes them all to ``figures/``
as PNG and PDF (``longllada figures``). Each function returns a matplotlib Figure and saves nothing itself, so the
notebooks show exactly what the command writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from .lengths import format_length
from .rope import arc_coverage, rotation_periods, unseen_angle_fraction
from .scaling import METHODS
from .spec import RopeSpec, load_spec

PAPER_MODELS = ("GSAI-ML/LLaDA-8B-Base", "meta-llama/Meta-Llama-3-8B")
COLORS = {"causal": "#d62728", "bidirectional": "#1f77b4", "ar": "#d62728", "diffusion": "#1f77b4"}


def _style():
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    import matplotlib.pyplot as plt
    return plt


def rope_periods_figure(models: tuple[str, ...] = PAPER_MODELS):
    """Period of each RoPE pair against the training length, with the critical dimension marked."""
    plt = _style()
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], models):
        spec = load_spec(name)
        pairs = np.arange(spec.rotary_dim // 2)
        periods = rotation_periods(spec.rotary_dim, spec.rope_theta)
        within = 2 * pairs < spec.critical_dimension
        ax.scatter(pairs[within], periods[within], s=12, color="#2ca02c", label="period < T (fully trained)")
        ax.scatter(pairs[~within], periods[~within], s=12, color="#7f7f7f", label="under-trained tail")
        ax.axhline(spec.train_length, color="black", lw=1, ls="--", label=f"T_train = {format_length(spec.train_length)}")
        if spec.is_diffusion:
            ax.axhline(2 * spec.train_length, color=COLORS["bidirectional"], lw=1, ls=":", label="2T (bidirectional reach)")
        ax.axvline(spec.critical_dimension / 2 - 0.5, color="#9467bd", lw=1.2,
                   label=f"critical dimension {spec.critical_dimension}/{spec.rotary_dim}")
        ax.set_yscale("log")
        ax.set_xlabel("RoPE pair i (dimensions 2i, 2i+1)")
        ax.set_title(f"{spec.name.split('/')[-1]} (b = {spec.rope_theta:g}, {spec.attention})")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("period P_i = 2π·b^(2i/d)  [tokens]")
    fig.tight_layout()
    return fig


def arc_coverage_figure(model: str = PAPER_MODELS[0], multiples: tuple[float, ...] = (2, 4)):
    """Share of each pair's circle that training showed (causal vs bidirectional), and the share of new angles met at
    longer contexts."""
    plt = _style()
    spec = load_spec(model)
    pairs = np.arange(spec.rotary_dim // 2)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for kind in ("causal", "bidirectional"):
        axes[0].plot(pairs, arc_coverage(spec.rotary_dim, spec.rope_theta, spec.train_length, kind),
                     color=COLORS[kind], lw=2, label=f"{kind}: Δ ∈ {'[0, T)' if kind == 'causal' else '(−T, T)'}")
        for multiple, ls in zip(multiples, ("-", "--", ":")):
            length = int(multiple * spec.train_length)
            axes[1].plot(pairs, unseen_angle_fraction(spec.rotary_dim, spec.rope_theta, spec.train_length, length, kind),
                         color=COLORS[kind], ls=ls, label=f"{kind}, context {multiple:g}T")
    for ax in axes:
        ax.axvline(spec.critical_dimension / 2 - 0.5, color="#9467bd", lw=1.2, label="critical dimension")
        ax.set_xlabel("RoPE pair i")
    axes[0].set_ylabel("share of the circle seen in training")
    axes[0].set_title(f"{spec.name.split('/')[-1]}: arc coverage at T = {format_length(spec.train_length)}")
    axes[1].set_ylabel("share of new distances at unseen angles")
    axes[1].set_title("angles never seen, for T ≤ |Δ| < context")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def cos_over_distance_figure(model: str = PAPER_MODELS[0], offsets: tuple[int, int] = (-4, 4), span: float = 4.0):
    """cos(Δ·θ_i) over relative distance Δ for a pair below and a pair beyond the critical dimension, with the
    distances causal and bidirectional training covered."""
    plt = _style()
    spec = load_spec(model)
    t = spec.train_length
    first_tail = spec.critical_dimension // 2
    chosen = [first_tail + offsets[0], first_tail + offsets[1]]
    theta = 2 * math.pi / rotation_periods(spec.rotary_dim, spec.rope_theta)
    delta = np.linspace(-span * t, span * t, 4001)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.6 * len(chosen)), sharex=True)
    for ax, pair in zip(axes, chosen):
        ax.axvspan(0, t, color=COLORS["causal"], alpha=0.15, label="causal training: Δ ∈ [0, T)")
        ax.axvspan(-t, t, color=COLORS["bidirectional"], alpha=0.10, label="bidirectional training: Δ ∈ (−T, T)")
        ax.plot(delta, np.cos(delta * theta[pair]), color="black", lw=1.2, label="cos(Δ·θ_i)")
        ax.plot(delta, np.sin(delta * theta[pair]), color="#8c564b", lw=0.8, ls="--", label="sin(Δ·θ_i)")
        where = "below" if 2 * pair < spec.critical_dimension else "beyond"
        ax.set_title(f"pair {pair} ({where} the critical dimension): period {2 * math.pi / theta[pair]:.0f} tokens "
                     f"= {2 * math.pi / theta[pair] / t:.2f} T", fontsize=10)
        ax.set_ylim(-1.15, 1.15)
    axes[-1].set_xlabel(f"relative distance Δ (tokens; T = {format_length(t)})")
    axes[0].legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    return fig


def scaling_factors_figure(models: tuple[str, ...] = PAPER_MODELS, max_multiple: int = 16):
    """λ (or s) of every method against the target length."""
    plt = _style()
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False)
    for ax, name in zip(axes[0], models):
        spec = load_spec(name)
        targets = np.unique(np.geomspace(spec.train_length / 2, spec.train_length * max_multiple, 60).astype(int))
        for method in METHODS:
            factors = [spec.plan(int(x), method).scaling_factor for x in targets]
            ax.plot(targets, factors, lw=1.8, label=method)
        ax.axvline(spec.extrapolation_bound, color="black", lw=1, ls="--", label="extrapolation bound")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("target length T′ (tokens)")
        ax.set_title(f"{spec.name.split('/')[-1]} (T = {format_length(spec.train_length)})")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("scaling factor λ (base) or s (positions)")
    fig.tight_layout()
    return fig


def perplexity_figure(series: list[dict], title: str = "Perplexity against context length", log_y: bool = True):
    """Running perplexity against context length, one line per series
    (``{"label", "end", "ppl", "train_length"?, "se"?}``), with each model's training length marked."""
    plt = _style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    marked = set()
    for item in series:
        line, = ax.plot(item["end"], item["ppl"], lw=1.8, label=item["label"], ls=item.get("ls", "-"),
                        color=item.get("color"))
        if item.get("se") is not None:
            low, high = item["ppl"] * np.exp(-2 * item["se"]), item["ppl"] * np.exp(2 * item["se"])
            ax.fill_between(item["end"], low, high, color=line.get_color(), alpha=0.15, lw=0)
        length = item.get("train_length")
        if length and length not in marked:
            marked.add(length)
            ax.axvline(length, color=line.get_color(), lw=1, ls="--", alpha=0.7)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("perplexity")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def niah_heatmap(grid, title: str, ax=None, colorbar: bool = True, mean_line: bool = True):
    """Lengths × depths heatmap of NIAH scores (0–100), red to green as in the paper, with the mean score per
    length as a line (right axis)."""
    plt = _style()
    import seaborn as sns

    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 4.2))
    sns.heatmap(grid, ax=ax, vmin=0, vmax=100, cmap="RdYlGn", cbar=colorbar, annot=grid.shape[1] <= 8,
                fmt=".0f", annot_kws={"fontsize": 7}, linewidths=0.3, linecolor="white",
                cbar_kws={"label": "score"} if colorbar else None)
    ax.set_xticklabels([format_length(float(c)) for c in grid.columns], rotation=0)
    ax.set_yticklabels([f"{float(d):g}" for d in grid.index], rotation=0)
    ax.set_xlabel("context length")
    ax.set_ylabel("needle depth (%)")
    ax.set_title(title, fontsize=10)
    if mean_line:
        twin = ax.twinx()
        twin.plot(np.arange(grid.shape[1]) + 0.5, grid.mean(axis=0).values, color="black", marker="o", lw=1.5)
        twin.set_ylim(0, 105)
        twin.set_yticks([])
        twin.grid(False)
    return ax.figure


def niah_figure(grids: list[tuple[str, object]]):
    """Several NIAH heatmaps side by side on one colour scale."""
    plt = _style()
    width = sum(1.0 + 0.9 * g.shape[1] for _, g in grids)
    fig, axes = plt.subplots(1, len(grids), figsize=(width, 4.2), squeeze=False)
    for i, (ax, (title, grid)) in enumerate(zip(axes[0], grids)):
        niah_heatmap(grid, title, ax=ax, colorbar=i == len(grids) - 1)
    fig.tight_layout()
    return fig


def comparison_figure(document: dict, cells: list[dict], reference):
    """Side by side: the user's results and the paper's (heatmaps and their difference, or the two curves)."""
    from .reference import reference_curve, reference_grid

    plt = _style()
    if document["kind"] == "ppl":
        from .perplexity import perplexity_curve
        curve = perplexity_curve(cells)
        ends, paper = reference_curve(reference.model)
        return perplexity_figure([{"label": f"paper: {reference.model}", "end": ends, "ppl": paper, "ls": "--"},
                                  {"label": f"ours: {document['model']}", "end": curve["end"],
                                   "ppl": curve["running_ppl"]}],
                                 f"{reference.name}: median |Δ| {100 * document['median_abs_relative_difference']:.1f} %")
    from .niah import niah_grid
    import pandas as pd
    ours = niah_grid(cells)
    paper = reference_grid(reference.model)
    matched = ours[[document["matched_lengths"][int(c)] for c in paper.columns]]
    matched.columns = paper.columns
    diff = pd.DataFrame({int(k): {float(d): v for d, v in by.items()} for k, by in document["difference"].items()})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    niah_heatmap(matched.loc[paper.index], f"ours: {document['model']}", ax=axes[0], colorbar=False)
    niah_heatmap(paper, f"paper: {reference.model}", ax=axes[1], colorbar=True)
    import seaborn as sns
    sns.heatmap(diff.sort_index(), ax=axes[2], cmap="RdBu", center=0, vmin=-100, vmax=100, annot=True, fmt=".0f",
                annot_kws={"fontsize": 7})
    axes[2].set_title(f"ours − paper (mean |Δ| {document['mean_abs_difference']:.1f})", fontsize=10)
    axes[2].set_xlabel("context length")
    fig.tight_layout()
    return fig


DATA = Path(__file__).parent / "data"


def paper_figure1a_figure():
    """Figure 1a of the paper redrawn from its published numbers."""
    from .reference import reference_curve

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
    from .reference import reference_grid

    return niah_figure([(f"paper: {m}", reference_grid(m)) for m in
                        ("LLaMA3-8B-Base", "LLaMA3-8B-Instruct", "LLaDA-8B-Base", "LLaDA-8B-Instruct")])


def smollm2_perplexity_figure():
    """SmolLM2-135M on gov_report_001 to 16k: per-1k-window perplexity, direct and with the law's λ (stored runs)."""
    from .perplexity import window_perplexity
    from .results import load_results

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
    from .niah import niah_grid
    from .results import load_results

    return niah_figure([(f"SmolLM2-135M, {label}", niah_grid(load_results([DATA / "runs" / f"niah_smollm2_{name}.jsonl"]).cells))
                        for name, label in (("direct", "direct"), ("longllada16k", "law's λ for 16k"))])


def attention_figure(series: list[dict], title: str = "Attention by relative distance"):
    """Two panels from attention results (``{"label", "cells", "train_length", "color"?, "ls"?}`` per run): the
    queries' attention mass on earlier keys by distance bin (mean over layers and heads), and the local-perception
    index (share within T_train of the query) per layer."""
    plt = _style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for item in series:
        cells = sorted(item["cells"], key=lambda c: c["layer"])
        edges = np.array(cells[0]["edges"])
        mass = np.mean([np.array(c["mass"])[:, 0, :] for c in cells], axis=(0, 1))  # keys at or before the query
        style = {"color": item.get("color"), "ls": item.get("ls", "-")}
        left.plot(np.maximum(edges, 0.5), mass, marker="o", ms=3, label=item["label"], **style)
        right.plot([c["layer"] for c in cells], [np.mean(c["local"]) for c in cells], marker="o", ms=3,
                   label=item["label"], **style)
        if item.get("train_length"):
            left.axvline(item["train_length"], color="black", lw=1, ls=":")
    left.set_xscale("log", base=2)
    left.set_xlabel("distance from query to key (bin lower edge, tokens)")
    left.set_ylabel("attention mass (mean over layers, heads)")
    left.set_title(title)
    right.set_xlabel("layer")
    right.set_ylabel("share of attention within T_train")
    right.set_ylim(0, 1.02)
    right.set_title("Local-perception index per layer")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def smollm2_attention_figure():
    """SmolLM2-135M's last 64 queries at 4k (in its window) and 12k (beyond), direct and with the law's λ for 16k
    (stored runs of ``longllada attention``)."""
    from .results import load_results

    series = []
    for length, ls in (("4k", ":"), ("12k", "-")):
        for scaling, label, color in (("direct", "direct", COLORS["ar"]), ("longllada16k", "law's λ for 16k", "#2ca02c")):
            run = load_results([DATA / "runs" / f"attention_smollm2_{length}_{scaling}.jsonl"])
            series.append({"label": f"{length}, {label}", "cells": run.cells, "train_length": 8192, "color": color,
                           "ls": ls})
    return attention_figure(series, "SmolLM2-135M: last 64 queries' attention by distance")


def _twins_report() -> dict:
    import json

    path = DATA / "twins" / "report.json"
    if not path.is_file():
        from .errors import LongLLaDAError
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

    plt = _style()
    report = _twins_report()
    lengths = report["breakdown_lengths"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    for ax, kind in zip(axes, ("ar", "diffusion")):
        rows = {}
        for row in report["ntk"][kind]:
            label = "direct" if row["method"] == "direct" else f"{row['method']} → {format_length(row['target'])} (λ {row['scaling_factor']:.3g})"
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


def save_figure(fig, path_stem: Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as PNG (150 dpi) and PDF without timestamps, so regenerating gives the same files."""
    import matplotlib.pyplot as plt

    path_stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = path_stem.with_suffix(f".{fmt}")
        metadata = {"Software": None} if fmt == "png" else {"Creator": None, "Producer": None, "CreationDate": None}
        fig.savefig(path, dpi=150, metadata=metadata)
        written.append(path)
    plt.close(fig)
    return written


def regenerate(directory: Path, only: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Draw every figure (or those in ``only``) into ``directory``; return the files written."""
    from .errors import LongLLaDAError

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
