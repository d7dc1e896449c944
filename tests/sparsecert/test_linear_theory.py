"""Closed-form gradient flow and IMP in linear models: the identities of
shared/research/imp_linear_lth.md (section A), each stated in its test."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecert import linear_theory as lt

shapes = st.tuples(st.integers(2, 12), st.integers(2, 10), st.integers(0, 2**31))


def exact_ceil(rate, active):
    """ceil(rate * active) in exact decimal arithmetic (the rate as written, not its float)."""
    return math.ceil(Fraction(repr(rate)) * active)


def data(n, d, seed, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = rng.standard_normal(d)
    return X, X @ beta + noise * rng.standard_normal(n), rng


@given(shape=shapes, t=st.floats(0.0, 3.0))
def test_closed_form_matches_small_step_gradient_descent(shape, t):
    """w(t) = w_inf + exp(-t X^T X)(w0 - w_inf) is the limit of GD with step h -> 0:
    Euler steps of size t/N agree to O(h)."""
    X, y, rng = data(*shape)
    X /= np.linalg.norm(X, 2)  # unit spectral norm keeps Euler stable and accurate
    w0 = rng.standard_normal(X.shape[1])
    steps = 4000
    w = w0.copy()
    for _ in range(steps):
        w -= (t / steps) * X.T @ (X @ w - y)
    closed = lt.gradient_flow(X, y, w0, t)
    assert np.linalg.norm(closed - w) <= 1e-3 * (1 + np.linalg.norm(w))
    # both closed forms: via the SVD and via exp(-t X^T X)
    from scipy.linalg import expm

    w_inf = np.linalg.pinv(X) @ y + (np.eye(X.shape[1]) - np.linalg.pinv(X) @ X) @ w0
    np.testing.assert_allclose(closed, w_inf + expm(-t * X.T @ X) @ (w0 - w_inf), atol=1e-9)


@given(shape=shapes)
def test_limit_is_stationary_and_moves_within_the_row_space(shape):
    """w_inf - w0 lies in row(X) and X^T (X w_inf - y) = 0; t=0 returns w0; the loss
    never increases along the flow."""
    X, y, rng = data(*shape, noise=0.3)
    w0 = rng.standard_normal(X.shape[1])
    w_inf = lt.gradient_flow(X, y, w0)
    P = np.linalg.pinv(X) @ X
    np.testing.assert_allclose((np.eye(X.shape[1]) - P) @ (w_inf - w0), 0, atol=1e-8)
    np.testing.assert_allclose(X.T @ (X @ w_inf - y), 0, atol=1e-8 * (1 + np.abs(X.T @ y).max()))
    np.testing.assert_allclose(lt.gradient_flow(X, y, w0, 0.0), w0)
    path = lt.gradient_flow(X, y, w0, np.linspace(0, 5, 30))
    losses = ((path @ X.T - y) ** 2).sum(1)
    assert np.all(np.diff(losses) <= 1e-10 * (1 + losses[0]))


@given(n=st.integers(6, 20), d=st.integers(2, 6), seed=st.integers(0, 2**31), data_=st.data())
def test_full_column_rank_limit_is_ols_whatever_the_start(n, d, seed, data_):
    """X_S of full column rank => (I - P_S) = 0 => the masked limit is OLS on S for any start."""
    X, y, rng = data(n, d, seed, noise=0.5)
    S = sorted(data_.draw(st.sets(st.integers(0, d - 1), min_size=1)))
    a = lt.masked_limit(X, y, S, rng.standard_normal(d))
    b = lt.masked_limit(X, y, S, 10 * rng.standard_normal(d))
    ols = np.zeros(d)
    ols[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
    np.testing.assert_allclose(a, ols, atol=1e-8)
    np.testing.assert_allclose(b, ols, atol=1e-8)


@settings(max_examples=25)
@given(n=st.integers(3, 10), d=st.integers(4, 14), seed=st.integers(0, 2**31), rate=st.floats(0.05, 0.9),
       t_k=st.floats(0.01, 5.0))
def test_rewinding_point_does_not_matter_at_convergence(n, d, seed, rate, t_k):
    """P1: under training to convergence, rewinding to w0, to the dense iterate w(t_k)
    for any t_k, or not rewinding at all give identical masks and weights in every
    round (the starts differ by vectors of row(X_S), which (I - P_S) removes). Random
    re-initialisation differs only through the null-space term."""
    X, y, rng = data(n, d, seed, noise=0.2)
    w0 = rng.standard_normal(d)
    k = max(1, d // 3)
    paths = [lt.imp_path(X, y, k, rate=rate, rewind=r, w0=w0) for r in ("init", t_k, "continue")]
    for other in paths[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(paths[0].masks, other.masks))
        assert all(np.allclose(a, b, atol=1e-8) for a, b in zip(paths[0].weights, other.weights))


@given(shape=st.tuples(st.integers(12, 40), st.integers(3, 10), st.integers(0, 2**31)), k=st.integers(1, 3),
       rate=st.floats(0.05, 0.9), noise=st.floats(0, 1))
def test_orthogonal_equal_norm_features_make_every_selector_agree(shape, k, rate, noise):
    """P3: X^T X = c I => coefficients do not change when features are removed, so IMP
    (any rate), one-shot pruning, OMP, best subset and the top-k of |X^T y| all keep the
    same k features."""
    n, d, seed = shape
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    X = 3.0 * Q
    y = X @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    c = np.abs(X.T @ y)
    top = np.sort(c)[::-1]
    if k < d and top[k - 1] - top[k] < 1e-9 * top[0]:
        return  # a tie at the boundary: the sets are equally good, not equal
    want = lt.top_k_correlation(X, y, k)
    assert np.array_equal(lt.imp_path(X, y, k, rate=rate).support, want)
    assert np.array_equal(lt.imp_path(X, y, k, one_shot=True).support, want)
    assert np.array_equal(lt.omp_support(X, y, k), want)
    assert np.array_equal(lt.best_subset(X, y, k), want)
    assert np.array_equal(lt.backward_elimination(X, y, k), want)


@given(n=st.integers(8, 30), d=st.integers(2, 8), seed=st.integers(0, 2**31), s_frac=st.floats(0, 1),
       rho=st.floats(0, 0.9))
def test_noiseless_full_rank_imp_recovers_the_support(n, d, seed, s_frac, rho):
    """P5, sigma = 0: with X of full column rank, OLS on any S containing supp(beta) is
    beta itself, so the nulls are exactly 0 and IMP (one weight per round) prunes them
    first -- for any feature correlation."""
    rng = np.random.default_rng(seed)
    C = (1 - rho) * np.eye(d) + rho
    X = rng.standard_normal((max(n, d + 2), d)) @ np.linalg.cholesky(C).T
    s = 1 + int(s_frac * (d - 1))
    beta = np.zeros(d)
    S_true = np.sort(rng.choice(d, s, replace=False))
    beta[S_true] = rng.choice([-1, 1], s) * (0.5 + rng.random(s))
    path = lt.imp_path(X, X @ beta, s, count=1)
    np.testing.assert_array_equal(path.support, S_true)
    np.testing.assert_allclose(path.weights[-1], beta, atol=1e-8)


def test_column_rescaling_changes_imp_masks():
    """P2: IMP is not scale-invariant -- rescaling column j by a rescales its coefficient
    by 1/a; equal rescaling of all columns changes nothing."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 4))
    y = X @ np.array([1.0, 0.8, 0.6, 0.4]) + 0.01 * rng.standard_normal(50)
    base = lt.imp_path(X, y, 2, count=1).support
    np.testing.assert_array_equal(base, [0, 1])
    assert np.array_equal(lt.imp_path(5 * X, y, 2, count=1).support, base)
    Xs = X * np.array([1.0, 1.0, 0.25, 1.0])  # coefficient of feature 2 becomes 2.4
    assert not np.array_equal(lt.imp_path(Xs, y, 2, count=1).support, base)


@given(shape=shapes, rate=st.floats(0.01, 0.99), target_frac=st.floats(0, 1), count=st.integers(1, 5))
def test_masks_are_nested_and_follow_the_schedule(shape, rate, target_frac, count):
    """Masks shrink monotonically (S_{r+1} within S_r); each round prunes
    ceil(rate |S|) (or `count`), capped at the target, which is reached exactly."""
    X, y, _ = data(*shape, noise=0.1)
    d = X.shape[1]
    k = 1 + int(target_frac * (d - 1))
    for path, step in ((lt.imp_path(X, y, k, rate=rate), lambda m: exact_ceil(rate, m)),
                       (lt.imp_path(X, y, k, count=count), lambda m: count)):
        assert path.sizes[-1] == k
        for a, b, m in zip(path.masks, path.masks[1:], path.sizes):
            assert np.all(b <= a)
            assert a.sum() - b.sum() == min(step(m), m - k)


def test_threshold_pruning_recovers_support_between_nulls_and_signal():
    """Threshold pruning of the dense OLS keeps S* iff max_{j not in S*} |b_j| < tau <= min_{j in S*} |b_j|."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    beta = np.array([2.0, 0, -1.5, 0, 0, 1.0])
    y = X @ beta + 0.05 * rng.standard_normal(200)
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    tau = 0.5 * (np.abs(b[[1, 3, 4]]).max() + np.abs(b[[0, 2, 5]]).min())
    np.testing.assert_array_equal(lt.imp_path(X, y, threshold=tau, one_shot=True).support, [0, 2, 5])
    np.testing.assert_array_equal(lt.imp_path(X, y, threshold=tau).support, [0, 2, 5])
    cond = lt.beta_min_condition(X, beta, 0.05)
    assert cond["holds"] and cond["bound"] < 1.0
    assert not lt.beta_min_condition(X, beta, 5.0)["holds"]


def test_lasso_path_reaches_the_full_support():
    X, y, _ = data(40, 5, 1, noise=0.1)
    alphas, supports = lt.lasso_path_supports(X, y, n_alphas=30)
    assert len(supports) == 30 and alphas[0] > alphas[-1]
    assert supports[0].size == 0 and supports[-1].size == 5


def test_bad_input_is_named():
    X, y, _ = data(10, 4, 0)
    with pytest.raises(ValueError, match="rate must be in \\(0, 1\\)"):
        lt.imp_path(X, y, 2, rate=1.0)
    with pytest.raises(ValueError, match="rate must be > 0"):
        lt.imp_path(X, y, 2, rate=0.0)
    with pytest.raises(ValueError, match="give exactly one schedule"):
        lt.imp_path(X, y, 2, rate=0.2, count=1)
    with pytest.raises(ValueError, match="target must be in \\[1, 4\\]"):
        lt.imp_path(X, y, 0, count=1)
    with pytest.raises(ValueError, match="target \\(number of weights to keep\\) is required"):
        lt.imp_path(X, y, rate=0.2)
    with pytest.raises(ValueError, match="support must not be empty"):
        lt.masked_limit(X, y, [])
    with pytest.raises(ValueError, match="rewind must be one of"):
        lt.imp_path(X, y, 2, count=1, rewind="late")
    with pytest.raises(ValueError, match="t must be >= 0"):
        lt.gradient_flow(X, y, None, -1.0)
