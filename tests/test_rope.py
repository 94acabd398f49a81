"""RoPE theory, numeric."""

import math

import numpy as np
import pytest

from longllada_theory import (
    LongLLaDAError,
    arc_coverage,
    critical_dimension,
    extrapolation_bound,
    first_unseen_position,
    rotation_angles,
    rotation_periods,
    unseen_angle_fraction,
)


def test_angles_and_periods_follow_the_rope_definition():
    theta = rotation_angles(128, 500000)
    assert theta[0] == 1.0
    assert theta[1] == pytest.approx(500000 ** (-2 / 128))
    assert np.allclose(rotation_periods(128, 500000), 2 * math.pi / theta)
    assert np.all(np.diff(theta) < 0)


def test_critical_dimension_of_the_papers_models():
    # LLaDA-8B: d=128, b=5e5, T=4k → (d/2)·log_b(T/2π) = 31.6 → 64; LLaMA3-8B at 8k → 34.99 → 70
    assert critical_dimension(128, 500000, 4096) == 64
    assert critical_dimension(128, 500000, 8192) == 70
    # SmolLM2-135M: d=64, b=1e5, T=8k → 40 (the setting of the SmolLM2 runs with λ = 2.92)
    assert critical_dimension(64, 100000, 8192) == 40


def test_critical_dimension_separates_pairs_by_period():
    d, b, t = 128, 10000.0, 4096
    d_crit = critical_dimension(d, b, t)
    periods = rotation_periods(d, b)
    assert np.all(periods[: d_crit // 2] < t)
    assert periods[d_crit // 2] >= t


@pytest.mark.parametrize("d, b, k", [(128, 10000.0, 11), (64, 500000.0, 20), (32, 10000.0, 6), (128, 1e6, 40)])
def test_critical_dimension_is_robust_where_the_ceiling_argument_is_whole(d, b, k):
    # T chosen so that (d/2)·log_b(T/2π) = k exactly in real arithmetic; floats land a hair above or below k.
    t = 2 * math.pi * b ** (2 * k / d)
    assert critical_dimension(d, b, t) == 2 * k
    assert critical_dimension(d, b, t * (1 + 1e-12)) == 2 * k
    assert critical_dimension(d, b, t * (1 + 1e-6)) == 2 * k + 2


def test_critical_dimension_is_vectorised_and_clipped():
    out = critical_dimension(128, 500000, np.array([4096, 8192, 1e30]))
    assert out.tolist() == [64, 70, 128]


def test_extrapolation_bound_is_the_period_of_the_first_under_trained_pair():
    d_crit = critical_dimension(128, 500000, 4096)
    assert extrapolation_bound(128, 500000, d_crit) == pytest.approx(rotation_periods(128, 500000)[d_crit // 2])
    assert extrapolation_bound(128, 500000, d_crit) == pytest.approx(2 * math.pi * 500000 ** 0.5)
    assert extrapolation_bound(128, 500000, d_crit) >= 4096


def test_bidirectional_training_covers_twice_the_arc():
    causal = arc_coverage(128, 500000, 4096, "causal")
    bidir = arc_coverage(128, 500000, 4096, "bidirectional")
    assert np.all(bidir >= causal)
    partial = causal < 1
    assert np.allclose(np.minimum(1, 2 * causal[partial]), bidir[partial])
    # a pair is fully covered causally exactly when its period fits in T
    assert np.array_equal(causal == 1, rotation_periods(128, 500000) <= 4096)


def test_first_unseen_position_is_T_for_partially_covered_pairs():
    causal = first_unseen_position(64, 10000, 128, "causal")
    bidir = first_unseen_position(64, 10000, 128, "bidirectional")
    periods = rotation_periods(64, 10000)
    assert np.array_equal(np.isinf(causal), periods <= 128)
    assert np.array_equal(np.isinf(bidir), periods <= 256)
    assert set(causal[np.isfinite(causal)]) == {128.0}


def test_unseen_angle_fraction_is_zero_in_window_and_larger_for_causal():
    assert np.all(unseen_angle_fraction(64, 10000, 128, 128, "causal") == 0)
    causal = unseen_angle_fraction(64, 10000, 128, 512, "causal")
    bidir = unseen_angle_fraction(64, 10000, 128, 512, "bidirectional")
    assert np.all(bidir <= causal + 1e-12)
    assert causal[0] == 0 and causal[-1] == 1
    # a pair with period between T and 2T: bidirectional training saw every angle, causal did not
    periods = rotation_periods(64, 10000)
    middle = (periods > 128) & (periods <= 256)
    assert middle.any()
    assert np.all(bidir[middle] == 0) and np.all(causal[middle] > 0)


@pytest.mark.parametrize("args, message", [
    ((127, 10000, 4096), "even"), ((0, 10000, 4096), "even"), ((-2, 10000, 4096), "even"),
    ((128, 1.0, 4096), "greater than 1"), ((128, -5, 4096), "greater than 1"),
    ((128, 10000, 6), "2π"), ((128, 10000, -1), "2π"),
])
def test_bad_rope_parameters_are_refused(args, message):
    with pytest.raises(LongLLaDAError, match=message):
        critical_dimension(*args)


def test_unknown_attention_kind_is_refused():
    with pytest.raises(LongLLaDAError, match="causal, bidirectional"):
        arc_coverage(64, 10000, 128, "sideways")
