"""Apply a :class:`~longllada_theory.theory.scaling.ScalingPlan` to a model config before the model is built, and verify
afterwards that the model's inverse frequencies are the ones the library predicts (a mismatch is an error).

Config families (see :mod:`longllada_theory.models.spec`): ``rope_parameters`` (transformers ≥ 5), ``legacy``
(``rope_theta`` / ``rope_scaling``) and ``llada`` (OLMo-style keys of LLaDA's remote code: ``rope_theta`` only).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np

from ..errors import LongLLaDAError
from ..theory.scaling import ScalingPlan

#: rope parameters that belong to a RoPE scaling type: a plan that replaces the scaling replaces them; every other
#: key (``partial_rotary_factor``, ``mrope_section``, …) is kept
SCALING_KEYS = {"rope_type", "type", "factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale",
                "mscale_all_dim", "attention_factor", "short_factor", "long_factor", "low_freq_factor",
                "high_freq_factor", "truncate"}


def merged_parameters(existing: dict | None, plan: ScalingPlan) -> dict:
    """The rope parameters after a plan: the plan's, over the existing keys no scaling type owns."""
    keep = {k: v for k, v in (existing or {}).items() if k not in SCALING_KEYS and k != "rope_theta"}
    return {**keep, **plan.rope_parameters}


def patch_config(config, plan: ScalingPlan, layer_type: str | None = None):
    """Set the plan's RoPE parameters on a transformers config object (in place) and return it.

    transformers ≥ 5 configs carry ``rope_parameters`` (per layer type in some models: the plan goes to
    ``layer_type``, the others are kept; keys no scaling type owns, e.g. ``partial_rotary_factor``, are kept);
    configs without it (transformers 4.x, LLaDA's remote code) get ``rope_theta`` (and ``rope_scaling``).
    """
    params = getattr(config, "rope_parameters", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") and not params else config
    if text is not config:  # a composite model: the language model's RoPE sits in its text config
        patch_config(text, plan, layer_type)
        return config
    if isinstance(params, dict) and params:
        if all(isinstance(v, dict) for v in params.values()):
            target = layer_type if layer_type in params else next(iter(params))
            config.rope_parameters = {**params, target: merged_parameters(params[target], plan)}
        else:
            config.rope_parameters = merged_parameters(params, plan)
        return config
    if hasattr(config, "rope_theta"):
        existing = getattr(config, "rope_scaling", None)
        own = SimpleNamespace(existing_scaling={k: v for k, v in (existing or {}).items() if k != "type"},
                              class_default_scaled=True)  # a built config is never refilled: be explicit
        scaling = _legacy_scaling(existing, plan, own)
        if scaling is not False:
            if not hasattr(config, "rope_scaling"):
                raise LongLLaDAError(f"{type(config).__name__} has only rope_theta; method {plan.method!r} needs "
                                     "rope_parameters (use longllada, diffusion-aware or ntk-aware)")
            config.rope_scaling = scaling
        config.rope_theta = plan.new_rope_theta
        return config
    raise LongLLaDAError(f"{type(config).__name__} has neither rope_parameters nor rope_theta; cannot apply RoPE "
                         "scaling")


def config_change(spec, plan: ScalingPlan) -> dict | None:
    """The exact change a plan makes to the model's ``config.json``, as a nested dict to deep-merge into it (see
    :func:`patch_config_dict`), inside the language sub-config where the RoPE sits. Every place the file keeps RoPE
    keys is rewritten, so that code reading either one sees the plan: ``rope_parameters`` (transformers ≥ 5; per layer
    type, the other types kept) and the top-level ``rope_theta`` / ``rope_scaling`` that transformers 4.x and remote
    code written for it read — a legacy file gets legacy keys, which both majors read. Keys no scaling type owns
    (``partial_rotary_factor``, ``mrope_section``, …) are kept; a plan that replaces a scaling drops the old type's
    keys. None where nothing changes, or where the format cannot express the plan (LLaDA's remote code knows only
    ``rope_theta``; the package applies other plans when it loads LLaDA natively)."""
    if not plan.needed:
        return None
    if spec.config_format == "llada":
        return {"rope_theta": plan.new_rope_theta} if plan.rope_type == "default" else None
    rope, change = copy.deepcopy(spec.config_rope), {}
    if spec.config_format == "rope_parameters" or isinstance(rope.get("rope_parameters"), dict):
        change["rope_parameters"] = _rope_parameters_block(spec, plan, rope.get("rope_parameters") or {})
    if spec.config_format == "legacy" or spec.base_key in rope:
        change[spec.base_key] = plan.new_rope_theta
    if spec.config_format == "legacy" or "rope_scaling" in rope:
        scaling = _legacy_scaling(rope.get("rope_scaling"), plan, spec)
        if scaling is not False and spec.short_longrope_block and plan.rope_type == "longrope":
            scaling, change["max_position_embeddings"] = _short_longrope(plan)
        if scaling is not False:
            change["rope_scaling"] = scaling
    _explicit_attention_factor(change, spec, plan)
    if plan.max_positions and plan.max_positions != spec.max_positions:
        change["max_position_embeddings"] = plan.max_positions  # the window dynamic NTK grows from
    derived = spec.provenance.get("head_dim", "").startswith(("hidden_size", "d_model"))
    if plan.rope_type != "default" and derived and "qk_rope_head_dim" not in spec.provenance.get("rotary_dim", ""):
        change["head_dim"] = spec.head_dim  # transformers' scaled RoPE types read config.head_dim (None in Mixtral's)
    for part in reversed([p for p in spec.config_part.split(".") if p]):
        change = {part: change}
    return change


def _rope_parameters_block(spec, plan: ScalingPlan, params: dict) -> dict:
    """``rope_parameters`` after the plan: per layer type (the target's merged, the others kept; built from the
    class's per-layer defaults where the file has none), or one block."""
    if spec.layer_type and not params:
        params = {s["layer_type"]: {"rope_type": s["rope_type"], "rope_theta": s["rope_theta"], **s["parameters"]}
                  for s in spec.other_settings}
        params[spec.layer_type] = dict(spec.rope_parameters)
    elif not params:
        params = dict(spec.rope_parameters)
    if spec.layer_type and all(isinstance(v, dict) for v in params.values()):
        return {**params, spec.layer_type: merged_parameters(params.get(spec.layer_type), plan)}
    return merged_parameters(params, plan)


def _explicit_attention_factor(change: dict, spec, plan: ScalingPlan) -> None:
    """A YaRN or LongRoPE block written with its attention factor explicit, so that no config class substitutes a
    default of its own (DeepSeek-V4 sets 1.0 on its compressed layers)."""
    if plan.rope_type not in ("yarn", "longrope"):
        return
    for name in ("rope_parameters", "rope_scaling"):
        block = change.get(name)
        if isinstance(block, dict) and isinstance(block.get(spec.layer_type), dict):
            block = block[spec.layer_type]
        if isinstance(block, dict) and block.get("rope_type") == plan.rope_type:
            block.setdefault("attention_factor", plan.attention_factor)


def _short_longrope(plan: ScalingPlan) -> tuple[dict, int]:
    """Phi-3's longrope block (type and the two factor lists only) and the max_position_embeddings that gives the plan's
    factor as transformers derives it: max_position_embeddings / original_max_position_embeddings."""
    params = plan.parameters
    block = {"type": "longrope", "short_factor": params["short_factor"], "long_factor": params["long_factor"]}
    return block, int(round(float(params.get("factor", 1.0)) * int(params["original_max_position_embeddings"])))


def _legacy_scaling(existing, plan: ScalingPlan, spec):
    """The ``rope_scaling`` block after a plan (False: leave the file's as it is). A base change composed on the
    model's scaling, and a base change on a model without a scaling type (or with MRoPE sections), leave it; a base
    change that replaces a scaling leaves the keys no type owns, or null where none are left — but ``rope_type:
    default`` where the config class would refill a null block with its own default scaling (gpt-oss's); otherwise the
    plan's type and parameters over the keys no scaling type owns."""
    existing = existing if isinstance(existing, dict) else {}
    old_type = existing.get("rope_type", existing.get("type", "default"))
    model_scaling = {k: v for k, v in (spec.existing_scaling or {}).items() if k != "rope_type"}
    if plan.rope_type == old_type and plan.parameters == model_scaling:
        return False
    if plan.rope_type == "default":
        if old_type in ("default", "mrope"):
            return False
        kept = {k: v for k, v in existing.items() if k not in SCALING_KEYS}
        return {"rope_type": "default", **kept} if kept or spec.class_default_scaled else None
    return {k: v for k, v in merged_parameters(existing, plan).items() if k != "rope_theta"}


def deep_merge(base: dict, change: dict) -> dict:
    """``base`` with ``change`` merged in, nested dicts key by key (a copy); a RoPE block is replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("rope_parameters",
                                                                                          "rope_scaling"):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def patch_config_dict(config: dict, spec, plan: ScalingPlan) -> dict:
    """A copy of a ``config.json`` dict with the plan's change applied (:func:`config_change`)."""
    change = config_change(spec, plan)
    if change is None and plan.needed:
        raise LongLLaDAError(f"method {plan.method!r} cannot be expressed in a {spec.config_format} config")
    return deep_merge(config, change or {})


def transformers_inverse_frequencies(config) -> tuple[np.ndarray, float]:
    """The inverse frequencies and attention factor transformers' own RoPE initialisation computes for ``config``
    (``modeling_rope_utils.ROPE_INIT_FUNCTIONS``, or the default RoPE of LLaMA-style models)."""
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config.standardize_rope_params()
    rope_type = config.rope_parameters.get("rope_type", "default")
    if rope_type == "default":
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
        inv_freq, factor = LlamaRotaryEmbedding.compute_default_rope_parameters(config)
    else:
        inv_freq, factor = ROPE_INIT_FUNCTIONS[rope_type](config, torch.device("cpu"))
    return inv_freq.double().numpy(), float(factor)


def model_inverse_frequencies(model) -> dict[str, np.ndarray]:
    """Every ``inv_freq`` buffer in a loaded model, by module name."""
    found = {}
    for name, module in model.named_modules():
        buffer = getattr(module, "inv_freq", None)
        if buffer is not None and hasattr(buffer, "detach"):
            found[name] = buffer.detach().double().cpu().numpy()
    return found


def verify_inverse_frequencies(model, expected: np.ndarray, rtol: float = 1e-5) -> int:
    """Check every rotary module of ``model`` against ``expected``; return how many were checked.

    Raises :class:`LongLLaDAError` on the first mismatch (not a warning: a silently wrong base invalidates every
    number measured after it). Returns 0 where the model exposes no ``inv_freq`` (nothing could be checked).
    """
    found = model_inverse_frequencies(model)
    for name, inv_freq in found.items():
        if inv_freq.shape != expected.shape or not np.allclose(inv_freq, expected, rtol=rtol, atol=0):
            worst = (float(np.max(np.abs(inv_freq / expected - 1))) if inv_freq.shape == expected.shape
                     else float("nan"))
            raise LongLLaDAError(f"RoPE of module {name or 'model'} does not match the scaling plan: shape "
                                 f"{inv_freq.shape} vs {expected.shape}, worst relative error {worst:.2e}; "
                                 "the config change did not reach the model")
    return len(found)


def _rotary_tables(module, positions: list[int], layer_type: str | None = None):
    """(cos, sin) [positions, rotary dim] that a transformers rotary module produces for ``positions`` (float32; for
    ``layer_type`` where it holds one setting per layer type), or None when the module cannot be called that way
    (remote code that caches its own tables)."""
    import torch

    buffer = module.inv_freq if layer_type is None else getattr(module, f"{layer_type}_inv_freq")
    extra = {} if layer_type is None else {"layer_type": layer_type}
    try:
        with torch.no_grad():
            cos, sin = module(torch.zeros(1, dtype=torch.float32, device=buffer.device),
                              torch.tensor([positions], device=buffer.device), **extra)
    except Exception:  # any other signature: fall back to the buffer
        return None
    return cos[0].double().cpu().numpy(), sin[0].double().cpu().numpy()


def _layer_types(module) -> list[str | None]:
    """The settings a rotary module holds: one (``inv_freq``), or one per layer type (``{type}_inv_freq``)."""
    if hasattr(getattr(module, "inv_freq", None), "detach"):
        return [None]
    return [name[: -len("_inv_freq")] for name, _ in module.named_buffers(recurse=False)
            if name.endswith("_inv_freq") and not name.endswith("original_inv_freq")]


def _in_language_model(model, module) -> bool:
    """Whether a module belongs to the language model the RoPE reading describes, not a vision or audio tower: its
    own config (transformers' rotary modules keep one) is the model's text config, or it has none."""
    config = getattr(module, "config", None)
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return getattr(config, "model_type", None) in (None, getattr(text, "model_type", None))


def verify_rotary_tables(model, expected: dict[str | None, tuple[np.ndarray, float]],
                         positions: list[int]) -> list[str]:
    """Check what every rotary module of ``model`` applies against the prediction — ``expected`` maps a layer type
    (None: the model's one setting) to (inverse frequencies, attention factor): the cos/sin tables its forward returns
    at ``positions`` (rotate-half layout, times the attention factor) where it can be called, its ``inv_freq``
    otherwise. The tolerance is float32's: 4 units in the last place of each angle (transformers forms them in
    float32), plus 1e-6. Returns the names of the settings checked; raises on the first mismatch."""
    checked = []
    for name, module in model.named_modules():
        if not _in_language_model(model, module):
            continue
        for layer_type in _layer_types(module):
            label = f"{name or 'model'}" + (f"[{layer_type}]" if layer_type else "")
            inv_freq, factor = expected.get(layer_type, expected[None])
            tables = _rotary_tables(module, positions, layer_type)
            if tables is None:
                verify_inverse_frequencies(module, inv_freq)
                checked.append(label)
                continue
            angles = np.asarray(positions, dtype=float)[:, None] * np.concatenate([inv_freq, inv_freq])[None, :]
            tolerance = (4 * np.finfo(np.float32).eps * np.abs(angles) + 1e-6) * factor
            for got, want, what in ((tables[0], np.cos(angles) * factor, "cos"),
                                    (tables[1], np.sin(angles) * factor, "sin")):
                if got.shape != want.shape or np.any(np.abs(got - want) > tolerance):
                    worst = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
                    raise LongLLaDAError(f"RoPE of module {label} does not match the scaling plan: its {what} table "
                                         f"at positions {positions} differs by up to {worst:.2e} (shape {got.shape} "
                                         f"vs {want.shape}); the config change did not reach the model")
            checked.append(label)
    return checked
