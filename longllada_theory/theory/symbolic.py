"""RoPE theory, symbolic (sympy): each result derived step by step from its definition.

- :func:`critical_dimension_derivation` — from "period of pair i exceeds T" to d_crit = 2⌈(d/2)·log_b(T/2π)⌉;
- :func:`extrapolation_bound_derivation` — the bound by inverting it: T_extra = 2π·b^(d_crit/d);
- :func:`scaling_law_derivation` — λ by requiring the new bound to reach T′ (the factor LongLLaDA uses);
- :func:`diffusion_aware_derivation` — the same law after T → 2T, T′ → 2T′ (UltraLLaDA);
- :func:`ntk_aware_derivation` — bloc97's factor from "interpolate the slowest pair by T′/T".

Each returns a :class:`Derivation`: ordered steps (rendered as LaTeX in notebooks), the final expression and a
numpy function lambdified from it. :mod:`longllada_theory.theory.rope` and :mod:`longllada_theory.theory.scaling`
hold the numeric versions; the tests check both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ..registry import Registry

d, b, T, T_target = sp.symbols("d b T T'", positive=True)
i = sp.Symbol("i", nonnegative=True)
lam = sp.Symbol("lambda", positive=True)
d_crit = sp.Symbol(r"d_{\mathrm{crit}}", positive=True)
s = sp.Symbol("s", positive=True)


@dataclass(frozen=True)
class Step:
    """One line of a derivation: ``lhs = rhs`` and the reason for it."""

    reason: str
    lhs: sp.Expr
    rhs: sp.Expr
    relation: str = "="

    def latex(self) -> str:
        relation = r"\mapsto" if self.relation == "->" else self.relation
        return f"{sp.latex(self.lhs)} {relation} {sp.latex(self.rhs)}"


@dataclass(frozen=True)
class Derivation:
    """An ordered list of steps ending in ``result`` (a function of ``arguments``)."""

    title: str
    steps: list[Step]
    result: sp.Expr
    arguments: tuple[sp.Symbol, ...]
    notes: list[str] = field(default_factory=list)

    @cached_property
    def function(self) -> Callable:
        """``result`` as a numpy function of ``arguments`` (sympy.lambdify)."""
        return sp.lambdify(self.arguments, self.result, modules=[{"Max": np.maximum, "Min": np.minimum}, "numpy"])

    def evaluate(self, **values: float) -> sp.Expr:
        """Exact evaluation: substitute rationals for the arguments (by name) and simplify."""
        subs = {sym: sp.nsimplify(values[sym.name]) for sym in self.arguments}
        return sp.simplify(self.result.subs(subs))

    def latex(self) -> str:
        lines = [rf"{step.latex()} && \text{{{step.reason}}}" for step in self.steps]
        return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def __repr__(self) -> str:
        lines = [self.title] + [f"  {n}. {st.reason}: {sp.sstr(st.lhs)} {st.relation} {sp.sstr(st.rhs)}"
                                for n, st in enumerate(self.steps, 1)]
        return "\n".join(lines)


def _log_b(x: sp.Expr) -> sp.Expr:
    return sp.log(x) / sp.log(b)


def _solve_positive(lhs: sp.Expr, rhs: sp.Expr, unknown: sp.Symbol, readable: sp.Expr) -> sp.Expr:
    """Solve lhs = rhs for ``unknown`` when both sides are positive: take logs (one real branch) and solve.

    ``readable`` is the solution as a person writes it; it is returned only after sympy proves it equal to the
    solution it derived (so the derivation cannot drift from what it displays).
    """
    equation = sp.Eq(sp.expand_log(sp.log(lhs), force=True), sp.expand_log(sp.log(rhs), force=True))
    (solution,) = sp.solve(equation, unknown)
    if sp.simplify(sp.expand_log(sp.log(solution) - sp.log(readable), force=True)) != 0:
        raise AssertionError(f"derived {solution}, which is not {readable}")
    return readable


def critical_dimension_derivation() -> Derivation:
    theta = b ** (-2 * i / d)
    period = sp.simplify(2 * sp.pi / theta)
    i_star = _solve_positive(period, T, i, d / 2 * _log_b(T / (2 * sp.pi)))
    result = sp.Min(d, 2 * sp.ceiling(i_star))
    steps = [
        Step("rotation per token of pair i", sp.Symbol(r"\theta_i"), theta),
        Step("period of pair i", sp.Symbol("P_i"), period),
        Step("solve P_i = T: the (real) pair whose period is exactly T", sp.Symbol("i^*"), i_star),
        Step("pairs i < i* turn fully within T; the tail starts at the ceiling", sp.Symbol("i_c"), sp.ceiling(i_star)),
        Step("two dimensions per pair", d_crit, 2 * sp.ceiling(i_star)),
        Step("at most all d dimensions (when every pair turns within T)", d_crit, result),
    ]
    return Derivation("Critical dimension (Liu et al. 2023, arXiv 2310.05209)", steps, result, (d, b, T),
                      ["a pair whose period equals T exactly is the first one beyond (the ceiling of a whole number)"])


def extrapolation_bound_derivation() -> Derivation:
    period_at = 2 * sp.pi * b ** (2 * i / d)
    bound = sp.simplify(period_at.subs(i, d_crit / 2))
    steps = [
        Step("period of pair i", sp.Symbol("P_i"), period_at),
        Step("the first under-trained pair is i = d_crit/2; its period bounds the reachable context",
             sp.Symbol(r"T_{\mathrm{extra}}"), bound),
    ]
    return Derivation("Extrapolation bound", steps, bound, (d, b, d_crit))


def scaling_law_derivation() -> Derivation:
    new_bound = 2 * sp.pi * (lam * b) ** (d_crit / d)
    solution = _solve_positive(new_bound, T_target, lam, (T_target / (2 * sp.pi)) ** (d / d_crit) / b)
    d_crit_of_T = critical_dimension_derivation().result
    full = solution.subs(d_crit, d_crit_of_T)
    steps = [
        Step("bound after multiplying the base by λ (d_crit fixed by pre-training)",
             sp.Symbol(r"T_{\mathrm{extra}}(\lambda b)"), new_bound),
        Step("require the new bound to reach the target T′ and solve for λ", lam, solution),
        Step("with the critical dimension of (d, b, T)", lam, full),
        Step("λ ≤ 1: the target is already within reach, keep the base", lam, sp.Max(1, full)),
    ]
    return Derivation("Extrapolation scaling law (LongLLaDA's NTK factor)", steps, sp.Max(1, full), (d, b, T, T_target))


def diffusion_aware_derivation() -> Derivation:
    law = scaling_law_derivation().result
    result = law.subs({T: 2 * T, T_target: 2 * T_target}, simultaneous=True)
    steps = [
        Step("bidirectional attention sees Δ ∈ (−T, T): a window of width 2T", T, 2 * T, "->"),
        Step("the target window likewise", T_target, 2 * T_target, "->"),
        Step("substitute into the scaling law", lam, result),
    ]
    return Derivation("Diffusion-aware NTK factor (UltraLLaDA, arXiv 2510.10481)", steps, result, (d, b, T, T_target))


def ntk_aware_derivation() -> Derivation:
    slowest = (d - 2) / d
    solution = _solve_positive((lam * b) ** (-slowest), b ** (-slowest) / s, lam, s ** (d / (d - 2)))
    result = sp.Max(1, solution.subs(s, T_target / T))
    steps = [
        Step("the slowest pair i = d/2 − 1 turns by (λb)^(−(d−2)/d) per token", sp.Symbol(r"\theta_{d/2-1}"),
             (lam * b) ** (-slowest)),
        Step("require it to be interpolated by s: θ = b^(−(d−2)/d)/s; solve", lam, solution),
        Step("with s = T′/T, and no scaling when T′ ≤ T", lam, result),
    ]
    return Derivation("NTK-aware factor (bloc97, 2023)", steps, result, (d, T, T_target))


DERIVATIONS: Registry[Callable[[], Derivation]] = Registry("derivations", "derivation", {
    "critical_dimension": critical_dimension_derivation,
    "extrapolation_bound": extrapolation_bound_derivation,
    "longllada": scaling_law_derivation,
    "diffusion-aware": diffusion_aware_derivation,
    "ntk-aware": ntk_aware_derivation,
})
