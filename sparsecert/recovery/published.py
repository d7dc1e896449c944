"""The published sequential-convex AIHT (scalar output), restated in NumPy as a reference baseline.

The recovery paper's code runs on CuPy; this is a dense NumPy statement of the
same algorithm, written from its description (``shared/research/paper1.md``
and the diagnosis in docs/explanations/sequential_rule.md), for side-by-side runs with
:class:`~sparsecert.recovery.SequentialIHTSolver` on CPUs. It holds the
(m, d) weights and the (n, m) patterns densely: a reference for small and
mid-size instances, not a scalable solver.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_int, check_option, check_rng
from ..sparse import SparseVector

__all__ = ["published_aiht"]


def _top_s(v, s):
    """Indices (sorted) of the ``s`` entries of largest magnitude, zeros never kept."""
    idx = np.argpartition(np.abs(v), v.size - s)[v.size - s:] if s < v.size else np.arange(v.size)
    return np.sort(idx[v[idx] != 0])


def _pattern_out(X, M, V):
    """``A v`` for the patterns ``M`` (n, m) and weights ``V`` (m, d): ``sum_j D_j X v_j``."""
    return np.einsum("nm,nm->n", X @ V.T, M)


def _pattern_grad(X, M, r):
    """``A^T r`` as an (m, d) array."""
    return (X.T @ (M * r[:, None])).T


def _armijo_steps(X, y, M, tilde, T, mu, steps):
    """:func:`published_aiht`'s step 3 from the thresholded point ``tilde`` on the support ``T``
    (boolean, m x d): ``steps`` gradient steps, each halving ``mu`` until Armijo's condition holds;
    after 11 halvings, back to ``tilde``. Returns the point and the last ``mu``."""
    W, f = tilde, None
    for _ in range(steps):
        rr = _pattern_out(X, M, W) - y
        if f is None:
            f = f_tilde = float(rr @ rr)
        gT = np.where(T, _pattern_grad(X, M, rr), 0.0)
        gg = float((gT * gT).sum())
        for _trial in range(11):
            cand = W - mu * gT
            rc = _pattern_out(X, M, cand) - y
            fc = float(rc @ rc)
            if fc <= f - 0.9 * mu * gg:
                W, f = cand, fc
                break
            mu /= 2.0
        else:
            W, f = tilde, f_tilde
    return W, mu


def published_aiht(X, y, m, s, *, n_iter=100, inner_steps=10, inactive="empty", rng=None, callback=None):
    """Sequential-convex AIHT as the published code runs it, for scalar outputs.

    Per iteration, with patterns ``D_j = diag(1[X h_j > 0])`` (strict):

    1. step ``mu = ||g_S||^2 / (||A_S g_S||^2 + 1e-8)`` on the current support
       ``S`` (``g = A^T (A w - y)``), or ``1e-14`` while ``S`` is empty;
    2. ``w <- H_s(w - mu g)`` (top-s magnitudes);
    3. ``inner_steps`` gradient steps on the new support with Armijo
       backtracking (halve ``mu`` until ``f(w - mu g) <= f(w) - 0.9 mu ||g||^2``,
       ``f = ||A w - y||^2``; after 11 halvings fall back to step 2's point);
       ``mu`` carries over from step to step and never grows;
    4. from the second iteration on, every generator becomes its weight,
       ``h_j = w_j`` -- zero for units without weights, whose pattern is then
       empty (``inactive="empty"``, as published), or their first random draw
       (``inactive="random"``, sparsecert's rule).

    The last iterate is returned (no best-iterate rule).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    m, s : int
        Width and number of nonzero fused weights.
    n_iter, inner_steps : int
    inactive : {"empty", "random"}
    rng : None, int or Generator
        Draws the first generators ``h_j ~ N(0, I_d)``.
    callback : callable, optional
        ``callback(it, w, rel_residual)`` with the network's residual.

    Returns
    -------
    w : SparseVector of length m*d
        Fused weights; the network is ``sum_j relu(X w_j)``.
    residuals : ndarray, shape (n_iter + 1,)
        ``||y - f(X)|| / ||y||`` of the network read off each iterate (with its own patterns).
    """
    X = check_array(X, "X", ndim=2)
    n, d = X.shape
    y = check_array(y, "y", shape=(n,), dtype=X.dtype)
    m = check_int(m, "m", low=1)
    s = check_int(s, "s", low=1, high=m * d)
    n_iter = check_int(n_iter, "n_iter", low=0)
    inner_steps = check_int(inner_steps, "inner_steps", low=0)
    inactive = check_option(inactive, "inactive", {"empty", "random"})
    H0 = check_rng(rng).standard_normal((m, d))
    H = H0
    W = np.zeros((m, d))
    ynorm = float(np.linalg.norm(y)) or 1.0

    def network_residual(W):
        return float(np.linalg.norm(y - np.maximum(X @ W.T, 0.0).sum(1))) / ynorm

    residuals = [network_residual(W)]
    for it in range(n_iter):
        M = (X @ H.T > 0).astype(X.dtype)
        support = W != 0
        g = _pattern_grad(X, M, _pattern_out(X, M, W) - y)
        if support.any():
            gS = np.where(support, g, 0.0)
            mu = float((gS * gS).sum()) / (float(np.square(_pattern_out(X, M, gS)).sum()) + 1e-8)
        else:
            mu = 1e-14
        v = (W - mu * g).ravel()
        keep = np.zeros(v.size, bool)
        keep[_top_s(v, s)] = True
        W, mu = _armijo_steps(X, y, M, np.where(keep, v, 0.0).reshape(m, d), keep.reshape(m, d), mu, inner_steps)
        if it >= 1:
            H = W.copy() if inactive == "empty" else np.where(W.any(axis=1)[:, None], W, H0)
        residuals.append(network_residual(W))
        if callback is not None:
            callback(it + 1, W, residuals[-1])
    idx = np.flatnonzero(W.ravel())
    return SparseVector(idx, W.ravel()[idx], m * d), np.asarray(residuals)
