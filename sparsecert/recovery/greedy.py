"""Orthogonal matching pursuit on any sensing operator, and the best-of-both fit that restarts from it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_array, check_int
from ..operators import DenseOperator
from ..sparse import SparseVector
from .result import RecoveryResult
from .solver import iht
from .steps import as_operator

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

    from ..typing import ArrayLike

__all__ = ["omp", "iht_omp"]


def omp(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, tol: float = 1e-10) -> RecoveryResult:
    """Orthogonal matching pursuit (Pati et al. 1993; Tropp 2004): ``s`` greedy steps.

    Each step adds the column of largest ``|a_j^T r|`` off the support (one
    streaming pass, :meth:`~sparsecert.operators.SparseSensingOperator.gradient_split`)
    and refits least squares on the support through the Cholesky factor ``L`` of
    ``A_S^T A_S``, extended by one row per step (``L l = A_S^T a_j``,
    ``delta^2 = ||a_j||^2 - ||l||^2``): O(n |S|) per step instead of a new
    factorisation, as scikit-learn's OMP does. Stops early when ``||r|| <= tol ||y||``,
    or when the chosen column lies (to round-off) in the span of the support's.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
    y : array_like, shape (n,)
    s : int
        Nonzeros, ``1 <= s <= min(n, N)``.
    tol : float

    Returns
    -------
    RecoveryResult
        ``method="omp"``; ``steps`` are NaN (no step sizes); memory O(n s) for the columns;
        ``info["dependent"]``: whether it stopped on a dependent column.
    """
    from scipy.linalg.blas import dtrsv

    t0 = time.perf_counter()
    A = as_operator(A)
    n, N = A.shape
    y = check_array(y, "y", shape=(n,), dtype=A.dtype)
    s = check_int(s, "s", low=1, high=min(n, N))
    ynorm = float(np.linalg.norm(y))
    picked: list[int] = []  # in the order chosen; C, L and Aty follow it
    C = np.empty((n, s), A.dtype)
    L = np.zeros((s, s))
    Aty = np.empty(s)
    w = np.empty(0)
    r = y.copy()
    residuals = [1.0 if ynorm else 0.0]
    dependent = False
    explicit = isinstance(A, DenseOperator)  # A^T r in one product; else a streaming pass
    while len(picked) < s and ynorm and residuals[-1] > tol:
        k = len(picked)
        if explicit:
            g = np.abs(A.matrix.T @ r)
            g[picked] = -1.0
            j = int(np.argmax(g))
        else:
            _, cidx, _ = A.gradient_split(r, np.sort(np.asarray(picked, np.int64)), 1)
            if not cidx.size:
                break
            j = int(cidx[0])
        a = np.asarray(A.columns(np.array([j]))).ravel()
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
        picked.append(j)
        k += 1
        w = dtrsv(L[:k, :k], dtrsv(L[:k, :k], Aty[:k], lower=1), lower=1, trans=1)  # (L L^T) w = A_S^T y
        r = y - C[:, :k] @ w
        residuals.append(float(np.linalg.norm(r)) / ynorm)
    status = "zero" if not ynorm else ("residual" if residuals[-1] <= tol else "max_iter")
    order = np.argsort(picked)
    S = np.asarray(picked, np.int64)[order]
    return RecoveryResult(
        w=SparseVector(S, np.asarray(w)[order].astype(A.dtype), N), support=S, n_iter=len(residuals) - 1,
        converged=status != "max_iter", status=status, residuals=np.asarray(residuals),
        steps=np.full(len(residuals) - 1, np.nan), time=time.perf_counter() - t0,
        peak_memory=int(C.nbytes + L.nbytes + 3 * n * 8), method="omp",
        info={"n": n, "N": N, "s": s, "dependent": dependent},
    )


def iht_omp(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, method: str = "htp", splice: int = 2,
            tol: float = 1e-10, **kwargs) -> RecoveryResult:
    """IHT (with splicing); if it ends above ``tol``, again from the OMP solution; the better fit.

    A best-of-both fit for noiseless or nearly noiseless problems: IHT is fast
    where it succeeds, and a failed run (relative residual above ``tol``) is
    retried from the support OMP picks, whose greedy steps succeed on other
    instances. On Gaussian problems (N = 1000) it needs fewer samples than
    either alone, and than abess (``tests/bench/test_bench_peers.py``). The
    restart costs ``s`` streaming passes (OMP) and a second IHT run, only on
    failure. ``result.info["restart"]`` says whether it ran and which fit won.

    Parameters
    ----------
    A, y, s
        As for :func:`sparsecert.iht`.
    method, splice, tol, kwargs
        Passed to :func:`sparsecert.iht` for both runs.
    """
    first = iht(A, y, s, method=method, splice=splice, tol=tol, **kwargs)
    if first.residual <= tol or first.status == "zero":
        first.info["restart"] = "not needed"
        return first
    start = omp(A, y, s, tol=tol)
    second = iht(A, y, s, method=method, splice=splice, tol=tol, w0=start.w, **kwargs)
    best = second if second.residual < first.residual else first
    best.info["restart"] = "omp start kept" if best is second else "first run kept"
    best.time = first.time + start.time + second.time
    return best
