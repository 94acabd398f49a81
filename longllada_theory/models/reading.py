"""Reading a model's RoPE from its ``config.json`` as transformers reads it — without importing transformers.

A config file says less than the model uses: transformers' config class adds aliases (``attribute_map``, e.g.
``head_dim`` → ``kv_channels``) and defaults (a Llama-2 file has no ``rope_theta``: the class says 10000), composite
models keep their language model in ``text_config``, some models have several RoPE settings (per layer type:
sliding and full attention), and a few bases live in modeling code, not in any config. This module reads all of it
into :class:`RopeSetting` s, one per distinct setting, with where each number came from.

The aliases and defaults of every model type come from ``data/transformers_configs.json``, which
``scripts/transformers_configs.py`` writes from transformers itself; ``tests/test_rope_architectures.py`` checks the
reading against each model's own rotary embedding for every model type transformers knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import LongLLaDAError

TABLE = Path(__file__).resolve().parents[1] / "data" / "transformers_configs.json"

#: the config keys a spec reads (their aliases and class defaults are carried in the table)
READ_KEYS = ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
             "rope_parameters", "rope_theta", "rope_scaling", "partial_rotary_factor", "rotary_pct", "rotary_dim",
             "rotary_emb_base", "qk_rope_head_dim", "original_max_position_embeddings", "seq_length", "n_positions",
             "max_sequence_length", "use_bidirectional_attention", "is_causal", "global_head_dim", "no_rope_layers")

#: bases and rotary dimensions that live in modeling code, not in the config (with where)
CODE_CONSTANTS: dict[str, dict[str, Any]] = {
    "gptj": {"rope_theta": 10000.0, "source": "transformers/models/gptj/modeling_gptj.py: create_sinusoidal_positions "
                                              "(base 10000)"},
    "codegen": {"rope_theta": 10000.0, "source": "transformers/models/codegen/modeling_codegen.py: "
                                                 "create_sinusoidal_positions (base 10000)"},
    "roformer": {"rope_theta": 10000.0, "source": "transformers/models/roformer/modeling_roformer.py: "
                                                  "RoFormerSinusoidalPositionalEmbedding (base 10000)"},
}

#: remote-code models (no transformers class) whose RoPE is fixed in their code: the aliases and constants it uses
REMOTE_CODE_MODELS: dict[str, dict[str, Any]] = {
    "llada": {"class": "LLaDA's remote code (OLMo-style keys)",
              "aliases": {"hidden_size": "d_model", "num_attention_heads": "n_heads",
                          "num_key_value_heads": "n_kv_heads", "num_hidden_layers": "n_layers",
                          "max_position_embeddings": "max_sequence_length"}},
    "chatglm": {"class": "ChatGLM's remote code", "aliases": {"head_dim": "kv_channels"},
                "rope_theta": 10000.0, "theta_ratio": "rope_ratio", "partial_rotary_factor": 0.5,
                "source": "THUDM's modeling_chatglm.py: RotaryEmbedding(kv_channels // 2) with base 10000 · "
                          "rope_ratio, rotating half of each head"},
}

#: other names of a key in configs of model types neither transformers nor this table knows (OLMo, GPT-2 style)
GENERIC_ALIASES = {"hidden_size": ("d_model", "n_embd"), "num_attention_heads": ("n_heads", "n_head"),
                   "num_key_value_heads": ("n_kv_heads",), "max_position_embeddings": ("max_sequence_length",)}

#: config keys a model's code ignores (it rotates head_dim × partial_rotary_factor instead)
IGNORED_KEYS: dict[str, tuple[str, ...]] = {"minimax_m3_vl_text": ("rotary_dim",)}

#: legacy keys of models with a RoPE setting per layer type (transformers' ``convert_rope_params_to_dict`` of each):
#: layer type → the key holding its base, the layer types a legacy ``rope_scaling`` applies to, and defaults the class
#: adds to a scaled layer's YaRN (DeepSeek-V4: no YaRN attention factor on its compressed layers)
LEGACY_LAYER_KEYS: dict[str, tuple[dict[str, str], tuple[str, ...], dict]] = {
    "gemma3_text": ({"full_attention": "rope_theta", "sliding_attention": "rope_local_base_freq"},
                    ("full_attention",), {}),
    "gemma3n_text": ({"full_attention": "rope_theta", "sliding_attention": "rope_local_base_freq"},
                     ("full_attention",), {}),
    "modernbert": ({"full_attention": "global_rope_theta", "sliding_attention": "local_rope_theta"},
                   ("full_attention", "sliding_attention"), {}),
    "modernbert-decoder": ({"full_attention": "global_rope_theta", "sliding_attention": "local_rope_theta"},
                           ("full_attention", "sliding_attention"), {}),
    "deepseek_v4": ({"main": "rope_theta", "compress": "compress_rope_theta"}, ("compress",),
                    {"attention_factor": 1.0}),
}

#: the layer type a scaling targets where it is not the first of TARGET_LAYER_TYPES, with why
TARGET_BY_MODEL_TYPE: dict[str, tuple[str, str]] = {
    "deepseek_v4": ("compress", "DeepSeek-V4's main RoPE serves its sliding-window layers; its compressed layers "
                                "attend over the whole context and carry the YaRN scaling"),
}

#: RoPE types a config class accepts where it refuses the others (its ``validate_rope``): Phi-3's takes default and
#: longrope (a legacy "yarn" or "su" it renames to longrope); PhiMoE's longrope needs its own mscale keys
ACCEPTED_ROPE_TYPES: dict[str, tuple[str, ...]] = {
    "phi3": ("default", "longrope"), "phi4_multimodal": ("default", "longrope"), "phimoe": ("default",),
}

#: config classes whose transformers-4.x validation takes a longrope block of exactly ``type``, ``short_factor`` and
#: ``long_factor``, the factor following from max_position_embeddings / original_max_position_embeddings (Phi-3)
SHORT_LONGROPE_BLOCK = ("phi3", "phi4_multimodal")

#: layer types whose RoPE a scaling targets, in order of preference (the global / main attention)
TARGET_LAYER_TYPES = ("full_attention", "main", "global", "global_attention", "attention")

#: config values of the model-level ``model_type`` of masked-diffusion LMs with remote code (no transformers class)
DIFFUSION_TYPES = ("llada", "dream")


@lru_cache(maxsize=1)
def transformers_table() -> dict:
    return json.loads(TABLE.read_text())


@dataclass(frozen=True)
class ConfigView:
    """A config.json dict as transformers' config class of its model type sees it."""

    raw: dict
    source: str
    model_type: str
    row: dict = field(default_factory=dict)

    @classmethod
    def of(cls, raw: dict, source: str) -> ConfigView:
        model_type = str(raw.get("model_type") or "")
        row = transformers_table()["model_types"].get(model_type) or REMOTE_CODE_MODELS.get(model_type, {})
        return cls(raw, source, model_type, row)

    @property
    def class_name(self) -> str:
        version = transformers_table()["transformers"]
        return f"{self.row.get('class', self.model_type)} (transformers {version})"

    def lookup(self, key: str) -> tuple[Any, str | None]:
        """(value, where) of a key: the file's, through the class's alias, or the class's default (none for a key the
        model's code ignores)."""
        if key in IGNORED_KEYS.get(self.model_type, ()):
            return None, None
        if self.raw.get(key) is not None:
            return self.raw[key], f"{key} in {self.source}"
        alias = self.row.get("aliases", {}).get(key)
        if alias and self.raw.get(alias) is not None:
            return self.raw[alias], f"{alias} in {self.source} (the config class's {key})"
        default = self.row.get("defaults", {}).get(key)
        if default is not None:
            return default, f"default {key} of {self.class_name}"
        for other in GENERIC_ALIASES.get(key, ()) if not self.row else ():
            if self.raw.get(other) is not None:
                return self.raw[other], f"{other} in {self.source}"
        return None, None

    def get(self, key: str) -> Any:
        return self.lookup(key)[0]

    def in_file(self, key: str) -> bool:
        alias = self.row.get("aliases", {}).get(key)
        return self.raw.get(key) is not None or bool(alias and self.raw.get(alias) is not None)


#: sub-configs that hold a composite model's language model, in order of preference (searched recursively)
LANGUAGE_PARTS = ("text_config", "thinker_config", "llm_config", "language_config", "vlm_config", "decoder_config",
                  "global_config", "decoder")

ROPE_KEYS = ("rope_parameters", "rope_theta", "rope_scaling", "rotary_emb_base")


def rope_towers(raw: dict, path: str = "") -> list[str]:
    """The sub-configs of a config that carry RoPE keys of their own (vision / audio towers: their positions are
    image patches or audio frames, not tokens)."""
    found = []
    for key, value in raw.items():
        if isinstance(value, dict) and key not in LANGUAGE_PARTS and key not in ("rope_parameters", "rope_scaling"):
            here = f"{path}.{key}" if path else key
            if any(value.get(k) is not None for k in ROPE_KEYS):
                found.append(here)
            found += rope_towers(value, here)
    return found


def language_part(raw: dict, source: str) -> tuple[ConfigView, str]:
    """The part of a config that holds the language model's RoPE: its language sub-config where it has one (a
    composite model's own RoPE keys belong to its vision or audio encoder; searched recursively), else the config
    itself. Returns the part and its path (``text_config`` …, empty for the config itself)."""
    view = ConfigView.of(raw, source)
    for key in LANGUAGE_PARTS:
        sub = raw.get(key)
        if sub is not None and not isinstance(sub, dict):
            raise LongLLaDAError(f"{source}: {key} = {str(sub)[:40]!r} is not an object (a sub-config is expected)")
        if isinstance(sub, dict):
            if not sub.get("model_type") and key == "text_config" and view.row.get("text_config"):
                sub = {**sub, "model_type": view.row["text_config"]}  # as the config class builds it
            part, path = language_part(sub, f"{key} of {source}")
            return part, ".".join(p for p in (key, path) if p)
    if view.row.get("text_config") and not _has_rope(view, file_only=True):
        row = transformers_table()["model_types"].get(view.row["text_config"], {})
        return ConfigView({}, f"the default text_config of {view.class_name}", view.row["text_config"], row), \
            "text_config"
    return view, ""


def _has_rope(view: ConfigView, file_only: bool = False) -> bool:
    keys = ("rope_parameters", "rope_theta", "rope_scaling", "rotary_emb_base")
    if file_only:
        return any(view.in_file(k) for k in keys)
    return any(view.get(k) is not None for k in keys) or view.model_type in CODE_CONSTANTS


@dataclass(frozen=True)
class RopeSetting:
    """One RoPE setting of a model, as its forward applies it."""

    layer_type: str | None      # None where one setting serves every layer
    head_dim: int               # the attention head dimension the setting belongs to
    rotary_dim: int             # dimensions rotated (2 × rotated pairs)
    rope_dim: int               # D, the exponent's dimension: θ_i = b^(−2i/D) (rotary dim, or head dim: proportional)
    rope_theta: float
    rope_type: str = "default"
    parameters: dict = field(default_factory=dict)   # the rope type's parameters (factor, original length, …)
    provenance: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict:
        return {"layer_type": self.layer_type, "head_dim": self.head_dim, "rotary_dim": self.rotary_dim,
                "rope_dim": self.rope_dim, "rope_theta": self.rope_theta, "rope_type": self.rope_type,
                "parameters": self.parameters}


#: the largest whole number a config value may hold (sizes, lengths, counts): 2^40
MAX_WHOLE = 1 << 40


def _number(value: Any, key: str, source: str, kind: type = float) -> Any:
    """A config value as a positive number (a whole one at most :data:`MAX_WHOLE`), or a clear error naming the key
    and the file."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LongLLaDAError(f"{source}: {key} = {str(value)[:40]!r} is not a number")
    if not value > 0 or value == float("inf"):
        raise LongLLaDAError(f"{source}: {key} = {value!r} must be a positive finite number")
    if kind is int and (value > MAX_WHOLE or value != int(value)):
        shown = f"{value:.4g}" if value > MAX_WHOLE else repr(value)
        raise LongLLaDAError(f"{source}: {key} = {shown} is not a whole number up to {MAX_WHOLE}")
    return kind(value)


def _standard(params: dict) -> dict:
    """A rope parameters dict in transformers 5's form: ``rope_type`` (from legacy ``type``; MRoPE is default
    RoPE with sections)."""
    params = dict(params)
    rope_type = params.get("rope_type", params.get("type", "default")) or "default"
    params.pop("type", None)
    params["rope_type"] = "default" if rope_type == "mrope" else rope_type
    return params


#: numeric RoPE parameters and list-of-number ones, checked where they are read
NUMERIC_PARAMETERS = ("factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "low_freq_factor",
                      "high_freq_factor", "attention_factor", "mscale", "mscale_all_dim", "partial_rotary_factor")
WHOLE_PARAMETERS = ("original_max_position_embeddings",)
LIST_PARAMETERS = ("short_factor", "long_factor", "mrope_section")


def _checked(params: dict[str | None, dict], view: ConfigView) -> dict[str | None, dict]:
    """The parameters, each numeric one a number and each list one a list of numbers, or an error naming the key."""
    for values in params.values():
        for key, value in values.items():
            if key in NUMERIC_PARAMETERS and value is not None:
                _number(value, f"rope parameter {key}", view.source, int if key in WHOLE_PARAMETERS else float)
            if key in LIST_PARAMETERS and value is not None and (
                    not isinstance(value, list) or any(isinstance(x, bool) or not isinstance(x, (int, float))
                                                       for x in value)):
                raise LongLLaDAError(f"{view.source}: rope parameter {key} = {value!r} is not a list of numbers")
    return params


def rope_parameters(view: ConfigView) -> tuple[dict[str | None, dict], str]:
    """{layer type or None: parameters} and where they were read. The file's ``rope_parameters`` (flat or per layer
    type), else its legacy ``rope_theta`` / ``rope_scaling`` / ``partial_rotary_factor``, else the class defaults."""
    params, where = _rope_parameters(view)
    return _checked(params, view), where


def _rope_parameters(view: ConfigView) -> tuple[dict[str | None, dict], str]:
    for key in ("rope_parameters", "rope_scaling"):
        if view.raw.get(key) is not None and not isinstance(view.raw[key], dict):
            raise LongLLaDAError(f"{view.source}: {key} = {view.raw[key]!r} is not an object of RoPE parameters")
    params, where = view.raw.get("rope_parameters"), f"rope_parameters in {view.source}"
    if not isinstance(params, dict) and view.model_type in LEGACY_LAYER_KEYS:
        return _legacy_per_layer(view), f"legacy RoPE keys of {view.source} (as {view.class_name} converts them)"
    legacy = any(view.in_file(k) for k in ("rope_theta", "rope_scaling", "rotary_emb_base"))
    if not isinstance(params, dict) and (not legacy or view.row.get("ignores_legacy_rope")):
        params, where = view.row.get("defaults", {}).get("rope_parameters"), f"default rope_parameters of " \
                                                                             f"{view.class_name}"
        if legacy:
            where += " (the class ignores the file's legacy rope_theta / rope_scaling)"
    if isinstance(params, dict) and params:
        if all(isinstance(v, dict) for v in params.values()):
            return {layer: _standard(p) for layer, p in params.items()}, where
        return {None: _standard(params)}, where
    scaling = view.raw.get("rope_scaling") if isinstance(view.raw.get("rope_scaling"), dict) else {}
    theta, theta_where = view.lookup("rope_theta")
    if theta is None:
        theta, theta_where = view.lookup("rotary_emb_base")
    if theta is None and view.model_type in CODE_CONSTANTS:
        theta, theta_where = CODE_CONSTANTS[view.model_type]["rope_theta"], CODE_CONSTANTS[view.model_type]["source"]
    default = view.row.get("defaults", {}).get("rope_parameters") or {}
    if theta is None and isinstance(default.get("rope_theta"), (int, float)):  # e.g. MiniCPM3: no rope_theta key
        theta, theta_where = default["rope_theta"], f"default rope_theta of {view.class_name}"
    remote = REMOTE_CODE_MODELS.get(view.model_type)
    if theta is None and remote:
        theta = remote["rope_theta"] * float(view.raw.get(remote["theta_ratio"]) or 1.0)
        theta_where = remote["source"]
        scaling = {**scaling, "partial_rotary_factor": remote["partial_rotary_factor"]}
    if theta is None:
        return {}, ""
    merged = {**scaling, "rope_theta": theta}
    for key in ("partial_rotary_factor", "original_max_position_embeddings"):
        if view.in_file(key) and key not in merged:
            merged[key] = view.get(key)
    return {None: _standard(merged)}, theta_where or where


def _legacy_per_layer(view: ConfigView) -> dict[str, dict]:
    """Per-layer-type parameters from a legacy file (e.g. Gemma 3's ``rope_theta`` for full attention and
    ``rope_local_base_freq`` for sliding layers, ``rope_scaling`` on the full-attention ones), over the class
    defaults."""
    keys, scaled, yarn_defaults = LEGACY_LAYER_KEYS[view.model_type]
    defaults = view.row.get("defaults", {}).get("rope_parameters") or {}
    out = {layer: dict(defaults.get(layer, {"rope_type": "default"})) for layer in keys}
    scaling = view.raw.get("rope_scaling") if isinstance(view.raw.get("rope_scaling"), dict) else {}
    for layer, key in keys.items():
        if layer in scaled and scaling:
            out[layer].update(_standard(scaling))
            if out[layer]["rope_type"] == "yarn":
                for name, value in yarn_defaults.items():
                    out[layer].setdefault(name, value)
        if view.raw.get(key) is not None:  # the layer's own base key wins over a base inside rope_scaling
            out[layer]["rope_theta"] = view.raw[key]
    return {layer: _standard(p) for layer, p in out.items()}


def _layer_override(view: ConfigView, layer_type: str | None, key: str):
    """A per-layer value of a layer type from the file's ``per_layer_config`` (layer index → overrides)."""
    types, overrides = view.raw.get("layer_types"), view.raw.get("per_layer_config")
    if layer_type is None or not isinstance(types, list) or not isinstance(overrides, dict) or layer_type not in types:
        return None
    return (overrides.get(str(types.index(layer_type))) or {}).get(key)


def _head_dim(view: ConfigView, layer_type: str | None, provenance: dict) -> int:
    override = _layer_override(view, layer_type, "head_dim")
    if override is not None:
        provenance["head_dim"] = f"per_layer_config of the first {layer_type} layer in {view.source}"
        return _number(override, "head_dim", view.source, int)
    per_layer = view.row.get("layer_head_dims", {})
    if per_layer.get(layer_type, view.row.get("defaults", {}).get("head_dim")) != view.row.get("defaults", {}).get(
            "head_dim"):  # a layer type with a head dim of its own (Gemma 4's global layers), not the file's head_dim
        value, where = per_layer[layer_type], f"{view.class_name}'s head dim of {layer_type} layers"
        if view.raw.get("global_head_dim") is not None:
            value, where = view.raw["global_head_dim"], f"global_head_dim in {view.source}"
        provenance["head_dim"] = where
        return _number(value, "head_dim", view.source, int)
    value, where = view.lookup("head_dim")
    if value is not None:
        provenance["head_dim"] = where
        return _number(value, "head_dim", view.source, int)
    width, width_where = view.lookup("hidden_size")
    heads, heads_where = view.lookup("num_attention_heads")
    if width is None or heads is None:
        raise LongLLaDAError(f"{view.source}: cannot tell the head dimension; expected head_dim, or hidden_size and "
                             "num_attention_heads (d_model and n_heads for LLaDA)")
    width_key, heads_key = width_where.split(" ")[0], heads_where.split(" ")[0]
    if width_key == "default" or heads_key == "default":
        provenance["head_dim"] = f"hidden_size {width} / num_attention_heads {heads} ({width_where}; {heads_where})"
    else:
        provenance["head_dim"] = f"{width_key} / {heads_key} in {view.source} ({width} / {heads})"
    return _number(width, "hidden_size", view.source, int) // _number(heads, "num_attention_heads", view.source, int)


def _rotary_dim(view: ConfigView, params: dict, head_dim: int, provenance: dict) -> int:
    factor, where = params.get("partial_rotary_factor"), "rope parameters"
    if factor is None:
        for key in ("partial_rotary_factor", "rotary_pct"):
            factor, where = view.lookup(key)
            if factor is not None:
                break
    if factor is not None:
        factor = _number(factor, "partial_rotary_factor", view.source)
        if factor > 1:
            raise LongLLaDAError(f"{view.source}: partial_rotary_factor {factor} must be at most 1 (the share of "
                                 "each head that rotates)")
        provenance["rotary_dim"] = f"int(head_dim {head_dim} × partial rotary factor {factor:g}) ({where})"
        proportional = params.get("rope_type") == "proportional"  # rotates 2·⌊factor·head_dim/2⌋ dims
        rotary = 2 * int(factor * head_dim // 2) if proportional else int(head_dim * factor)
        return _even(rotary, view, provenance)
    value, where = view.lookup("qk_rope_head_dim")
    if value is not None:
        provenance["rotary_dim"] = where + " (the rotary part of MLA heads)"
        return _number(value, "qk_rope_head_dim", view.source, int)
    value, where = view.lookup("rotary_dim")
    if value is not None:
        provenance["rotary_dim"] = where
        return _number(value, "rotary_dim", view.source, int)
    provenance["rotary_dim"] = "= head_dim (no partial rotary factor)"
    return _even(head_dim, view, provenance)


def _even(rotary: int, view: ConfigView, provenance: dict) -> int:
    if rotary % 2:
        raise LongLLaDAError(f"{view.source}: the rotary dimension is {provenance['rotary_dim'].split(' (')[0]} = "
                             f"{rotary} with head_dim from {provenance['head_dim']}: an odd number of dimensions "
                             "cannot be rotated in pairs (it must be even; published configs of this type set "
                             "head_dim explicitly)")
    return rotary


def settings(view: ConfigView) -> list[RopeSetting]:
    """Every RoPE setting of the language part of a config (see module docstring); the target first."""
    by_layer, where = rope_parameters(view)
    if not by_layer:
        raise LongLLaDAError(f"{view.source} has no RoPE fields: looked for rope_parameters.rope_theta, rope_theta, "
                             "rotary_emb_base (and text_config); is this a RoPE model?")
    preferred = (TARGET_BY_MODEL_TYPE.get(view.model_type, ("",))[0], *TARGET_LAYER_TYPES)
    order = sorted(by_layer, key=lambda lt: (lt not in preferred, preferred.index(lt) if lt in preferred else 0))
    out = []
    for layer_type in order:
        params = by_layer[layer_type]
        if params["rope_type"] == "axial":
            raise LongLLaDAError(f"{view.source}: 2-D axial RoPE (image patches indexed by row and column) has no "
                                 "single relative distance; the scaling theory here is for 1-D token positions")
        provenance = {"rope_theta": f"{where}" + (f"[{layer_type!r}]" if layer_type else "")}
        head_dim = _head_dim(view, layer_type, provenance)
        rotary_dim = _rotary_dim(view, params, head_dim, provenance)
        theta = _number(params.get("rope_theta"), "rope_theta", view.source)
        rope_dim = head_dim if params["rope_type"] == "proportional" else rotary_dim
        notes = []
        if params.get("mrope_section"):
            notes.append(f"MRoPE: the rotary pairs are split {params['mrope_section']} over (time, height, width) "
                         "positions; for text all three are the token position")
        out.append(RopeSetting(layer_type, head_dim, rotary_dim, rope_dim, theta, params["rope_type"],
                               {k: v for k, v in params.items() if k not in ("rope_type", "rope_theta")}, provenance,
                               tuple(notes)))
    return out
