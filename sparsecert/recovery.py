"""Iterative hard thresholding on implicit operators: IHT, NIHT, AIHT and HTP.

All four methods share one loop (:func:`iht`) that solves

    minimise ||y - A w||_2   subject to   ||w||_0 <= s

with ``A`` an n x N :class:`~sparsecert.operators.SparseSensingOperator`.
Each iteration makes one streaming pass over ``g = A^T (y - A w)`` that
keeps ``g`` on the current support ``S`` and the top-s of ``|g|`` outside
it -- enough to form ``H_s(w + mu g)`` for every step ``mu > 0`` -- and all
other products use ``A_S`` restricted to at most ``2 s`` columns. No vector
of length N is ever formed.

Methods
-------
``"iht"``   fixed step ``mu`` (Blumensath & Davies 2009), default
            ``mu = 1 / L_2s`` with ``L_2s`` the largest squared norm of a
            2s-column submatrix, estimated by the truncated power method
            (:func:`restricted_norm_sq`): the restricted-smoothness step. Its
            guarantee needs a stronger restricted isometry than NIHT's; see
            the tests for the regime where it recovers.
``"niht"``  normalised IHT (Blumensath & Davies 2010): ``mu = ||g_S||^2 /
            ||A_S g_S||^2`` with the step-shrinking safeguard when the
            support changes (``kappa = 2``, ``c = 0.01``).
``"aiht"``  accelerated IHT (Blumensath 2012): the NIHT step, then
            ``inner_iter`` conjugate-gradient steps on the least-squares
            problem restricted to the new support (the first is the
            exact-line-search gradient step).
``"htp"``   hard thresholding pursuit (Foucart 2011): the NIHT step picks the
            support, then least squares on it (CGLS to ``ls_tol``).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm.auto import tqdm

from . import kernels
from ._validation import check_array, check_float, check_int, check_option, check_rng
from .operators import DenseOperator, SparseSensingOperator
from .sparse import SparseVector

__all__ = ["RecoveryResult", "IHTSolver", "iht", "run_solver", "restricted_norm_sq", "METHODS"]

log = logging.getLogger(__name__)

METHODS = ("iht", "niht", "aiht", "htp")

# Blumensath & Davies (2010) safeguard constants: shrink mu by 1/(kappa (1 - c)).
_KAPPA, _C = 2.0, 0.01


@dataclass
class RecoveryResult:
    """Outcome of a sparse recovery run.

    Attributes
    ----------
    w : SparseVector
        The s-sparse solution (length N).
    support : ndarray of int64
        ``w.indices``.
    n_iter : int
        Outer iterations run.
    converged : bool
        True when a stopping test other than ``max_iter`` fired.
    status : str
        ``"residual"`` (relative residual <= tol), ``"stationary"`` (support
        unchanged and relative update <= xtol), ``"zero"`` (y = 0),
        ``"diverged"`` (the residual became non-finite: a fixed step too
        large for ``||A||``) or ``"max_iter"``.
    residuals : ndarray, shape (n_iter + 1,)
        Relative residual ``||y - A w|| / ||y||`` before the first and after
        each iteration.
    steps : ndarray, shape (n_iter,)
        Step size ``mu`` used in each iteration.
    time : float
        Wall time in seconds.
    peak_memory : int
        Peak bytes of the work arrays the solver and operator allocated
        (estimated from their sizes; excludes ``X``/``y`` owned by the caller).
    method : str
    """

    w: SparseVector
    support: np.ndarray
    n_iter: int
    converged: bool
    status: str
    residuals: np.ndarray
    steps: np.ndarray
    time: float
    peak_memory: int
    method: str
    info: dict = field(default_factory=dict)

    @property
    def residual(self) -> float:
        """Final relative residual."""
        return float(self.residuals[-1])

    def to_dict(self):
        """Plain-Python summary (arrays as lists) for storage."""
        d = asdict(self)
        d["w"] = {"indices": self.w.indices.tolist(), "values": self.w.values.tolist(), "size": self.w.size}
        d["support"] = self.support.tolist()
        d["residuals"] = self.residuals.tolist()
        d["steps"] = self.steps.tolist()
        return d


def _as_operator(A):
    if isinstance(A, SparseSensingOperator):
        return A
    if isinstance(A, np.ndarray) or hasattr(A, "__array__"):
        return DenseOperator(A)
    raise TypeError(
        f"A must be a SparseSensingOperator (GaussianOperator, ReluPatternOperator, ...) or a 2-d array, "
        f"got {type(A).__name__}"
    )


def restricted_norm_sq(A, k, n_iter=20, rng=0):
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
    A = _as_operator(A)
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


def _threshold(U, vU, s):
    keep = kernels.topk_abs(vU, U, s)
    return U[keep], vU[keep]


def _cgls(R, y, z, n_steps, tol):
    """Up to ``n_steps`` CGLS iterations on min ||y - R z|| from ``z``; returns (z, residual)."""
    res = y - R.matvec(z)
    grad = R.rmatvec(res)
    p = grad.copy()
    gamma = float(grad @ grad)
    gamma0 = gamma
    for _ in range(n_steps):
        if gamma <= tol**2 * gamma0 or gamma == 0.0:
            break
        q = R.matvec(p)
        qq = float(q @ q)
        if qq == 0.0:
            break
        alpha = gamma / qq
        z = z + alpha * p
        res = res - alpha * q
        grad = R.rmatvec(res)
        gamma_new = float(grad @ grad)
        p = grad + (gamma_new / gamma) * p
        gamma = gamma_new
    return z, res


class IHTSolver:
    """The shared IHT loop, one :meth:`step` at a time.

    :func:`iht` runs it to a stopping rule; use the class directly to act
    between iterations (e.g. replace generators of a ReLU-pattern operator and
    call :meth:`refresh`) or to time single iterations. Parameters are those
    of :func:`iht`.

    Attributes
    ----------
    S : ndarray of int64
        Current support (sorted); ``wS`` the values on it.
    r : ndarray, shape (n,)
        Current residual ``y - A w``.
    """

    def __init__(self, A, y, s, *, method="niht", step=None, inner_iter=3, ls_iter=50, ls_tol=1e-12, w0=None):
        self.A = A = _as_operator(A)
        n, N = A.shape
        self.method = check_option(method, "method", set(METHODS))
        self.s = check_int(s, "s", low=1, high=N)
        self.y = check_array(y, "y", shape=(n,), dtype=A.dtype)
        self.inner_iter = check_int(inner_iter, "inner_iter", low=0)
        self.ls_iter = check_int(ls_iter, "ls_iter", low=1)
        self.ls_tol = check_float(ls_tol, "ls_tol", low=0.0)
        if step is None and self.method == "iht":
            L = restricted_norm_sq(A, min(2 * self.s, N))
            step = 1.0 / L if L > 0 else 1.0
        self.adaptive = step is None
        self.step_size = None if self.adaptive else check_float(step, "step", low=0.0, low_open=True)
        if w0 is None:
            self.S, self.wS = np.empty(0, np.int64), np.empty(0, A.dtype)
        else:
            if not isinstance(w0, SparseVector) or w0.size != N:
                raise ValueError(f"w0 must be a SparseVector of length {N}")
            self.S, self.wS = _threshold(w0.indices, w0.values.astype(A.dtype), self.s)
        self.ynorm = float(np.linalg.norm(self.y))
        self.peak_memory = 0
        self.refresh()

    #: Steps between exact residuals when the residual is updated by recurrence.
    exact_every = 25

    def refresh(self):
        """Recompute ``A_S`` and the residual (after the operator changed)."""
        self.R_S = self.A.restrict(self.S)
        self.exact_residual()

    def exact_residual(self):
        """Recompute ``r = y - A_S w_S`` from scratch (drops recurrence round-off)."""
        self.r = self.y - self.R_S.matvec(self.wS) if self.S.size else self.y.copy()
        self._since_exact = 0
        return self.r

    @property
    def w(self):
        """Current iterate as a :class:`SparseVector`."""
        return SparseVector(self.S, self.wS, self.A.shape[1])

    @property
    def rel_residual(self) -> float:
        return float(np.linalg.norm(self.r)) / self.ynorm if self.ynorm else 0.0

    def step(self):
        """One iteration. Returns ``(mu, same_support, ||w_new - w||)``."""
        A, s, y = self.A, self.s, self.y
        S, wS, R_S = self.S, self.wS, self.R_S
        gS, cidx, cval = A.gradient_split(self.r, S, s)
        # U = S (disjoint) cup candidates, sorted; w is zero on the candidates.
        U = np.concatenate([S, cidx])
        order = np.argsort(U, kind="stable")
        U = U[order]
        gU = np.concatenate([gS, cval])[order]
        wU = np.concatenate([wS, np.zeros(cidx.size, A.dtype)])[order]

        R_G = R_S
        if self.adaptive:
            # NIHT step from the current support (or the best s candidates at w = 0).
            G_g = gS
            if not S.size:
                G_idx, G_g = _threshold(cidx, cval, s)
                R_G = A.restrict(G_idx)
            Ag = R_G.matvec(G_g)
            den = float(Ag @ Ag)
            mu = float(G_g @ G_g) / den if den > 0 else 1.0
        else:
            mu = self.step_size
        T, wT = _threshold(U, wU + mu * gU, s)
        work = R_S.nbytes + (R_G.nbytes if R_G is not R_S else 0)
        reuse = R_S if S.size else R_G  # at w = 0, T is the candidates' top-s: R_G's columns
        if self.adaptive and S.size and not np.array_equal(T, S):
            # Blumensath-Davies safeguard: accept mu only if mu <= omega.
            R_U = reuse = A.restrict(U, reuse=R_S)
            work = max(work, R_S.nbytes + R_U.nbytes)
            R_S = R_G = self.R_S = None  # R_U covers S; let A_S go
            for _ in range(60):
                diff = -wU
                diff[np.searchsorted(U, T)] += wT
                Ad = R_U.matvec(diff)
                omega = (1.0 - _C) * float(diff @ diff) / max(float(Ad @ Ad), np.finfo(float).tiny)
                if mu <= omega:
                    break
                mu = mu / (_KAPPA * (1.0 - _C))
                T, wT = _threshold(U, wU + mu * gU, s)
                if np.array_equal(T, S):
                    break
        same = bool(np.array_equal(T, S))
        R_T = R_S if same and R_S is not None else A.restrict(T, reuse=reuse)
        work = max(work, reuse.nbytes + (R_T.nbytes if R_T is not reuse else 0))
        del reuse

        if self.method == "aiht" and self.inner_iter:
            wT, r = _cgls(R_T, y, wT, self.inner_iter, 0.0)
        elif self.method == "htp":
            wT, r = _cgls(R_T, y, wT, self.ls_iter, self.ls_tol)
        elif same and self.adaptive and self._since_exact < self.exact_every:
            # Same support: w moved by mu g_S, so r moves by -mu A_S g_S (computed above).
            r = self.r - mu * Ag
            self._since_exact += 1
        else:
            r = y - R_T.matvec(wT)
            self._since_exact = 0

        n = A.shape[0]
        vec_bytes = 4 * n * A.dtype.itemsize + 12 * (2 * s) * 8
        self.peak_memory = max(self.peak_memory, A.pass_nbytes + work + vec_bytes)
        dw = float(np.linalg.norm(wT - wS)) if same else np.inf
        self.S, self.wS, self.R_S, self.r = T, wT, R_T, r
        return mu, same, dw


def iht(
    A,
    y,
    s,
    *,
    method="niht",
    step=None,
    max_iter=500,
    tol=1e-10,
    xtol=1e-12,
    inner_iter=3,
    ls_iter=50,
    ls_tol=1e-12,
    w0=None,
    progress=None,
    callback=None,
):
    """Recover an s-sparse ``w`` with ``y ~ A w`` by iterative hard thresholding.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
        Sensing operator (an array is wrapped in a ``DenseOperator``).
    y : array_like, shape (n,)
        Measurements (finite).
    s : int
        Sparsity, ``1 <= s <= N``.
    method : {"iht", "niht", "aiht", "htp"}
        See the module docstring.
    step : float, optional
        Fixed step ``mu > 0``. Default: ``1 / L_2s`` for ``"iht"`` (20
        truncated power iterations, i.e. 20 extra passes); adaptive
        (normalised) for the others. A fixed step disables the NIHT safeguard.
    max_iter : int
        Maximum outer iterations.
    tol : float
        Stop when ``||y - A w|| <= tol ||y||``.
    xtol : float
        Stop when the support is unchanged and ``||w_new - w|| <= xtol ||w_new||``.
    inner_iter : int
        AIHT: conjugate-gradient steps on the new support per iteration.
    ls_iter, ls_tol : int, float
        HTP: CGLS iterations and relative gradient tolerance of the
        least-squares solve on the support.
    w0 : SparseVector, optional
        Starting point (its top-s entries are used); default zero.
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal.
    callback : callable, optional
        ``callback(it, w, rel_residual)`` after each iteration.

    Returns
    -------
    RecoveryResult

    Notes
    -----
    Working memory is one streaming pass of ``A`` (``A.pass_nbytes``) plus the
    restricted operators of at most ``2 s`` columns and a few length-n and
    length-2s vectors; for :class:`~sparsecert.operators.ReluPatternOperator`
    that is O(row_block * block + block * d + n * min(s, m) + s) bytes
    besides ``X`` and its transpose.
    """
    t_start = time.perf_counter()
    solver = IHTSolver(
        A, y, s, method=method, step=step, inner_iter=inner_iter, ls_iter=ls_iter, ls_tol=ls_tol, w0=w0
    )
    return run_solver(
        solver, max_iter=max_iter, tol=tol, xtol=xtol, progress=progress, callback=callback, t_start=t_start
    )


def run_solver(solver, *, max_iter=500, tol=1e-10, xtol=1e-12, progress=None, callback=None, on_step=None, t_start=None):
    """Iterate an :class:`IHTSolver` to a stopping rule and package a :class:`RecoveryResult`.

    ``on_step(solver, it)``, if given, runs after each step and before the
    stopping tests (e.g. the sequential-convex generator update); the other
    arguments are those of :func:`iht`.
    """
    t_start = time.perf_counter() if t_start is None else t_start
    max_iter = check_int(max_iter, "max_iter", low=0)
    tol = check_float(tol, "tol", low=0.0)
    xtol = check_float(xtol, "xtol", low=0.0)
    if progress is None:
        progress = sys.stderr.isatty()
    residuals = [solver.rel_residual]
    steps = []
    status = "max_iter"
    if solver.ynorm == 0.0:
        status, solver.S, solver.wS = "zero", np.empty(0, np.int64), np.empty(0, solver.A.dtype)
        max_iter = 0
    it = 0
    bar = tqdm(total=max_iter, desc=f"{solver.method.upper()} s={solver.s}", disable=not progress, leave=False)
    # A too-large fixed step overflows; that is reported as status "diverged".
    with bar, np.errstate(over="ignore", invalid="ignore"):
        for it in range(1, max_iter + 1):
            mu, same, dw = solver.step()
            if on_step is not None:
                on_step(solver, it)
            rel = solver.rel_residual
            residuals.append(rel)
            steps.append(mu)
            bar.update(1)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s it=%d rel_res=%.3e mu=%.3e |S|=%d", solver.method, it, rel, mu, solver.S.size)
            if callback is not None:
                callback(it, solver.w, rel)
            if not np.isfinite(rel):
                status = "diverged"
                break
            if rel <= tol and solver._since_exact:
                solver.exact_residual()  # confirm on the exact residual
                rel = residuals[-1] = solver.rel_residual
            if rel <= tol:
                status = "residual"
                break
            if same and dw <= xtol * max(float(np.linalg.norm(solver.wS)), np.finfo(float).tiny):
                status = "stationary"
                break

    w = solver.w
    return RecoveryResult(
        w=w,
        support=w.indices,
        n_iter=it,
        converged=status not in ("max_iter", "diverged"),
        status=status,
        residuals=np.asarray(residuals),
        steps=np.asarray(steps),
        time=time.perf_counter() - t_start,
        peak_memory=int(solver.peak_memory),
        method=solver.method,
        info={"n": solver.A.shape[0], "N": solver.A.shape[1], "s": solver.s},
    )
