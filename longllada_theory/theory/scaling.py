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

Each factor is 1 exactly when no scaling is needed (target within reach). Factors are vectorised over targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import LongLLaDAError
from .rope import check_rope, critical_dimension, extrapolation_bound, rotation_angles


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


def yarn_inverse_frequencies(rotary_dim: int, base: float, train_length: int, factor: float,
                             beta_fast: float = 32.0, beta_slow: float = 1.0) -> tuple[np.ndarray, float]:
    """YaRN's blended inverse frequencies and attention factor, as transformers computes them.

    Pairs that turn more than β_fast times within T keep θ_i; pairs that turn less than β_slow times are divided
    by s; a linear ramp in between. Correction dimension for r rotations: d·ln(T/(2π r)) / (2 ln b), floored/ceiled.
    Attention factor (mscale): 0.1·ln s + 1 for s > 1.
    """
    theta = rotation_angles(rotary_dim, base)
    if factor <= 1:
        return theta, 1.0

    def correction_dim(rotations: float) -> float:
        return rotary_dim * math.log(train_length / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), rotary_dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(rotary_dim // 2) - low) / (high - low), 0.0, 1.0)
    keep = 1.0 - ramp
    inv_freq = theta / factor * ramp + theta * keep
    return inv_freq, 0.1 * math.log(factor) + 1.0


@dataclass(frozen=True)
class ScalingPlan:
    """What one method asks of a model to reach ``target`` tokens."""

    method: str
    target: int
    rotary_dim: int
    rope_theta: float
    train_length: int
    scaling_factor: float
    new_rope_theta: float
    rope_type: str = "default"
    attention_factor: float = 1.0
    formula: str = ""
    extra_parameters: dict = field(default_factory=dict)

    @property
    def needed(self) -> bool:
        """False when the model already reaches the target without any change (factor exactly 1)."""
        return self.scaling_factor != 1.0

    @property
    def rope_parameters(self) -> dict:
        """The transformers-5 ``rope_parameters`` that realise this plan."""
        params = {"rope_type": self.rope_type, "rope_theta": self.new_rope_theta}
        if self.rope_type != "default":
            params.update(factor=self.scaling_factor, **self.extra_parameters)
        return params

    def inverse_frequencies(self) -> np.ndarray:
        """The θ_i a model built with this plan uses (what transformers' RoPE initialisation must produce)."""
        if self.rope_type == "linear":
            return rotation_angles(self.rotary_dim, self.rope_theta) / self.scaling_factor
        if self.rope_type == "yarn":
            return yarn_inverse_frequencies(self.rotary_dim, self.rope_theta, self.train_length, self.scaling_factor)[0]
        return rotation_angles(self.rotary_dim, self.new_rope_theta)

    def config_change(self, family: str) -> dict | None:
        """The exact change to a model's ``config.json`` for a config family (see :mod:`longllada_theory.spec`):

        - ``llada`` (OLMo-style keys, LLaDA's remote code): ``rope_theta`` only; its code has no other RoPE types,
          so linear/YaRN have no config change (None).
        - ``rope_parameters`` (transformers ≥ 5): the whole ``rope_parameters`` dict.
        - ``legacy`` (transformers < 5): ``rope_theta``, plus ``rope_scaling`` for linear/YaRN.
        """
        if family == "rope_parameters":
            return {"rope_parameters": self.rope_parameters}
        if self.rope_type == "default":
            return {"rope_theta": self.new_rope_theta}
        if family == "llada":
            return None
        if family == "legacy":
            return {"rope_scaling": {k: v for k, v in self.rope_parameters.items() if k != "rope_theta"}}
        raise LongLLaDAError(f"config family {family!r} is unknown; expected llada, rope_parameters or legacy")

    def reaches(self) -> float:
        """The extrapolation bound after scaling, by the law's reading (critical dimension fixed by training)."""
        d_crit = critical_dimension(self.rotary_dim, self.rope_theta, self.train_length)
        return extrapolation_bound(self.rotary_dim, self.new_rope_theta, d_crit)


def _base_change(method: str, formula: str, factor_fn: Callable[[int, float, int, int], float]):
    def plan(rotary_dim: int, base: float, train_length: int, target: int) -> ScalingPlan:
        lam = float(factor_fn(rotary_dim, base, train_length, target))
        return ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), lam, lam * float(base),
                           formula=formula)
    return plan


def _position_scaling(method: str, formula: str):
    def plan(rotary_dim: int, base: float, train_length: int, target: int) -> ScalingPlan:
        check_rope(rotary_dim, base, train_length)
        s = float(interpolation_factor(train_length, target))
        if s == 1.0:
            return ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), 1.0, float(base),
                               formula=formula)
        extra = {}
        attention_factor = 1.0
        if method == "yarn":
            extra = {"original_max_position_embeddings": int(train_length), "beta_fast": 32.0, "beta_slow": 1.0}
            attention_factor = yarn_inverse_frequencies(rotary_dim, base, train_length, s)[1]
        return ScalingPlan(method, int(target), int(rotary_dim), float(base), int(train_length), s, float(base),
                           rope_type=method, attention_factor=attention_factor, formula=formula, extra_parameters=extra)
    return plan


#: method name → function (rotary_dim, base, train_length, target) → ScalingPlan
METHODS: dict[str, Callable[[int, float, int, int], ScalingPlan]] = {
    "longllada": _base_change("longllada", "λ = b⁻¹·(T′/2π)^(d/d_crit)", ntk_scaling_factor),
    "diffusion-aware": _base_change("diffusion-aware", "λ = b⁻¹·(2T′/2π)^(d/d_crit(2T))", diffusion_aware_factor),
    "ntk-aware": _base_change("ntk-aware", "λ = (T′/T)^(d/(d−2))",
                              lambda d, b, t, target: ntk_aware_factor(d, t, target)),
    "linear": _position_scaling("linear", "positions ÷ s, s = T′/T"),
    "yarn": _position_scaling("yarn", "YaRN ramp, s = T′/T, β_fast 32, β_slow 1"),
}


def check_method(method: str) -> None:
    if method not in METHODS:
        raise LongLLaDAError(f"scaling method {method!r} is unknown; expected one of {', '.join(METHODS)}")


def plan_scaling(rotary_dim: int, base: float, train_length: int, target: int,
                 method: str = "longllada") -> ScalingPlan:
    """The plan of ``method`` for reaching ``target`` tokens from (d, b, T)."""
    check_method(method)
    check_rope(rotary_dim, base, train_length)
    _check_target(target)
    return METHODS[method](rotary_dim, base, train_length, target)
