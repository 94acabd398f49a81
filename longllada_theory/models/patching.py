"""Apply a :class:`~longllada_theory.scaling.ScalingPlan` to a model config before the model is built, and verify
afterwards that the model's inverse frequencies are the ones the library predicts (a mismatch is an error).

Config families (see :mod:`longllada_theory.spec`): ``rope_parameters`` (transformers ≥ 5), ``legacy``
(``rope_theta`` / ``rope_scaling``) and ``llada`` (OLMo-style keys of LLaDA's remote code: ``rope_theta`` only).
"""

from __future__ import annotations

import copy

import numpy as np

from ..errors import LongLLaDAError
from ..theory.scaling import ScalingPlan


def patch_config(config, plan: ScalingPlan):
    """Set the plan's RoPE parameters on a transformers config object (in place) and return it.

    transformers ≥ 5 configs carry ``rope_parameters`` (other keys in it, e.g. ``partial_rotary_factor``, are kept);
    remote-code configs without it (LLaDA) get ``rope_theta``; a plan they cannot express (linear/YaRN) is an error.
    """
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and params:
        if any(isinstance(v, dict) for v in params.values()):
            raise LongLLaDAError("this config has per-layer-type rope_parameters; patching them is not supported")
        keep = {k: v for k, v in params.items() if k in ("partial_rotary_factor",)}
        config.rope_parameters = {**keep, **plan.rope_parameters}
        return config
    if hasattr(config, "rope_theta"):
        if plan.rope_type != "default":
            raise LongLLaDAError(f"{type(config).__name__} has only rope_theta; method {plan.method!r} needs "
                                 "rope_parameters (use longllada, diffusion-aware or ntk-aware)")
        config.rope_theta = plan.new_rope_theta
        return config
    raise LongLLaDAError(f"{type(config).__name__} has neither rope_parameters nor rope_theta; cannot apply RoPE "
                         "scaling")


def patch_config_dict(config: dict, plan: ScalingPlan, family: str) -> dict:
    """A copy of a ``config.json`` dict with the plan's change applied (see ``ScalingPlan.config_change``)."""
    change = plan.config_change(family)
    if change is None:
        raise LongLLaDAError(f"method {plan.method!r} cannot be expressed in a {family} config")
    patched = copy.deepcopy(config)
    if "rope_parameters" in change and isinstance(patched.get("rope_parameters"), dict):
        keep = {k: v for k, v in patched["rope_parameters"].items() if k == "partial_rotary_factor"}
        change = {"rope_parameters": {**keep, **change["rope_parameters"]}}
    patched.update(change)
    return patched


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


def _rotary_tables(module, positions: list[int]):
    """(cos, sin) [positions, rotary dim] that a transformers rotary module produces for ``positions`` (float32), or
    None when the module cannot be called that way (remote code that caches its own tables)."""
    import torch

    try:
        device = module.inv_freq.device
        with torch.no_grad():
            cos, sin = module(torch.zeros(1, dtype=torch.float32, device=device),
                              torch.tensor([positions], device=device))
    except Exception:  # any other signature: fall back to the buffer
        return None
    return cos[0].double().cpu().numpy(), sin[0].double().cpu().numpy()


def verify_rotary_tables(model, expected: np.ndarray, attention_factor: float, positions: list[int]) -> list[str]:
    """Check what every rotary module of ``model`` applies against the plan: the cos/sin tables its forward returns at
    ``positions`` (rotate-half layout, times the attention factor) where it can be called, its ``inv_freq`` otherwise.
    The tolerance is float32's: 4 units in the last place of each angle (transformers forms them in float32), plus
    1e-6. Returns the names of the modules checked; raises on the first mismatch."""
    checked = []
    for name, module in model.named_modules():
        buffer = getattr(module, "inv_freq", None)
        if buffer is None or not hasattr(buffer, "detach"):
            continue
        tables = _rotary_tables(module, positions)
        if tables is None:
            verify_inverse_frequencies(module, expected)
            checked.append(name)
            continue
        angles = np.asarray(positions, dtype=float)[:, None] * np.concatenate([expected, expected])[None, :]
        tolerance = (4 * np.finfo(np.float32).eps * np.abs(angles) + 1e-6) * attention_factor
        for got, want, what in ((tables[0], np.cos(angles) * attention_factor, "cos"),
                                (tables[1], np.sin(angles) * attention_factor, "sin")):
            if got.shape != want.shape or np.any(np.abs(got - want) > tolerance):
                worst = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
                raise LongLLaDAError(f"RoPE of module {name or 'model'} does not match the scaling plan: its {what} "
                                     f"table at positions {positions} differs by up to {worst:.2e} (shape "
                                     f"{got.shape} vs {want.shape}); the config change did not reach the model")
        checked.append(name)
    return checked
