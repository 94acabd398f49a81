"""RoPE theory, numeric: rotation angles, periods, the critical dimension, the extrapolation bound and the
coverage of each pair's rotation by causal and bidirectional attention .

Notation: rotary dimension d (even), base b (``rope_theta``), training length T, pair index i = 0 … d/2 − 1.
Everything is vectorised with numpy broadcasting: pass arrays for d, b, T (or the target length) to get arrays.
The symbolic twin of each formula lives in :mod:`longllada_theory.theory.symbolic`; tests check that they agree.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ..errors import LongLLaDAError

Attention = Literal["causal", "bidirectional"]
ATTENTION_KINDS: tuple[str, ...] = ("causal", "bidirectional")

#: Relative tolerance under which (d/2)·log_b(T/2π) counts as a whole number (see :func:`critical_dimension`).
INTEGER_TOLERANCE = 1e-9


#: the largest RoPE base accepted — far above any published model's — so periods 2π·b^(2i/d) and λ·b stay finite
MAX_BASE = 1e100


def check_rope(rotary_dim, base, train_length=None) -> None:
    """Raise :class:`LongLLaDAError` unless d is a positive even integer, b > 1 and T > 2π."""
    dims = np.atleast_1d(np.asarray(rotary_dim, dtype=float))
    if np.any(dims <= 0) or np.any(dims != np.round(dims)) or np.any(np.round(dims) % 2 != 0):
        raise LongLLaDAError(f"rotary dimension {rotary_dim!r} must be a positive even integer (e.g. 128)")
    if np.any(~(np.asarray(base, dtype=float) > 1)) or np.any(~(np.asarray(base, dtype=float) <= MAX_BASE)):
        raise LongLLaDAError(f"RoPE base {base!r} must be a number greater than 1 and at most {MAX_BASE:g} (e.g. 10000 "
                             "or 500000)")
    if train_length is not None and np.any(~(np.asarray(train_length, dtype=float) > 2 * math.pi)):
        raise LongLLaDAError(
            f"training length {train_length!r} must exceed 2π ≈ 6.28 tokens (no RoPE pair completes a rotation "
            "below it)"
        )


def check_attention(attention: str) -> None:
    if attention not in ATTENTION_KINDS:
        raise LongLLaDAError(f"attention kind {attention!r} is unknown; expected one of {', '.join(ATTENTION_KINDS)}")


def pair_indices(rotary_dim: int) -> np.ndarray:
    """i = 0 … d/2 − 1."""
    check_rope(rotary_dim, 2.0)
    return np.arange(int(rotary_dim) // 2)


def rotation_angles(rotary_dim: int, base: float) -> np.ndarray:
    """θ_i = b^(−2i/d): the angle pair i turns per token (the model's inverse frequencies, Su et al. 2021)."""
    check_rope(rotary_dim, base)
    return float(base) ** (-2.0 * pair_indices(rotary_dim) / int(rotary_dim))


def rotation_periods(rotary_dim: int, base: float) -> np.ndarray:
    """P_i = 2π / θ_i = 2π · b^(2i/d): tokens per full turn of pair i."""
    return 2 * math.pi / rotation_angles(rotary_dim, base)


def critical_pair_position(rotary_dim, base, train_length) -> np.ndarray | float:
    """x = (d/2) · log_b(T/2π), the (real) pair index whose period equals T exactly."""
    check_rope(rotary_dim, base, train_length)
    d, b, t = (np.asarray(v, dtype=float) for v in (rotary_dim, base, train_length))
    return d / 2 * np.log(t / (2 * math.pi)) / np.log(b)


def critical_dimension(rotary_dim, base, train_length) -> np.ndarray | int:
    """d_crit = 2 · ⌈(d/2) · log_b(T/2π)⌉, clipped to [0, d] (Liu et al. 2023, arXiv 2310.05209, eq. 6).

    Pairs i < d_crit/2 have a period shorter than T, so training showed them every angle; pair d_crit/2 is the
    first whose period reaches T (the under-trained tail).

    Rule at the boundary: when x = (d/2)·log_b(T/2π) is a whole number up to a relative error of
    ``INTEGER_TOLERANCE`` (1e-9), it is snapped to that number before the ceiling, so floating-point noise such as
    x = 11.000000000002 gives 22 and not 24. A pair whose period equals T exactly is thus the first one beyond the
    critical dimension, as the exact ceiling says.
    """
    x = np.asarray(critical_pair_position(rotary_dim, base, train_length), dtype=float)
    nearest = np.round(x)
    snapped = np.where(np.abs(x - nearest) <= INTEGER_TOLERANCE * np.maximum(1.0, np.abs(x)), nearest, x)
    d_crit = np.clip(2 * np.ceil(snapped), 0, np.asarray(rotary_dim, dtype=float)).astype(int)
    return int(d_crit) if d_crit.ndim == 0 else d_crit


def critical_pair_of(periods, length: float) -> int:
    """The first pair whose period reaches ``length`` (len(periods) when none does): for default RoPE at the
    training length T this is pair d_crit/2 (:func:`critical_dimension`, with the same rule at the boundary — a
    period equal to T up to a relative ``INTEGER_TOLERANCE`` counts as reaching it); for any other list of periods
    (a scaled RoPE, a searched per-pair one) it is the same definition applied to the periods the model turns by."""
    periods = np.asarray(periods, dtype=float)
    reached = np.flatnonzero(periods >= float(length) * (1 - INTEGER_TOLERANCE))
    return int(reached[0]) if len(reached) else len(periods)


def extrapolation_bound(rotary_dim, base, critical_dim) -> np.ndarray | float:
    """T_extra = 2π · b^(d_crit/d): the period of the first under-trained pair, the longest context the model
    reaches without meeting an angle it never saw (Liu et al. 2023, eq. 7).

    ``critical_dim`` is the critical dimension fixed by pre-training; pass a scaled base to get the bound after
    NTK scaling (the critical dimension does not move when the base changes after training).
    """
    check_rope(rotary_dim, base)
    d, b, c = (np.asarray(v, dtype=float) for v in (rotary_dim, base, critical_dim))
    bound = 2 * math.pi * b ** (c / d)
    return float(bound) if bound.ndim == 0 else bound


def arc_coverage(rotary_dim: int, base: float, train_length: float, attention: Attention) -> np.ndarray:
    """Fraction of the circle of pair i that training showed, per pair.

    Causal attention sees relative positions Δ ∈ [0, T): the arc [0, T·θ_i), coverage min(1, T·θ_i / 2π).
    Bidirectional attention sees Δ ∈ (−T, T): the arc (−T·θ_i, T·θ_i), twice as wide, coverage min(1, 2T·θ_i / 2π).
    """
    check_attention(attention)
    check_rope(rotary_dim, base, train_length)
    width = 2.0 if attention == "bidirectional" else 1.0
    return np.minimum(1.0, width * float(train_length) * rotation_angles(rotary_dim, base) / (2 * math.pi))


def first_unseen_position(rotary_dim: int, base: float, train_length: float, attention: Attention) -> np.ndarray:
    """Per pair, the first relative distance |Δ| whose angle Δ·θ_i (mod 2π) training never showed: T where the
    pair's coverage is partial, ∞ where training covered the whole circle (period ≤ T causal, ≤ 2T bidirectional)."""
    coverage = arc_coverage(rotary_dim, base, train_length, attention)
    return np.where(coverage < 1.0, float(train_length), np.inf)


def unseen_angle_fraction(rotary_dim: int, base: float, train_length: int, length: int,
                          attention: Attention) -> np.ndarray:
    """Per pair, the share of the new relative distances T ≤ |Δ| < L whose angle Δ·θ_i (mod 2π) lies outside the
    arc that training covered — 0 for a fully trained pair, up to 1 for a slow pair the model saw only near 0."""
    check_attention(attention)
    check_rope(rotary_dim, base, train_length)
    if length <= train_length:
        return np.zeros(int(rotary_dim) // 2)
    theta = rotation_angles(rotary_dim, base)[:, None]
    deltas = np.arange(int(train_length), int(length), dtype=float)[None, :]
    angle = np.mod(deltas * theta, 2 * math.pi)
    reach = float(train_length) * theta
    seen = angle < reach
    if attention == "bidirectional":
        seen |= angle > 2 * math.pi - reach
    return 1.0 - seen.mean(axis=1)
