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
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import LongLLaDAError
from ..theory.rope import ATTENTION_KINDS, check_rope, critical_dimension, extrapolation_bound, rotation_periods
from ..theory.rope_types import rope_angles
from ..theory.scaling import ScalingPlan, longrope_plan, plan_scaling
from .families import Family, family_of
from .presets import presets_matching
from .reading import ConfigView, RopeSetting, _number, language_part, settings
from .sources import ModelSource, resolve_model


@dataclass(frozen=True)
class RopeSpec:
    """What RoPE theory needs to know about a model."""

    name: str
    head_dim: int
    rotary_dim: int
    rope_theta: float
    train_length: int
    attention: str = "causal"
    config_family: str = "rope_parameters"
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
        return rotation_periods(self.d, self.rope_theta)[: self.rotary_dim // 2]

    @property
    def reach(self) -> float:
        """How far the model reaches as configured: with a position scaling (linear, YaRN, Llama 3, LongRoPE, dynamic)
        the window it was scaled to, factor × the original length; otherwise the extrapolation bound."""
        if self.existing_scaling and self.rope_type != "default":
            factor = self.existing_scaling.get("factor")
            if factor is None and self.max_positions:
                return float(self.max_positions)
            return float(factor or 1.0) * self.train_length
        return self.extrapolation_bound

    def plan(self, target: int, method: str = "longllada") -> ScalingPlan:
        """The plan of ``method`` for ``target`` tokens. A model that already has a RoPE scaling is not planned from
        scratch: where it already reaches the target it needs nothing; a base change keeps its scaling and changes
        the base; a method with its own RoPE type replaces the scaling (the note says so) — and a plan that would
        reach less far than the model does now is not proposed."""
        plan = plan_scaling(self.d, self.rope_theta, self.train_length, target, method, self.pairs)
        if self.rope_type == "proportional":
            return self._proportional(plan)
        if not self.existing_scaling or self.rope_type == "default":
            return plan
        kept = {k: v for k, v in self.existing_scaling.items() if k not in ("rope_type", "rope_theta")}
        current = f"{self.rope_type} ×{kept.get('factor', '?')} (reaches {self.reach:.0f})"
        unchanged = replace(plan, scaling_factor=1.0, new_rope_theta=self.rope_theta, rope_type=self.rope_type,
                            parameters=kept, attention_factor=self.inverse_frequencies()[1], pair_factors=None)
        if target <= self.reach:
            return replace(unchanged, note=f"already reaches {target} with its {current}")
        if plan.rope_type == "default":
            return replace(plan, rope_type=self.rope_type, parameters=kept,
                           note=f"keeps its {current} and multiplies the base by λ")
        if plan.reaches() < self.reach:
            return replace(unchanged, note=f"{method} would reach {plan.reaches():.0f}, less than its {current}: "
                                           "no change proposed")
        return replace(plan, note=f"replaces its {current}")

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
                       parameters={}, attention_factor=1.0, pair_factors=None,
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
            "attention": self.attention, "family": self.family, "config_family": self.config_family,
            "critical_dimension": self.critical_dimension, "extrapolation_bound": self.extrapolation_bound,
            "existing_scaling": self.existing_scaling, "provenance": self.provenance,
            **({"rope_dim": self.rope_dim} if self.rope_dim else {}),
            **({"layer_type": self.layer_type, "other_settings": list(self.other_settings)}
               if self.layer_type else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def _train_length(view: ConfigView, family: Family, setting: RopeSetting) -> tuple[int, str]:
    original = setting.parameters.get("original_max_position_embeddings")
    if original:
        return _number(original, "original_max_position_embeddings", view.source, int), \
            f"original_max_position_embeddings of the RoPE scaling in {view.source}"
    value, where = view.lookup("original_max_position_embeddings")
    if value:
        return _number(value, "original_max_position_embeddings", view.source, int), where
    for key in family.keys["length"]:
        value, where = view.lookup(key)
        if value is not None:
            if key not in ("max_sequence_length", "train_length"):
                where += " (the advertised window; override with --train-length if pre-training was shorter)"
            return _number(value, key, view.source, int), where
    raise LongLLaDAError(f"{view.source}: no training length (max_sequence_length / max_position_embeddings); "
                         "give the pre-training length (train_length)")


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
    found = settings(view)
    target = found[0]
    provenance = dict(target.provenance)
    if part:
        provenance["config"] = f"the language model's config: {view.source}"
    if train_length is not None:
        length, provenance["train_length"] = int(train_length), "given by the user"
    else:
        length, provenance["train_length"] = _train_length(view, family, target)
    kind, provenance["attention"], encoder = _attention(config, view, family, attention)
    config_format = "llada" if family.name == "llada" else (
        "rope_parameters" if isinstance(view.raw.get("rope_parameters"), dict) or not view.in_file("rope_theta")
        else "legacy")
    rope_keys = ("rope_parameters",) if config_format == "rope_parameters" else ("rope_theta", "rope_scaling")
    scaling = {k: v for k, v in target.parameters.items()} if target.rope_type not in ("default", "proportional") \
        else None
    if scaling is not None:
        scaling["rope_type"] = target.rope_type
    notes = list(target.notes)
    no_rope = view.get("no_rope_layers")
    if isinstance(no_rope, list) and 0 in no_rope:
        notes.append(f"{no_rope.count(0)} of {len(no_rope)} layers use no RoPE (no_rope_layers)")
    return RopeSpec(name=name, head_dim=target.head_dim, rotary_dim=target.rotary_dim, rope_theta=target.rope_theta,
                    train_length=length, attention=kind, config_family=config_format,
                    model_type=str(config.get("model_type") or "") or None,
                    mask_token_id=config.get("mask_token_id", family.mask_token_id),
                    logits_shift=family.shift(config, kind), existing_scaling=scaling, family=family.name,
                    provenance=provenance, rope_dim=target.rope_dim if target.rope_dim != target.rotary_dim else None,
                    rope_type=target.rope_type, layer_type=target.layer_type,
                    other_settings=tuple(s.summary() for s in found[1:]), notes=tuple(notes), encoder=encoder,
                    max_positions=_positive_or_none(view.get("max_position_embeddings")), config_part=part,
                    config_rope={k: view.raw[k] for k in rope_keys if view.raw.get(k) is not None})


def _positive_or_none(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def read_json(path: Path) -> dict:
    """A JSON file's object, or a clear error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise LongLLaDAError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise LongLLaDAError(f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
                             f"{error.start}); a config file is UTF-8 JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LongLLaDAError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: "
                             f"{error.msg})") from None


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
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise LongLLaDAError(f"{model_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; on a "
                             f"machine with network run `huggingface-cli download {model_id} config.json`, or pass "
                             "a local folder or config.json")
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
