"""Greedy and thresholding pursuit on an explicit float64 matrix: OMP, and NIHT or HTP with splicing.

Small dense problems (N = 1000 columns, a few dozen samples: the phase
diagrams and the peer benchmark) spend most of a solver's time in Python
between BLAS calls, not in them. These kernels run a whole fit in one call.
They follow the operator-generic solvers step for step
(:func:`sparsecert.recovery.omp`, :class:`sparsecert.recovery.IHTSolver` with
``method="niht"`` or ``"htp"`` and :meth:`~sparsecert.recovery.IHTSolver.splice`), which
the tests check, and each has a NumPy twin of the same signature.

Status codes (``STATUS_NAMES[code]`` is the solver's status string):
0 ``max_iter``, 1 ``residual``, 2 ``stationary``, 3 ``diverged``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .select import topk_abs, topk_abs_numpy

__all__ = ["omp_dense", "omp_dense_numpy", "omp_steps", "iht_dense", "iht_dense_numpy"]

STATUS_NAMES = ("max_iter", "residual", "stationary", "diverged")

#: Blumensath & Davies (2010) step safeguard ``(kappa, c)``: a step ``mu`` larger than
#: ``omega = (1 - c) ||w' - w||^2 / ||A (w' - w)||^2`` is shrunk by ``1 / (kappa (1 - c))``.
SAFEGUARD = (2.0, 0.01)
_KAPPA, _C = SAFEGUARD
_TINY = np.finfo(np.float64).tiny
_SAFE_SQ = (1e-280, 1e280)


# --------------------------------------------------------------------------- helpers (Numba)
@njit(cache=True, nogil=True)
def _norm(x):
    """Euclidean norm without overflow or underflow (scaled by the largest magnitude when needed)."""
    sq = 0.0
    for v in x:
        sq += v * v
    if _SAFE_SQ[0] < sq < _SAFE_SQ[1] or x.size == 0:
        return np.sqrt(sq)
    big = np.max(np.abs(x))
    if big == 0.0 or not np.isfinite(big):
        return np.sqrt(sq)
    sq = 0.0
    for v in x:
        sq += (v / big) * (v / big)
    return big * np.sqrt(sq)


@njit(cache=True, nogil=True)
def _rmatvec(A, r):
    """``A^T r`` (BLAS gemv)."""
    return A.T @ r


@njit(cache=True, nogil=True)
def _columns(A, idx):
    """The n x ``|idx|`` submatrix ``A[:, idx]`` (a contiguous copy)."""
    n = A.shape[0]
    C = np.empty((n, idx.size))
    for i in range(n):
        for q in range(idx.size):
            C[i, q] = A[i, idx[q]]
    return C


@njit(cache=True, nogil=True)
def _cols_matvec(A, idx, v):
    """``A[:, idx] @ v`` without forming the columns."""
    n = A.shape[0]
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for q in range(idx.size):
            acc += A[i, idx[q]] * v[q]
        out[i] = acc
    return out


@njit(cache=True, nogil=True)
def _top_outside(g, S, k):
    """The top-k of the finite ``|g_j|``, j not in the sorted ``S`` (ties: smaller j), by increasing j."""
    N = g.size
    idx = np.empty(N, np.int64)
    val = np.empty(N)
    e, c = 0, 0
    for j in range(N):
        if e < S.size and S[e] == j:
            e += 1
            continue
        if np.isfinite(g[j]):
            idx[c] = j
            val[c] = g[j]
            c += 1
    pos = topk_abs(val[:c], idx[:c], k)
    return idx[pos], val[pos]


@njit(cache=True, nogil=True)
def _threshold(U, v, s):
    pos = topk_abs(v, U, s)
    return U[pos], v[pos]


@njit(cache=True, nogil=True)
def _same(a, b):
    return a.size == b.size and np.all(a == b)


@njit(cache=True, nogil=True)
def _forward(L, b):
    """``L z = b`` for the leading ``b.size`` rows of the lower-triangular ``L``."""
    z = np.empty(b.size)
    for p in range(b.size):
        acc = b[p]
        for q in range(p):
            acc -= L[p, q] * z[q]
        z[p] = acc / L[p, p]
    return z


@njit(cache=True, nogil=True)
def _cholesky_solve(L, b):
    """``(L L^T) z = b`` for the leading ``b.size`` rows and columns of ``L``."""
    k = b.size
    z = _forward(L, b)
    for p in range(k - 1, -1, -1):
        acc = z[p]
        for q in range(p + 1, k):
            acc -= L[q, p] * z[q]
        z[p] = acc / L[p, p]
    return z


@njit(cache=True, nogil=True)
def _fit(A, T, y):
    """Least squares on the columns ``T``: ``(w_T, y - A_T w_T)``.

    Corrected semi-normal equations: the Cholesky factor of ``A_T^T A_T`` (one
    GEMM, ``|T|^3 / 3`` flops), a solve, and one step of refinement on the
    residual (Bjorck: accurate to about ``cond(A_T) eps`` while ``cond(A_T)^2 eps``
    is well below one). Where a column lies within 1e-4 radians of the span of
    those before it (a Cholesky pivot below 1e-8 of its squared norm), or ``A_T``
    is wide, the SVD solve with NumPy's default cutoff, as :func:`numpy.linalg.lstsq`.
    """
    n, k = A.shape[0], T.size
    C = _columns(A, T)
    G = C.T @ C
    L = np.zeros((k, k))
    ok = 0 < k <= n
    for j in range(k if ok else 0):
        d = G[j, j]
        for q in range(j):
            d -= L[j, q] * L[j, q]
        if not d > 1e-8 * G[j, j]:  # loses more than half the digits of the column: not for this solve
            ok = False
            break
        L[j, j] = np.sqrt(d)
        for p in range(j + 1, k):
            acc = G[p, j]
            for q in range(j):
                acc -= L[p, q] * L[j, q]
            L[p, j] = acc / L[j, j]
    if not ok:
        z = np.linalg.lstsq(C, y, np.finfo(np.float64).eps * max(n, k))[0]
        return z, y - C @ z
    z = _cholesky_solve(L, C.T @ y)
    r = y - C @ z
    z += _cholesky_solve(L, C.T @ r)
    return z, y - C @ z


# --------------------------------------------------------------------------- OMP
@njit(cache=True, nogil=True)
def omp_dense(A, y, s, tol):
    """Orthogonal matching pursuit on the explicit matrix ``A`` (Cholesky factor grown a row per step).

    Parameters
    ----------
    A : ndarray of float64, shape (n, N), C-contiguous
    y : ndarray of float64, shape (n,), ``||y|| > 0``
    s : int
        Steps, ``1 <= s <= min(n, N)``.
    tol : float
        Stop when ``||r|| <= tol ||y||``.

    Returns
    -------
    picked : ndarray of int64, shape (k,)
        Columns in the order chosen (``k <= s``).
    w : ndarray, shape (k,)
        Least-squares values on them, in the same order.
    residuals : ndarray, shape (k + 1,)
        Relative residuals, before the first step and after each.
    dependent : bool
        Whether it stopped on a column in the span of those chosen.
    """
    n = A.shape[0]
    ynorm = _norm(y)
    picked = np.empty(s, np.int64)
    Ct = np.empty((s, n))  # the chosen columns, as rows
    L = np.zeros((s, s))
    Aty = np.empty(s)
    residuals = np.empty(s + 1)
    residuals[0] = 1.0
    w = np.empty(0)
    r = y.copy()
    k = 0
    dependent = False
    while k < s and residuals[k] > tol:
        g = np.abs(_rmatvec(A, r))
        for q in range(k):
            g[picked[q]] = -1.0
        j = np.argmax(g)
        a = A[:, j].copy()
        aa = a @ a
        if k:
            l = _forward(L, Ct[:k] @ a)  # L l = A_S^T a
            delta2 = aa - l @ l
            if delta2 <= 1e-14 * aa:
                dependent = True
                break
            L[k, :k] = l
        elif aa == 0.0:
            dependent = True
            break
        else:
            delta2 = aa
        L[k, k] = np.sqrt(delta2)
        Ct[k] = a
        Aty[k] = a @ y
        picked[k] = j
        k += 1
        w = _cholesky_solve(L, Aty[:k])  # (L L^T) w = A_S^T y
        r = y.copy()
        for p in range(k):
            r -= w[p] * Ct[p]
        residuals[k] = _norm(r) / ynorm
    return picked[:k].copy(), w, residuals[: k + 1].copy(), dependent


def omp_steps(pick, column, y, s, tol):
    """OMP's steps in NumPy for any way of reaching the columns (the loop of :func:`omp_dense`).

    ``pick(r, picked)``: the column of largest ``|a_j^T r|`` off ``picked``
    (int64 array, in the order chosen), -1 if none; ``column(j)``: ``a_j``.
    Returns what :func:`omp_dense` returns (``||y|| = 0``: nothing picked, residuals ``[0]``).
    """
    from scipy.linalg.blas import dtrsv

    n = y.size
    ynorm = float(np.linalg.norm(y))
    picked = np.empty(0, np.int64)
    C = np.empty((n, s), y.dtype)
    L = np.zeros((s, s))
    Aty = np.empty(s)
    w = np.empty(0)
    r = y.copy()
    residuals = [1.0 if ynorm else 0.0]
    dependent = False
    while picked.size < s and ynorm and residuals[-1] > tol:
        k = picked.size
        j = pick(r, picked)
        if j < 0:
            break
        a = column(j)
        aa = float(a @ a)
        if k:
            l = dtrsv(L[:k, :k], C[:, :k].T @ a, lower=1)
            delta2 = aa - float(l @ l)
            if delta2 <= 1e-14 * aa:  # a_j in the span of the support's columns (to round-off)
                dependent = True
                break
            L[k, :k] = l
        elif aa == 0.0:
            dependent = True
            break
        else:
            delta2 = aa
        L[k, k] = np.sqrt(delta2)
        C[:, k] = a
        Aty[k] = a @ y
        picked = np.append(picked, j)
        k += 1
        w = dtrsv(L[:k, :k], dtrsv(L[:k, :k], Aty[:k], lower=1), lower=1, trans=1)  # (L L^T) w = A_S^T y
        r = y - C[:, :k] @ w
        residuals.append(float(np.linalg.norm(r)) / ynorm)
    return picked, np.asarray(w), np.asarray(residuals), dependent


def omp_dense_numpy(A, y, s, tol):
    """NumPy twin of :func:`omp_dense`."""

    def pick(r, picked):
        g = np.abs(A.T @ r)
        g[picked] = -1.0
        return int(np.argmax(g))

    return omp_steps(pick, lambda j: A[:, j], y, s, tol)


# --------------------------------------------------------------------------- NIHT / HTP with splicing
@njit(cache=True, nogil=True)
def iht_dense(A, y, S0, w0, s, max_iter, tol, xtol, splice, max_rounds, ls):
    """Normalised IHT (the step with the safeguard), with least squares on each support (HTP) or
    without (NIHT), then splicing, on an explicit matrix.

    The iteration of :class:`~sparsecert.recovery.IHTSolver` with ``method="htp"`` (``ls``: direct
    least squares on each support; the step ``||w_S||^2 / ||A_S w_S||^2``) or ``method="niht"``
    (``ls`` False: the step ``||g_S||^2 / ||A_S g_S||^2``, the residual recomputed at each iterate),
    followed by :meth:`~sparsecert.recovery.IHTSolver.splice` when ``splice > 0``.

    Parameters
    ----------
    A : ndarray of float64, shape (n, N), C-contiguous
    y : ndarray of float64, shape (n,), ``||y|| > 0``
    S0, w0 : ndarray of int64 (sorted) and float64, shape (k0,)
        Start (its top-s entries; ``k0 = 0``: w = 0).
    s, max_iter : int
    tol, xtol : float
        Stopping tests as in :func:`sparsecert.iht`.
    splice, max_rounds : int
        Entries exchanged at a time (0: no splicing) and most exchange rounds.
    ls : bool
        HTP (True) or NIHT (False).

    Returns
    -------
    S, wS : ndarray, shape (``|S|``,)
        Final support (sorted) and values.
    r : ndarray, shape (n,)
        ``y - A_S w_S``.
    status, n_iter, exchanges : int
        Status code (module docstring), iterations including exchanges, exchanges.
    residuals : ndarray, shape (n_iter + 1,)
    steps : ndarray, shape (n_iter,)
        ``mu`` per iteration, NaN for an exchange.
    """
    N = A.shape[1]
    ynorm = _norm(y)
    S, wS = _threshold(S0, w0, s)
    r = y - _cols_matvec(A, S, wS) if S.size else y.copy()
    residuals = np.empty(max_iter + max_rounds + 1)
    steps = np.empty(max_iter + max_rounds)
    residuals[0] = _norm(r) / ynorm
    it = 0
    status = 0
    while it < max_iter:
        g = _rmatvec(A, r)
        gS = g[S]
        cidx, cval = _top_outside(g, S, s)
        mu = np.nan
        if cidx.size >= min(s, N - S.size) and np.all(np.isfinite(gS)):
            U = np.concatenate((S, cidx))
            order = np.argsort(U, kind="mergesort")
            U = U[order]
            gU = np.concatenate((gS, cval))[order]
            wU = np.concatenate((wS, np.zeros(cidx.size)))[order]
            wn, fn = (_norm(wS), _norm(y - r)) if ls else (0.0, 0.0)
            if wn > 0 and fn > 0:  # ||w_S||^2 / ||A_S w_S||^2 (g_S is round-off after a least-squares solve)
                mu = (wn / fn) * (wn / fn)
            else:  # the NIHT step on g_S, or on the top-s of g at w = 0
                G, Gg = (S, gS) if S.size else (cidx, cval)
                gn = _norm(Gg)
                an = _norm(_cols_matvec(A, G, Gg / gn if gn > 0 else Gg))
                inv = 1.0 / an if gn > 0 and an > 0 else 1.0
                mu = inv * inv if np.isfinite(an) else np.nan
            if not np.isfinite(mu) or mu == 0.0:
                mu = np.nan
        if np.isnan(mu):  # no step could be taken: w stays
            it += 1
            residuals[it] = residuals[it - 1]
            steps[it - 1] = mu
            status = 3
            break
        T, wT = _threshold(U, wU + mu * gU, s)
        if S.size and not _same(T, S):
            for _ in range(60):
                diff = -wU
                diff[np.searchsorted(U, T)] += wT
                dn = _norm(diff)
                Ad = _cols_matvec(A, U, diff / dn) * dn
                ratio = dn / max(_norm(Ad), _TINY)
                if mu <= (1.0 - _C) * ratio * ratio:
                    break
                mu = mu / (_KAPPA * (1.0 - _C))
                T, wT = _threshold(U, wU + mu * gU, s)
                if _same(T, S):
                    break
        same = _same(T, S)
        if ls:
            wT, r = _fit(A, T, y)
        else:
            r = y - _cols_matvec(A, T, wT)
        dw = _norm(wT - wS) if same else np.inf
        S, wS = T, wT
        it += 1
        rel = _norm(r) / ynorm
        residuals[it] = rel
        steps[it - 1] = mu
        if not np.isfinite(rel):
            status = 3
            break
        if rel <= tol:
            status = 1
            break
        if same and dw <= xtol * max(_norm(wS), _TINY):
            status = 2
            break
    made = 0
    if splice and S.size:
        norms = np.empty(S.size)
        for q in range(S.size):
            norms[q] = _norm(A[:, S[q]]) ** 2
        loss = _norm(r)
        for _ in range(max_rounds):
            cidx, cval = _top_outside(_rmatvec(A, r), S, 4 * splice)
            if not cidx.size:
                break
            cnorms = np.empty(cidx.size)
            for q in range(cidx.size):
                cnorms[q] = _norm(A[:, cidx[q]]) ** 2
            gain = np.where(cnorms > 0, cval * cval / np.where(cnorms > 0, cnorms, 1.0), 0.0)
            enter = np.argsort(-gain, kind="mergesort")[:splice]
            leave = np.argsort(norms * wS * wS, kind="mergesort")
            best = np.inf
            bT, bw, br, bnorms = S, wS, r, norms
            for k in range(1, min(splice, S.size, enter.size) + 1):
                keep = np.sort(leave[k:])
                T = np.concatenate((S[keep], cidx[enter[:k]]))
                order = np.argsort(T, kind="mergesort")
                T = T[order]
                wT, rT = _fit(A, T, y)
                lT = _norm(rT)
                if lT < loss * (1 - 1e-12) and lT < best:
                    best = lT
                    bT, bw, br = T, wT, rT
                    bnorms = np.concatenate((norms[keep], cnorms[enter[:k]]))[order]
            if best == np.inf:
                break
            loss, S, wS, r, norms = best, bT, bw, br, bnorms
            made += 1
            it += 1
            residuals[it] = _norm(r) / ynorm
            steps[it - 1] = np.nan
        if made and residuals[it] <= tol:
            status = 1
    return S, wS, r, status, it, made, residuals[: it + 1].copy(), steps[:it].copy()


def _threshold_numpy(U, v, s):
    pos = topk_abs_numpy(v, U, s)
    return U[pos], v[pos]


def _top_outside_numpy(g, S, k):
    out = np.ones(g.size, bool)
    out[S] = False
    out &= np.isfinite(g)
    idx = np.flatnonzero(out)
    pos = topk_abs_numpy(g[idx], idx, k)
    return idx[pos], g[idx][pos]


def _fit_numpy(A, T, y):
    C = A[:, T]
    z = np.linalg.lstsq(C, y, rcond=None)[0]
    return z, y - C @ z


def iht_dense_numpy(A, y, S0, w0, s, max_iter, tol, xtol, splice, max_rounds, ls):
    """NumPy twin of :func:`iht_dense`."""
    norm = np.linalg.norm
    N = A.shape[1]
    ynorm = norm(y)
    S, wS = _threshold_numpy(np.asarray(S0, np.int64), np.asarray(w0, np.float64), s)
    r = y - A[:, S] @ wS
    residuals, steps = [norm(r) / ynorm], []
    status = 0
    while len(steps) < max_iter:
        g = A.T @ r
        cidx, cval = _top_outside_numpy(g, S, s)
        if cidx.size < min(s, N - S.size) or not np.isfinite(g[S]).all():
            residuals.append(residuals[-1])
            steps.append(np.nan)
            status = 3
            break
        U = np.concatenate((S, cidx))
        order = np.argsort(U, kind="stable")
        U, gU = U[order], np.concatenate((g[S], cval))[order]
        wU = np.concatenate((wS, np.zeros(cidx.size)))[order]
        wn, fn = (norm(wS), norm(y - r)) if ls else (0.0, 0.0)
        if wn > 0 and fn > 0:
            mu = (wn / fn) ** 2
        else:
            G, Gg = (S, g[S]) if S.size else (cidx, cval)
            gn = norm(Gg)
            an = norm(A[:, G] @ (Gg / gn if gn > 0 else Gg))
            mu = 1.0 / an**2 if gn > 0 and an > 0 else 1.0
        if not np.isfinite(mu) or mu == 0.0:
            residuals.append(residuals[-1])
            steps.append(np.nan)
            status = 3
            break
        T, wT = _threshold_numpy(U, wU + mu * gU, s)
        for _ in range(60 if S.size and not np.array_equal(T, S) else 0):
            diff = -wU
            diff[np.searchsorted(U, T)] += wT
            if mu <= (1.0 - _C) * (norm(diff) / max(norm(A[:, U] @ diff), _TINY)) ** 2:
                break
            mu = mu / (_KAPPA * (1.0 - _C))
            T, wT = _threshold_numpy(U, wU + mu * gU, s)
            if np.array_equal(T, S):
                break
        same = np.array_equal(T, S)
        wT, r = _fit_numpy(A, T, y) if ls else (wT, y - A[:, T] @ wT)
        dw = norm(wT - wS) if same else np.inf
        S, wS = T, wT
        residuals.append(norm(r) / ynorm)
        steps.append(mu)
        if not np.isfinite(residuals[-1]):
            status = 3
        elif residuals[-1] <= tol:
            status = 1
        elif same and dw <= xtol * max(norm(wS), _TINY):
            status = 2
        if status:
            break
    made = 0
    if splice and S.size:
        norms = norm(A[:, S], axis=0) ** 2
        loss = norm(r)
        for _ in range(max_rounds):
            cidx, cval = _top_outside_numpy(A.T @ r, S, 4 * splice)
            if not cidx.size:
                break
            cnorms = norm(A[:, cidx], axis=0) ** 2
            gain = np.where(cnorms > 0, cval * cval / np.where(cnorms > 0, cnorms, 1.0), 0.0)
            enter = np.argsort(-gain, kind="stable")[:splice]
            leave = np.argsort(norms * wS * wS, kind="stable")
            best = None
            for k in range(1, min(splice, S.size, enter.size) + 1):
                keep = np.sort(leave[k:])
                T = np.concatenate((S[keep], cidx[enter[:k]]))
                order = np.argsort(T, kind="stable")
                wT, rT = _fit_numpy(A, T[order], y)
                if norm(rT) < loss * (1 - 1e-12) and (best is None or norm(rT) < best[0]):
                    best = (norm(rT), T[order], wT, rT, np.concatenate((norms[keep], cnorms[enter[:k]]))[order])
            if best is None:
                break
            loss, S, wS, r, norms = best
            made += 1
            residuals.append(norm(r) / ynorm)
            steps.append(np.nan)
        if made and residuals[-1] <= tol:
            status = 1
    return S, wS, r, status, len(steps), made, np.asarray(residuals), np.asarray(steps)

