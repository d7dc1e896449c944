"""Bayesian AMP, the MCP path and the portfolio that tries them after OMP and HTP."""

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.operators import DenseOperator, HStackOperator
from sparsecert.recovery import amp, bernoulli_gaussian_posterior, iht_omp, mcp_path, portfolio


def test_the_denoiser_is_the_posterior_mean_and_variance():
    """``bernoulli_gaussian_posterior`` against the posterior computed by quadrature: the slab's
    density times the Gaussian likelihood on a fine grid, plus the spike's mass at zero."""
    tau, rho, phi = 0.3, 0.1, 2.0
    r = np.array([-3.0, -0.7, 0.0, 0.4, 1.5, 5.0])
    mean, var = bernoulli_gaussian_posterior(r, tau, rho, phi)
    x = np.linspace(-30, 30, 600001)
    dx = x[1] - x[0]
    for k, rk in enumerate(r):
        like = np.exp(-((rk - x) ** 2) / (2 * tau)) / np.sqrt(2 * np.pi * tau)
        slab = rho * np.exp(-x * x / (2 * phi)) / np.sqrt(2 * np.pi * phi) * like
        spike = (1 - rho) * np.exp(-rk * rk / (2 * tau)) / np.sqrt(2 * np.pi * tau)
        Z = slab.sum() * dx + spike
        m1, m2 = (x * slab).sum() * dx / Z, (x * x * slab).sum() * dx / Z
        assert mean[k] == pytest.approx(m1, abs=1e-8)
        assert var[k] == pytest.approx(m2 - m1 * m1, abs=1e-8)


@pytest.mark.parametrize("fit", [amp, mcp_path, portfolio])
def test_path_fits_recover_and_report_the_returned_models_residual(fit):
    """Above the transition each fit is exact; on any instance ``result.residual`` is the relative
    residual of the returned w itself, recomputed here, and w has at most s nonzeros."""
    p = sc.planted_gaussian(200, 400, 20, rng=1)
    A = p.A.to_dense()
    res = fit(A, p.y, 20)
    assert res.status == "residual" and np.array_equal(res.support, p.w.indices)
    np.testing.assert_allclose(res.w.values, p.w.values, rtol=1e-8)
    hard = sc.planted_gaussian(60, 400, 25, rng=2, noise=0.1)  # below the transition, noisy
    for B in (hard.A.to_dense(), HStackOperator([DenseOperator(hard.A.to_dense())])):
        res = fit(B, hard.y, 25)
        W = hard.A.to_dense()
        assert res.w.nnz <= 25 and res.status != "residual"
        assert res.residual == pytest.approx(np.linalg.norm(hard.y - W @ res.w.to_dense()) / np.linalg.norm(hard.y),
                                             rel=1e-10)


def test_portfolio_needs_fewer_samples_than_omp_and_htp():
    """Near the transition (N = 1000, s = 25, n = 75: OMP and HTP recover about one instance in
    five) the portfolio recovers strictly more of ten instances than its first stage, never a
    larger residual, and stops at the first exact stage."""
    wins, firsts = 0, 0
    for t in range(10):
        p = sc.planted_gaussian(75, 1000, 25, rng=100 + t)
        A = p.A.to_dense()
        first, full = iht_omp(A, p.y, 25, method="htp"), portfolio(A, p.y, 25)
        assert full.residual <= first.residual
        firsts += first.residual <= 1e-10
        wins += full.residual <= 1e-10
        if full.residual <= 1e-10 and full.info["kept"] not in ("omp", "iht from omp", "iht"):
            assert full.info["runs"][-1] == full.info["kept"] or full.info["runs"][-2] == full.info["kept"]
    assert wins > firsts


def test_mcp_path_starts_at_zero_and_follows_lambda_down():
    """At lambda_max = ||A_n^T y||_inf the MCP minimiser is 0 (every coordinate's firm threshold of
    its gradient is 0): the first residual recorded is 1, the lambdas decrease geometrically."""
    p = sc.planted_gaussian(120, 300, 10, rng=4)
    A = p.A.to_dense()
    res = mcp_path(A, p.y, 10, n_lambdas=30, lambda_ratio=1e-2)
    lam_max = np.max(np.abs(A.T @ p.y) / np.linalg.norm(A, axis=0))
    assert res.residuals[0] == 1.0 and res.steps[0] == pytest.approx(lam_max)
    np.testing.assert_allclose(res.steps[1:] / res.steps[:-1], 1e-2 ** (1 / 29))
    assert np.all(np.diff(res.residuals) <= 0)


def test_bad_options_are_named():
    A, y = np.eye(5), np.ones(5)
    with pytest.raises(ValueError, match="gamma must be > 1"):
        mcp_path(A, y, 2, gamma=1.0)
    with pytest.raises(ValueError, match="lambda_ratio must be > 0"):
        mcp_path(A, y, 2, lambda_ratio=0.0)
    with pytest.raises(ValueError, match="damping must be > 0"):
        amp(A, y, 2, damping=0.0)
    with pytest.raises(ValueError, match="then"):
        portfolio(A, y, 2, then=("lasso",))
    with pytest.raises(ValueError, match="y"):
        amp(A, np.ones(4), 2)
    for f in (amp, mcp_path, portfolio):
        res = f(A, np.zeros(5), 2)
        assert res.status == "zero" and res.w.nnz == 0
