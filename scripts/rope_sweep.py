"""The RoPE sweep: the package's reading of every model type transformers knows, against the model's own rotary
embedding (transformers is the oracle). For each model type: build its default config, read it as a config.json
with :func:`longllada_theory.models.spec.spec_from_config` (every setting, every layer type), instantiate that model's
rotary-embedding class (no weights) and compare its inverse frequencies with the reading's, as multisets (some models
store the same frequencies permuted, e.g. Ernie 4.5-VL's pre-rotated MRoPE).

Outcomes: ``right``; ``wrong`` (read without complaint, but not what the model applies); ``crash`` (an exception
that is not the package's one-line error); ``refused`` (a one-line error although the model rotates: the reason
must be real — odd rotary dimensions, 2-D axial RoPE, no sequence length); ``no_rope`` (refused, and transformers has
no rotary embedding for it either); ``no_oracle`` (read, but no rotary class to compare with, e.g. a model transformers
builds from modular files only).

Usage: python scripts/rope_sweep.py [MODEL_TYPE …]   (prints the counts and every case that is not right/no_rope)
"""

from __future__ import annotations

import collections
import importlib
import inspect
import json
import sys
import warnings

import numpy as np

from longllada_theory.errors import LongLLaDAError
from longllada_theory.models.reading import language_part, settings
from longllada_theory.models.spec import spec_from_config
from longllada_theory.theory.rope_types import rope_angles


def _rotary_classes(model_type: str) -> list:
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    name = model_type_to_module_name(model_type)
    try:
        module = importlib.import_module(f"transformers.models.{name}.modeling_{name}")
    except Exception:  # modular-only models, optional dependencies
        return []
    return [c for n, c in vars(module).items() if inspect.isclass(c) and n.endswith("RotaryEmbedding")
            and "vision" not in n.lower() and "audio" not in n.lower()]


def _sinusoid_angles(table, dim: int) -> np.ndarray:
    """θ_i from a GPT-J / RoFormer sinusoid table at position 1 ([sin | cos] halves)."""
    row = np.asarray(table[1], dtype=float)
    return np.arctan2(row[: dim // 2], row[dim // 2: dim])


def _code_oracles(model_type: str, config) -> dict | None:
    """The models whose RoPE is a function, not a class: GPT-J, CodeGen (create_sinusoidal_positions), RoFormer."""
    import torch

    if model_type in ("gptj", "codegen"):
        module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
        dim = config.rotary_dim
        return {"": _sinusoid_angles(module.create_sinusoidal_positions(2, dim), dim)}
    if model_type == "roformer":
        from transformers.models.roformer.modeling_roformer import RoFormerSinusoidalPositionalEmbedding

        dim = config.hidden_size // config.num_attention_heads
        embedding = RoFormerSinusoidalPositionalEmbedding(2, dim)
        with torch.no_grad():
            table = embedding.create_weight() if hasattr(embedding, "create_weight") else embedding.weight
        return {"": _sinusoid_angles(table, dim)}
    return None


def model_tables(model_type: str, config) -> dict | None:
    """{layer type or '': inverse frequencies} from the model's own rotary embedding, or None if it has none."""
    special = _code_oracles(model_type, config)
    if special is not None:
        return special
    try:
        text = config.get_text_config()
    except ValueError:  # several text sub-configs (e.g. an encoder and a decoder)
        text = config
    candidates = [(text.model_type, text)] if text is not config else []
    candidates.append((model_type, config))
    for owner, cfg in candidates:
        for cls in _rotary_classes(owner):
            try:
                module = cls(config=cfg)
            except Exception:
                continue
            found = {name[: -len("inv_freq")].rstrip("_"): buffer.double().numpy()
                     for name, buffer in module.named_buffers() if name.endswith("inv_freq") and "original" not in name}
            if found:
                return found
    return None


def _agrees(table: np.ndarray, setting, length: int) -> bool:
    theta, _ = rope_angles(setting.rope_type, setting.rope_dim, setting.rope_theta, setting.parameters,
                           setting.rotary_dim // 2, length)  # the window, where a RoPE type derives its factor
    got = table[: setting.rotary_dim // 2] if setting.rope_type == "proportional" else table
    return got.shape == theta.shape and np.allclose(np.sort(got), np.sort(theta), rtol=1e-5)


def check(model_type: str, config) -> tuple[str, str]:
    """(outcome, detail) for one config object (see module docstring)."""
    data = config.to_dict()
    tables = model_tables(model_type, config)
    try:
        spec = spec_from_config(data, model_type, f"default {model_type} config")
    except LongLLaDAError as error:
        return ("refused" if tables else "no_rope"), str(error)
    except Exception as error:
        return "crash", f"{type(error).__name__}: {error}"
    if tables is None:
        return "no_oracle", "no rotary-embedding class to compare with"
    by_layer = {s.layer_type or "": s for s in settings(language_part(data, model_type)[0])}
    wrong = [key for key, table in tables.items()
             if not _agrees(table, by_layer.get(key) or (by_layer.get("") if len(by_layer) == 1 else None)
                            or next(iter(by_layer.values())), spec.train_length)]
    return ("wrong", f"layer types {wrong}") if wrong else ("right", ", ".join(tables) or "one setting")


def sweep(model_types: list[str] | None = None) -> dict[str, tuple[str, str]]:
    from transformers import CONFIG_MAPPING
    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    results = {}
    for model_type in model_types or sorted(CONFIG_MAPPING.keys()):
        try:
            config = CONFIG_MAPPING[model_type]()
        except Exception as error:
            results[model_type] = ("no_default_config", type(error).__name__)
            continue
        results[model_type] = check(model_type, config)
    return results


def main() -> None:
    results = sweep(sys.argv[1:] or None)
    print(json.dumps(collections.Counter(outcome for outcome, _ in results.values())))
    for model_type, (outcome, detail) in results.items():
        if outcome not in ("right", "no_rope"):
            print(f"{outcome:>17}  {model_type}: {detail[:200]}")


if __name__ == "__main__":
    main()
