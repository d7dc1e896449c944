"""The MCP regularisation path: coordinate descent warm-started along a decreasing lambda, read as s-sparse fits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .. import kernels
from ..validation import check_array, check_float, check_int
from .result import RecoveryResult
from .steps import BestSupportFit, as_operator

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

    from ..typing import ArrayLike

__all__ = ["mcp_path", "CD_TOL"]

#: Coordinate descent stops when no coordinate moves by more than ``CD_TOL ||y||`` in an epoch.
CD_TOL = 1e-4


def mcp_path(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, gamma: float = 5.0, n_lambdas: int = 60,
             lambda_ratio: float = 1e-3, tol: float = 1e-10, max_epochs: int = 1000) -> RecoveryResult:
    """The s-sparse least-squares fits along the path of the MCP-penalised least squares.

    Solves ``min_v 1/2 ||y - A_n v||^2 + sum_j MCP(v_j; lambda, gamma)`` (Zhang 2010's minimax
    concave penalty; ``A_n`` is ``A`` with unit-norm columns) for ``n_lambdas`` values of lambda from
    ``lambda_max = ||A_n^T y||_inf`` (where ``v = 0``) down to ``lambda_ratio lambda_max``, each
    solve warm-started from the last, by cyclic coordinate descent (:func:`sparsecert.kernels.coordinate.mcp_cd`)
    on a working set: the columns whose gradient exceeds lambda are added (at most ``max(s, 8)`` a
    round, largest first) until none is left, and the columns at zero leave it after each lambda.
    After each lambda the ``s`` largest ``|v_j|`` give a support and least squares on it a candidate
    fit (:class:`~sparsecert.recovery.steps.BestSupportFit`); the path stops at the first fit with
    relative residual ``<= tol``, or when more than ``n / 2`` coefficients are nonzero.

    The concave penalty leaves large coefficients unshrunk, so the path's supports are those of
    an L0 fit more often than the lasso's (its recovery needs fewer samples on Gaussian problems:
    ``tests/bench/test_bench_peers.py``). Memory: the working set's columns (n x at most n / 2 +
    ``max(s, 8)`` numbers) and a few length-N vectors; each round is one ``A^T r`` pass.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
    y : array_like, shape (n,)
    s : int
        Nonzeros of the fit, ``1 <= s <= N``.
    gamma : float
        MCP's concavity, ``> 1``: the penalty is flat beyond ``gamma lambda`` (large: the lasso; near
        1: hard thresholding). 5 recovered from the fewest samples among 1.5, 2, 3, 5, 10 (N = 1000).
    n_lambdas : int
        Points of the geometric lambda grid.
    lambda_ratio : float
        Smallest lambda over ``lambda_max``, in (0, 1].
    tol : float
        Relative residual ``||y - A w|| / ||y||`` at which the path stops.
    max_epochs : int
        Coordinate-descent epochs per solve at most.

    Returns
    -------
    RecoveryResult
        ``method="mcp"``; ``residuals[k]`` the best fit's relative residual after the ``k``-th lambda
        (``residuals[0] = 1``, w = 0); ``steps`` the lambdas visited; ``info``: ``gamma``, ``passes``
        (``A^T r`` products), ``epochs`` (coordinate-descent epochs), ``fits`` (least-squares solves).

    Raises
    ------
    ValueError
        ``gamma <= 1``, ``lambda_ratio`` outside (0, 1], or a bad ``y`` or ``s``.
    """
    t0 = time.perf_counter()
    A = as_operator(A)
    n, N = A.shape
    y = check_array(y, "y", shape=(n,), dtype=np.float64)
    s = check_int(s, "s", low=1, high=N)
    gamma = check_float(gamma, "gamma", low=1.0, low_open=True)
    n_lambdas = check_int(n_lambdas, "n_lambdas", low=1)
    lambda_ratio = check_float(lambda_ratio, "lambda_ratio", low=0.0, high=1.0, low_open=True)
    max_epochs = check_int(max_epochs, "max_epochs", low=1)
    tol = check_float(tol, "tol", low=0.0)
    best = BestSupportFit(A, y, s)
    ops = best.products  # the same fast path for the solver's own products
    norms = ops.column_norms()
    norms[norms == 0] = np.inf  # a zero column never enters
    r = y.copy()
    ws, v = np.zeros(0, np.int64), np.zeros(0)
    Ct = np.zeros((0, n))
    g = ops.rmatvec(r) / norms
    lambdas = float(np.max(np.abs(g))) * np.geomspace(1.0, lambda_ratio, n_lambdas) if best.ynorm else np.zeros(0)
    cd_tol, add = CD_TOL * best.ynorm, max(s, 8)
    passes, epochs, residuals, status = 1, 0, [best.residual], "zero" if not best.ynorm else "max_iter"
    for lam in lambdas:
        solved = False
        while True:  # solve on the working set; add the columns whose gradient exceeds lambda; again
            g[ws] = 0.0
            out = np.flatnonzero(np.abs(g) > lam)
            if solved and not out.size:
                break
            if out.size:
                new = np.sort(out[np.argsort(-np.abs(g[out]), kind="stable")[:add]])
                ws = np.concatenate([ws, new])
                v = np.concatenate([v, np.zeros(new.size)])
                Ct = np.concatenate([Ct, ops.columns(new).T / norms[new, None]])
            epochs += kernels.mcp_cd(Ct, np.ones(ws.size), v, r, lam, gamma, cd_tol, max_epochs)
            g = ops.rmatvec(r) / norms
            passes, solved = passes + 1, True
        keep = v != 0
        ws, v, Ct = ws[keep], v[keep], Ct[keep]
        residuals.append(best.offer(ws, v))
        if best.residual <= tol:
            status = "residual"
            break
        if ws.size > n // 2:
            break
    w = best.vector()
    return RecoveryResult(
        w=w, support=w.indices, n_iter=len(residuals) - 1, converged=status != "max_iter", status=status,
        residuals=np.asarray(residuals), steps=np.asarray(lambdas[: len(residuals) - 1]),
        time=time.perf_counter() - t0, peak_memory=int((n * (n // 2 + 1 + add) + 3 * N + 2 * n) * 8), method="mcp",
        info={"n": n, "N": N, "s": s, "gamma": gamma, "passes": passes, "epochs": epochs, "fits": best.fits},
    )
