"""Drawing primitives, one function per kind of figure, from plain arrays and tables (seaborn's style). They save
nothing and read no files: the measurement protocols, the theory figures and the figure catalog call them, and
notebooks show exactly what ``longllada figures`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..lengths import format_length
from ..measure.probe.denoising import denoising_distances
from ..outputs import STAMP, claim

COLORS = {"causal": "#d62728", "bidirectional": "#1f77b4", "ar": "#d62728", "diffusion": "#1f77b4",
          "diffusion-scratch": "#2ca02c"}


def style():
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    import matplotlib.pyplot as plt
    return plt


def run_label(settings: dict) -> str:
    scaling = settings.get("scaling")
    name = str(settings.get("model", "?")).split("/")[-1]
    if not scaling:
        return f"{name} (direct)"
    return f"{name} ({scaling['method']} λ={scaling['scaling_factor']:.3g})"


def perplexity_figure(series: list[dict], title: str = "Perplexity against context length", log_y: bool = True):
    """Running perplexity against context length, one line per series
    (``{"label", "end", "ppl", "train_length"?, "band"?}``), with each model's training length marked; ``band``
    (low, high) is shaded — its label says what it is over."""
    plt = style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    marked = set()
    for item in series:
        line, = ax.plot(item["end"], item["ppl"], lw=1.8, label=item["label"], ls=item.get("ls", "-"),
                        color=item.get("color"))
        if item.get("band") is not None:
            ax.fill_between(item["end"], *item["band"], color=line.get_color(), alpha=0.15, lw=0)
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


def theory_marks(train_length: int | None, kind: str | None = None, scaling: dict | None = None,
                 bound: float | None = None) -> dict[str, int]:
    """The lengths the theory names for a run, to draw over its measurements: the pre-training length T; for a
    diffusion model 2T, the span of relative distances a bidirectional model sees in T tokens (keys on both sides —
    where the paper finds retrieval surviving past T, its local perception); for a scaled model the target the
    plan was made for; the extrapolation bound of the model's RoPE as loaded, 2π·b^(d_crit/d) (the period of its
    critical pair; with a scaling, of the scaled RoPE), when known."""
    marks = {}
    if train_length:
        marks["T"] = int(train_length)
        if kind == "diffusion":
            marks["2T"] = 2 * int(train_length)
    if scaling and scaling.get("target"):
        marks["target"] = int(scaling["target"])
    if bound:
        marks["bound"] = int(round(bound))
    return marks


def run_marks(settings: dict) -> dict[str, int]:
    """:func:`theory_marks` of a results header's settings."""
    return theory_marks(settings.get("train_length"), settings.get("kind"), settings.get("scaling"),
                        settings.get("extrapolation_bound"))


def mark_local_window(ax, lengths: list[float], depths: list[float], train_length: int) -> None:
    """On a depths × lengths heatmap (depths ascending downwards), a dotted line in each column longer than T above
    the cells whose needle lies within T of the question — depth ≥ 100·(1 − T/L) — the cells the paper's local
    perception predicts a diffusion model still retrieves."""
    labelled = False
    for x, length in enumerate(lengths):
        if length <= train_length:
            continue
        row = sum(1 for depth in depths if depth < 100 * (1 - train_length / length))
        ax.plot([x, x + 1], [row, row], color="black", ls=":", lw=1.8)
        if not labelled:  # once: the line means the same in every column
            ax.text(x + 0.97, row - 0.05, "needle within T ↓", ha="right", va="bottom", fontsize=6)
            labelled = True


def mark_lengths(ax, lengths: list[float], marks: dict[str, int]) -> None:
    """Each of ``marks`` as a dashed line after the last heatmap column of ``lengths`` within it — the cells to its
    left fit the marked window — labelled above the axes (marks shorter than every column are left out)."""
    at: dict[int, list[str]] = {}
    for label, value in marks.items():
        within = sum(1 for length in lengths if length <= value * (1 + 1e-9))
        if within:
            at.setdefault(within, []).append(f"{label} = {format_length(value)}")
    for x, labels in at.items():
        ax.axvline(x, color="black", lw=1.4, ls="--")
        ax.text(x, 1.01, ", ".join(labels), ha="center", va="bottom", fontsize=7, transform=ax.get_xaxis_transform())


def niah_heatmap(grid, title: str, ax=None, colorbar: bool = True, mean_row: bool = True,
                 marks: dict[str, int] | None = None):
    """Depths × lengths heatmap of NIAH scores (0–100), red to green as in the paper, with the mean score of each
    length as a labelled last row below a separating line, and the theory's lengths (:func:`theory_marks`) as dashed
    lines."""
    plt = style()
    import seaborn as sns

    shown = grid.copy()
    if mean_row:
        shown.loc["mean"] = grid.mean(axis=0)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 4.4))
    sns.heatmap(shown.astype(float), ax=ax, vmin=0, vmax=100, cmap="RdYlGn", cbar=colorbar,
                annot=grid.shape[1] <= 8, fmt=".0f", annot_kws={"fontsize": 7}, linewidths=0.3, linecolor="white",
                cbar_kws={"label": "score"} if colorbar else None)
    ax.set_xticklabels([format_length(float(c)) for c in grid.columns], rotation=0)
    ax.set_yticklabels([f"{float(d):g}" for d in grid.index] + (["mean"] if mean_row else []), rotation=0)
    if mean_row:
        ax.axhline(len(grid.index), color="black", lw=1.5)
    if marks:
        mark_lengths(ax, [float(c) for c in grid.columns], marks)
        if "2T" in marks:  # a diffusion model: its local perception
            mark_local_window(ax, [float(c) for c in grid.columns], [float(d) for d in grid.index], marks["T"])
    ax.set_xlabel("context length")
    ax.set_ylabel("needle depth (%)")
    ax.set_title(title, fontsize=10, pad=14 if marks else 6)
    return ax.figure


def ruler_figure(runs: list[tuple]):
    """One heatmap per run of a RULER-style suite — (title, summary) or (title, summary, theory marks): mean score
    (0–100) by task and length, with the paper's Table 2 groups (NIAH, VT, AGG, QA) and their average as the last
    rows, and the theory's lengths (:func:`theory_marks`) as dashed lines."""
    import pandas as pd

    plt = style()
    import seaborn as sns

    fig, axes = plt.subplots(1, len(runs), figsize=(2.2 + 1.1 * max(len(run[1]["lengths"]) for run in runs) * len(runs),
                                                    0.32 * (len(runs[0][1]["tasks"]) + 5) + 1.5), squeeze=False)
    for i, (ax, (title, summary, *marks)) in enumerate(zip(axes[0], runs)):
        rows = {**summary["tasks"], **summary["groups"]}
        table = pd.DataFrame({name: {format_length(int(n)): v["mean"] for n, v in by.items()}
                              for name, by in rows.items()}).T
        sns.heatmap(table.astype(float), ax=ax, vmin=0, vmax=100, cmap="RdYlGn", annot=True, fmt=".0f",
                    annot_kws={"fontsize": 7}, cbar=i == len(runs) - 1, cbar_kws={"label": "score"})
        ax.axhline(len(summary["tasks"]), color="black", lw=1.5)
        if marks and marks[0]:
            mark_lengths(ax, [int(n) for n in next(iter(rows.values()))], marks[0])
        ax.set_title(title, fontsize=10, pad=14 if marks and marks[0] else 6)
        ax.set_xlabel("context length")
    fig.tight_layout()
    return fig


def niah_figure(grids: list[tuple]):
    """Several NIAH heatmaps side by side on one colour scale: (title, grid) or (title, grid, theory marks)."""
    plt = style()
    width = sum(1.0 + 0.9 * g[1].shape[1] for g in grids)
    fig, axes = plt.subplots(1, len(grids), figsize=(width, 4.2), squeeze=False)
    for i, (ax, (title, grid, *marks)) in enumerate(zip(axes[0], grids)):
        niah_heatmap(grid, title, ax=ax, colorbar=i == len(grids) - 1, marks=marks[0] if marks else None)
    fig.tight_layout()
    return fig


def attention_figure(series: list[dict], title: str = "Attention by relative distance"):
    """Two panels from attention results (``{"label", "cells", "train_length", "marks"?, "color"?, "ls"?}`` per
    run): the queries' attention mass on earlier keys by distance bin (mean over layers and heads), with the theory's
    lengths (:func:`theory_marks`) as distances — T, the extrapolation bound, a plan's target; 2T is a span of
    context (keys on both sides), not a distance, so it is left to the NIAH heatmaps — and the local-perception
    index (share within T_train of the query) per layer."""
    plt = style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    drawn: set = set()
    for item in series:
        cells = sorted(item["cells"], key=lambda c: c["layer"])
        edges = np.array(cells[0]["edges"])
        mass = np.mean([np.array(c["mass"])[:, 0, :] for c in cells], axis=(0, 1))  # keys at or before the query
        line = {"color": item.get("color"), "ls": item.get("ls", "-")}
        left.plot(np.maximum(edges, 0.5), mass, marker="o", ms=3, label=item["label"], **line)
        right.plot([c["layer"] for c in cells], [np.mean(c["local"]) for c in cells], marker="o", ms=3,
                   label=item["label"], **line)
        marks = item.get("marks") or ({"T": item["train_length"]} if item.get("train_length") else {})
        for label, value in marks.items():
            if label != "2T" and (label, value) not in drawn:
                drawn.add((label, value))
                left.axvline(value, color="black", lw=1, ls=":")
                left.text(value, 1.01, f"{label} = {format_length(value)}", ha="center", va="bottom", fontsize=7,
                          transform=left.get_xaxis_transform())
    left.set_xscale("log", base=2)
    left.set_xlabel("distance from query to key (bin lower edge, tokens)")
    left.set_ylabel("attention mass (mean over layers, heads)")
    left.set_title(title, pad=14)
    right.set_xlabel("layer")
    right.set_ylabel("share of attention within T_train")
    right.set_ylim(0, 1.02)
    right.set_title("Local-perception index per layer")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def denoising_figure(runs: list[tuple[str, dict]], title: str = "Attention during denoising"):
    """From :func:`~longllada_theory.measure.probe.denoising.denoising_curve` per run: by sampler step, the share of the
    answer positions' attention within T_train (left) and on the needle (right) — positions still masked (solid)
    and already decoded (dashed), mean over layers and heads."""
    plt = style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, (label, curve) in enumerate(runs):
        color = f"C{i}"
        for ax, statistic in zip(axes, ("local", "needle")):
            ax.plot(curve["step"], curve[f"{statistic}_masked"], color=color, marker="o", ms=3,
                    label=f"{label}: masked")
            ax.plot(curve["step"], curve[f"{statistic}_decoded"], color=color, ls="--", label=f"{label}: decoded")
    axes[0].set_ylabel("share of attention within T_train")
    axes[1].set_ylabel("share of attention on the needle")
    for ax in axes:
        ax.set_xlabel("sampler step")
    axes[0].set_title(title, fontsize=10)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


#: the largest difference of one colour channel (0–255) two renderings of the same figure may show: anti-aliasing
#: rounds differently with the CPU's floating-point kernels (measured: 1 level, on 33–45 pixels); any change of
#: content (a line, a digit) moves pixels by far more
PIXEL_TOLERANCE = 4


def same_picture(png: bytes, path: Path) -> bool:
    """Whether the PNG ``png`` shows what the file at ``path`` shows: the same size and every channel of every pixel
    within :data:`PIXEL_TOLERANCE`."""
    import io

    from PIL import Image

    try:
        old = np.asarray(Image.open(path).convert("RGBA"), dtype=np.int16)
    except (OSError, ValueError):
        return False
    new = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=np.int16)
    return old.shape == new.shape and int(np.abs(old - new).max()) <= PIXEL_TOLERANCE


def save_figure(fig, path_stem: Path, formats: tuple[str, ...] = ("png", "pdf"), force: bool = False) -> list[Path]:
    """Write ``fig`` as PNG (150 dpi) and PDF without timestamps, so regenerating gives the same files, stamped as the
    package's (:mod:`longllada_theory.outputs`): an existing file there is replaced only when it carries the stamp, or
    with ``force``. A PNG that shows the same picture as the file already there (:func:`same_picture`) leaves that
    file as it is, so regenerating on another CPU does not rewrite figures whose anti-aliasing alone differs."""
    import io

    import matplotlib.pyplot as plt

    paths = [claim(Path(path_stem).with_suffix(f".{fmt}"), force) for fmt in formats]
    Path(path_stem).parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, path in zip(formats, paths):
        metadata = {"Software": STAMP} if fmt == "png" else {"Creator": STAMP, "Producer": None, "CreationDate": None}
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
        content = buffer.getvalue()
        if not (fmt == "png" and path.exists() and same_picture(content, path)):
            path.write_bytes(content)
        written.append(path)
    plt.close(fig)
    return written


def pair_use_figure(runs: list[tuple[str, dict]], title: str):
    """One heatmap per run: layers × RoPE pairs, each layer's pair use |q_i|·|k_i| as a share of the layer's sum
    (:func:`~longllada_theory.measure.readings.pairs.pair_use`), the critical pair marked by a dashed line."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    plt = style()
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.2 + 2.2 * len(runs)), squeeze=False)
    for ax, (label, pairs) in zip(axes[:, 0], runs, strict=True):
        grid = np.asarray(pairs["by_layer"])
        shares = grid / grid.sum(1, keepdims=True)
        image = ax.imshow(shares, aspect="auto", cmap="viridis", origin="lower",
                          extent=(-0.5, pairs["pairs"] - 0.5, -0.5, len(pairs["layers"]) - 0.5))
        fig.colorbar(image, ax=ax, label="share of the layer's Σ|q_i||k_i|", pad=0.01)
        c = pairs["critical_pair"]
        period = f", period {pairs['critical_period']:.0f}" if pairs["critical_period"] else ""
        ax.axvline(c - 0.5, color="white", linestyle="--", linewidth=1.2)
        ax.text(c - 0.3, len(pairs["layers"]) - 0.7, f"critical pair {c}{period} ≥ T = {pairs['train_length']}",
                color="white", fontsize=8, va="top")
        ax.grid(False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _, layers=pairs["layers"]: str(layers[int(y)])
                                                   if 0 <= int(y) < len(layers) else ""))
        ax.set_ylabel("layer")
        ax.set_title(f"{label}: {pairs['share_beyond_critical']:.1%} beyond the critical pair "
                     f"(equal norms: {pairs['equal_norms_share']:.1%})", fontsize=9)
    axes[-1, 0].set_xlabel("RoPE pair i (frequency θ_i = b^(−2i/d), slower to the right)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def mask_sweep_figure(rows: list[dict], title: str):
    """NIAH score against the number of masked answer slots (log scale), one line per context length, with each
    point's interval over models (:func:`~longllada_theory.measure.readings.masks.mask_sweep`)."""
    plt = style()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for length in sorted({row["length"] for row in rows}):
        mine = [row for row in rows if row["length"] == length]
        x = [row["answer_length"] for row in mine]
        mean = np.array([row["mean"] for row in mine])
        low = np.array([row["low"] if row["low"] is not None else row["mean"] for row in mine])
        high = np.array([row["high"] if row["high"] is not None else row["mean"] for row in mine])
        t = mine[0]["train_length"]
        label = f"{format_length(length)} tokens" + (f" ({length / t:g}T)" if t else "")
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("masked answer slots (= sampler steps)")
    ax.set_ylabel("NIAH score (0–100)")
    ax.set_ylim(-3, 103)
    n = max(row["n"] for row in rows)
    ax.set_title(f"{title}\n(mean over {n} models, 95 % t interval over models)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _signed_position(distance: float, edges: np.ndarray) -> float:
    """Where a signed distance falls on a heatmap axis of :func:`~longllada_theory.measure.probe.denoising.
    denoising_distances` (bin centres at 0, 1, …; within a bin, log-interpolated)."""
    zero = len(edges) - 2  # the column of Δ = 0
    magnitude = abs(distance)
    i = int(np.searchsorted(edges, magnitude, side="right")) - 1
    upper = edges[i + 1] if i + 1 < len(edges) else 2 * edges[i]
    frac = np.log2(magnitude / edges[i]) / np.log2(upper / edges[i]) if edges[i] >= 1 else 0.0
    offset = i - 0.5 + frac
    return zero + offset if distance > 0 else zero - offset


def denoising_panel(settings: dict, cells: list[dict], label: str | None = None) -> dict:
    """One row of :func:`denoising_distance_figure` from a ``--during-denoising`` run's header and cells."""
    label = label or f"{run_label(settings)}, {settings['tokens']} tokens"
    return {"label": f"{label} (score {cells[0]['score']:.0f})",
            "distances": denoising_distances(cells, settings["tokens"]), "train_length": settings.get("train_length"),
            "needle_span": settings.get("needle_span"), "answer_start": settings["tokens"] - settings["answer_length"]}


def denoising_distance_figure(runs: list[dict], title: str):
    """One row per run (``{"label", "distances", "train_length", "needle_span", "answer_start"}``, ``distances`` from
    :func:`~longllada_theory.measure.probe.denoising.denoising_distances`): sampler step × signed relative distance
    heatmaps of the attention mass of the answer positions still masked and of those decoded (log colour, mean over
    layers and heads), with ±T_train drawn — between them the 2T span of distances a bidirectional model saw in
    pre-training — and the attention sinks' track: the most-attended keys at each step, dot area ∝ mass."""
    from matplotlib.colors import LogNorm

    plt = style()
    fig, axes = plt.subplots(len(runs), 3, figsize=(15, 0.8 + 3.4 * len(runs)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 0.8]})
    for row, run in zip(axes, runs, strict=True):
        d = run["distances"]
        steps = len(d["step"])
        for ax, name in zip(row[:2], ("masked", "decoded")):
            grid = np.where(d[name] > 0, d[name], np.nan)
            image = ax.imshow(grid, aspect="auto", origin="lower", cmap="magma",
                              norm=LogNorm(vmin=1e-4, vmax=1), extent=(-0.5, grid.shape[1] - 0.5, -0.5, steps - 0.5))
            ax.grid(False)
            ax.set_xticks(range(grid.shape[1]), d["labels"], rotation=90, fontsize=6)
            t = run.get("train_length")
            if t:
                for sign in (-1, 1):
                    x = _signed_position(sign * t, d["edges"])
                    ax.axvline(x, color="tab:cyan", ls="--", lw=1.4)
                    ax.text(x, steps - 0.6, f"{'−' if sign < 0 else '+'}T", color="black", fontsize=8,
                            ha="center", va="top", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            ax.set_xlabel("key − query (tokens, bin lower edge)")
            ax.set_ylabel("sampler step")
            ax.set_title(f"{run['label']}: {name} answer positions", fontsize=9)
        fig.colorbar(image, ax=row[1], label="attention mass (mean over layers, heads)", pad=0.01)
        sinks = row[2]
        for step, pooled in enumerate(d["sinks"]):
            if pooled:
                positions, masses = zip(*pooled)
                sinks.scatter([step] * len(positions), positions, s=400 * np.asarray(masses), color="C0", alpha=0.7)
        start, end = run.get("needle_span") or (None, None)
        if start is not None:
            sinks.axhspan(start, end, color="C2", alpha=0.2, label="needle")
        if run.get("answer_start") is not None:
            sinks.axhline(run["answer_start"], color="C3", ls=":", label="answer starts")
        sinks.set_xlabel("sampler step")
        sinks.set_ylabel("key position")
        sinks.set_title("attention sinks (most-attended keys, area ∝ mass)", fontsize=9)
        sinks.legend(fontsize=7, loc="center right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def retrieval_figure(runs: list[tuple[str, dict]], title: str):
    """One layers × heads heatmap of retrieval scores per run (a ``retrieval`` summary), the top five heads with a
    score above 0 outlined (and every score written when there are at most 64 heads)."""
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    plt = style()
    fig, axes = plt.subplots(1, len(runs), figsize=(1.5 + 4.8 * len(runs), 4.6), squeeze=False)
    for ax, (label, summary) in zip(axes[0], runs, strict=True):
        scores = np.asarray(summary["scores"])
        image = ax.imshow(scores, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1)
        for row in [row for row in summary["top"] if row["score"] > 0][:5]:
            layer, head = (int(x) for x in row["head"].split("."))
            ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.5))
        if scores.size <= 64:
            for (layer, head), value in np.ndenumerate(scores):
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 0.5 else "black")
        ax.grid(False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(f"{label}\n{summary['retrieval_heads']} of {summary['heads']} heads ≥ 0.1; "
                     f"{summary['copies']} copied tokens, {summary['cells']} prompts", fontsize=9)
        fig.colorbar(image, ax=ax, label="retrieval score", pad=0.01)
    fig.suptitle(title + " (top 5 outlined)", fontsize=10)
    fig.tight_layout()
    return fig


def ablation_figure(groups: list[tuple[str, dict]], title: str):
    """NIAH score drop when retrieval heads or as many control heads are ablated, one pair of columns per group of
    models (``(label, effect)``, ``effect`` from
    :func:`~longllada_theory.measure.protocols.retrieval.ablation_effect`): one dot per model, the mean over models
    with its t interval where there are two or more."""
    plt = style()
    fig, ax = plt.subplots(figsize=(1.5 + 2.6 * len(groups), 4.2))
    ticks, labels = [], []
    for g, (label, effect) in enumerate(groups):
        for k, kind in enumerate(("retrieval", "control")):
            x = 3 * g + k
            values = [row[f"{kind}_drop"] for row in effect["rows"] if row[f"{kind}_drop"] is not None]
            ax.scatter([x] * len(values), values, color=f"C{k}", alpha=0.6, zorder=3)
            interval = effect[kind]
            if interval["low"] is not None:
                ax.errorbar([x + 0.25], [interval["mean"]], yerr=[[interval["mean"] - interval["low"]],
                                                                  [interval["high"] - interval["mean"]]],
                            fmt="s", color="black", capsize=4)
            ticks.append(x)
            labels.append(f"{label}\n{kind} heads")
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("NIAH score drop (points of 100)")
    ax.set_title(f"{title}\n(dots: models; squares: mean with 95 % t interval over models)", fontsize=9)
    fig.tight_layout()
    return fig


def last_layer_distance_figure(panels: dict[str, list[tuple[str, object, bool]]], train_length: int, title: str):
    """One panel per group (``{title: [(label, probe statistics by layer, dashed), …]}``): the last layer's attention
    mass on keys at or before the query by distance bin (mean over heads), T marked."""
    plt = style()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), sharey=True, squeeze=False)
    for ax, (name, series) in zip(axes[0], panels.items(), strict=True):
        for label, stats, dashed in series:
            last = stats[max(stats)]
            edges = np.array(last.edges)
            before = last.mass[:, 0, :].mean(axis=0)
            ax.plot(np.maximum(edges, 0.5), before[:len(edges)], marker="o", ls="--" if dashed else "-", label=label)
        ax.axvline(train_length, color="black", lw=1, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{name}: {title}")
        ax.set_xlabel("distance to key (tokens, bin lower edge)")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("attention mass")
    fig.tight_layout()
    return fig
