"""What an IHT step is made of: the operator it works on, the restricted-smoothness step size, hard
thresholding, and the least-squares solves on a support (directly, or CGLS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg

from .. import kernels
from ..validation import check_int, check_rng
from ..backend import norm
from ..operators import DenseOperator, SparseSensingOperator
from ..sparse import SparseVector

if TYPE_CHECKING:
    from ..typing import ArrayLike, RngLike
    from scipy.sparse.linalg import LinearOperator

__all__ = ["as_operator", "kernel_matrix", "restricted_norm_sq", "hard_threshold", "cgls", "least_squares",
           "DIRECT_LS_FLOPS", "Candidate", "BestSupportFit", "Products"]


def as_operator(A: LinearOperator | ArrayLike) -> SparseSensingOperator:
    """``A`` itself if it is a :class:`~sparsecert.operators.SparseSensingOperator`, a 2-d array wrapped
    in a :class:`~sparsecert.operators.DenseOperator`; anything else is a ``TypeError``."""
    if isinstance(A, SparseSensingOperator):
        return A
    if isinstance(A, np.ndarray) or hasattr(A, "__array__"):
        return DenseOperator(A)
    raise TypeError(
        f"A must be a SparseSensingOperator (GaussianOperator, ReluPatternOperator, ...) or a 2-d array, "
        f"got {type(A).__name__}"
    )


def kernel_matrix(A: SparseSensingOperator) -> np.ndarray | None:
    """The explicit matrix behind ``A`` when the compiled pursuit kernels take it (a
    :class:`~sparsecert.operators.DenseOperator` in C-ordered float64: :mod:`sparsecert.kernels.pursuit`),
    else None."""
    if isinstance(A, DenseOperator) and A.dtype == np.float64 and A.matrix.flags.c_contiguous:
        return A.matrix
    return None


def restricted_norm_sq(A: LinearOperator | ArrayLike, k: int, n_iter: int = 20, rng: RngLike = 0) -> float:
    """Estimate ``max_{|S| <= k} ||A_S||_2^2`` by the truncated power method.

    Iterates ``z <- H_k(A^T A z) / ||.||`` (Yuan & Zhang 2013) with the
    streaming top-k pass, so it is memory-linear like IHT itself. The value
    is attained by a k-sparse unit vector, hence a lower bound of the
    restricted constant (and of ``||A||_2^2``).

    Parameters
    ----------
    A : SparseSensingOperator or ndarray
    k : int
        Support size (IHT uses ``2 s``).
    n_iter : int
        Power iterations (each one pass over ``A``).
    rng : int or Generator
        Seed of the random start.
    """
    A = as_operator(A)
    k = check_int(k, "k", low=1, high=A.shape[1])
    r = check_rng(rng).standard_normal(A.shape[0]).astype(A.dtype)
    empty = np.empty(0, np.int64)
    lam = 0.0
    for _ in range(check_int(n_iter, "n_iter", low=1)):
        _, idx, val = A.gradient_split(r, empty, k)
        nrm = float(np.linalg.norm(val))
        if nrm == 0.0:
            break
        r = A.restrict(idx).matvec(val / nrm)
        lam = float(r @ r)
    return lam


def hard_threshold(U: np.ndarray, vU: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``s`` entries of largest magnitude of ``vU`` (at the sorted indices ``U``): ``(indices, values)``,
    ties to the smaller index (:func:`sparsecert.kernels.topk_abs`)."""
    keep = kernels.topk_abs(vU, U, s)
    return U[keep], vU[keep]


def cgls(R: Any, y: Any, z: Any, n_steps: int, tol: float, res: Any = None, fused: bool = False) -> tuple[Any, Any]:
    """Up to ``n_steps`` CGLS iterations on min ||y - R z|| from ``z``; returns (z, residual).

    ``res``: the residual ``y - R z`` if the caller knows it (saves a product).
    The gradient after the last step is not formed (nothing uses it).
    ``fused``: take each step's two products in one sweep (``R.normal``) and
    update the gradient by recurrence, ``g <- g - alpha R^T R p`` (the same
    iterates in exact arithmetic; for a few steps, as AIHT takes, round-off
    stays at the level of the products'). Products act on unit directions and
    step sizes are ratios of scaled norms, so no scale of ``R`` or ``y`` that
    float64 represents overflows or underflows here.
    """
    if res is None:
        res = y - R.matvec(z)
    if n_steps == 0:
        return z, res
    grad = R.rmatvec(res)
    p = grad.copy()
    gnorm = norm(grad)
    g0 = gnorm
    for it in range(n_steps):
        if gnorm <= tol * g0 or gnorm == 0.0:
            break
        last = it == n_steps - 1
        pnorm = norm(p)
        u = p / pnorm
        if fused and not last:
            q, AtAu = R.normal(u)
        else:
            q = R.matvec(u)
        qnorm = norm(q)
        if qnorm == 0.0 or not np.isfinite(qnorm):
            break
        ratio = gnorm / qnorm
        # alpha ||p||, alpha = ||g||^2 / ||R p||^2 = (||g|| / ||R u||)^2 / ||p||^2; beyond 1e150 ratio^2 would
        # overflow, so divide first there (kept as it was elsewhere: the same bits as before)
        step = ratio * ratio / pnorm if ratio < 1e150 else ratio * (ratio / pnorm)
        z = z + step * u
        res = res - step * q
        if last:
            break
        grad = grad - step * AtAu if fused else R.rmatvec(res)
        gnew = norm(grad)
        beta = gnew / gnorm
        p = grad + beta * beta * p
        gnorm = gnew
    return z, res


#: Least squares on a support is solved directly (SVD of the n x |S| columns) when n |S|^2 is at
#: most this many flops; CGLS otherwise (its iterations are products, which any operator has).
DIRECT_LS_FLOPS = 2**24


def least_squares(R: Any, y: Any, z: Any, n_steps: int, tol: float, res: Any = None) -> tuple[Any, Any]:
    """``min ||y - R z||`` on a support: directly for small supports of host operators, else CGLS from ``z``."""
    n, k = R.shape
    if k and n * k * k <= DIRECT_LS_FLOPS and isinstance(y, np.ndarray):
        C = R.to_dense()
        if isinstance(C, np.ndarray) and C.dtype == y.dtype:
            z = np.linalg.lstsq(C, y, rcond=None)[0]
            return z, y - C @ z
    return cgls(R, y, z, n_steps, tol, res=res)


@dataclass
class Candidate:
    """The next iterate a step proposes, the solver's state untouched until it is accepted: the step
    ``mu``, support ``S`` and weights ``wS``, ``A_S`` (``R_S``; None: restrict again when needed), the
    residual ``r``, whether the support stayed (``same``), whether ``r`` came from the residual
    recurrence rather than a product (``recurrence``) and the bytes of restricted operators the step
    held (``work``)."""

    mu: float
    S: np.ndarray
    wS: Any
    R_S: Any
    r: Any
    same: bool
    recurrence: bool
    work: int


class Products:
    """``A x``, ``A^T r`` and ``A[:, S]`` as float64 NumPy arrays: straight from the matrix when ``A``
    holds one (:func:`kernel_matrix`; the path solvers' small dense problems spend their time in these
    calls), else through the operator's streaming methods.

    Parameters
    ----------
    A : SparseSensingOperator, shape (n, N)
    """

    def __init__(self, A: SparseSensingOperator) -> None:
        self.A, self.M = A, kernel_matrix(A)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``A x`` for a dense x of length N."""
        return self.M @ x if self.M is not None else np.asarray(self.A.matvec(x), np.float64)

    def rmatvec(self, r: np.ndarray) -> np.ndarray:
        """``A^T r`` (length N)."""
        return self.M.T @ r if self.M is not None else np.asarray(self.A.rmatvec(r), np.float64)

    def column_norms(self) -> np.ndarray:
        """``||a_j||`` for every column (length N)."""
        return np.linalg.norm(self.M, axis=0) if self.M is not None else np.asarray(self.A.column_norms(), np.float64)

    def columns(self, S: np.ndarray) -> np.ndarray:
        """``A[:, S]``, shape (n, |S|), for sorted distinct S."""
        return self.M[:, S] if self.M is not None else np.asarray(self.A.columns(S), np.float64)


class BestSupportFit:
    """The best least-squares fit on the top ``s`` entries of the iterates a path offers.

    A path solver (:func:`~sparsecert.recovery.amp`, :func:`~sparsecert.recovery.mcp_path`) produces dense
    or partly sparse iterates ``x``; each is read as the support ``S`` of its ``s`` largest ``|x_j|``
    (nonzero ones only), least squares is solved on ``S`` once per new support (``A.columns(S)``: n |S|
    numbers) and the fit of smallest residual is kept.

    Parameters
    ----------
    A : SparseSensingOperator, shape (n, N)
    y : ndarray, shape (n,)
    s : int
    """

    def __init__(self, A: SparseSensingOperator, y: np.ndarray, s: int) -> None:
        self.A, self.y, self.s = A, y, s
        self.products = Products(A)
        self.ynorm = float(np.linalg.norm(y))
        self.support = np.zeros(0, np.int64)
        self.coef = np.zeros(0, y.dtype)
        self.residual = 1.0 if self.ynorm else 0.0  #: relative residual of the kept fit (w = 0 to start)
        self.fits = 0  #: least-squares solves made
        self._last: np.ndarray | None = None

    def offer(self, idx: np.ndarray, x: np.ndarray) -> float:
        """Fit the top ``s`` of ``|x|`` (``x[k]`` the value of column ``idx[k]``); the best residual so far."""
        nz = np.flatnonzero(x)
        if nz.size > self.s:
            nz = nz[np.argpartition(-np.abs(x[nz]), self.s - 1)[: self.s]]
        S = np.sort(np.asarray(idx)[nz]).astype(np.int64)
        if not S.size or (self._last is not None and np.array_equal(S, self._last)):
            return self.residual
        self._last = S
        C = self.products.columns(S)
        try:  # the normal equations by Cholesky, one step of refinement: a third of an SVD solve's time
            factor = scipy.linalg.cho_factor(C.T @ C, check_finite=False)
            coef = scipy.linalg.cho_solve(factor, C.T @ self.y, check_finite=False)
            coef += scipy.linalg.cho_solve(factor, C.T @ (self.y - C @ coef), check_finite=False)
        except np.linalg.LinAlgError:  # dependent columns
            coef = np.linalg.lstsq(C, self.y, rcond=None)[0]
        self.fits += 1
        res = float(np.linalg.norm(self.y - C @ coef)) / self.ynorm if self.ynorm else 0.0
        if res < self.residual:
            self.support, self.coef, self.residual = S, coef.astype(self.y.dtype, copy=False), res
        return self.residual

    def vector(self) -> SparseVector:
        """The kept fit as an s-sparse vector of length N."""
        return SparseVector(self.support, self.coef, self.A.shape[1])
