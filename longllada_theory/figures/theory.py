"""Figures of RoPE theory for the paper's models: periods against the training length, arc coverage, cos/sin over
distance, scaling factors by method."""

from __future__ import annotations

import math

import numpy as np

from ..lengths import format_length
from ..models.pairs import critical_pair, pair_comparison
from ..models.spec import load_spec
from ..reference import longdllm_factors
from ..theory.rope import arc_coverage, rotation_periods, unseen_angle_fraction
from ..theory.scaling import STANDARD_METHODS
from .draw import COLORS, style

PAPER_MODELS = ("GSAI-ML/LLaDA-8B-Base", "meta-llama/Meta-Llama-3-8B")


def rope_periods_figure(models: tuple[str, ...] = PAPER_MODELS):
    """Period of each RoPE pair against the training length, with the critical dimension marked."""
    plt = style()
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], models):
        spec = load_spec(name)
        pairs = np.arange(spec.rotary_dim // 2)
        periods = rotation_periods(spec.rotary_dim, spec.rope_theta)
        within = 2 * pairs < spec.critical_dimension
        ax.scatter(pairs[within], periods[within], s=12, color="#2ca02c", label="period < T (fully trained)")
        ax.scatter(pairs[~within], periods[~within], s=12, color="#7f7f7f", label="under-trained tail")
        ax.axhline(spec.train_length, color="black", lw=1, ls="--",
                   label=f"T_train = {format_length(spec.train_length)}")
        if spec.is_diffusion:
            ax.axhline(2 * spec.train_length, color=COLORS["bidirectional"], lw=1, ls=":",
                       label="2T (bidirectional reach)")
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
    plt = style()
    spec = load_spec(model)
    pairs = np.arange(spec.rotary_dim // 2)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for kind in ("causal", "bidirectional"):
        axes[0].plot(pairs, arc_coverage(spec.rotary_dim, spec.rope_theta, spec.train_length, kind),
                     color=COLORS[kind], lw=2, label=f"{kind}: Δ ∈ {'[0, T)' if kind == 'causal' else '(−T, T)'}")
        for multiple, ls in zip(multiples, ("-", "--", ":")):
            length = int(multiple * spec.train_length)
            unseen = unseen_angle_fraction(spec.rotary_dim, spec.rope_theta, spec.train_length, length, kind)
            axes[1].plot(pairs, unseen, color=COLORS[kind], ls=ls, label=f"{kind}, context {multiple:g}T")
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
    plt = style()
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
    """How much every method slows the slowest RoPE pair (θ/θ′ of pair d/2 − 1: λ^((d−2)/d) for a base change, s for
    position and per-pair methods) against the target length; methods whose curves coincide share one line."""
    plt = style()
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False)
    for ax, name in zip(axes[0], models):
        spec = load_spec(name)
        targets = np.unique(np.geomspace(spec.train_length / 2, spec.train_length * max_multiple, 60).astype(int))
        theta = spec.inverse_frequencies()[0][-1]
        curves: list[tuple[list[str], np.ndarray]] = []
        for method in STANDARD_METHODS:
            slowdown = np.array([theta / spec.plan(int(x), method).inverse_frequencies(at_length=int(x))[-1]
                                 for x in targets])
            same = next((names for names, curve in curves if np.allclose(curve, slowdown, rtol=1e-6)), None)
            if same is None:
                curves.append(([method], slowdown))
            else:
                same.append(method)
        for names, curve in curves:
            ax.plot(targets, curve, lw=1.8, label=", ".join(names))
        ax.axvline(spec.extrapolation_bound, color="black", lw=1, ls="--", label="extrapolation bound")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("target length T′ (tokens)")
        ax.set_title(f"{spec.name.split('/')[-1]} (T = {format_length(spec.train_length)})")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("slowest pair's θ / θ′")
    fig.tight_layout()
    return fig


def pair_factors_figure(model: str = "GSAI-ML/LLaDA-8B-Instruct", methods: tuple[str, ...] = ("longllada", "critical",
                                                                                                 "yarn")):
    """LongDLLM's searched per-pair factors for ``model`` beside the plans of ``methods`` for the same target: the
    factor θ_i/θ′_i of each pair, and each pair's period after scaling over the target, with the first pair causal
    and bidirectional training did not see whole marked."""
    plt = style()
    spec, searched = load_spec(model), longdllm_factors(model)
    target = searched["target_length"]
    plans = {"LongDLLM (searched)": spec.plan_with_factors(target, searched["factors"]),
             **{method: spec.plan(target, method) for method in methods}}
    rows = pair_comparison(spec, plans)
    pairs = [r["pair"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in plans:
        style_of = {"lw": 2.4, "color": "black"} if name.startswith("LongDLLM") else {"lw": 1.5}
        axes[0].plot(pairs, [r[f"{name}_factor"] for r in rows], label=name, **style_of)
        axes[1].plot(pairs, [r[f"{name}_period_over_target"] for r in rows], label=name, **style_of)
    axes[1].plot(pairs, [r["period"] / target for r in rows], color="grey", ls=":", label="before scaling")
    axes[1].axhline(1, color="grey", lw=0.8)
    for attention in ("causal", "bidirectional"):
        pair = critical_pair(spec, attention)
        for ax in axes:
            ax.axvline(pair, color=COLORS[attention], ls="--", lw=1,
                       label=f"first pair not seen whole, {attention} (pair {pair})")
    axes[0].set_ylabel("factor θ_i / θ′_i")
    axes[1].set_ylabel(f"period after scaling / target ({format_length(target)})")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("RoPE pair i")
        ax.legend(fontsize=7)
    fig.suptitle(f"{spec.name}: per-pair factors for {format_length(spec.train_length)} → {format_length(target)}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def scaled_model_figure(model: str = "meta-llama/Llama-3.1-8B", target: int = 262144, method: str = "longllada"):
    """A model that already has a RoPE scaling: the period of each pair in its pre-training RoPE and in its effective
    RoPE (the scaling included), and after the plan of ``method`` for ``target`` in both readings — composed on the
    scaling and replacing it — against T, the window W the scaling was made for and the target; each reading's own
    critical pair (the one whose period it brings to the target) is ringed."""
    plt = style()
    spec = load_spec(model)
    pairs = np.arange(spec.rotary_dim // 2)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.plot(pairs, spec.periods(), color="#7f7f7f", lw=1.5, label="pre-training RoPE")
    ax.plot(pairs, spec.effective_periods(), color="black", lw=2,
            label=f"effective RoPE ({spec.rope_type} ×{spec.existing_scaling.get('factor', 1):g})")
    for reading, color in (("compose", COLORS["bidirectional"]), ("replace", COLORS["causal"])):
        plan = spec.plan(target, method, reading)
        periods = 2 * math.pi / plan.inverse_frequencies(at_length=target)
        pair = plan.critical_pair()
        ax.plot(pairs, periods, color=color, lw=1.5, ls="--",
                label=f"{method} {reading}: λ = {plan.scaling_factor:.3g}, critical pair {pair}")
        ax.scatter([pair], [periods[pair]], s=60, facecolors="none", edgecolors=color, lw=1.5)
    for length, name, ls in ((spec.train_length, "T", ":"), (spec.window, "W", "-."), (target, "T′", "--")):
        ax.axhline(length, color="grey", lw=0.9, ls=ls, label=f"{name} = {format_length(length)}")
    ax.set_yscale("log")
    ax.set_xlabel("RoPE pair i")
    ax.set_ylabel("period (tokens)")
    ax.set_title(f"{spec.name}: plans for {format_length(target)} on an already-scaled RoPE", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
