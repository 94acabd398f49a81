"""Write longllada_theory/data/transformers_configs.json: for every model type transformers knows, what its config
class adds to a config.json when the file leaves something out — the aliases of its ``attribute_map`` and the class
defaults of the keys a RoPE spec reads, the model type of its text sub-config, per-layer-type head dimensions, whether
it ignores a file's legacy ``rope_theta`` — and which heads transformers registers for it (a masked-LM head without a
causal-LM one marks an encoder).

`longllada scale` reads configs without importing transformers (which imports torch and takes seconds), so it
carries this table; `tests/test_rope_architectures.py` checks the table and the reader against transformers' own
rotary embeddings for every model type. Regenerate after upgrading transformers:

    python scripts/transformers_configs.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "longllada_theory" / "data" / "transformers_configs.json"


def _layer_head_dims(config) -> dict[str, int]:
    """{layer type: head dim} where a config sets head dims per layer (Gemma 4's global layers)."""
    per_layer = getattr(config, "per_layer_config", None)
    types = getattr(config, "layer_types", None)
    if per_layer is None or not types:
        return {}
    dims = {}
    for index, layer_type in enumerate(types):
        try:
            dims.setdefault(layer_type, int(per_layer[index].head_dim))
        except Exception:
            return {}
    return dims if len(set(dims.values())) > 1 else {}


def _head_dim_is_derived(config_class, data: dict) -> bool:
    """Whether the class computes head_dim from the hidden size (then a file's own sizes decide it)."""
    hidden = data.get("hidden_size")
    if not hidden:
        return False
    try:
        doubled = config_class(hidden_size=2 * hidden).to_dict().get("head_dim")
    except Exception:
        return False
    return doubled != data.get("head_dim")


def _ignores_legacy_rope(config_class, data: dict) -> bool:
    """Whether a class with RoPE leaves a file's legacy ``rope_theta`` unread (MiMo-V2-Flash's takes its per-layer
    bases from its own defaults whatever the file says)."""
    if not data.get("rope_parameters"):
        return False
    try:
        built = config_class(rope_theta=12345.0)
    except Exception:
        return False
    return "12345" not in json.dumps(getattr(built, "rope_parameters", None), default=str)


def entry(model_type: str, config_class, heads: dict[str, set[str]]) -> dict:
    from longllada_theory.models.reading import READ_KEYS

    config = config_class()
    data = config.to_dict()
    aliases = {k: v for k, v in getattr(config_class, "attribute_map", {}).items() if k in READ_KEYS}
    defaults = {k: data[k] if data.get(k) is not None else data.get(aliases.get(k, ""))
                for k in READ_KEYS if data.get(k) is not None or data.get(aliases.get(k, "")) is not None}
    if "head_dim" in defaults and _head_dim_is_derived(config_class, data):
        del defaults["head_dim"]  # computed from hidden_size / num_attention_heads, not a default of its own
    try:
        text = config.get_text_config()
    except ValueError:  # several text sub-configs
        text = config
    row = {"class": config_class.__name__, "aliases": aliases, "defaults": defaults,
           "heads": sorted(kind for kind, types in heads.items() if model_type in types)}
    if text is not config and getattr(text, "model_type", None):
        row["text_config"] = text.model_type
    dims = _layer_head_dims(text)
    if dims:
        row["layer_head_dims"] = dims
    if _ignores_legacy_rope(config_class, data):
        row["ignores_legacy_rope"] = True
    return row


def main() -> None:
    import transformers
    from transformers import CONFIG_MAPPING
    from transformers.models.auto import modeling_auto
    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    heads = {"causal_lm": set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES),
             "masked_lm": set(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES)}
    table, failed = {}, {}
    for model_type in sorted(CONFIG_MAPPING.keys()):
        try:
            table[model_type] = entry(model_type, CONFIG_MAPPING[model_type], heads)
        except Exception as error:  # a config class that cannot be built with its defaults
            failed[model_type] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    OUT.write_text(json.dumps({"transformers": transformers.__version__, "model_types": table,
                               "no_default_config": failed}, indent=0, sort_keys=True) + "\n")
    print(f"wrote {OUT}: {len(table)} model types ({len(failed)} without a default config)")


if __name__ == "__main__":
    main()
