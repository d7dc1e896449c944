"""Orthogonal matching pursuit on any sensing operator, and the best-of-both fit that restarts from it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_array, check_int
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
    and refits least squares on the support (its columns, ``n x |S|``, by
    :func:`numpy.linalg.lstsq`). Stops early when ``||r|| <= tol ||y||``.

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
        ``method="omp"``; ``steps`` are NaN (no step sizes); memory O(n s) for the columns.
    """
    t0 = time.perf_counter()
    A = as_operator(A)
    n, N = A.shape
    y = check_array(y, "y", shape=(n,), dtype=A.dtype)
    s = check_int(s, "s", low=1, high=min(n, N))
    ynorm = float(np.linalg.norm(y))
    S = np.empty(0, np.int64)
    C = np.empty((n, 0), A.dtype)
    w = np.empty(0, A.dtype)
    r = y.copy()
    residuals = [1.0 if ynorm else 0.0]
    while S.size < s and ynorm and residuals[-1] > tol:
        _, cidx, _ = A.gradient_split(r, S, 1)
        if not cidx.size:
            break
        j = int(cidx[0])
        pos = int(np.searchsorted(S, j))
        S = np.insert(S, pos, j)
        C = np.insert(C, pos, np.asarray(A.columns(np.array([j]))).ravel(), axis=1)
        w = np.linalg.lstsq(C, y, rcond=None)[0]
        r = y - C @ w
        residuals.append(float(np.linalg.norm(r)) / ynorm)
    status = "zero" if not ynorm else ("residual" if residuals[-1] <= tol else "max_iter")
    return RecoveryResult(
        w=SparseVector(S, w.astype(A.dtype), N), support=S, n_iter=len(residuals) - 1, converged=status != "max_iter",
        status=status, residuals=np.asarray(residuals), steps=np.full(len(residuals) - 1, np.nan),
        time=time.perf_counter() - t0, peak_memory=int(C.nbytes + 3 * n * 8), method="omp", info={"n": n, "N": N, "s": s},
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
