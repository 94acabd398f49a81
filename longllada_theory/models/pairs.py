"""Per RoPE pair, what pre-training showed and what a plan changes (``longllada explain``, ``scale --pairs``).

For pair i with angle θ_i per token, pre-trained at length T: its period 2π/θ_i; for a model with a RoPE scaling,
its effective period (scaling included) against the window W the scaling was made for; the share of its circle causal
training showed (the arc [0, T·θ_i)) and bidirectional training showed ((−T·θ_i, T·θ_i)); the first distance whose
angle training never showed. With a plan for a target T′: the angle θ′_i the scaled model uses at T′, the factor
θ_i/θ′_i, whether the pair completes a turn within T′, how far its arc at T′ reaches past the one training showed
(T′·θ′_i / T·θ_i), and whether at T′ it meets angles training never showed —
it does when T′·θ′_i exceeds the arc it saw (T·θ_i) and that arc was not the whole circle (2π for causal training,
π each side for bidirectional).
"""

from __future__ import annotations

import math

import numpy as np

from ..theory.scaling import ScalingPlan
from .spec import RopeSpec


def _seen_whole_circle(theta: np.ndarray, length: int, attention: str) -> np.ndarray:
    reach = length * theta * (2 if attention == "bidirectional" else 1)
    return reach >= 2 * math.pi


def pair_rows(spec: RopeSpec, plan: ScalingPlan | None = None) -> list[dict]:
    """One row per rotated pair (see module docstring): the pre-training RoPE at T; for a model with a RoPE scaling
    its effective RoPE at its window W too; with a plan, the pair after it, judged against the RoPE the plan says
    training fixed (the effective one for a composed plan, the pre-training one otherwise)."""
    theta = 2 * math.pi / spec.periods()
    t = spec.train_length
    effective = 2 * math.pi / spec.effective_periods() if spec.scaled else None
    after = plan.inverse_frequencies(at_length=plan.target) if plan is not None else None
    if plan is not None:
        trained_periods, trained_length = plan.trained()
        trained = 2 * math.pi / trained_periods
    rows = []
    for i, th in enumerate(theta):
        row = {"pair": i, "dims": [2 * i, 2 * i + 1], "theta": float(th), "period": float(2 * math.pi / th),
               "period_over_train_length": float(2 * math.pi / th / t),
               "beyond_critical": 2 * i >= spec.critical_dimension}
        for kind in ("causal", "bidirectional"):
            width = 2 if kind == "bidirectional" else 1
            row[f"coverage_{kind}"] = float(min(1.0, width * t * th / (2 * math.pi)))
            row[f"first_unseen_{kind}"] = None if _seen_whole_circle(np.array([th]), t, kind)[0] else float(t)
        if effective is not None:
            row.update(effective_theta=float(effective[i]), effective_period=float(2 * math.pi / effective[i]),
                       effective_period_over_window=float(2 * math.pi / effective[i] / spec.window),
                       beyond_effective_critical=2 * i >= spec.effective_critical_dimension)
        if after is not None:
            new, old = float(after[i]), float(trained[i])
            row.update(theta_after=new, factor=float(old / new), period_after=float(2 * math.pi / new),
                       completes_turn_within_target=bool(2 * math.pi / new <= plan.target),
                       arc_at_target_over_seen=float(plan.target * new / (trained_length * old)))
            for kind in ("causal", "bidirectional"):
                whole = bool(_seen_whole_circle(np.array([old]), trained_length, kind)[0])
                row[f"unseen_at_target_{kind}"] = bool((not whole) and plan.target * new > trained_length * old
                                                       * (1 + 1e-9))
        rows.append(row)
    return rows


def critical_pair(spec: RopeSpec, attention: str) -> int:
    """The first pair whose circle pre-training did not show whole: period 2π/θ_i > T for causal training, > 2T for
    bidirectional (it sees (−Tθ_i, Tθ_i)). For causal attention this is pair d_crit/2."""
    theta = 2 * math.pi / spec.periods()
    unseen = np.flatnonzero(~_seen_whole_circle(theta, spec.train_length, attention))
    return int(unseen[0]) if len(unseen) else len(theta)


def pair_comparison(spec: RopeSpec, plans: dict[str, ScalingPlan]) -> list[dict]:
    """Several plans side by side, one row per pair: its period before (and over T), and for each plan its factor
    θ_i/θ′_i and its period after over the plan's target (≤ 1: the pair completes a turn within the target)."""
    rows = [{"pair": r["pair"], "period": r["period"], "period_over_train_length": r["period_over_train_length"]}
            for r in pair_rows(spec)]
    for name, plan in plans.items():
        for row, after in zip(rows, pair_rows(spec, plan)):
            row[f"{name}_factor"] = after["factor"]
            row[f"{name}_period_over_target"] = after["period_after"] / plan.target
    return rows
