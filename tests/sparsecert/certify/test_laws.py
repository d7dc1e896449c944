"""The reviewers' constants (restricted eigenvalues on a support) and the measured sample-size law
(issue 37): interlacing, the planted instances' constants, and the predictive certificate."""

from pathlib import Path

import numpy as np
import pytest

from sparsecert.certify import LAWS, JTK_C, sample_size, support_eigenvalues

FIGURES = Path(__file__).resolve().parents[3] / "figures" / "recovery"


def test_support_eigenvalues_are_the_extreme_eigenvalues_and_interlace():
    """alpha_S, beta_S are the extreme eigenvalues of A_S^T A_S; for S inside T (Cauchy interlacing)
    alpha_T <= alpha_S and beta_T >= beta_S, so kappa_S bounds kappa_k below for k >= |S|."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 12))
    S, T = [1, 4, 7], [0, 1, 4, 7, 9]
    ev = np.linalg.eigvalsh(A[:, S].T @ A[:, S])
    assert support_eigenvalues(A, S) == pytest.approx((ev[0], ev[-1]), rel=1e-12)
    (aS, bS), (aT, bT) = support_eigenvalues(A, S), support_eigenvalues(A, T)
    assert aT <= aS and bT >= bS
    with pytest.raises(ValueError, match="more than once"):
        support_eigenvalues(A, [1, 1])


def test_planted_constants_measure_the_planted_instance():
    """On planted_mlp's instance: 0 < alpha <= beta per sample, kappa = beta / alpha >= 1, the kappa
    attained on 3 s columns containing S is at least kappa (interlacing), and the relaxed-IHT theorem
    fails at s~ = s (it needs kappa <= 1/sqrt(32) < 1); 32 kappa_distinct^2 is what it asks of s~ / s.
    Units that share a generator (many one-weight units on d = 2 features) give parallel columns:
    counted, and kappa with one column of each group is finite while kappa is not."""
    from sparsecert.cells import planted_constants

    r = planted_constants({"m": 5, "s": 12, "n": 600, "d": 100, "draws": 2}, 0)
    assert 0 < r["alpha"] <= r["beta"] and r["kappa"] == pytest.approx(r["beta"] / r["alpha"])
    assert r["kappa_k_lower"] >= r["kappa"] * (1 - 1e-12) and r["parallel"] == 0
    assert r["jtk_verdict"] == "fails" and r["jtk_needed"] == pytest.approx(JTK_C * r["kappa_distinct"] ** 2)
    crowded = planted_constants({"m": 40, "s": 30, "n": 400, "d": 2, "draws": 0}, 1)
    assert crowded["parallel"] >= 1 and crowded["kappa"] > 1e8 and crowded["kappa_distinct"] < 1e6
    assert np.isnan(crowded["kappa_k_lower"])


def test_packaged_laws_are_the_committed_winners():
    """certify.LAWS are the candidates with the least leave-one-out error per variant in the committed
    law table of the full grid (figures/recovery/relu_phase_law_laws.csv): same terms and coefficients."""
    from sparsecert.io import read_csv

    path = FIGURES / "relu_phase_law_laws.csv"
    if not path.exists():
        pytest.skip("the committed law table is not in this tree")
    rows = read_csv(path)
    for operator, variant in (("planted", "true"), ("planted+random", "true+random"), ("gaussian", "gaussian")):
        best = min((r for r in rows if r["variant"] == variant), key=lambda r: r["cv_median_error"])
        law = LAWS[operator]
        assert law.name == best["law"] and law.log == best["log"]
        assert law.coef == pytest.approx(tuple(best[f"coef[{t}]"] for t in law.terms), rel=1e-6)
        assert law.halfwidth == pytest.approx(best["halfwidth"], rel=1e-6)


def test_sample_size_predicts_and_says_whether_n_suffices():
    """n50 grows with s at fixed (m, d) inside the fitted range; its interval holds it; the status
    compares the given n with the interval; a shape works like the array; out-of-range points are
    flagged; bad input is a named error."""
    d, m = 20, 8
    rows = [sample_size((d,), m, s) for s in (2, 4, 8, 16)]
    assert all(a.n50 < b.n50 for a, b in zip(rows, rows[1:]))
    assert all(r.lo < r.n50 < r.hi and r.status == "no n" and not r.extrapolation for r in rows)
    r = rows[1]
    assert sample_size((int(r.hi) + 1, d), m, 4).status == "enough"
    assert sample_size((max(1, int(r.lo) - 1), d), m, 4).status == "too few"
    X = np.zeros((int(r.n50), d))
    assert sample_size(X, m, 4).status == "uncertain" and sample_size(X, m, 4).n50 == r.n50
    assert sample_size((d,), 64, 4).extrapolation
    gauss = sample_size((d,), m, 4, generators="gaussian")
    assert gauss.operator == "gaussian" and gauss.n50 < r.n50
    assert "n50 =" in str(r)
    with pytest.raises(ValueError, match="generators"):
        sample_size((d,), m, 4, generators="random")
    with pytest.raises(ValueError, match="s"):
        sample_size((d,), m, m * d + 1)
    with pytest.raises(ValueError, match="shape"):
        sample_size((1, 2, 3), m, 4)
