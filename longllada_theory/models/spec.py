"""One :class:`RopeSpec` for any model: from a built-in preset, a ``config.json``, a local model folder, a GGUF
file or a Hugging Face model id (the first step of ``config → RopeSpec → ScalingPlan``).

Config keys read, through the model family registry (:mod:`.families`; each field remembers where it came from, in
``provenance``):

- LLaDA's OLMo-style keys: ``d_model``, ``n_heads``, ``rope_theta``, ``max_sequence_length``, ``mask_token_id``;
- LLaMA/Qwen/Gemma keys: ``hidden_size``, ``num_attention_heads``, ``head_dim``, ``max_position_embeddings``;
- transformers ≥ 5 ``rope_parameters`` (also nested per layer type), older ``rope_theta`` / ``rope_scaling``;
- partial rotary: ``partial_rotary_factor``, ``rotary_pct`` or ``rotary_dim``.

The pre-training length is not always ``max_position_embeddings`` (SmolLM2, Qwen2.5 and Dream advertise more than
they were trained on): pass ``train_length`` to override it; the provenance says which number was used.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import LongLLaDAError
from ..files import parse_json, read_text
from ..theory.rope import (
    ATTENTION_KINDS,
    MAX_BASE,
    check_rope,
    critical_dimension,
    critical_pair_of,
    extrapolation_bound,
    rotation_periods,
)
from ..theory.rope_types import rope_angles
from ..theory.scaling import METHODS, ScalingPlan, longrope_plan, plan_scaling, solve_base_factor
from .families import Family, family_of
from .layers import describe, layer_groups
from .presets import presets_matching
from .reading import (
    ACCEPTED_ROPE_TYPES,
    LEGACY_LAYER_KEYS,
    SHORT_LONGROPE_BLOCK,
    ConfigView,
    RopeSetting,
    _number,
    language_part,
    rope_towers,
    settings,
)
from .sources import ModelSource, resolve_model

#: RoPE types whose factor is by definition the scaled window over the original length
WINDOW_FROM_FACTOR = ("yarn",)

#: the two readings of a plan for a model that already has a RoPE scaling (None: the default, see RopeSpec.plan)
READINGS = (None, "compose", "replace")


@dataclass(frozen=True)
class RopeSpec:
    """What RoPE theory needs to know about a model."""

    name: str
    head_dim: int
    rotary_dim: int
    rope_theta: float
    train_length: int
    attention: str = "causal"
    config_format: str = "rope_parameters"
    model_type: str | None = None
    mask_token_id: int | None = None
    logits_shift: int = 1
    existing_scaling: dict | None = None
    family: str = "transformers"
    provenance: dict = field(default_factory=dict)
    rope_dim: int | None = None         # D of θ_i = b^(−2i/D) where it is not the rotary dim (proportional RoPE)
    rope_type: str = "default"          # the RoPE type the model applies (with ``existing_scaling``'s parameters)
    layer_type: str | None = None       # the layer type this spec describes, where a model has several settings
    other_settings: tuple[dict, ...] = ()  # the model's other RoPE settings (per layer type), reported
    notes: tuple[str, ...] = ()         # what else a reader should know (MRoPE sections, layers without RoPE, …)
    encoder: bool = False               # a bidirectional encoder, not a generative model
    max_positions: int | None = None    # max_position_embeddings (the window a RoPE type may derive its factor from)
    config_part: str = ""               # where the language model's config sits (e.g. ``text_config``)
    config_rope: dict = field(default_factory=dict)  # the file's own RoPE keys there (what a config change merges)
    layers: tuple[dict, ...] = ()       # the layers by kind, RoPE and window (:mod:`.layers`)
    rope_parameters: dict = field(default_factory=dict)  # the target layers' RoPE as transformers reads it
    accepted_rope_types: tuple[str, ...] | None = None  # the RoPE types its config class accepts (None: any)
    class_default_scaled: bool = False  # its config class's default RoPE is scaled (gpt-oss: YaRN ×32)
    short_longrope_block: bool = False  # its config takes a longrope block of factors only (Phi-3, :mod:`.reading`)
    base_key: str = "rope_theta"        # the legacy key holding the target layers' base (Gemma 3's full attention:
    #                                     rope_theta; DeepSeek-V4's compressed layers: compress_rope_theta)

    def __post_init__(self):
        check_rope(self.rotary_dim, self.rope_theta, self.train_length)
        if self.rope_dim is not None:
            check_rope(self.rope_dim, self.rope_theta)
        if self.attention not in ATTENTION_KINDS:
            raise LongLLaDAError(f"attention {self.attention!r} is unknown; expected causal or bidirectional")

    @property
    def is_diffusion(self) -> bool:
        return self.attention == "bidirectional" and not self.encoder

    @property
    def d(self) -> int:
        """D, the dimension in the exponent of θ_i = b^(−2i/D): the rotary dimension, except for proportional RoPE."""
        return self.rope_dim or self.rotary_dim

    @property
    def critical_dimension(self) -> int:
        """d_crit of the law with D in the exponent, at most the dimensions that rotate."""
        return min(int(critical_dimension(self.d, self.rope_theta, self.train_length)), self.rotary_dim)

    @property
    def extrapolation_bound(self) -> float:
        """The period of the first pair that did not complete a turn in pre-training (∞ when every rotated pair did:
        RoPE then sets no bound)."""
        if self.critical_dimension >= self.rotary_dim and self.rope_dim is not None:
            return float("inf")
        return float(extrapolation_bound(self.d, self.rope_theta, self.critical_dimension))

    def inverse_frequencies(self) -> tuple[np.ndarray, float]:
        """The θ_i the model's forward rotates by, with its existing scaling (and that scaling's attention factor)."""
        return rope_angles(self.rope_type, self.d, self.rope_theta, self.existing_scaling or {},
                           self.rotary_dim // 2, self.max_positions)

    def periods(self) -> np.ndarray:
        """The periods of the pre-training RoPE (no scaling), per rotated pair."""
        return rotation_periods(self.d, self.rope_theta)[: self.rotary_dim // 2]

    @property
    def scaled(self) -> bool:
        """Whether the model already applies a RoPE scaling (linear, dynamic, YaRN, LongRoPE, Llama 3, …)."""
        return bool(self.existing_scaling) and self.rope_type not in ("default", "proportional")

    @property
    def window(self) -> int:
        """The length the model's RoPE is made for. YaRN defines its factor as that window over the original length
        (s = W/T), so W = s·T even where a config kept its original max_position_embeddings (a YaRN block added to
        Qwen's config); Llama 3, linear and LongRoPE scalings are trained at a window of their own,
        max_position_embeddings (Llama 3.1: 131072 with factor 8 from 8192; Gemma 3: 131072 with factor 8 from
        32768), or s·T where the config says no more than T. Dynamic NTK trains nothing beyond T: its RoPE is the
        pre-training one up to T and grows its base at run time. Without a scaling: the pre-training length."""
        if not self.scaled or self.rope_type == "dynamic":
            return self.train_length
        factor = float(self.existing_scaling.get("factor") or 0.0)
        if self.rope_type in WINDOW_FROM_FACTOR and factor:
            return int(round(factor * self.train_length))
        if self.max_positions and self.max_positions > self.train_length:
            return int(self.max_positions)
        return int(round((factor or 1.0) * self.train_length))

    def effective_periods(self) -> np.ndarray:
        """The periods the model turns by as configured, scaling included, at its window (LongRoPE's long factors,
        dynamic NTK's grown base) — what transformers computes from the config."""
        grown = self.scaled and self.rope_type != "dynamic"  # dynamic NTK: trained without its run-time growth
        theta, _ = rope_angles(self.rope_type, self.d, self.rope_theta, self.existing_scaling or {},
                               self.rotary_dim // 2, self.max_positions, at_length=self.window if grown else None)
        return 2 * math.pi / theta

    @property
    def effective_critical_dimension(self) -> int:
        """The critical dimension of the effective RoPE: twice the first pair whose effective period reaches the
        window (for a model without scaling, :attr:`critical_dimension`)."""
        if not self.scaled:
            return self.critical_dimension
        return 2 * critical_pair_of(self.effective_periods(), self.window)

    @property
    def effective_bound(self) -> float:
        """The effective period of that pair: how far the model reaches as configured without meeting an angle it
        was never trained on (∞ when every pair completes a turn within the window)."""
        if not self.scaled:
            return self.extrapolation_bound
        periods, pair = self.effective_periods(), self.effective_critical_dimension // 2
        return float(periods[pair]) if pair < len(periods) else float("inf")

    @property
    def reach(self) -> float:
        """How far the model reaches as configured: the extrapolation bound of its effective RoPE."""
        return self.effective_bound

    def plan(self, target: int, method: str = "longllada", reading: str | None = None) -> ScalingPlan:
        """The plan of ``method`` for ``target`` tokens (see :meth:`_plan`), marked not applicable where the model's
        config class refuses its RoPE type."""
        plan = self._plan(target, method, reading)
        accepted = self.accepted_rope_types
        if plan.needed and accepted and plan.rope_type not in accepted and plan.rope_type != self.rope_type:
            return self._not_applicable(plan, f"the model's config class accepts only RoPE types "
                                              f"{', '.join(accepted)}; {method} needs {plan.rope_type}")
        extra = set(plan.parameters) - {"factor", "original_max_position_embeddings", "short_factor", "long_factor",
                                        "partial_rotary_factor"}
        if plan.needed and self.short_longrope_block and plan.rope_type == "longrope" and extra and \
                plan.parameters != {k: v for k, v in (self.existing_scaling or {}).items() if k != "rope_type"}:
            return self._not_applicable(plan, f"the model's config takes a longrope block of short and long factors "
                                              f"only (transformers 4.x refuses {', '.join(sorted(extra))})")
        return plan

    def _not_applicable(self, plan: ScalingPlan, why: str) -> ScalingPlan:
        start = self._unchanged(plan.target, plan.method) if self.scaled else plan
        return replace(start, scaling_factor=1.0, new_rope_theta=self.rope_theta, applicable=False,
                       note=f"not applicable: {why}", reading=plan.reading)

    def _plan(self, target: int, method: str, reading: str | None) -> ScalingPlan:
        """The plan of ``method`` for ``target`` tokens. A model without a RoPE scaling has one plan. A model with one
        has two readings (both in :meth:`plans`): ``compose`` keeps its scaling and changes on top of it what the
        method changes (the base; or the factor of the model's own RoPE type), so that the effective critical pair
        reaches the target; ``replace`` drops the scaling and plans from the pre-training RoPE and length. Default:
        compose, where it can be expressed (transformers applies one RoPE type per layer), else replace — and never
        a plan that reaches less far than the model does now."""
        if reading not in READINGS:
            raise LongLLaDAError(f"reading {reading!r} is unknown; expected compose or replace")
        plan = plan_scaling(self.d, self.rope_theta, self.train_length, target, method, self.pairs)
        plan = replace(plan, max_positions=plan.max_positions or self.max_positions)
        if self.rope_type == "proportional":
            return self._proportional(plan)
        if not self.scaled:
            return plan
        current = f"{self.rope_type} ×{self.existing_scaling.get('factor', self.window / self.train_length):g}"
        if reading == "replace":
            return self._replaced(plan, current)
        composed = self._composed(target, method, current)
        if composed is not None:
            return composed
        if reading == "compose":
            raise LongLLaDAError(f"{method} cannot be composed with the model's {self.rope_type} scaling "
                                 "(transformers applies one RoPE type per layer); use the replace reading")
        replaced, unchanged = self._replaced(plan, current), self._unchanged(target, method)
        if replaced.reaches() < unchanged.reaches():
            return replace(unchanged, note=f"{method} from the pre-training RoPE would reach {replaced.reaches():.0f}, "
                                           f"less than its {current} ({unchanged.reaches():.0f}): no change proposed")
        return replace(replaced, note=f"{method} cannot be composed with its {current} (one RoPE type per layer): "
                                      + replaced.note)

    def plans(self, target: int, method: str = "longllada") -> list[ScalingPlan]:
        """Every reading of ``method`` for ``target``: the default first, then the other where the model has a
        scaling and the other reading differs."""
        first = self.plan(target, method)
        if not self.scaled or self.rope_type == "proportional":
            return [first]
        other = "replace" if first.reading == "compose" else "compose"
        try:
            second = self.plan(target, method, other)
        except LongLLaDAError:
            return [first]
        return [first, second] if second != first else [first]

    def base_change(self, factor: float) -> ScalingPlan:
        """λ given by the user on the base (``--rope-scale``), keeping the model's scaling (and proportional RoPE's
        type); its target is how far the changed base reaches by the law's reading."""
        if not factor > 0:
            raise LongLLaDAError(f"rope_scale {factor} must be a positive number (the factor λ on rope_theta)",
                                 parameters=("rope_scale",))
        check_rope(self.d, factor * self.rope_theta)
        if self.scaled:
            start = self._unchanged(self.window, "longllada")
        else:
            start = ScalingPlan("manual", self.train_length, self.d, self.rope_theta, self.train_length, 1.0,
                                self.rope_theta, rope_type="proportional" if self.rope_type == "proportional" else
                                "default", pairs=self.pairs, max_positions=self.max_positions)
        plan = replace(start, method="manual", formula="λ given by the user", scaling_factor=float(factor),
                       new_rope_theta=float(factor) * self.rope_theta,
                       note=f"keeps its {self.rope_type} scaling" if self.scaled else "")
        return replace(plan, target=int(round(min(plan.reaches(), 1e12))))

    def _unchanged(self, target: int, method: str) -> ScalingPlan:
        """The model as it is, read as a composition: its scaling, the effective RoPE at its window as trained."""
        kept = {k: v for k, v in self.existing_scaling.items() if k not in ("rope_type", "rope_theta")}
        return ScalingPlan(method, int(target), self.d, self.rope_theta, self.train_length, 1.0, self.rope_theta,
                           rope_type=self.rope_type, parameters=kept, attention_factor=self.inverse_frequencies()[1],
                           formula=METHODS[method].formula, pairs=self.pairs, max_positions=self.max_positions,
                           reading="compose", trained_periods=tuple(self.effective_periods()),
                           trained_length=self.window)

    def _replaced(self, plan: ScalingPlan, current: str) -> ScalingPlan:
        return replace(plan, reading="replace", note=f"drops its {current} and starts from the pre-training RoPE "
                                                     f"(rope_theta {self.rope_theta:g}, T = {self.train_length})")

    def _composed(self, target: int, method: str, current: str) -> ScalingPlan | None:
        """The compose reading (see :meth:`plan`), or None where it cannot be expressed."""
        unchanged, entry = self._unchanged(target, method), METHODS[method]
        reach = unchanged.reaches()
        if target <= reach:
            return replace(unchanged, note=f"already reaches {target} with its {current} (effective bound "
                                           f"{reach:.0f}, read {entry.attention})")
        ratio = target / self.window
        if entry.changes_base:
            if method == "ntk-aware" and self.rope_type == "dynamic":
                return None  # dynamic NTK already grows the base; a second NTK-aware change would slow it twice
            if method == "ntk-aware":
                lam = ratio ** (self.d / (self.rotary_dim - 2))
                what = f"λ = (T′/W)^(d/(d−2)) with its window W = {self.window}"
            else:
                span = 2 if entry.attention == "bidirectional" else 1
                pair = unchanged.critical_pair(entry.attention)

                def period(factor: float) -> float:
                    return 2 * math.pi / replace(unchanged, new_rope_theta=factor * self.rope_theta) \
                        .inverse_frequencies(at_length=target)[pair]

                lam = solve_base_factor(period, span * target, MAX_BASE / self.rope_theta)
                what = f"λ on the base brings the effective critical pair {pair}'s period to {span * target}"
            plan = replace(unchanged, scaling_factor=lam, new_rope_theta=lam * self.rope_theta)
            return replace(plan, attention_factor=rope_angles(plan.rope_type, self.d, plan.new_rope_theta,
                                                              plan.rope_parameters, self.pairs, self.max_positions)[1],
                           note=f"keeps its {current}; {what}")
        if entry.rope_type != self.rope_type:
            return None
        parameters = dict(unchanged.parameters)
        old = 1.0 if self.rope_type == "dynamic" else float(parameters.get("factor") or self.window / self.train_length)
        parameters["factor"] = old * ratio  # dynamic NTK: s = T′/T, its window being T
        if method == "critical":  # the pairs beyond the effective critical pair turn ×(T′/W) slower, the others kept
            pair = unchanged.critical_pair()
            parameters["long_factor"] = [f * ratio if i >= pair else f
                                         for i, f in enumerate(parameters["long_factor"])]
        plan = replace(unchanged, scaling_factor=ratio, parameters=parameters,
                       pair_factors=tuple(parameters["long_factor"]) if "long_factor" in parameters else None)
        return replace(plan, attention_factor=rope_angles(plan.rope_type, self.d, self.rope_theta, plan.rope_parameters,
                                                          self.pairs, self.max_positions)[1],
                       note=f"keeps its {current} and multiplies its factor by s = T′/W = {ratio:.4g} (W = "
                            f"{self.window}); every other parameter kept")

    def plan_with_factors(self, target: int, factors) -> ScalingPlan:
        """A LongRoPE plan for ``target`` with given per-pair factors (searched ones such as LongDLLM's)."""
        return longrope_plan(self.d, self.rope_theta, self.train_length, target, factors, pairs=self.pairs)

    @property
    def pairs(self) -> int | None:
        """Rotated pairs where fewer than D/2 rotate (proportional RoPE), else None."""
        return self.rotary_dim // 2 if self.rope_dim else None

    def _proportional(self, plan: ScalingPlan) -> ScalingPlan:
        """Proportional RoPE keeps its type under a base change; transformers has no position-scaling variant of it."""
        if plan.rope_type == "default":
            return replace(plan, rope_type="proportional")
        return replace(plan, scaling_factor=1.0, new_rope_theta=self.rope_theta, rope_type="proportional",
                       parameters={}, attention_factor=1.0, pair_factors=None, applicable=False,
                       note=f"not applicable: transformers has no {plan.method} form of proportional RoPE")

    def with_train_length(self, train_length: int | None, source: str = "given by the user") -> RopeSpec:
        """The same spec with another pre-training length (None keeps this one)."""
        if train_length is None:
            return self
        return replace(self, train_length=int(train_length), provenance={**self.provenance, "train_length": source})

    def with_attention(self, attention: str | None, source: str = "given by the user") -> RopeSpec:
        if attention is None:
            return self
        shift = self.logits_shift if attention == self.attention else (0 if attention == "bidirectional" else 1)
        return replace(self, attention=attention, logits_shift=shift,
                       provenance={**self.provenance, "attention": source})

    def to_dict(self) -> dict:
        return {
            "model": self.name, "model_type": self.model_type, "head_dim": self.head_dim,
            "rotary_dim": self.rotary_dim, "rope_theta": self.rope_theta, "train_length": self.train_length,
            "attention": self.attention, "family": self.family, "config_format": self.config_format,
            "critical_dimension": self.critical_dimension, "extrapolation_bound": _finite(self.extrapolation_bound),
            "existing_scaling": self.existing_scaling, "provenance": self.provenance,
            **({"rope_dim": self.rope_dim} if self.rope_dim else {}),
            **({"layer_type": self.layer_type, "other_settings": list(self.other_settings)}
               if self.layer_type else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
            "effective": {"scaled": self.scaled, "window": self.window,
                          "critical_dimension": self.effective_critical_dimension,
                          "extrapolation_bound": _finite(self.effective_bound)},
            **({"layers": list(self.layers)} if self.layers else {}),
        }


def _finite(x: float) -> float | None:
    return None if x == float("inf") else float(x)


PRETRAINING_LENGTHS = Path(__file__).resolve().parents[1] / "data" / "pretraining_lengths.json"


@lru_cache(maxsize=1)
def pretraining_lengths() -> list[dict]:
    """The table of known pre-training lengths (``data/pretraining_lengths.json``, each entry with its source)."""
    return json.loads(PRETRAINING_LENGTHS.read_text(encoding="utf-8"))["entries"]


def known_pretraining_length(config: dict, view: ConfigView, setting: RopeSetting) -> dict | None:
    """The table entry for a config whose model type (whole config or language part) and listed values match."""
    values = {"rope_type": setting.rope_type, **setting.parameters}
    for entry in pretraining_lengths():
        wanted = dict(entry["match"])
        if wanted.pop("model_type") not in (config.get("model_type"), view.model_type):
            continue
        if all((values[k] if k in values else view.get(k)) == v for k, v in wanted.items()):
            return entry
    return None


def _train_length(config: dict, view: ConfigView, family: Family, setting: RopeSetting) -> tuple[int, str]:
    """The pre-training length and where it was read: the original length of a RoPE scaling; a known pre-training
    length (:func:`known_pretraining_length`); the family's length key (the advertised window, which a linear
    scaling's factor divides)."""
    original = setting.parameters.get("original_max_position_embeddings")
    if original:
        return _number(original, "original_max_position_embeddings", view.source, int), \
            f"original_max_position_embeddings of the RoPE scaling in {view.source}"
    value, where = view.lookup("original_max_position_embeddings")
    if value:
        return _number(value, "original_max_position_embeddings", view.source, int), where
    advertised = next(((key, *view.lookup(key)) for key in family.config_keys["length"] if view.get(key) is not None),
                      None)
    known = known_pretraining_length(config, view, setting)
    if known is not None:
        flag = " ⚑ (not read in the source itself; verify)" if known.get("uncertain") else ""
        also = f"; the config advertises {advertised[0]} = {advertised[1]}" if advertised else ""
        return int(known["train_length"]), f"{known['name']}: {known['source']}{flag}{also}"
    if advertised is None:
        raise LongLLaDAError(f"{view.source}: no training length (max_sequence_length / max_position_embeddings); "
                             "give the pre-training length (train_length)")
    key, value, where = advertised
    length = _number(value, key, view.source, int)
    factor = setting.parameters.get("factor")
    if setting.rope_type == "linear" and factor and float(factor) > 1:
        return int(round(length / float(factor))), f"{where} ÷ the linear factor {float(factor):g} (the window " \
                                                   "the scaling maps onto the trained positions)"
    if key not in ("max_sequence_length", "train_length"):
        where += " (the advertised window; override with --train-length if pre-training was shorter)"
    return length, where


def _attention(raw: dict, view: ConfigView, family: Family, attention: str | None) -> tuple[str, str, bool]:
    """(attention kind, how it was decided, encoder?)."""
    if attention is not None:
        return attention, "given by the user", False
    kind, why = family.attention(raw)
    if kind == "causal":
        flag = _flag(view)
        if flag:
            return "bidirectional", flag, False
        heads = ConfigView.of(raw, "").row.get("heads", [])
        if "masked_lm" in heads and "causal_lm" not in heads:
            return "bidirectional", f"model_type {raw.get('model_type')!r} is an encoder (transformers registers a " \
                                    "masked-LM head for it and no causal-LM head)", True
        if heads == [] and view.row.get("heads") == ["masked_lm"]:
            return "bidirectional", f"its text model {view.model_type!r} is an encoder", True
    return kind, why, False


def _flag(view: ConfigView) -> str | None:
    value, where = view.lookup("use_bidirectional_attention")
    if value:
        return f"use_bidirectional_attention = {value!r} ({where})"
    value, where = view.lookup("is_causal")
    if value is False:
        return f"is_causal false ({where})"
    return None


def spec_from_config(config: dict, name: str, source: str, train_length: int | None = None,
                     attention: str | None = None) -> RopeSpec:
    """Read a ``config.json`` dict into a RopeSpec, as transformers reads it (:mod:`.reading`: aliases, class
    defaults, text sub-configs, per-layer settings), through its model family (:mod:`.families`); ``source`` names
    the file for provenance. A model with several RoPE settings gets the spec of the one a scaling targets (the
    global / main attention); the others are in ``other_settings``."""
    if not isinstance(config, dict):
        raise LongLLaDAError(f"{source}: a model config must be a JSON object, got {type(config).__name__}")
    family = family_of(config)
    view, part = language_part(config, source)
    try:
        found = settings(view)
    except LongLLaDAError as error:
        towers = rope_towers(config)
        if "has no RoPE fields" in str(error) and towers:
            raise LongLLaDAError(f"{source}: RoPE only in {', '.join(towers)} (image or audio positions); no text "
                                 "RoPE to extend") from None
        raise
    target = found[0]
    provenance = dict(target.provenance)
    if part:
        provenance["config"] = f"the language model's config: {view.source}"
    if train_length is not None:
        length, provenance["train_length"] = int(train_length), "given by the user"
    else:
        length, provenance["train_length"] = _train_length(config, view, family, target)
    kind, provenance["attention"], encoder = _attention(config, view, family, attention)
    config_format = "llada" if family.name == "llada" else _config_format(view)
    rope_keys = ("rope_parameters", "rope_theta", "rope_scaling",
                 LEGACY_LAYER_KEYS.get(view.model_type, ({},))[0].get(target.layer_type, "rope_theta"))
    scaling = {k: v for k, v in target.parameters.items()} if target.rope_type not in ("default", "proportional") \
        else None
    if scaling is not None:
        scaling["rope_type"] = target.rope_type
    groups = layer_groups(view)
    notes = [*target.notes, *describe(groups, length, shared=target.layer_type is None)]
    towers = rope_towers(config) + (["the config's own keys"] if part and ConfigView.of(config, source).in_file(
        "rope_parameters") else [])
    if part and towers:
        notes.append(f"RoPE also in {', '.join(towers)}: positions of another modality (image patches, audio "
                     f"frames), not the language model's tokens; plans read the RoPE of {part}")
    return RopeSpec(name=name, head_dim=target.head_dim, rotary_dim=target.rotary_dim, rope_theta=target.rope_theta,
                    train_length=length, attention=kind, config_format=config_format,
                    model_type=str(config.get("model_type") or "") or None,
                    mask_token_id=config.get("mask_token_id", family.mask_token_id),
                    logits_shift=family.shift(config, kind), existing_scaling=scaling, family=family.name,
                    provenance=provenance, rope_dim=target.rope_dim if target.rope_dim != target.rotary_dim else None,
                    rope_type=target.rope_type, layer_type=target.layer_type,
                    other_settings=tuple(s.summary() for s in found[1:]), notes=tuple(notes), encoder=encoder,
                    layers=tuple(g.to_dict() for g in groups),
                    accepted_rope_types=ACCEPTED_ROPE_TYPES.get(view.model_type),
                    short_longrope_block=view.model_type in SHORT_LONGROPE_BLOCK,
                    class_default_scaled=(view.row.get("defaults", {}).get("rope_parameters") or {}).get(
                        "rope_type", "default") != "default",
                    rope_parameters={"rope_type": target.rope_type, "rope_theta": target.rope_theta,
                                     **target.parameters},
                    base_key=LEGACY_LAYER_KEYS.get(view.model_type, ({},))[0].get(target.layer_type, "rope_theta"),
                    max_positions=_positive_or_none(view.get("max_position_embeddings"), view.source),
                    config_part=part,
                    config_rope={k: view.raw[k] for k in rope_keys if view.raw.get(k) is not None})


def _config_format(view: ConfigView) -> str:
    """Which keys a config change writes: ``rope_parameters`` where the file has them, where its class ignores legacy
    keys, or where the class's RoPE is per layer type and the file says nothing (transformers ≥ 5 only); else the
    legacy ``rope_theta`` / ``rope_scaling``, which transformers 4.x reads and 5.x converts."""
    default = view.row.get("defaults", {}).get("rope_parameters") or {}
    nested = bool(default) and all(isinstance(v, dict) for v in default.values())
    legacy_in_file = view.in_file("rope_theta") or isinstance(view.raw.get("rope_scaling"), dict)
    if isinstance(view.raw.get("rope_parameters"), dict) or view.row.get("ignores_legacy_rope") or (
            nested and not legacy_in_file):
        return "rope_parameters"
    return "legacy"


def _positive_or_none(value, source: str = "config") -> int | None:
    """max_position_embeddings where the config gives one (checked as a whole number), else None."""
    return None if value is None else _number(value, "max_position_embeddings", source, int)


def read_json(path: Path) -> dict:
    """A JSON file's object, or a clear error (:mod:`longllada_theory.files`: a regular UTF-8 file of valid JSON)."""
    return parse_json(read_text(path, "config"), str(path))


def gguf_config(path: Path) -> dict:
    """The RoPE-relevant fields of a GGUF file's metadata, as config.json keys (transformers ≥ 5 loads GGUF files
    into a config with ``rope_parameters``, so that is the family of the change to make)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise LongLLaDAError("reading a .gguf file needs the gguf package: pip install gguf") from None
    try:
        reader = GGUFReader(str(path))
    except Exception as error:  # the reader raises many kinds on a broken file
        raise LongLLaDAError(f"{path} is not a readable GGUF file ({error})") from None

    def value(key: str):
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = value("general.architecture")
    config = {"model_type": arch,
              "hidden_size": value(f"{arch}.embedding_length"),
              "num_attention_heads": value(f"{arch}.attention.head_count"),
              "max_position_embeddings": value(f"{arch}.context_length"),
              "rope_parameters": {"rope_type": "default", "rope_theta": value(f"{arch}.rope.freq_base")},
              "rotary_dim": value(f"{arch}.rope.dimension_count"),
              "head_dim": value(f"{arch}.attention.key_length")}
    if config["rope_parameters"]["rope_theta"] is None:
        del config["rope_parameters"]
    return {k: v for k, v in config.items() if v is not None}


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection within ``timeout`` seconds (so an offline machine fails
    at once instead of retrying downloads for half a minute)."""
    import socket

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((endpoint, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_config(model_id: str) -> Path:
    """config.json of a hub model: from the local cache, or downloaded where there is a network."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError:
        raise LongLLaDAError("reading a hub model id needs huggingface_hub (installed with transformers)") from None
    try:
        return Path(hf_hub_download(model_id, "config.json", local_files_only=True))
    except (LocalEntryNotFoundError, EntryNotFoundError, ValueError, OSError):
        pass
    offline = os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0")
    if offline or not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached (no network)"
        raise LongLLaDAError(f"{model_id!r} is not in the local Hugging Face cache and {why}; on a machine with "
                             f"network run `huggingface-cli download {model_id}`, or pass a local folder or "
                             "config.json (presets answer `scale` and `explain` without any download)")
    try:
        return Path(hf_hub_download(model_id, "config.json"))
    except RepositoryNotFoundError:
        raise LongLLaDAError(f"{model_id!r} is not a model on the Hugging Face hub (nor a preset, file or "
                             "folder)") from None
    except Exception as error:
        raise LongLLaDAError(f"cannot fetch {model_id}/config.json ({type(error).__name__}); with no network, "
                             "download it elsewhere (`huggingface-cli download ID config.json`) and pass the "
                             "file or folder, or use a preset (`longllada presets`)") from None


def source_config(source: ModelSource) -> tuple[dict, str, str]:
    """(config dict, display name, where it was read) of a resolved source; a preset is read without I/O."""
    if source.preset is not None:
        preset = source.preset
        return preset.config, preset.hub_id, f"preset {preset.hub_id} ({preset.source})"
    if source.config_file is not None:
        path = source.config_file
        return read_json(path), path.stem if path.name != "config.json" else str(path.parent), str(path)
    if source.gguf_file is not None:
        path = Path(source.location) / source.gguf_file
        return gguf_config(path), source.name if not source.name.endswith(".gguf") else path.stem, str(path)
    if source.is_local:
        path = Path(source.location) / "config.json"
        return read_json(path), source.name, str(path)
    return read_json(hub_config(source.location)), source.name, f"{source.location}/config.json (hub)"


def spec_for_source(source: ModelSource, config: dict, name: str, where: str, train_length: int | None = None,
                    attention: str | None = None) -> RopeSpec:
    """The spec of a config read from ``source``, with a preset's pre-training length where no length was given and
    the source is a preset — named by hub id or alias, or a folder whose config has the preset's fingerprint (one
    rule for ``scale`` and for loading)."""
    spec = spec_from_config(config, name, where, train_length, attention)
    if train_length is not None:
        return spec
    named = source.preset is not None
    presets = [p for p in ([source.preset] if named else presets_matching(config)) if p.train_length is not None]
    if len({p.train_length for p in presets}) == 1:
        where = presets[0].train_length_source
        if not named:
            where += f" (the config has the fingerprint of preset {', '.join(p.hub_id for p in presets)})"
        spec = spec.with_train_length(presets[0].train_length, where)
    elif presets:
        options = ", ".join(f"{p.hub_id} {p.train_length}" for p in presets)
        spec = spec.with_train_length(spec.train_length, f"{spec.provenance['train_length']}; the config matches "
                                      f"presets pre-trained at different lengths ({options}): pass train_length")
    return spec


def load_spec(source: str, train_length: int | None = None, attention: str | None = None) -> RopeSpec:
    """A RopeSpec from any model source (:func:`~longllada_theory.models.sources.resolve_model`): a preset (never
    touches the network), a ``config.json``, a model folder, a ``.gguf`` file, or a hub model id (local cache
    first)."""
    resolved = resolve_model(source)
    config, name, where = source_config(resolved)
    return spec_for_source(resolved, config, name, where, train_length, attention)
