"""The symbolic derivations (sympy) agree with the numeric library, on a grid and for random inputs."""


import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from longllada_theory import (
    critical_dimension,
    diffusion_aware_factor,
    extrapolation_bound,
    ntk_aware_factor,
    ntk_scaling_factor,
)
from longllada_theory.theory.symbolic import (
    DERIVATIONS,
    critical_dimension_derivation,
    diffusion_aware_derivation,
    extrapolation_bound_derivation,
    ntk_aware_derivation,
    scaling_law_derivation,
)

DIMS = [16, 32, 64, 96, 128, 256]
BASES = [500.0, 1e4, 1e5, 5e5, 1e6, 1e7]
LENGTHS = [128, 2048, 4096, 8192, 32768]


def _grid():
    return [(d, b, t) for d in DIMS for b in BASES for t in LENGTHS]


def test_every_derivation_has_steps_latex_and_a_function():
    for name, build in DERIVATIONS.items():
        derivation = build()
        assert len(derivation.steps) >= 2, name
        assert derivation.latex().startswith(r"\begin{aligned}")
        assert callable(derivation.function)
        assert derivation.title in repr(derivation)


def test_critical_dimension_symbolic_equals_numeric_on_a_grid():
    f = critical_dimension_derivation().function
    for d, b, t in _grid():
        numeric = critical_dimension(d, b, t)
        assert f(d, b, t) == numeric, (d, b, t)


def test_critical_dimension_exact_evaluation_matches_for_the_papers_models():
    derivation = critical_dimension_derivation()
    assert derivation.evaluate(d=128, b=500000, T=4096) == 64
    assert derivation.evaluate(d=128, b=500000, T=8192) == 70


def test_bound_and_law_symbolic_equal_numeric_on_a_grid():
    bound = extrapolation_bound_derivation().function
    law = scaling_law_derivation().function
    for d, b, t in _grid():
        d_crit = critical_dimension(d, b, t)
        assert bound(d, b, d_crit) == pytest.approx(extrapolation_bound(d, b, d_crit), rel=1e-12)
        for target in (t / 2, 2 * t, 8 * t):
            assert law(d, b, t, target) == pytest.approx(ntk_scaling_factor(d, b, t, target), rel=1e-9)


def test_diffusion_aware_and_ntk_aware_symbolic_equal_numeric():
    diffusion = diffusion_aware_derivation().function
    ntk = ntk_aware_derivation().function
    for d, b, t in _grid():
        assert ntk(d, t, 4 * t) == pytest.approx(ntk_aware_factor(d, t, 4 * t), rel=1e-12)
        assert diffusion(d, b, t, 4 * t) == pytest.approx(diffusion_aware_factor(d, b, t, 4 * t), rel=1e-9)


def test_law_derivation_solves_the_bound_equation():
    derivation = scaling_law_derivation()
    lam = derivation.steps[1].rhs
    from longllada_theory.theory.symbolic import T_target, b, d, d_crit
    assert sp.simplify(2 * sp.pi * (lam * b) ** (d_crit / d) - T_target) == 0


def test_lambdified_functions_are_vectorised():
    law = scaling_law_derivation().function
    out = law(128, 500000.0, 4096.0, np.array([2048.0, 16384.0]))
    assert out.shape == (2,) and out[0] == 1.0


dims = st.integers(min_value=2, max_value=256).map(lambda n: 2 * n)
bases = st.floats(min_value=10.0, max_value=1e8)
train = st.floats(min_value=16.0, max_value=1e6)


@settings(max_examples=200, deadline=None)
@given(dims, bases, train)
def test_critical_dimension_is_even_and_within_0_d(d, b, t):
    d_crit = critical_dimension(d, b, t)
    assert 0 <= d_crit <= d and d_crit % 2 == 0


@settings(max_examples=200, deadline=None)
@given(dims, bases, train, st.floats(min_value=1.01, max_value=64), st.floats(min_value=1.01, max_value=4))
def test_factor_is_monotone_in_the_target_and_reaches_it(d, b, t, ratio, step):
    d_crit = critical_dimension(d, b, t)
    target = t * ratio
    lam = ntk_scaling_factor(d, b, t, target)
    assert lam >= 1
    assert ntk_scaling_factor(d, b, t, target * step) >= lam
    assert extrapolation_bound(d, lam * b, d_crit) >= target * (1 - 1e-9)


@settings(max_examples=200, deadline=None)
@given(dims, bases, train, st.floats(min_value=0.05, max_value=64))
def test_factor_is_one_exactly_when_no_scaling_is_needed(d, b, t, ratio):
    d_crit = critical_dimension(d, b, t)
    target = max(t * ratio, 7.0)
    bound = extrapolation_bound(d, b, d_crit)
    assume(abs(target / bound - 1) > 1e-9)
    lam = ntk_scaling_factor(d, b, t, target)
    assert (lam == 1.0) == (target < bound)


@settings(max_examples=100, deadline=None)
@given(dims, train, st.floats(min_value=1.0, max_value=64))
def test_ntk_aware_factor_is_monotone_and_one_without_extension(d, t, ratio):
    assume(d > 2)
    assert ntk_aware_factor(d, t, t) == 1.0
    assert ntk_aware_factor(d, t, t * ratio * 1.5) >= ntk_aware_factor(d, t, t * ratio)
