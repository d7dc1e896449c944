import numpy as np
import pytest

from sparsecert.phase import fit_transition, l1_statistical_dimension, l1_transition, sample_complexity_curve


def test_statistical_dimension_is_monotone_and_bounded():
    """psi(eps) = delta(D)/N for the l1 descent cone: increasing in eps, eps <= psi <= 1."""
    eps = np.linspace(0.001, 0.999, 60)
    psi = np.array([l1_statistical_dimension(e) for e in eps])
    assert np.all(np.diff(psi) > 0)
    assert np.all(psi >= eps) and np.all(psi <= 1)
    assert l1_statistical_dimension(0.0) == 0.0 and l1_statistical_dimension(1.0) == 1.0


def test_l1_transition_matches_the_donoho_tanner_weak_threshold():
    """Amelunxen et al.: the statistical-dimension curve is the DT weak threshold, whose
    published value at delta = 1/2 is rho ~ 0.3848 (Donoho & Tanner 2009)."""
    assert l1_transition(0.5) == pytest.approx(0.3848, abs=0.003)
    r = l1_transition(np.array([0.1, 0.3, 0.7]))
    assert np.all(np.diff(r) > 0)
    # on the curve, n equals the statistical dimension: psi(rho delta) = delta
    for d, rho in zip([0.1, 0.3, 0.7], r):
        assert l1_statistical_dimension(rho * d) == pytest.approx(d, abs=1e-8)


def test_sample_complexity_curve_solves_its_equation():
    d = np.array([0.2, 0.5, 0.9])
    rho = sample_complexity_curve(d, c=4)
    np.testing.assert_allclose(rho * 4 * np.log(1 / (rho * d)), 1.0, rtol=1e-8)


def test_logistic_fit_finds_the_midpoint():
    rng = np.random.default_rng(0)
    rho = rng.uniform(0, 1, 4000)
    p = 1 / (1 + np.exp(25 * (rho - 0.37)))
    assert fit_transition(rho, rng.random(4000) < p) == pytest.approx(0.37, abs=0.02)
    assert np.isnan(fit_transition([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="delta must lie in \\(0, 1\\)"):
        l1_transition(1.0)


def test_relu_phase_crossing_is_the_monotone_half_point():
    """n50 of the sample-complexity law: the success rate made non-decreasing in n (pool adjacent
    violators) crosses 1/2 at the log-linear interpolation between the grid points around it."""
    from paper_repro.recovery.relu_phase import crossing

    n = np.repeat([10, 20, 40, 80], 4)
    rising = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1])  # rates 0, .25, .75, 1
    assert crossing(n, rising) == pytest.approx(np.sqrt(20 * 40))
    dip = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1])  # .75 then .5: pooled to .625, .625
    assert crossing(n, dip) == pytest.approx(np.exp(np.log(10) + (0.5 / 0.625) * np.log(2)))
    assert np.isnan(crossing(n, np.zeros(16))) and np.isnan(crossing(n, np.ones(16)))


def test_held_out_interval_carries_both_uncertainties():
    """Points on a line n50 = 3 x + 2 with bootstrap spread 0.5: every held-out point is consistent
    with the law fitted on the others (0 inside the joint interval of prediction - n50); a point
    moved 20 above the line is not, and a point whose replicates never cross (NaN: beyond every n)
    lies below every finite prediction."""
    from paper_repro.recovery.relu_phase import held_out_interval

    rng = np.random.default_rng(0)
    x = np.arange(1.0, 8.0)
    boots = 3 * x[:, None] + 2 + 0.5 * rng.standard_normal((7, 400))
    for i in range(7):
        lo, hi = held_out_interval(x, boots, i)
        assert lo <= 0 <= hi
    moved = boots.copy()
    moved[3] += 20
    lo, hi = held_out_interval(x, moved, 3)
    assert hi < 0
    never = boots.copy()
    never[2] = np.nan
    assert held_out_interval(x, never, 2)[1] == -np.inf


@pytest.mark.slow
def test_relu_phase_quick_run_and_its_law_on_held_out_points(tmp_path):
    """The quick relu-phase run (about 15 s) draws both figures and its tables; the Gaussian
    transitions follow n50 = C s log(N/s) + c with C's interval above 0; then issue 19's test:
    the law fitted on the other (s, m, d) points of the grid predicts each held-out point (0 in
    its joint bootstrap interval of prediction - n50), for the planted generators and among random
    ones. Measured (0.3.2, network recovery, 20 trials per n): 4 and 5 of 7 points consistent;
    the others are the d-variations, whose n50 falls as d grows at fixed (s, m) (54, 35, 30 at
    d = 5, 10, 20) where the law rises: reported as an expected failure with the points."""
    from sparsecert.io import read_csv
    from paper_repro import run

    paths = run("relu-phase", tmp_path, quick=True, progress=False)
    assert sorted(p.name for p in paths) == ["relu_phase.png", "relu_structure.png"]
    out = tmp_path / "recovery"
    points, laws = read_csv(out / "relu_phase.csv"), {r["variant"]: r for r in read_csv(out / "relu_phase_law.csv")}
    gaussian = laws["gaussian"]
    assert 0 < gaussian["C_lo"] <= gaussian["C"] <= gaussian["C_hi"]
    off = [(r["variant"], r["s"], r["m"], r["d"], round(r["n50"], 1)) for r in points
           if r["variant"] != "gaussian" and not r["loo_consistent"]]
    if off:
        pytest.xfail(f"the law s log(md/s) does not predict these held-out ReLU points: {off}")


def test_relu_trials_measure_their_instance():
    """Each fixed-pattern trial records Lemma 1's restricted eigenvalues on the planted support
    (normalised by the mean squared column norm, so kappa = beta / alpha and alpha <= 1 <= beta) and
    Assumption 2's quantities of the planted patterns: coverage and separation in [0, 1/2] (a pattern
    and its complement count as one), at most as many distinct patterns as units carrying weights.
    A Gaussian A of many rows is nearly an isometry on s columns (alpha, beta near 1); it has no patterns."""
    from sparsecert.cells import relu_recovery

    for variant in ("true", "true+random"):
        r = relu_recovery({"n": 400, "d": 10, "m": 8, "s": 12, "variant": variant}, 3)
        assert 0 < r["alpha"] <= 1.0 <= r["beta"] and r["kappa"] == pytest.approx(r["beta"] / r["alpha"])
        assert 0 < r["coverage"] <= 1 and 0 <= r["separation"] <= 0.5 and 0 <= r["close_pairs"] <= 1
        assert 1 <= r["distinct"] <= 8
    g = relu_recovery({"n": 4000, "d": 10, "m": 8, "s": 4, "variant": "gaussian"}, 3)
    assert 0.85 < g["alpha"] <= 1.0 <= g["beta"] < 1.15
    assert all(np.isnan(g[k]) for k in ("coverage", "separation", "distinct", "close_pairs"))
