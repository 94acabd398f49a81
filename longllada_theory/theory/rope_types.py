"""The inverse frequencies θ_i every RoPE type applies, as transformers computes them at initialisation
(``transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS`` and each model's default), in numpy — one function per
type in :data:`ROPE_TYPES`, so a spec can say what a model's forward really rotates by without importing torch.

Notation: D is the exponent's dimension (the rotary dimension, except for ``proportional`` RoPE, whose exponent
divides by the whole head dimension), n = rotary dim / 2 rotated pairs, b the base:

- ``default``: θ_i = b^(−2i/D) (Su et al. 2021).
- ``linear``: θ_i / s (position interpolation, Chen et al. 2023).
- ``dynamic``: at initialisation the default θ_i (the base grows with the sequence at run time, bloc97/emozilla).
- ``yarn``: a ramp between θ_i (fast pairs) and θ_i / s (slow pairs), attention factor 0.1·mscale·ln s + 1 (Peng et
  al. 2023); ``truncate`` floors/ceils the ramp's ends.
- ``longrope``: θ_i / f_i with per-pair factors f (``short_factor`` up to the original length, ``long_factor``
  beyond), attention factor √(1 + ln s / ln T) (Ding et al. 2024).
- ``llama3``: slow pairs (wavelength > T/low) divided by s, fast ones (< T/high) kept, a smooth blend between
  (Meta, Llama 3.1).
- ``proportional``: the default formula with D = head dim over the first n pairs, the rest not rotated (Gemma 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import LongLLaDAError
from ..registry import Registry


def default_angles(dim: int, base: float, pairs: int | None = None) -> np.ndarray:
    """θ_i = b^(−2i/D) for i = 0 … pairs − 1 (pairs = D/2 unless given)."""
    pairs = dim // 2 if pairs is None else pairs
    return 1.0 / float(base) ** (np.arange(0, 2 * pairs, 2, dtype=float) / dim)


def _factor(params: dict, max_positions: int | None) -> float:
    factor = params.get("factor")
    if factor is None:
        original = params.get("original_max_position_embeddings")
        if not (original and max_positions):
            raise LongLLaDAError(f"RoPE scaling {params.get('rope_type')!r} needs a factor (or "
                                 "original_max_position_embeddings and max_position_embeddings)")
        factor = max_positions / original
    return float(factor)


def _linear(dim, base, params, max_positions, at_length):
    return default_angles(dim, base) / _factor(params, max_positions), 1.0


def _dynamic(dim, base, params, max_positions, at_length):
    """At initialisation the default θ; at a sequence length L beyond the model's window W the base becomes
    b·(s·L/W − (s − 1))^(D/(D−2)) (transformers' ``_compute_dynamic_ntk_parameters``: W is max_position_embeddings,
    in 4.x and 5.x alike; ``original_max_position_embeddings`` where no window is known)."""
    window = max_positions or params.get("original_max_position_embeddings")
    if at_length is None or not window or at_length <= window:
        return default_angles(dim, base), 1.0
    s = _factor(params, max_positions)
    return default_angles(dim, base * (s * at_length / window - (s - 1)) ** (dim / (dim - 2))), 1.0


def _yarn_attention_factor(factor: float, params: dict) -> float:
    def mscale(scale: float, weight: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * weight * math.log(scale) + 1.0

    if params.get("attention_factor") is not None:
        return float(params["attention_factor"])
    if params.get("mscale") and params.get("mscale_all_dim"):
        return mscale(factor, params["mscale"]) / mscale(factor, params["mscale_all_dim"])
    return mscale(factor)


def _yarn(dim, base, params, max_positions, at_length):
    factor = _factor(params, max_positions)
    original = params.get("original_max_position_embeddings") or max_positions
    if not original:
        raise LongLLaDAError("RoPE scaling 'yarn' needs original_max_position_embeddings (or max_position_embeddings)")
    beta_fast, beta_slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1

    def correction(rotations: float) -> float:
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction(beta_fast), correction(beta_slow)
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=float) - low) / (high - low), 0.0, 1.0)
    theta = default_angles(dim, base)
    return theta / factor * ramp + theta * (1 - ramp), _yarn_attention_factor(factor, params)


def _longrope(dim, base, params, max_positions, at_length):
    """The short factors up to the original length (and at initialisation), the long ones beyond."""
    original = params["original_max_position_embeddings"]
    factor = _factor(params, max_positions)
    attention = params.get("attention_factor")
    if attention is None:
        attention = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original))
    which = "long_factor" if at_length is not None and at_length > original else "short_factor"
    factors = np.asarray(params[which], dtype=float)
    if factors.shape != (dim // 2,):
        raise LongLLaDAError(f"longrope {which} has {factors.size} entries; the rotary dimension {dim} needs "
                             f"{dim // 2}")
    return default_angles(dim, base) / factors, float(attention)


def _llama3(dim, base, params, max_positions, at_length):
    theta = default_angles(dim, base)
    factor, low, high = params["factor"], params["low_freq_factor"], params["high_freq_factor"]
    original = params["original_max_position_embeddings"]
    wavelength = 2 * math.pi / theta
    scaled = np.where(wavelength > original / low, theta / factor, theta)
    with np.errstate(divide="ignore", invalid="ignore"):  # low == high (Llama 4): no pair is blended
        smooth = (original / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= original / high) & (wavelength <= original / low)
    return np.where(medium, blended, scaled), 1.0


#: the parameters a RoPE type cannot do without (transformers raises a KeyError without them)
REQUIRED_PARAMETERS = {"llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
                       "longrope": ("short_factor", "long_factor", "original_max_position_embeddings"),
                       "linear": ("factor",), "dynamic": ("factor",)}

#: RoPE type → function (D, base, rope parameters, max_position_embeddings, sequence length or None)
#: → (θ over D/2 pairs, attention factor). ``proportional`` is ``default`` with D the head dimension; the spec keeps
#: only the rotated pairs.
ROPE_TYPES: Registry[Callable[[int, float, dict, int | None, int | None], tuple[np.ndarray, float]]] = Registry(
    "rope_types", "RoPE type", {
    "default": lambda dim, base, params, max_positions, at_length: (default_angles(dim, base), 1.0),
    "proportional": lambda dim, base, params, max_positions, at_length: (
        default_angles(dim, base) / params.get("factor", 1.0), 1.0),
    "linear": _linear,
    "dynamic": _dynamic,
    "yarn": _yarn,
    "longrope": _longrope,
    "llama3": _llama3,
})


def rope_angles(rope_type: str, dim: int, base: float, params: dict | None = None, pairs: int | None = None,
                max_positions: int | None = None, at_length: int | None = None) -> tuple[np.ndarray, float]:
    """(θ of the first ``pairs`` pairs, attention factor) of a RoPE type (see module docstring): at initialisation,
    or at the sequence length ``at_length`` (dynamic NTK, LongRoPE's long factors). ``max_positions`` is the
    model's max_position_embeddings, where a type derives its factor from it."""
    angles = ROPE_TYPES[rope_type]
    missing = [key for key in REQUIRED_PARAMETERS.get(rope_type, ()) if (params or {}).get(key) is None]
    if missing:
        raise LongLLaDAError(f"RoPE scaling {rope_type!r} needs {', '.join(missing)} (as transformers' "
                             f"_compute_{rope_type}_parameters reads them)")
    theta, attention = angles(int(dim), float(base), dict(params or {}), max_positions, at_length)
    return theta[: (dim // 2 if pairs is None else pairs)], attention
