"""Closed forms for linear models trained by gradient flow, and IMP on them.

Notation: design ``X`` (n, d), targets ``y`` (n,), loss ``L(w) = 0.5 ||X w - y||^2``,
a mask's support ``S``, ``X_S`` its columns, ``X^+`` the pseudoinverse and
``P_S = X_S^+ X_S`` the projector onto ``row(X_S)``.

* gradient flow ``dw/dt = -X^T (X w - y)``:
  ``w(t) = w_inf + exp(-t X^T X) (w0 - w_inf)``, ``w_inf = X^+ y + (I - X^+ X) w0``;
* masked limit on ``S`` from a start ``s``: ``w_S = X_S^+ y + (I - P_S) s_S``, 0 off S;
* IMP (Frankle & Carbin) with training to convergence is then a sequence of
  masked limits: :func:`imp_path` computes it exactly, for any schedule and
  rewinding rule, without iterative training.

Identities (the tests check each): rewinding to the initialisation, to any
iterate of the dense run, or not rewinding give the same masks (the start
only enters through ``(I - P_S) s_S`` and those starts differ by vectors in
``row(X_S)``); a full-column-rank ``X_S`` makes the limit OLS on S whatever
the start; orthogonal equal-norm features make IMP, one-shot pruning, OMP,
best subset and the top-k of ``|X^T y|`` agree. Derivations:
``shared/research/imp_linear_lth.md`` (section A).
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .validation import check_array, check_float, check_int, check_option, check_rng, warn_deprecated
from .prune.select import prune_count

__all__ = [
    "gradient_flow",
    "masked_limit",
    "IMPPath",
    "imp_path",
    "backward_elimination",
    "best_subset",
    "top_k_correlation",
    "omp_support",
    "lasso_path_supports",
    "beta_min_condition",
]

REWINDS = ("init", "iterate", "continue", "reinit")


def _xy(X, y):
    X = check_array(X, "X", ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be non-empty, got shape {X.shape}")
    y = check_array(y, "y", shape=(X.shape[0],), dtype=X.dtype)
    return X, y


def _w0(w0, d, dtype):
    return np.zeros(d, dtype) if w0 is None else check_array(w0, "w0", shape=(d,), dtype=dtype)


def gradient_flow(X, y, w0=None, t=np.inf, *, rcond=1e-12):
    """Gradient-flow weights ``w(t)`` of least squares from ``w0`` (closed form).

    ``w(t) = w0 + V diag((1 - exp(-t s^2)) / s) U^T (y - X w0)`` with the thin SVD
    ``X = U diag(s) V^T`` (singular values below ``rcond * s_max`` are treated as 0).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    w0 : array_like, shape (d,), optional
        Start (default 0).
    t : float or array_like of float
        Time(s) >= 0; ``inf`` gives the limit ``X^+ y + (I - X^+ X) w0``.

    Returns
    -------
    ndarray, shape (d,) or (len(t), d)
    """
    X, y = _xy(X, y)
    w0 = _w0(w0, X.shape[1], X.dtype)
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if ts.ndim != 1 or np.any(np.isnan(ts)) or np.any(ts < 0):
        raise ValueError(f"t must be >= 0 (inf allowed), got {t!r}")
    U, sv, Vt = np.linalg.svd(X, full_matrices=False)
    keep = sv > rcond * (sv[0] if sv.size else 0.0)
    U, sv, Vt = U[:, keep], sv[keep], Vt[keep]
    coef = U.T @ (y - X @ w0)
    gain = -np.expm1(-np.multiply.outer(ts, sv**2)) / sv  # (len(t), r); 1/s at t = inf
    out = w0 + (gain * coef) @ Vt
    return out[0] if np.ndim(t) == 0 else out


def masked_limit(X, y, support, start=None):
    """Limit of gradient flow restricted to ``support`` from ``start``.

    ``w_S = X_S^+ y + (I - P_S) start_S`` and ``w = 0`` off the support.

    Parameters
    ----------
    support : array_like of int
        Indices kept (non-empty, distinct, within [0, d)).
    start : array_like, shape (d,), optional
        Start point (default 0); only its entries on the support matter.
    """
    X, y = _xy(X, y)
    d = X.shape[1]
    S = _support(support, d)
    start = _w0(start, d, X.dtype)
    w = np.zeros(d, X.dtype)
    w[S] = gradient_flow(X[:, S], y, start[S])
    return w


def _support(support, d, name="support"):
    S = np.unique(np.asarray(support, dtype=np.int64))
    if S.size == 0:
        raise ValueError(f"{name} must not be empty")
    if S.size != np.size(support) or S[0] < 0 or S[-1] >= d:
        raise ValueError(f"{name} must hold distinct indices within [0, {d})")
    return S


def _prune_order(w, S):
    """Positions of S sorted from first to last pruned: smallest |w_j|, ties to the smaller j."""
    return np.lexsort((S, np.abs(w[S])))


@dataclass
class IMPPath:
    """The rounds of an IMP run.

    Attributes
    ----------
    masks : list of ndarray of bool, shape (d,)
        Mask before each round's training (round 0 is dense); nested.
    weights : list of ndarray, shape (d,)
        Converged (masked-limit) weights of each round.
    sizes : list of int
        ``|S|`` per round.
    info : dict
        Schedule and rewinding rule.
    """

    masks: list
    weights: list
    sizes: list
    info: dict = field(default_factory=dict)

    @property
    def support(self):
        """Final support (sorted indices)."""
        return np.flatnonzero(self.masks[-1])


def _imp_schedule(d, target, rate, count, threshold, one_shot):
    """:func:`imp_path`'s schedule checked: exactly one of ``rate``, ``count``, ``threshold`` or
    ``one_shot``; ``target`` required but for thresholds (where it is a floor, default 1)."""
    modes = sum(v is not None for v in (rate, count, threshold)) + bool(one_shot and threshold is None)
    if modes != 1:
        raise ValueError("give exactly one schedule: rate=, count=, threshold= or one_shot=True")
    if threshold is None:
        if target is None:
            raise ValueError("target (number of weights to keep) is required for rate/count/one-shot schedules")
        target = check_int(target, "target", low=1, high=d)
    else:
        threshold = check_float(threshold, "threshold", low=0.0)
        target = 1 if target is None else check_int(target, "target", low=1, high=d)
    if rate is not None:
        rate = check_float(rate, "rate", low=0.0, low_open=True)
        if rate >= 1.0:
            raise ValueError(f"rate must be in (0, 1), got {rate}")
    if count is not None:
        count = check_int(count, "count", low=1)
    return target, rate, count, threshold


def _rewind_point(rewind, legacy):
    """``(kind, time)`` of :func:`imp_path`'s ``rewind`` (a float ``t``: ``("iterate", t)``), with
    0.4's ``rewind_time=`` folded in (FutureWarning)."""
    if legacy:
        unknown = set(legacy) - {"rewind_time"}
        if unknown:
            raise TypeError(f"imp_path() got an unexpected keyword argument {unknown.pop()!r}")
        warn_deprecated("imp_path(rewind_time=t)", "imp_path(..., rewind=t)", stacklevel=4)
        if rewind == "iterate":
            rewind = legacy["rewind_time"]
    if isinstance(rewind, numbers.Real) and not isinstance(rewind, bool):
        return "iterate", check_float(rewind, "rewind", low=0.0)
    return check_option(rewind, "rewind", set(REWINDS)), 1.0


def imp_path(
    X,
    y,
    target=None,
    *,
    rate=None,
    count=None,
    threshold=None,
    one_shot=False,
    rewind="init",
    w0=None,
    rng=None,
    **legacy,
):
    """Iterative magnitude pruning of a linear model trained to convergence, in closed form.

    Each round trains to convergence (the masked limit of gradient flow),
    then prunes by magnitude; the next round starts from the rewinding point.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    target : int, optional
        Final number of kept weights (1 <= target <= d). Required unless
        ``threshold`` is given.
    rate : float in (0, 1), optional
        Fraction of the remaining weights pruned per round. Rounding: each
        round prunes ``ceil(rate * |S|)`` (at least one), capped so that
        ``|S|`` never drops below ``target``.
    count : int, optional
        Weights pruned per round (the last round prunes what is left above
        ``target``).
    threshold : float, optional
        Threshold pruning: drop every weight with ``|w_j| < threshold``; with
        ``one_shot=False`` repeated (retraining in between) until no weight is
        below it; ``target`` then acts as a floor.
    one_shot : bool
        A single round straight to ``target`` (or one threshold round).
    rewind : {"init", "iterate", "continue", "reinit"} or float
        Start of each retraining: ``w0``; the dense run's iterate ``w(1)``; the previous round's
        converged weights; a fresh N(0, sigma0^2) draw with ``sigma0`` the standard deviation of
        ``w0``. A float ``t >= 0`` rewinds to the dense run's ``w(t)`` (0.4's ``rewind="iterate",
        rewind_time=t``, which still works until 0.6 with a FutureWarning).
    w0 : array_like, shape (d,), optional
        Initialisation (default 0).
    rng : None, int or Generator
        For ``rewind="reinit"``.

    Tie-breaking: among equal magnitudes the smaller index is pruned first.

    Returns
    -------
    IMPPath
    """
    X, y = _xy(X, y)
    d = X.shape[1]
    rewind, rewind_time = _rewind_point(rewind, legacy)
    w0 = _w0(w0, d, X.dtype)
    target, rate, count, threshold = _imp_schedule(d, target, rate, count, threshold, one_shot)
    rng = check_rng(rng)
    sigma0 = float(np.std(w0))

    def start_point(prev):
        if rewind == "init":
            return w0
        if rewind == "iterate":
            return gradient_flow(X, y, w0, rewind_time)
        if rewind == "continue":
            return prev
        return sigma0 * rng.standard_normal(d)

    S = np.arange(d)
    w = masked_limit(X, y, S, w0)
    masks, weights, sizes = [np.ones(d, bool)], [w], [d]
    while True:
        if threshold is not None:
            drop = S[np.abs(w[S]) < threshold]
            drop = drop[_prune_order(w, drop)][: max(0, S.size - target)]
        else:
            if S.size <= target:
                break
            if one_shot:
                r = S.size - target
            elif rate is not None:
                r = prune_count(rate, S.size)
            else:
                r = count
            r = min(r, S.size - target)
            drop = S[_prune_order(w, S)[:r]]
        if drop.size == 0:
            break
        S = np.setdiff1d(S, drop)
        w = masked_limit(X, y, S, start_point(w))
        mask = np.zeros(d, bool)
        mask[S] = True
        masks.append(mask)
        weights.append(w)
        sizes.append(int(S.size))
        if one_shot:
            break
    info = {"rate": rate, "count": count, "threshold": threshold, "one_shot": one_shot, "rewind": rewind, "target": target}
    return IMPPath(masks=masks, weights=weights, sizes=sizes, info=info)


# ------------------------------------------------------------------ comparisons
def backward_elimination(X, y, k):
    """Backward elimination: repeatedly drop the feature whose removal raises the RSS least.

    The RSS increase of dropping ``j`` from ``S`` is ``beta_j^2 / [(X_S^T X_S)^{-1}]_jj``
    (OLS on S); needs ``X_S`` of full column rank. Ties: the smaller index goes first.

    Returns
    -------
    ndarray of int64: the kept support (sorted), size ``k``.
    """
    X, y = _xy(X, y)
    d = X.shape[1]
    k = check_int(k, "k", low=1, high=d)
    S = np.arange(d)
    while S.size > k:
        G = X[:, S].T @ X[:, S]
        if np.linalg.matrix_rank(G) < S.size:
            raise ValueError(f"backward elimination needs X_S of full column rank; rank {np.linalg.matrix_rank(G)} < {S.size}")
        Ginv = np.linalg.inv(G)
        beta = Ginv @ (X[:, S].T @ y)
        delta = beta**2 / np.diag(Ginv)
        S = np.delete(S, np.lexsort((S, delta))[0])
    return S


def best_subset(X, y, k, *, max_subsets=200_000):
    """The size-``k`` support with the smallest least-squares residual (exhaustive).

    Ties: the lexicographically first support. Refuses more than ``max_subsets``.
    """
    X, y = _xy(X, y)
    d = X.shape[1]
    k = check_int(k, "k", low=1, high=d)
    if math.comb(d, k) > max_subsets:
        raise ValueError(f"best_subset enumerates C({d}, {k}) = {math.comb(d, k)} supports > max_subsets={max_subsets}")
    best, best_rss = None, np.inf
    for S in itertools.combinations(range(d), k):
        Xs = X[:, S]
        beta, *_ = np.linalg.lstsq(Xs, y, rcond=None)
        rss = float(np.sum((y - Xs @ beta) ** 2))
        if rss < best_rss * (1 - 1e-12):
            best, best_rss = S, rss
    return np.array(best, dtype=np.int64)


def top_k_correlation(X, y, k):
    """The ``k`` features with the largest ``|x_j . y|`` (ties: smaller index), sorted."""
    X, y = _xy(X, y)
    k = check_int(k, "k", low=1, high=X.shape[1])
    c = X.T @ y
    return np.sort(np.lexsort((np.arange(c.size), -np.abs(c)))[:k])


def _sklearn_linear_model():
    try:
        from sklearn import linear_model
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("OMP and the Lasso path come from scikit-learn: pip install -e '.[test]' in the repository") from exc
    return linear_model


def omp_support(X, y, k):
    """Support of orthogonal matching pursuit after ``k`` steps (scikit-learn), sorted."""
    X, y = _xy(X, y)
    k = check_int(k, "k", low=1, high=X.shape[1])
    omp = _sklearn_linear_model().OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False)
    omp.fit(X, y)
    return np.flatnonzero(omp.coef_)


def lasso_path_supports(X, y, n_alphas=100):
    """Lasso path (scikit-learn ``lasso_path``): ``(alphas, supports)``, one support per alpha.

    ``n_alphas`` values from ``max |X^T y| / n`` (empty support) down to 1e-3 of it.
    """
    X, y = _xy(X, y)
    n_alphas = check_int(n_alphas, "n_alphas", low=1)
    # scikit-learn's default grid, given explicitly (its n_alphas keyword is deprecated)
    alpha_max = float(np.abs(X.T @ y).max()) / X.shape[0]
    grid = np.geomspace(alpha_max, alpha_max * 1e-3, n_alphas) if alpha_max > 0 else np.zeros(1)
    alphas, coefs, _ = _sklearn_linear_model().lasso_path(X, y, alphas=grid)
    return alphas, [np.flatnonzero(c) for c in coefs.T]


def beta_min_condition(X, beta, sigma, delta=0.05):
    """The beta-min sufficient condition for IMP to keep the true support under noise.

    With ``y = X beta + eps``, ``eps ~ N(0, sigma^2 I)`` and ``X`` of full column
    rank, IMP pruning one weight per round (or never more than the remaining
    nulls) keeps ``S* = supp(beta)`` until ``|S| = |S*|`` whenever
    ``min_{j in S*} |beta_j| > 2 sup_{S >= S*} ||(X_S^T X_S)^{-1} X_S^T eps||_inf``,
    which holds with probability >= 1 - delta when
    ``min |beta_j| > bound = 2 sqrt(d) sigma max_j ||x_j|| sqrt(2 log(2 d / delta)) / lambda_min(X^T X)``.

    Returns
    -------
    dict with ``bound``, ``beta_min``, ``holds`` and ``lambda_min``.
    """
    X = check_array(X, "X", ndim=2)
    d = X.shape[1]
    beta = check_array(beta, "beta", shape=(d,), dtype=X.dtype)
    sigma = check_float(sigma, "sigma", low=0.0)
    delta = check_float(delta, "delta", low=0.0, high=1.0, low_open=True)
    lam = float(np.linalg.eigvalsh(X.T @ X)[0])
    if lam <= 0:
        raise ValueError("X must have full column rank (lambda_min(X^T X) > 0) for the beta-min condition")
    bound = 2 * math.sqrt(d) * sigma * float(np.linalg.norm(X, axis=0).max()) * math.sqrt(2 * math.log(2 * d / delta)) / lam
    nz = np.abs(beta[beta != 0])
    bmin = float(nz.min()) if nz.size else 0.0
    return {"bound": bound, "beta_min": bmin, "holds": bool(nz.size and bmin > bound), "lambda_min": lam}
