"""Scaling factors by method, and the RoPE parameters each one asks a model to use .

Methods (one function each, in the registry :data:`METHODS`):

- ``longllada`` — the extrapolation scaling law (Liu et al. 2023, used by LongLLaDA, arXiv 2506.14429):
  λ = b⁻¹ · (T′/2π)^(d/d_crit), new rope_theta = λ·b.
- ``diffusion-aware`` — the same law with T → 2T and T′ → 2T′ (UltraLLaDA, arXiv 2510.10481): bidirectional
  attention sees relative positions in (−T, T).
- ``ntk-aware`` — bloc97's NTK-aware base change (2023): λ = (T′/T)^(d/(d−2)).
- ``linear`` — position interpolation (Chen et al. 2023): positions divided by s = T′/T; base unchanged.
- ``yarn`` — YaRN (Peng et al. 2023, arXiv 2309.00071) with factor s = T′/T, as transformers computes it
  (``transformers.modeling_rope_utils._compute_yarn_parameters``: β_fast 32, β_slow 1, attention factor 0.1·ln s + 1).
- ``ntk-by-parts`` — YaRN's ramp between kept fast pairs and interpolated slow pairs, without its attention factor
  (bloc97's "NTK-by-parts").
- ``dynamic`` — dynamic NTK (emozilla): the base grows with the sequence length at run time.
- ``critical`` — from the theory: the pairs that complete a turn within T are kept, the pairs beyond the critical
  dimension are divided by s = T′/T (each turns at T′ no further than at T), no attention factor; a per-pair
  (LongRoPE-type) plan.
- :func:`longrope_plan` — LongRoPE with given per-pair factors (e.g. LongDLLM's searched ones for LLaDA).

Each factor is 1 exactly when no scaling is needed (target within reach). Factors are vectorised over targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import LongLLaDAError
from .rope import check_attention, check_rope, critical_dimension
from .rope_types import rope_angles


def _check_target(target) -> np.ndarray:
    t = np.asarray(target, dtype=float)
    if np.any(~(t > 2 * math.pi)):
        raise LongLLaDAError(f"target length {target!r} must be a number of tokens above 2π (e.g. 16384 or 16k)")
    return t


def _scalar_or_array(value: np.ndarray):
    return float(value) if np.ndim(value) == 0 else value


def ntk_scaling_factor(rotary_dim, base, train_length, target):
    """The extrapolation scaling law: λ = max(1, b⁻¹ · (T′/2π)^(d/d_crit)), with d_crit from (d, b, T).

    Derived by requiring the bound of the new base to reach the target: 2π·(λb)^(d_crit/d) = T′
    (Liu et al. 2023, arXiv 2310.05209; LongLLaDA section 4). λ ≤ 1 means the target is within the bound.
    """
    check_rope(rotary_dim, base, train_length)
    t = _check_target(target)
    d_crit = np.asarray(critical_dimension(rotary_dim, base, train_length), dtype=float)  # ≥ 2 since T > 2π
    lam = (t / (2 * math.pi)) ** (np.asarray(rotary_dim, dtype=float) / d_crit) / np.asarray(base, dtype=float)
    return _scalar_or_array(np.maximum(1.0, lam))


def diffusion_aware_factor(rotary_dim, base, train_length, target):
    """UltraLLaDA's diffusion-aware law: :func:`ntk_scaling_factor` with T → 2T and T′ → 2T′."""
    return ntk_scaling_factor(rotary_dim, base, 2 * np.asarray(train_length, dtype=float), 2 * _check_target(target))


def ntk_aware_factor(rotary_dim, train_length, target):
    """bloc97's NTK-aware factor: λ = max(1, (T′/T)^(d/(d−2))) — the lowest frequency is interpolated by T′/T,
    the highest left alone."""
    check_rope(rotary_dim, 2.0, train_length)
    if np.any(np.asarray(rotary_dim) <= 2):
        raise LongLLaDAError(f"NTK-aware scaling needs a rotary dimension above 2, got {rotary_dim}")
    d = np.asarray(rotary_dim, dtype=float)
    ratio = _check_target(target) / np.asarray(train_length, dtype=float)
    return _scalar_or_array(np.maximum(1.0, ratio ** (d / (d - 2))))


def interpolation_factor(train_length, target):
    """Position interpolation / YaRN factor s = max(1, T′/T)."""
    check_rope(2, 2.0, train_length)
    return _scalar_or_array(np.maximum(1.0, _check_target(target) / np.asarray(train_length, dtype=float)))


@dataclass(frozen=True)
class ScalingPlan:
    """What one method asks of a model to reach ``target`` tokens: a RoPE type and its parameters (transformers 5's
    ``rope_parameters``), from which the inverse frequencies follow (:mod:`.rope_types`, as transformers computes
    them); per-pair methods carry their factors f_i (θ_i / f_i)."""

    method: str
    target: int
    rotary_dim: int                 # D, the exponent's dimension (the rotary dimension but for proportional RoPE)
    rope_theta: float
    train_length: int
    scaling_factor: float           # λ on the base, or s on positions
    new_rope_theta: float
    rope_type: str = "default"
    attention_factor: float = 1.0
    formula: str = ""
    parameters: dict = field(default_factory=dict)  # the RoPE type's parameters (factor, original length, …)
    pair_factors: tuple[float, ...] | None = None
    pairs: int | None = None        # rotated pairs, where fewer than D/2 (proportional RoPE)
    note: str = ""                  # how the plan relates to a scaling the model already has

    @property
    def needed(self) -> bool:
        """False when the model already reaches the target without any change (factor exactly 1)."""
        return self.scaling_factor != 1.0

    @property
    def rope_parameters(self) -> dict:
        """The transformers-5 ``rope_parameters`` that realise this plan."""
        return {"rope_type": self.rope_type, "rope_theta": self.new_rope_theta, **self.parameters}

    def inverse_frequencies(self, at_length: int | None = None) -> np.ndarray:
        """The θ_i a model built with this plan rotates by: at initialisation (what its rotary module holds before a
        long forward; what loading checks), or at a sequence length (dynamic NTK's grown base, LongRoPE's long
        factors)."""
        theta, _ = rope_angles(self.rope_type, self.rotary_dim, self.new_rope_theta, self.rope_parameters, self.pairs,
                               at_length=at_length)
        return theta

    def reaches(self, attention: str = "causal") -> float:
        """The longest context without an angle pre-training never showed, by the law's reading: the period, after
        scaling, of the first pair that did not complete a turn within T (the critical dimension fixed by
        pre-training), evaluated at the target length; ∞ when every rotated pair completes a turn.

        ``attention="bidirectional"`` reads it as UltraLLaDA's diffusion-aware law does (arXiv 2510.10481): a
        bidirectional model saw relative distances up to T on either side, a span of 2T, so the first pair that did
        not complete a turn within 2T decides, and a context L spans 2L — the reach is half that pair's period."""
        check_attention(attention)
        span = 2 if attention == "bidirectional" else 1
        d_crit = int(critical_dimension(self.rotary_dim, self.rope_theta, span * self.train_length))
        theta = self.inverse_frequencies(at_length=self.target)
        if d_crit // 2 >= len(theta):
            return float("inf")
        return float(2 * math.pi / theta[d_crit // 2]) / span


def _base_change(method: str, formula: str, factor_fn: Callable[[int, float, int, int], float]):
    def plan(rotary_dim: int, base: float, train_length: int, target: int, pairs: int | None = None) -> ScalingPlan:
        lam = float(factor_fn(rotary_dim, base, train_length, target))
        return ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), lam, lam * float(base),
                           formula=formula, pairs=pairs)
    return plan


def _position_scaling(method: str, formula: str, parameters: Callable[[int, float, int, float], dict]):
    """Methods that divide frequencies by s = T′/T in some way (a transformers RoPE type named ``rope_type``)."""
    rope_type = {"ntk-by-parts": "yarn", "critical": "longrope"}.get(method, method)

    def plan(rotary_dim: int, base: float, train_length: int, target: int, pairs: int | None = None) -> ScalingPlan:
        check_rope(rotary_dim, base, train_length)
        s = float(interpolation_factor(train_length, target))
        if s == 1.0:
            return ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), 1.0, float(base),
                               formula=formula, pairs=pairs)
        extra = {"factor": s, **parameters(rotary_dim, base, train_length, s)}
        probe = ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), s, float(base),
                            rope_type=rope_type, formula=formula, parameters=extra, pairs=pairs)
        _, attention = rope_angles(rope_type, rotary_dim, base, probe.rope_parameters, pairs)
        factors = extra.get("long_factor")
        return replace(probe, attention_factor=attention, pair_factors=tuple(factors) if factors else None)
    return plan


def _yarn(rotary_dim, base, train_length, s):
    return {"original_max_position_embeddings": int(train_length), "beta_fast": 32.0, "beta_slow": 1.0}


def _critical(rotary_dim, base, train_length, s):
    """Per pair: 1 for the pairs that complete a turn within T, s = T′/T for the pairs beyond the critical
    dimension — each just enough that at T′ it turns no further than it did at T — and no attention factor."""
    d_crit = int(critical_dimension(rotary_dim, base, train_length))
    factors = [1.0 if 2 * i < d_crit else s for i in range(rotary_dim // 2)]
    return {"original_max_position_embeddings": int(train_length), "short_factor": factors,
            "long_factor": factors, "attention_factor": 1.0}


#: method name → function (D, base, train_length, target, rotated pairs) → ScalingPlan
METHODS: dict[str, Callable[..., ScalingPlan]] = {
    "longllada": _base_change("longllada", "λ = b⁻¹·(T′/2π)^(d/d_crit)", ntk_scaling_factor),
    "diffusion-aware": _base_change("diffusion-aware", "λ = b⁻¹·(2T′/2π)^(d/d_crit(2T))", diffusion_aware_factor),
    "ntk-aware": _base_change("ntk-aware", "λ = (T′/T)^(d/(d−2))",
                              lambda d, b, t, target: ntk_aware_factor(d, t, target)),
    "linear": _position_scaling("linear", "positions ÷ s, s = T′/T", lambda d, b, t, s: {}),
    "yarn": _position_scaling("yarn", "YaRN ramp, s = T′/T, β_fast 32, β_slow 1", _yarn),
    "ntk-by-parts": _position_scaling("ntk-by-parts", "YaRN's ramp without its attention factor, s = T′/T",
                                      lambda d, b, t, s: {**_yarn(d, b, t, s), "attention_factor": 1.0}),
    "dynamic": _position_scaling("dynamic", "dynamic NTK: the base grows with the sequence, s = T′/T",
                                 lambda d, b, t, s: {"original_max_position_embeddings": int(t)}),
    "critical": _position_scaling("critical", "pairs beyond d_crit ÷ s, the others kept, s = T′/T", _critical),
}


def check_method(method: str) -> None:
    if method not in METHODS:
        raise LongLLaDAError(f"scaling method {method!r} is unknown; expected one of {', '.join(METHODS)}")


def plan_scaling(rotary_dim: int, base: float, train_length: int, target: int, method: str = "longllada",
                 pairs: int | None = None) -> ScalingPlan:
    """The plan of ``method`` for reaching ``target`` tokens from (d, b, T); ``pairs`` rotated pairs where fewer
    than d/2 rotate (proportional RoPE)."""
    check_method(method)
    check_rope(rotary_dim, base, train_length)
    _check_target(target)
    return METHODS[method](rotary_dim, base, train_length, target, pairs)


def longrope_plan(rotary_dim: int, base: float, train_length: int, target: int, factors, name: str = "longrope",
                  attention_factor: float | None = None, pairs: int | None = None) -> ScalingPlan:
    """LongRoPE with given per-pair factors f_i (θ_i / f_i beyond T; Ding et al. 2024), e.g. searched ones
    (LongDLLM's for LLaDA); the attention factor defaults to LongRoPE's √(1 + ln s / ln T)."""
    factors = [float(f) for f in factors]
    expected = (pairs or rotary_dim // 2)
    if len(factors) != expected or any(not f > 0 for f in factors):
        raise LongLLaDAError(f"LongRoPE needs {expected} positive per-pair factors (one per rotated pair); got "
                             f"{len(factors)}", parameters=("factors",))
    s = max(1.0, float(target) / float(train_length))
    extra = {"factor": s, "original_max_position_embeddings": int(train_length), "short_factor": [1.0] * expected,
             "long_factor": factors}
    if attention_factor is not None:
        extra["attention_factor"] = float(attention_factor)
    plan = ScalingPlan(name, int(target), int(rotary_dim), float(base), int(train_length), s, float(base),
                       rope_type="longrope", formula="θ_i ÷ f_i (searched per-pair factors)", parameters=extra,
                       pair_factors=tuple(factors), pairs=pairs)
    return replace(plan, attention_factor=rope_angles("longrope", rotary_dim, base, plan.rope_parameters, pairs)[1])
