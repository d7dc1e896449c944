"""Stopping criteria compose: ``max_iter``/``tol``/``xtol`` are one composition of them, and each
criterion stops a run where its definition says."""

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.recovery import AnyOf, MaxIterations, RelativeResidual, Stagnation, TimeLimit


def problem(seed=0, n=80, N=200, s=8):
    p = sc.planted_gaussian(n, N, s, rng=seed)
    return p.A, p.y, s


@pytest.mark.parametrize("method", ["aiht", "htp", "iht"])
def test_the_keywords_are_the_default_composition(method):
    """``max_iter, tol, xtol`` and ``MaxIterations | RelativeResidual | Stagnation`` give the same
    run step for step (AIHT, and HTP or IHT held off the compiled loop by a callback)."""
    A, y, s = problem()
    seen = []
    a = sc.iht(A, y, s, solver=sc.IHT(method=method, max_iter=40, tol=1e-9, xtol=1e-12), callback=lambda *a: seen.append(1))
    b = sc.iht(A, y, s, solver=sc.IHT(method=method, max_iter=500), stop=MaxIterations(40) | RelativeResidual(1e-9) | Stagnation(1e-12))
    assert a.status == b.status and a.n_iter == b.n_iter
    np.testing.assert_array_equal(a.residuals, b.residuals)
    np.testing.assert_array_equal(a.w.values, b.w.values)


def test_each_criterion_stops_where_it_says():
    A, y, s = problem(1)
    none = sc.iht(A, y, s, solver=sc.IHT(method="aiht", max_iter=500), stop=MaxIterations(0) | RelativeResidual(1e-9))
    assert none.status == "max_iter" and none.n_iter == 0 and not none.converged
    three = sc.iht(A, y, s, solver=sc.IHT(method="aiht", max_iter=500), stop=MaxIterations(3))
    assert three.n_iter == 3 and three.status == "max_iter"
    loose = sc.iht(A, y, s, solver=sc.IHT(method="aiht", max_iter=500), stop=RelativeResidual(0.5) | MaxIterations(100))
    assert loose.status == "residual" and loose.residuals[-1] <= 0.5 < loose.residuals[-2] and loose.converged
    # criteria are asked in order: a bound checked before the step fires before a residual test after it
    assert sc.iht(A, y, s, solver=sc.IHT(method="aiht", max_iter=500), stop=RelativeResidual(1e9) | MaxIterations(0)).n_iter == 0


def test_a_time_limit_stops_before_the_next_step():
    """No step starts once the run's wall time reaches the limit: a callback that moves the run's
    start back by an hour after the second step stops it there, status "time", not converged."""
    A, y, s = problem(2)
    solver = sc.recovery.IHTSolver(A, y, s, method="aiht")

    def age(it, w, rel):
        if it == 2:
            solver.run_started -= 3600.0

    res = solver.run(stop=TimeLimit(60.0) | MaxIterations(50), callback=age).finalize()
    assert res.status == "time" and res.n_iter == 2 and not res.converged
    assert "time" in sc.recovery.STATUSES


def test_criteria_are_checked_when_made():
    with pytest.raises(ValueError, match="max_iter"):
        MaxIterations(-1)
    with pytest.raises(ValueError, match="tol"):
        RelativeResidual(-1e-3)
    with pytest.raises(TypeError, match="stopping criteria"):
        AnyOf(MaxIterations(1), 3)
    with pytest.raises(TypeError):
        MaxIterations(1) | 3
    A, y, s = problem()
    with pytest.raises(TypeError, match="stop must be a StoppingCriterion"):
        sc.iht(A, y, s, stop=100)
    combo = MaxIterations(5) | (RelativeResidual(1e-3) | TimeLimit(1.0))
    assert len(combo.criteria) == 3 and combo.max_steps == 5


def test_each_method_is_a_step_rule_and_an_inner_solver_chosen_once():
    """The four methods differ only in their two rules (sparsecert.recovery.rules), fixed when the
    solver is made: a given ``step`` is a fixed step whatever the method."""
    from sparsecert.recovery import rules

    A, y, s = problem()
    pairs = {m: sc.recovery.IHTSolver(A, y, s, method=m) for m in ("iht", "niht", "aiht", "htp")}
    assert type(pairs["niht"].step_rule) is rules.NormalizedStep and pairs["niht"].inner == rules.NoInner()
    assert pairs["aiht"].inner == rules.ConjugateGradient(3)
    assert type(pairs["htp"].step_rule) is rules.RayleighStep and pairs["htp"].inner == rules.LeastSquares(50, 1e-12)
    assert type(pairs["iht"].step_rule) is rules.FixedStep and not pairs["iht"].adaptive
    assert sc.recovery.IHTSolver(A, y, s, method="aiht", inner_iter=0).inner == rules.NoInner()
    fixed = sc.recovery.IHTSolver(A, y, s, method="htp", step=0.5)
    assert fixed.step_rule == rules.FixedStep(0.5) and type(fixed.inner) is rules.LeastSquares
