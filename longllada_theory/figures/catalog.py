"""The figure catalog: every figure in ``figures/`` (theory figures, the paper's figures redrawn from its published
numbers, and figures of the runs stored with the package), by name; :func:`regenerate` writes them as PNG and PDF
(``longllada figures``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.ticker import ScalarFormatter

from ..errors import LongLLaDAError
from ..lengths import format_length
from ..measure.probe.denoising import denoising_curve
from ..measure.protocols.niah import niah_grid
from ..measure.protocols.perplexity import window_perplexity
from ..measure.protocols.ruler import ruler_summary
from ..measure.results import load_results
from ..models.spec import load_spec
from ..reference import figure6, reference_curve, reference_grid, table2_rows
from ..registry import Registry
from .draw import (
    COLORS,
    attention_figure,
    denoising_distance_figure,
    denoising_figure,
    denoising_panel,
    niah_figure,
    perplexity_figure,
    ruler_figure,
    run_marks,
    save_figure,
    style,
    theory_marks,
)
from .theory import (
    arc_coverage_figure,
    cos_over_distance_figure,
    pair_factors_figure,
    rope_periods_figure,
    scaled_model_figure,
    scaling_factors_figure,
)

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


def paper_figure6_figure():
    """Figure 6 of the paper from its published numbers: LLaDA-8B-Base's overall NIAH score with each NTK factor
    (and the target the paper gives it), beside the direct scores of the four models of Figure 2."""
    plt = style()
    data = figure6()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    direct = data["overall_direct"]
    labels = [f"{m.replace('-8B-', '-8B ')}\ndirect".replace(" ", "\n", 1) for m in direct]
    values = list(direct.values())
    for factor, score in data["overall_with_ntk"]["LLaDA-8B-Base"].items():
        labels.append(f"LLaDA-8B\nBase\nλ = {factor} ({format_length(data['target_of_each_factor'][factor])})")
        values.append(score)
    colors = [COLORS["ar"] if "LLaMA" in label else COLORS["diffusion"] for label in labels]
    bars = ax.bar(range(len(values)), values, color=colors)
    for bar, label in zip(bars, labels):
        bar.set_alpha(0.45 if "direct" in label else 0.9)
    ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylabel("overall NIAH score (2k–32k × depths)")
    ax.set_title("Paper, Figure 6: NTK scaling lifts LLaDA's overall NIAH score (published numbers)", fontsize=10)
    fig.tight_layout()
    return fig


def paper_table2_figure():
    """Table 2 of the paper (RULER) from its published numbers: the average score of each model and NTK factor at
    4k, 8k and 16k."""
    import pandas as pd
    import seaborn as sns

    plt = style()
    frame = pd.DataFrame(table2_rows())
    frame["row"] = frame["model"] + ", λ = " + frame["ntk_scaling_factor"].astype(str)
    table = frame.pivot_table(index="row", columns="length", values="Avg", sort=False)
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(table) + 1.2))
    sns.heatmap(table, ax=ax, vmin=0, vmax=100, cmap="RdYlGn", annot=True, fmt=".1f", annot_kws={"fontsize": 7},
                cbar_kws={"label": "RULER Avg"})
    ax.set_xticklabels([format_length(float(c.get_text())) for c in ax.get_xticklabels()])
    ax.set_xlabel("context length")
    ax.set_ylabel("")
    ax.set_title("Paper, Table 2: RULER average by length (published numbers)", fontsize=10)
    fig.tight_layout()
    return fig


def relative_perplexity_figure():
    """Perplexity relative to its value at T against context / T: the paper's LLaMA3-8B and LLaDA-8B (running
    means, published numbers) beside SmolLM2-135M (per 1k window) and the twins (the last T − chunk tokens) measured
    here."""
    series = []
    for model, t, color in (("LLaMA3-8B-Base", 8192, COLORS["ar"]), ("LLaDA-8B-Base", 4096, COLORS["diffusion"])):
        ends, values = reference_curve(model)
        series.append({"label": f"paper: {model} (running mean)", "end": ends / t,
                       "ppl": values / np.interp(t, ends, values), "color": color, "ls": ":"})
    smol = window_perplexity(load_results([DATA / "runs" / "ppl_smollm2_direct.jsonl"]).cells, 1024)
    series.append({"label": "SmolLM2-135M, per 1k window (here)", "end": smol["end"] / 8192,
                   "ppl": smol["ppl"] / smol["ppl"][7], "color": "#ff7f0e"})
    report = _twins_report()
    for kind, color in (("ar", "#8c2d04"), ("diffusion", "#08519c"), ("diffusion-scratch", "#2ca02c")):
        lengths = np.array([int(k) for k in report["ppl"][kind]])
        values = np.array([v["ppl"] for v in report["ppl"][kind].values()])
        series.append({"label": f"{kind} twin, last T − {report['settings']['chunk']} tokens, geometric mean of "
                                f"{len(report['seeds'])} seeds (here)",
                       "end": lengths / report["train_length"], "ppl": values / values[0], "color": color})
    fig = perplexity_figure(series, "Perplexity relative to its value at T, against context / T")
    ax = fig.axes[0]
    ax.set_xlabel("context length / training length")
    ax.set_ylabel("perplexity / its value at T")
    ax.set_xscale("log", base=2)
    ax.axvline(1, color="black", lw=1, ls="--")
    return fig


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


SMOLLM2_METHODS = (("direct", "direct extrapolation", COLORS["ar"]), ("longllada16k", "law's λ for 16k", "#2ca02c"),
                   ("critical16k", "critical method for 16k", "#ff7f0e"), ("yarn16k", "YaRN for 16k", "#9467bd"),
                   ("ntk-by-parts16k", "NTK-by-parts for 16k", "#8c564b"))


def smollm2_methods_figure():
    """SmolLM2-135M on gov_report_001 to 16k with each method's plan for 16k: perplexity of each 1k-token window
    (stored runs; ``scripts/method_runs.sh``)."""
    series = []
    for name, label, color in SMOLLM2_METHODS:
        run = load_results([DATA / "runs" / f"ppl_smollm2_{name}.jsonl"])
        windows = window_perplexity(run.cells, 1024)
        series.append({"label": label, "end": windows["end"], "ppl": windows["ppl"], "color": color,
                       "train_length": 8192})
    return perplexity_figure(series, "SmolLM2-135M (Q4_1 GGUF dequantised to fp32): perplexity of each 1k window")


def stored_marks(settings: dict) -> dict[str, int]:
    """:func:`run_marks` of a stored run, with the extrapolation bound computed from the model's config where the
    run's header predates the field (the bound follows from the config and the scaling the header names)."""
    marks = run_marks(settings)
    if "extrapolation_bound" not in settings:
        spec, scaling = load_spec(settings["model"]), settings.get("scaling")
        bound = spec.plan(scaling["target"], scaling["method"]).reaches() if scaling else spec.reach
        marks = {**marks, **theory_marks(None, bound=bound)}
    return marks


def smollm2_niah_figure():
    """SmolLM2-135M NIAH grid, direct vs with the law's λ for 16k (stored runs)."""
    runs = {label: load_results([DATA / "runs" / f"niah_smollm2_{name}.jsonl"])
            for name, label in (("direct", "direct"), ("longllada16k", "law's λ for 16k"))}
    return niah_figure([(f"SmolLM2-135M, {label}", niah_grid(run.cells),
                         stored_marks(run.settings))
                        for label, run in runs.items()])


def smollm2_attention_figure():
    """SmolLM2-135M's last 64 queries at 4k (in its window) and 12k (beyond), direct and with the law's λ for 16k
    (stored runs of ``longllada attention``)."""
    series = []
    for length, ls in (("4k", ":"), ("12k", "-")):
        for scaling, label, color in (("direct", "direct", COLORS["ar"]),
                                      ("longllada16k", "law's λ for 16k", "#2ca02c")):
            run = load_results([DATA / "runs" / f"attention_smollm2_{length}_{scaling}.jsonl"])
            series.append({"label": f"{length}, {label}", "cells": run.cells, "train_length": 8192, "color": color,
                           "ls": ls, "marks": stored_marks(run.settings)})
    return attention_figure(series, "SmolLM2-135M: last 64 queries' attention by distance")


def smollm2_ruler_figure():
    """The RULER-style suite on SmolLM2-135M (T = 8k): every task at 4k and 12k without scaling and at 12k with the
    law's λ for 16k (stored runs of ``longllada ruler``; ``scripts/ruler_runs.sh``)."""
    runs = {label: load_results([DATA / "runs" / f"ruler_smollm2_{name}.jsonl"])
            for name, label in (("direct", "SmolLM2-135M, direct"), ("longllada16k", "law's λ for 16k"))}
    return ruler_figure([(label, ruler_summary(run.cells),
                          stored_marks(run.settings))
                         for label, run in runs.items()])


def twin_denoising_figure():
    """The diffusion twin's answer positions at every sampler step (passkey at depth 50 %) in its window and at 4T,
    direct and with the law's λ (stored runs of ``longllada attention --during-denoising``)."""
    runs = []
    for name, label in (("128_direct", "T = 128"), ("512_direct", "4T, direct"), ("512_longllada512", "4T, law's λ")):
        run = load_results([DATA / "runs" / f"denoising_twin_{name}.jsonl"])
        runs.append((f"{label} (score {run.cells[0]['score']:.0f})", denoising_curve(run.cells)))
    return denoising_figure(runs, "Diffusion twin: attention of the answer positions during denoising")


def twin_denoising_distance_figure():
    """The same runs by signed relative distance at every sampler step, masked and decoded answer positions apart,
    with the attention sinks' track."""
    panels = []
    for name, label in (("128_direct", "T = 128"), ("512_direct", "4T, direct"), ("512_longllada512", "4T, law's λ")):
        run = load_results([DATA / "runs" / f"denoising_twin_{name}.jsonl"])
        panels.append(denoising_panel(run.settings, run.cells, label))
    return denoising_distance_figure(panels, "Diffusion twin: where the answer positions look at every sampler step")


def _twins_report() -> dict:
    path = DATA / "twins" / "report.json"
    if not path.is_file():
        raise LongLLaDAError(f"{path} is missing; regenerate it with `longllada toy report --output {path}`")
    return json.loads(path.read_text())


def twins_perplexity_figure():
    """Last-window perplexity against context length for each twin: the geometric mean over seeds with its Student-t
    95 % band over seeds, and each seed's value (stored report)."""
    report = _twins_report()
    t = report["train_length"]
    series = []
    for kind in report["twins"]:
        lengths = [int(x) for x in report["ppl"][kind]]
        values = [report["ppl"][kind][str(x)] for x in lengths]
        series.append({"label": f"{kind} twin (geometric mean of {len(report['seeds'])} seeds, t 95 % band over seeds)",
                       "end": np.array(lengths), "ppl": np.array([v["ppl"] for v in values]),
                       "band": (np.array([v["low"] for v in values]), np.array([v["high"] for v in values])),
                       "color": COLORS[kind], "train_length": t})
    fig = perplexity_figure(series, f"Twins: perplexity of the last T − {report['settings']['chunk']} = "
                                    f"{t - report['settings']['chunk']} tokens against context length")
    ax = fig.axes[0]
    for kind in report["twins"]:
        for x, value in report["ppl"][kind].items():
            ax.scatter([int(x)] * len(value["seeds"]), value["seeds"], s=9, color=COLORS[kind], alpha=0.6)
    ax.set_xscale("log", base=2)
    return fig


def twins_niah_figure():
    """Passkey retrieval (hit rate × 100, mean over seeds) by length × depth for each twin (stored report)."""
    import pandas as pd

    report = _twins_report()
    grids = []
    for kind in report["twins"]:
        table = pd.DataFrame({int(length): {float(d): 100 * v for d, v in by.items()}
                              for length, by in report["retrieval"][kind].items()}).sort_index()
        grids.append((f"{kind} twin (T = {report['train_length']}, {len(report['seeds'])} seeds)", table,
                      theory_marks(report["train_length"], "ar" if kind == "ar" else "diffusion")))
    return niah_figure(grids)


def twins_ntk_figure():
    """Each twin under each method's λ for 4T on the breakdown grid, one line per seed (a seed stops measuring a
    quantity once it has broken down): last-window perplexity relative to its value at T and retrieval, with each
    method's own predicted length (vertical lines) and the thresholds (1.5×, 50 %)."""
    plt = style()
    report = _twins_report()
    fig, axes = plt.subplots(2, len(report["twins"]), figsize=(5 * len(report["twins"]), 7), sharex=True,
                             squeeze=False)
    styles = {"direct": "-", "longllada": "--", "diffusion-aware": ":"}
    for column, kind in enumerate(report["twins"]):
        top, bottom = axes[0, column], axes[1, column]
        for i, row in enumerate(report["ntk"][kind]):
            color, ls = f"C{i}", styles.get(row["method"], "-")
            label = ("direct" if row["method"] == "direct" else
                     f"{row['method']} → {format_length(row['target'])} (λ {row['scaling_factor']:.3g})")
            for seed, (ppl, hits) in enumerate(zip(row["ppl_seeds"], row["retrieval_seeds"])):
                x = row["lengths"][:len(ppl)]
                ppl = np.array([np.nan if v is None else v for v in ppl], dtype=float)
                hits = np.array([np.nan if v is None else 100 * v for v in hits], dtype=float)
                top.plot(x, ppl / ppl[0], ls=ls, color=color, lw=1.2, label=label if seed == 0 else None)
                bottom.plot(x, hits, ls=ls, color=color, lw=1.2, marker=".")
            for ax in (top, bottom):
                ax.axvline(row["predicted"], color=color, lw=0.8, alpha=0.6)
        top.axhline(1.5, color="black", lw=0.8, ls="--")
        bottom.axhline(50, color="black", lw=0.8, ls="--")
        top.set_yscale("log")
        top.yaxis.set_major_formatter(ScalarFormatter())
        top.yaxis.set_minor_formatter(ScalarFormatter())
        top.set_title(f"{kind} twin (one line per seed)", fontsize=10)
        top.set_ylabel("last-window perplexity / at T")
        bottom.set_ylabel("passkey retrieval (%)")
        bottom.set_xlabel("context length (vertical lines: predicted lengths)")
        top.legend(fontsize=7)
    fig.tight_layout()
    return fig


def twins_methods_figure():
    """Each scaling method's plan for 4T on the first twins (v1, one seed; stored ``toy methods`` run): last-window
    perplexity at 4T with ±2 standard errors over the held-out segments (labelled: not a 95 % band), and passkey
    retrieval at 4T with Wilson 95 % intervals over the prompts (one seed: a claim about those models)."""
    plt = style()
    path = DATA / "twins" / "v1" / "methods.json"
    document = json.loads(path.read_text())
    methods = list(dict.fromkeys(row["method"] for row in document["rows"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    kinds = list(dict.fromkeys(row["kind"] for row in document["rows"]))
    for offset, kind in zip(np.linspace(-0.2, 0.2, len(kinds)) if len(kinds) > 1 else [0.0], kinds):
        rows = {row["method"]: row for row in document["rows"] if row["kind"] == kind}
        x = np.arange(len(methods)) + offset
        ppl = np.array([rows[m]["ppl_at_target"]["ppl"] for m in methods])
        se = np.array([rows[m]["ppl_at_target"]["log_se"] for m in methods])
        axes[0].errorbar(x, ppl, yerr=[ppl - ppl * np.exp(-2 * se), ppl * np.exp(2 * se) - ppl], fmt="o",
                         color=COLORS[kind], capsize=3, label=f"{kind} twin")
        rate = np.array([100 * rows[m]["retrieval"]["rate"] for m in methods])
        low = np.array([100 * rows[m]["retrieval"]["low"] for m in methods])
        high = np.array([100 * rows[m]["retrieval"]["high"] for m in methods])
        axes[1].errorbar(x, rate, yerr=[rate - low, high - rate], fmt="o", color=COLORS[kind], capsize=3,
                         label=f"{kind} twin (n = {rows[methods[0]]['retrieval']['n']} per point)")
    target = format_length(document["target"])
    axes[0].set_ylabel(f"perplexity of the last T tokens at {target}\n(±2 SE over held-out segments, not a 95 % band)")
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_formatter(ScalarFormatter())
    axes[0].yaxis.set_minor_formatter(ScalarFormatter())
    axes[1].set_ylabel(f"passkey retrieval at {target} (%, Wilson 95 %)")
    for ax in axes:
        ax.set_xticks(range(len(methods)), methods)
        ax.legend(fontsize=8)
    fig.suptitle(f"Twins (T = {document['train_length']}): scaling methods planned for {target}", fontsize=10)
    fig.tight_layout()
    return fig


#: figure file name → function drawing it
FIGURES: Registry[Callable] = Registry("figures", "figure", {
    "rope_periods": rope_periods_figure,
    "arc_coverage": arc_coverage_figure,
    "cos_over_distance": cos_over_distance_figure,
    "scaling_factors": scaling_factors_figure,
    "pair_factors": pair_factors_figure,
    "scaled_model": scaled_model_figure,
    "paper_figure1a": paper_figure1a_figure,
    "paper_figure2": paper_figure2_figure,
    "paper_figure6": paper_figure6_figure,
    "paper_table2": paper_table2_figure,
    "relative_perplexity": relative_perplexity_figure,
    "smollm2_perplexity": smollm2_perplexity_figure,
    "smollm2_niah": smollm2_niah_figure,
    "smollm2_attention": smollm2_attention_figure,
    "twin_denoising": twin_denoising_figure,
    "twin_denoising_distance": twin_denoising_distance_figure,
    "smollm2_ruler": smollm2_ruler_figure,
    "smollm2_methods": smollm2_methods_figure,
    "twins_perplexity": twins_perplexity_figure,
    "twins_niah": twins_niah_figure,
    "twins_ntk": twins_ntk_figure,
    "twins_methods": twins_methods_figure,
})


def regenerate(directory: Path, only: list[str] | None = None, progress: bool = True,
               force: bool = False) -> list[Path]:
    """Draw every figure (or those in ``only``) into ``directory``; return the files written."""
    draw = {name: FIGURES[name] for name in only or FIGURES}  # an unknown name is refused before anything is drawn
    written = []
    for name, figure in draw.items():
        written += save_figure(figure(), Path(directory) / name, force=force)
        if progress:
            print(f"wrote {Path(directory) / name}.png/.pdf")
    return written
