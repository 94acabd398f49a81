"""Scaling factors by method, and the RoPE parameters each one asks a model to use .

Methods (one :class:`ScalingMethod` entry each, in the registry :data:`METHODS`):

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

Ablations (entries with ``ablation`` set; not listed among the methods unless asked for): ``longllada-fast-pairs`` and
``longllada-slow-pairs`` apply the law's per-pair slowing λ^(2i/d) (what its base change does to pair i) only to the
pairs below, or only to the pairs beyond, the critical dimension, and keep the others as trained — a frequency-band
ablation of the law, as a per-pair (LongRoPE-type) plan.

Each factor is 1 exactly when no scaling is needed (target within reach). Factors are vectorised over targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import LongLLaDAError
from ..registry import Registry
from .rope import check_attention, check_rope, critical_dimension, critical_pair_of
from .rope_types import default_angles, rope_angles


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


def ntk_aware_factor(rotary_dim, train_length, target, pairs=None):
    """bloc97's NTK-aware factor: λ = max(1, (T′/T)^(d/(d−2))) — the lowest frequency is interpolated by T′/T,
    the highest left alone. Where only ``pairs`` of the d/2 pairs rotate (proportional RoPE), the slowest rotated
    pair turns by b^(−2(n−1)/d), so λ = (T′/T)^(d/(2n−2))."""
    check_rope(rotary_dim, 2.0, train_length)
    d = np.asarray(rotary_dim, dtype=float)
    slowest = d - 2 if pairs is None else 2 * np.asarray(pairs, dtype=float) - 2
    if np.any(slowest <= 0):
        raise LongLLaDAError(f"NTK-aware scaling needs a rotary dimension above 2, got {rotary_dim}")
    ratio = _check_target(target) / np.asarray(train_length, dtype=float)
    return _scalar_or_array(np.maximum(1.0, ratio ** (d / slowest)))


def interpolation_factor(train_length, target):
    """Position interpolation / YaRN factor s = max(1, T′/T)."""
    check_rope(2, 2.0, train_length)
    return _scalar_or_array(np.maximum(1.0, _check_target(target) / np.asarray(train_length, dtype=float)))


@dataclass(frozen=True)
class ScalingPlan:
    """What one method asks of a model to reach ``target`` tokens: a RoPE type and its parameters (transformers 5's
    ``rope_parameters``), from which the inverse frequencies follow (:mod:`.rope_types`, as transformers computes
    them); per-pair methods carry their factors f_i (θ_i / f_i).

    A plan also remembers the RoPE that training fixed — the periods the model turned by while it was trained and the
    length it was trained at — because that, not the new RoPE, decides which pairs are fully trained (the critical
    dimension does not move when the RoPE changes after training). For a model without a RoPE scaling, and for a plan
    that replaces a model's scaling, that is the pre-training RoPE (base ``rope_theta``, length ``train_length``);
    for a plan composed on a model's scaling it is the model's effective RoPE at the window it was scaled to."""

    method: str
    target: int
    rotary_dim: int                 # D, the exponent's dimension (the rotary dimension but for proportional RoPE)
    rope_theta: float
    train_length: int
    scaling_factor: float           # λ on the base, or s on positions, relative to the RoPE the plan starts from
    new_rope_theta: float
    rope_type: str = "default"
    attention_factor: float = 1.0
    formula: str = ""
    parameters: dict = field(default_factory=dict)  # the RoPE type's parameters (factor, original length, …)
    pair_factors: tuple[float, ...] | None = None
    pairs: int | None = None        # rotated pairs, where fewer than D/2 (proportional RoPE)
    note: str = ""                  # how the plan relates to a scaling the model already has
    max_positions: int | None = None  # the model's max_position_embeddings (a RoPE type may derive its factor from it)
    reading: str | None = None      # "compose" (on the model's scaling) or "replace" (from pre-training); None: the
    #                                 model has no scaling, so both readings are this plan
    trained_periods: tuple[float, ...] | None = None  # the periods training fixed (None: the pre-training RoPE's)
    trained_length: int | None = None                 # the length they were trained at (None: train_length)
    applicable: bool = True         # False: the model's code cannot take this method (the note says why)

    @property
    def needed(self) -> bool:
        """Whether the plan changes the model: a factor other than 1, or the replace reading (which drops the model's
        scaling even where the pre-training RoPE reaches the target unchanged); False for a plan the model's code
        cannot take."""
        return self.applicable and (self.scaling_factor != 1.0 or self.reading == "replace")

    @property
    def rope_parameters(self) -> dict:
        """The transformers-5 ``rope_parameters`` that realise this plan."""
        return {"rope_type": self.rope_type, "rope_theta": self.new_rope_theta, **self.parameters}

    def inverse_frequencies(self, at_length: int | None = None) -> np.ndarray:
        """The θ_i a model built with this plan rotates by: at initialisation (what its rotary module holds before a
        long forward; what loading checks), or at a sequence length (dynamic NTK's grown base, LongRoPE's long
        factors)."""
        theta, _ = rope_angles(self.rope_type, self.rotary_dim, self.new_rope_theta, self.rope_parameters, self.pairs,
                               max_positions=self.max_positions, at_length=at_length)
        return theta

    def trained(self) -> tuple[np.ndarray, int]:
        """(periods, length) of the RoPE training fixed (see the class docstring)."""
        if self.trained_periods is not None:
            return np.asarray(self.trained_periods, dtype=float), int(self.trained_length or self.train_length)
        pairs = self.rotary_dim // 2 if self.pairs is None else self.pairs
        return 2 * math.pi / default_angles(self.rotary_dim, self.rope_theta, pairs), int(self.train_length)

    @property
    def attention(self) -> str:
        """The attention its method's law is read with (causal; bidirectional for the diffusion-aware law)."""
        return METHODS[self.method].attention if self.method in METHODS else "causal"

    def critical_pair(self, attention: str | None = None) -> int:
        """The first pair training did not show a whole turn of: period ≥ T (causal), ≥ 2T (bidirectional: it saw
        distances up to T on either side)."""
        attention = attention or self.attention
        check_attention(attention)
        periods, length = self.trained()
        return critical_pair_of(periods, (2 if attention == "bidirectional" else 1) * length)

    def reaches(self, attention: str | None = None) -> float:
        """The longest context without an angle training never showed, by the law's reading: the period, after
        scaling, of the first pair that did not complete a turn in training (:meth:`critical_pair`), evaluated at
        the target length; ∞ when every rotated pair completes a turn. Read with the method's own attention unless
        ``attention`` is given.

        ``attention="bidirectional"`` reads it as UltraLLaDA's diffusion-aware law does (arXiv 2510.10481): a
        bidirectional model saw relative distances up to T on either side, a span of 2T, so the first pair that did
        not complete a turn within 2T decides, and a context L spans 2L — the reach is half that pair's period."""
        attention = attention or self.attention
        span = 2 if attention == "bidirectional" else 1
        pair = self.critical_pair(attention)
        theta = self.inverse_frequencies(at_length=self.target)
        if pair >= len(theta):
            return float("inf")
        return float(2 * math.pi / theta[pair]) / span


#: method → (D, base, T, T′, rotated pairs or None) → λ on the base (or s on positions)
FactorFunction = Callable[[int, float, int, int, int | None], float]


@dataclass(frozen=True)
class ScalingMethod:
    """One scaling method (an entry of :data:`METHODS`, as transformers pairs ``ROPE_INIT_FUNCTIONS`` with its
    parameters): the RoPE type its plans use (``default``: it changes the base and nothing else), its factor, the
    parameters of that RoPE type for a factor s, and the attention its law is read with (bidirectional: span 2T)."""

    name: str
    formula: str
    rope_type: str
    factor: FactorFunction
    parameters: Callable[[int, float, int, float], dict] = lambda d, b, t, s: {}
    attention: str = "causal"
    ablation: str | None = None  # what it takes apart, for an entry that is an ablation rather than a method

    @property
    def changes_base(self) -> bool:
        return self.rope_type == "default"

    def plan(self, rotary_dim: int, base: float, train_length: int, target: int,
             pairs: int | None = None) -> ScalingPlan:
        """The plan for ``target`` tokens from a model with default RoPE (D, b, T)."""
        factor = float(self.factor(rotary_dim, base, train_length, target, pairs))
        unchanged = ScalingPlan(self.name, int(target), int(rotary_dim), float(base), int(train_length), 1.0,
                                float(base), formula=self.formula, pairs=pairs)
        if self.changes_base:
            return replace(unchanged, scaling_factor=factor, new_rope_theta=factor * float(base))
        if factor == 1.0:
            return unchanged
        extra = {"factor": factor, **self.parameters(rotary_dim, base, train_length, factor)}
        plan = replace(unchanged, scaling_factor=factor, rope_type=self.rope_type, parameters=extra,
                       max_positions=int(train_length) if self.rope_type in WINDOW_TYPES else None)
        _, attention = rope_angles(self.rope_type, rotary_dim, base, plan.rope_parameters, pairs)
        factors = extra.get("long_factor")
        return replace(plan, attention_factor=attention, pair_factors=tuple(factors) if factors else None)


def _yarn(rotary_dim, base, train_length, s):
    return {"original_max_position_embeddings": int(train_length), "beta_fast": 32.0, "beta_slow": 1.0}


def _critical(rotary_dim, base, train_length, s):
    """Per pair: 1 for the pairs that complete a turn within T, s = T′/T for the pairs beyond the critical
    dimension — each just enough that at T′ it turns no further than it did at T — and no attention factor."""
    d_crit = int(critical_dimension(rotary_dim, base, train_length))
    factors = [1.0 if 2 * i < d_crit else s for i in range(rotary_dim // 2)]
    return {"original_max_position_embeddings": int(train_length), "short_factor": factors,
            "long_factor": factors, "attention_factor": 1.0}


def _law_band(slow: bool) -> Callable[[int, float, int, float], dict]:
    """The law's per-pair slowing λ^(2i/d) (its base change seen pair by pair) on the pairs beyond the critical
    dimension (``slow``) or below it, the other pairs kept as trained; no attention factor."""
    def parameters(rotary_dim, base, train_length, law):
        d_crit = int(critical_dimension(rotary_dim, base, train_length))
        factors = [law ** (2 * i / rotary_dim) if (2 * i >= d_crit) == slow else 1.0 for i in range(rotary_dim // 2)]
        return {"original_max_position_embeddings": int(train_length), "short_factor": factors,
                "long_factor": factors, "attention_factor": 1.0}
    return parameters


def _s(d, b, t, target, pairs):
    return interpolation_factor(t, target)


def _law(d, b, t, target, pairs):
    return ntk_scaling_factor(d, b, t, target)


#: RoPE types whose frequencies grow beyond max_position_embeddings (dynamic NTK): a plan of such a type sets the
#: window it grows from — max_position_embeddings = T — in the config it writes
WINDOW_TYPES = ("dynamic",)

#: method name → :class:`ScalingMethod`
METHODS: Registry[ScalingMethod] = Registry("methods", "scaling method", {m.name: m for m in (
    ScalingMethod("longllada", "λ = b⁻¹·(T′/2π)^(d/d_crit)", "default", _law),
    ScalingMethod("diffusion-aware", "λ = b⁻¹·(2T′/2π)^(d/d_crit(2T))", "default",
                  lambda d, b, t, target, pairs: diffusion_aware_factor(d, b, t, target), attention="bidirectional"),
    ScalingMethod("ntk-aware", "λ = (T′/T)^(d/(d−2))", "default",
                  lambda d, b, t, target, pairs: ntk_aware_factor(d, t, target, pairs)),
    ScalingMethod("linear", "positions ÷ s, s = T′/T", "linear", _s),
    ScalingMethod("yarn", "YaRN ramp, s = T′/T, β_fast 32, β_slow 1", "yarn", _s, _yarn),
    ScalingMethod("ntk-by-parts", "YaRN's ramp without its attention factor, s = T′/T", "yarn", _s,
                  lambda d, b, t, s: {**_yarn(d, b, t, s), "attention_factor": 1.0}),
    ScalingMethod("dynamic", "dynamic NTK: the base grows beyond T (max_position_embeddings), s = T′/T", "dynamic",
                  _s),
    ScalingMethod("critical", "pairs beyond d_crit ÷ s, the others kept, s = T′/T", "longrope", _s, _critical),
    ScalingMethod("longllada-fast-pairs", "pair i ÷ λ^(2i/d) below d_crit only (the law's λ), the others kept",
                  "longrope", _law, _law_band(slow=False), ablation="the law on the fast pairs alone"),
    ScalingMethod("longllada-slow-pairs", "pair i ÷ λ^(2i/d) beyond d_crit only (the law's λ), the others kept",
                  "longrope", _law, _law_band(slow=True), ablation="the law on the slow pairs alone"),
)})

#: the scaling methods a user chooses among (the registry without its ablations)
STANDARD_METHODS: tuple[str, ...] = tuple(name for name, method in METHODS.items() if method.ablation is None)
#: the registry's ablations
ABLATIONS: tuple[str, ...] = tuple(name for name in METHODS if name not in STANDARD_METHODS)


def check_method(method: str) -> ScalingMethod:
    """The registered method ``method`` (an unknown name is refused, with the closest names)."""
    return METHODS[method]


def plan_scaling(rotary_dim: int, base: float, train_length: int, target: int, method: str = "longllada",
                 pairs: int | None = None) -> ScalingPlan:
    """The plan of ``method`` for reaching ``target`` tokens from (d, b, T); ``pairs`` rotated pairs where fewer
    than d/2 rotate (proportional RoPE)."""
    check_method(method)
    check_rope(rotary_dim, base, train_length)
    _check_target(target)
    return METHODS[method].plan(rotary_dim, base, train_length, target, pairs)


def solve_base_factor(period_at: Callable[[float], float], wanted: float, upper: float) -> float:
    """The least λ in [1, ``upper``] with ``period_at(λ)`` ≥ ``wanted``: the base change that slows one pair to a
    wanted period, for RoPE types whose frequencies have no closed form in the base (Llama 3's bands, YaRN's ramp,
    LongRoPE's factors — each a period that grows with the base). Bisection on log λ to a relative 1e-12."""
    if period_at(1.0) >= wanted:
        return 1.0
    if period_at(upper) < wanted:
        raise LongLLaDAError(f"no base up to {upper:g}× the model's reaches a period of {wanted:g} tokens")
    low, high = 0.0, math.log(upper)
    while high - low > 1e-12:
        middle = (low + high) / 2
        low, high = (middle, high) if period_at(math.exp(middle)) < wanted else (low, middle)
    return math.exp(high)


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
