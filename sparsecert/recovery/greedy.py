"""Orthogonal matching pursuit on any sensing operator, and the best-of-both fit that restarts from it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .. import kernels
from ..validation import check_array, check_int, check_option, fold_options
from ..sparse import SparseVector
from .config import IHT
from .result import RecoveryResult
from .solver import iht
from .steps import as_operator, kernel_matrix

if TYPE_CHECKING:
    from scipy.sparse.linalg import LinearOperator

    from ..typing import ArrayLike

__all__ = ["omp", "iht_omp", "IHT_PASSES", "IHT_OMP_FIRST"]


def omp(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, tol: float = 1e-10) -> RecoveryResult:
    """Orthogonal matching pursuit (Pati et al. 1993; Tropp 2004): ``s`` greedy steps.

    Each step adds the column of largest ``|a_j^T r|`` off the support (one
    product with an explicit matrix; one streaming pass,
    :meth:`~sparsecert.operators.SparseSensingOperator.gradient_split`, with an
    implicit operator) and refits least squares on the support through the Cholesky factor ``L`` of
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
    t0 = time.perf_counter()
    A = as_operator(A)
    n, N = A.shape
    y = check_array(y, "y", shape=(n,), dtype=A.dtype)
    s = check_int(s, "s", low=1, high=min(n, N))
    ynorm = float(np.linalg.norm(y))
    M = kernel_matrix(A)
    if M is not None and ynorm:
        # the whole loop in one compiled call, the same steps (sparsecert.kernels.omp_dense)
        picked, w, residuals, dependent = kernels.omp_dense(M, np.ascontiguousarray(y), s, tol)
    else:
        def pick(r, picked):
            _, cidx, _ = A.gradient_split(r, np.sort(picked), 1)
            return int(cidx[0]) if cidx.size else -1

        picked, w, residuals, dependent = kernels.omp_steps(
            pick, lambda j: np.asarray(A.columns(np.array([j]))).ravel(), y, s, tol)
    status = "zero" if not ynorm else ("residual" if residuals[-1] <= tol else "max_iter")
    order = np.argsort(picked)
    S = np.asarray(picked, np.int64)[order]
    return RecoveryResult(
        w=SparseVector(S, np.asarray(w)[order].astype(A.dtype), N), support=S, n_iter=len(residuals) - 1,
        converged=status != "max_iter", status=status, residuals=np.asarray(residuals),
        steps=np.full(len(residuals) - 1, np.nan), time=time.perf_counter() - t0,
        peak_memory=int((n * s + s * s + 3 * n) * A.dtype.itemsize), method="omp",
        info={"n": n, "N": N, "s": s, "dependent": dependent},
    )


#: Passes (with a least-squares solve each) an IHT fit with splicing typically takes on the
#: benchmark's Gaussian instances (iterations plus exchange rounds): ``first="auto"`` runs OMP
#: first when its ``s`` steps cost less than that many IHT passes.
IHT_PASSES = 20

#: The orders :func:`iht_omp` can try its fits in.
IHT_OMP_FIRST = ("auto", "omp", "iht")


def iht_omp(A: LinearOperator | ArrayLike, y: ArrayLike, s: int, *, method: str = "htp", splice: int = 2,
            tol: float = 1e-10, first: str = "auto", **kwargs) -> RecoveryResult:
    """The best of OMP, IHT (with splicing) from OMP's solution and IHT from zero.

    A best-of-both fit for noiseless or nearly noiseless problems: OMP's greedy
    steps and IHT's thresholding succeed on different instances, so together
    they need fewer samples than either alone, and than abess, on Gaussian
    problems (N = 1000; ``tests/bench/test_bench_peers.py``). The fits are
    tried in turn until one ends at ``tol``; the best one is returned.

    ``first``:

    * ``"omp"``: OMP; then IHT from its solution; then IHT from zero.
    * ``"iht"``: IHT from zero; then IHT from OMP's solution.
    * ``"auto"`` (default): ``"omp"`` when OMP's ``s`` steps cost less than
      :data:`IHT_PASSES` IHT passes, ``s (N + s) < IHT_PASSES (N + s^2)`` (a pass
      is ``n N`` products, a least-squares solve on the support about ``n s^2``;
      OMP's are rank-one updates): small ``s``, where OMP alone often succeeds
      and is cheap (at N = 1000, with the dense kernels of 0.3.3: 15 % and 11 % less
      time than IHT first at s = 10 and 25, 11 % more at s = 50; the same samples
      needed); else ``"iht"`` (e.g. N = 20,000,
      s = 200, where IHT succeeds in a few passes and OMP would take 200).

    Both orders try IHT from zero and IHT from OMP's solution, and "omp" OMP's
    own fit too, so it never needs more samples. ``result.info["runs"]`` lists
    the fits made, ``result.info["kept"]`` the one returned; ``result.time``
    is the total.

    Parameters
    ----------
    A, y, s
        As for :func:`sparsecert.iht`.
    method, splice, tol, kwargs
        Passed to :func:`sparsecert.iht` for every IHT run (``kwargs`` that name fields of
        :class:`~sparsecert.IHT`, such as ``max_iter``, go into its ``solver``).
    first : {"auto", "omp", "iht"}

    Raises
    ------
    ValueError
        An unknown ``first``.
    """
    first = check_option(first, "first", set(IHT_OMP_FIRST))
    s = check_int(s, "s", low=1)
    A = as_operator(A)  # once: every fit below takes the operator
    N = A.shape[1]
    if first == "auto":
        first = "omp" if s * (N + s) < IHT_PASSES * (N + s * s) else "iht"
    fits: dict[str, RecoveryResult] = {}
    configs, kwargs = fold_options(kwargs, solver=IHT(method=method, max_iter=500, tol=tol))
    kwargs.update(configs, splice=splice)

    def done(fit):
        return fit.residual <= tol or fit.status == "zero"

    def from_omp():
        fits["omp"] = omp(A, y, min(s, A.shape[0]), tol=tol)  # more than n columns add nothing
        if not done(fits["omp"]):
            fits["iht from omp"] = iht(A, y, s, w0=fits["omp"].w, **kwargs)

    def from_zero():
        fits["iht"] = iht(A, y, s, **kwargs)

    for run in ((from_omp, from_zero) if first == "omp" else (from_zero, from_omp)):
        run()
        if any(done(f) for f in fits.values()):
            break
    kept = min(fits, key=lambda k: fits[k].residual)  # the first of equals: dicts keep their order
    best = fits[kept]
    best.info.update(runs=list(fits), kept=kept)
    best.time = sum(f.time for f in fits.values())
    return best
