"""Which RoPE pairs a model uses: the attention probe's per-pair query and key norms (``attention --pair-use``)
reduced to each pair's use and the share of it carried beyond the critical dimension.

Pair i adds at most |q_i|·|k_i| to a score q·k (Cauchy–Schwarz), so u_i = mean over heads of |q_i|·|k_i| (the mean
norms of the probe's queries and of every key) is the room pair i has in the scores. The pairs from
c = d_crit/2 on (:func:`~longllada_theory.theory.rope.critical_dimension` of the pre-training RoPE) never turned a
full period in pre-training; their share Σ_{i≥c} u_i / Σ_i u_i, against the (P − c)/P of pairs with equal norms,
says whether the model leans on them.
"""

from __future__ import annotations

import numpy as np

from ...lengths import format_length
from ...theory.rope import critical_dimension, rotation_periods
from ..stats import seed_interval


def pair_use(settings: dict, cells: list[dict]) -> dict:
    """Per pair use (mean over layers), the critical pair and its period, and the share beyond it — pooled over
    layers and the range over layers (a description of this model on this text, not an interval)."""
    cells = sorted(cells, key=lambda c: c["layer"])
    by_layer = np.array([(np.asarray(c["pair_q"]) * np.asarray(c["pair_k"])).mean(0) for c in cells])  # [L, P]
    pairs = by_layer.shape[1]
    base, train_length = float(settings["rope_theta"]), int(settings["train_length"])
    critical = int(critical_dimension(2 * pairs, base, train_length)) // 2
    shares = by_layer[:, critical:].sum(1) / by_layer.sum(1)
    use = by_layer.mean(0)
    return {"pairs": pairs, "critical_pair": critical, "train_length": train_length,
            "critical_period": float(rotation_periods(2 * pairs, base)[critical]) if critical < pairs else None,
            "use": np.round(use, 6).tolist(), "by_layer": np.round(by_layer, 6).tolist(),
            "layers": [c["layer"] for c in cells],
            "share_beyond_critical": float(use[critical:].sum() / use.sum()),
            "share_beyond_critical_range": [float(shares.min()), float(shares.max())],
            "equal_norms_share": (pairs - critical) / pairs}


def pair_use_sentence(pairs: dict) -> str:
    low, high = pairs["share_beyond_critical_range"]
    return (f"RoPE pairs {pairs['critical_pair']}–{pairs['pairs'] - 1} (beyond the critical pair, periods past "
            f"T = {format_length(pairs['train_length'])}) hold {pairs['share_beyond_critical']:.1%} of the pairs' "
            f"norm products ‖q_i‖·‖k_i‖ (layers {low:.1%}–{high:.1%}; equal norms would give "
            f"{pairs['equal_norms_share']:.1%})")


def pair_use_row(run) -> dict:
    """One row for a table of runs (a :class:`~longllada_theory.measure.results.Results` of ``attention
    --pair-use``)."""
    pairs = pair_use(run.settings, run.cells)
    low, high = pairs["share_beyond_critical_range"]
    return {"model": run.settings["model"], "tokens": run.settings.get("tokens", run.settings["length"]),
            "T": pairs["train_length"], "pairs": pairs["pairs"], "critical pair": pairs["critical_pair"],
            "share beyond": round(pairs["share_beyond_critical"], 4), "lowest layer": round(low, 4),
            "highest layer": round(high, 4), "equal norms": round(pairs["equal_norms_share"], 4)}


def paired_seed_shares(first: list, second: list, confidence: float = 0.95) -> dict:
    """The share beyond the critical pair of two recipes trained on the same seeds (``first[i]`` and ``second[i]``
    share seed i): each recipe's mean with its t interval over seeds, and the paired difference first − second."""
    a, b = ([pair_use(run.settings, run.cells)["share_beyond_critical"] for run in runs] for runs in (first, second))
    return {"first": seed_interval(a, confidence), "second": seed_interval(b, confidence),
            "difference": seed_interval([x - y for x, y in zip(a, b, strict=True)], confidence)}
