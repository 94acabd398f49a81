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
from ..theory.scaling import ScalingPlan, plan_scaling
from .families import Family, family_of
from .presets import presets_matching
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

    def __post_init__(self):
        check_rope(self.rotary_dim, self.rope_theta, self.train_length)
        if self.attention not in ATTENTION_KINDS:
            raise LongLLaDAError(f"attention {self.attention!r} is unknown; expected causal or bidirectional")

    @property
    def is_diffusion(self) -> bool:
        return self.attention == "bidirectional"

    @property
    def critical_dimension(self) -> int:
        return int(critical_dimension(self.rotary_dim, self.rope_theta, self.train_length))

    @property
    def extrapolation_bound(self) -> float:
        return float(extrapolation_bound(self.rotary_dim, self.rope_theta, self.critical_dimension))

    def periods(self) -> np.ndarray:
        return rotation_periods(self.rotary_dim, self.rope_theta)

    def plan(self, target: int, method: str = "longllada") -> ScalingPlan:
        return plan_scaling(self.rotary_dim, self.rope_theta, self.train_length, target, method)

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
        }


def _first(config: dict, keys: tuple[str, ...]):
    for key in keys:
        if config.get(key) is not None:
            return key, config[key]
    return None, None


def _rope_parameters(config: dict) -> tuple[dict, str]:
    """The global rope_parameters dict, or the full-attention one where they are nested per layer type."""
    params = config.get("rope_parameters")
    if not isinstance(params, dict):
        return {}, ""
    if "rope_theta" in params or "rope_type" in params:
        return params, "rope_parameters"
    for layer_type in ("full_attention", "global", *params):
        if isinstance(params.get(layer_type), dict):
            return params[layer_type], f"rope_parameters[{layer_type!r}]"
    return {}, ""


def _head_dim(config: dict, family: Family, source: str, provenance: dict) -> int:
    key, head_dim = family.value(config, "head_dim")
    if head_dim is not None:
        provenance["head_dim"] = f"{key} in {source}"
        return int(head_dim)
    width_key, width = family.value(config, "hidden")
    heads_key, heads = family.value(config, "heads")
    if width is None or heads is None:
        raise LongLLaDAError(f"{source}: cannot tell the head dimension; expected head_dim, or hidden_size and "
                             "num_attention_heads (d_model and n_heads for LLaDA)")
    provenance["head_dim"] = f"{width_key} / {heads_key} in {source}"
    return int(width) // int(heads)


def _rotary_dim(config: dict, params: dict, head_dim: int, source: str, provenance: dict) -> int:
    factor_key, factor = _first(params, ("partial_rotary_factor",))
    if factor is None:
        factor_key, factor = _first(config, ("partial_rotary_factor", "rotary_pct"))
    if factor is not None:
        provenance["rotary_dim"] = f"head_dim × {factor_key} ({factor}) in {source}"
        return int(head_dim * float(factor))
    if config.get("rotary_dim") is not None:
        provenance["rotary_dim"] = f"rotary_dim in {source}"
        return int(config["rotary_dim"])
    provenance["rotary_dim"] = "= head_dim (no partial rotary factor)"
    return head_dim


def _existing_scaling(config: dict, params: dict) -> dict | None:
    rope_type = params.get("rope_type", params.get("type", "default")) if params else "default"
    legacy = config.get("rope_scaling")
    if rope_type not in (None, "default"):
        return {k: v for k, v in params.items() if k != "rope_theta"}
    if isinstance(legacy, dict) and legacy.get("rope_type", legacy.get("type")) not in (None, "default"):
        return dict(legacy)
    return None


def _train_length(config: dict, family: Family, scaling: dict | None, source: str) -> tuple[int, str]:
    original = (scaling or {}).get("original_max_position_embeddings") or config.get("original_max_position_embeddings")
    if original:
        return int(original), f"original_max_position_embeddings in {source}"
    key, length = family.value(config, "length")
    if length is None:
        raise LongLLaDAError(f"{source}: no training length (max_sequence_length / max_position_embeddings); "
                             "give the pre-training length (train_length)")
    where = f"{key} in {source}"
    if key not in ("max_sequence_length", "train_length"):
        where += " (the advertised window; override with --train-length if pre-training was shorter)"
    return int(length), where


def spec_from_config(config: dict, name: str, source: str, train_length: int | None = None,
                     attention: str | None = None) -> RopeSpec:
    """Read a ``config.json`` dict into a RopeSpec, through its model family's keys
    (:mod:`~longllada_theory.models.families`); ``source`` names the file for provenance."""
    if not isinstance(config, dict):
        raise LongLLaDAError(f"{source}: a model config must be a JSON object, got {type(config).__name__}")
    family = family_of(config)
    provenance: dict[str, str] = {}
    params, params_where = _rope_parameters(config)
    if family.name == "llada":
        config_format = "llada"
    elif params:
        config_format = "rope_parameters"
    else:
        config_format = "legacy"

    base_key, base = _first(params, ("rope_theta",))
    if base is not None:
        provenance["rope_theta"] = f"{params_where}.rope_theta in {source}"
    else:
        base_key, base = _first(config, ("rope_theta", "rotary_emb_base", "rope_base"))
        if base is None:
            raise LongLLaDAError(
                f"{source} has no RoPE fields: looked for rope_parameters.rope_theta, rope_theta, rotary_emb_base; "
                "is this a RoPE model? (a config.json of a LLaMA/Qwen/LLaDA-style model is expected)")
        provenance["rope_theta"] = f"{base_key} in {source}"

    head_dim = _head_dim(config, family, source, provenance)
    rotary_dim = _rotary_dim(config, params, head_dim, source, provenance)
    scaling = _existing_scaling(config, params)
    if train_length is not None:
        length, provenance["train_length"] = int(train_length), "given by the user"
    else:
        length, provenance["train_length"] = _train_length(config, family, scaling, source)

    if attention is not None:
        kind, provenance["attention"] = attention, "given by the user"
    else:
        kind, provenance["attention"] = family.attention(config)
    mask = config.get("mask_token_id", family.mask_token_id)
    return RopeSpec(name=name, head_dim=head_dim, rotary_dim=rotary_dim, rope_theta=float(base),
                    train_length=length, attention=kind, config_family=config_format,
                    model_type=str(config.get("model_type") or "") or None, mask_token_id=mask,
                    logits_shift=family.shift(config, kind), existing_scaling=scaling, family=family.name,
                    provenance=provenance)


def read_json(path: Path) -> dict:
    """A JSON file's object, or a clear error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise LongLLaDAError(f"cannot read {path}: {error.strerror or error}") from None
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
    return spec


def load_spec(source: str, train_length: int | None = None, attention: str | None = None) -> RopeSpec:
    """A RopeSpec from any model source (:func:`~longllada_theory.models.sources.resolve_model`): a preset (never
    touches the network), a ``config.json``, a model folder, a ``.gguf`` file, or a hub model id (local cache
    first)."""
    resolved = resolve_model(source)
    config, name, where = source_config(resolved)
    return spec_for_source(resolved, config, name, where, train_length, attention)
