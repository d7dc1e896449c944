"""The IHT solver (:class:`IHTSolver`) and :func:`iht`; the methods are described in the package docstring."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import kernels
from .._memory import check_working_set
from ..validation import check_array, check_float, check_int, check_option, legacy_options, refuse_fields
from ..backend import copy, norm, to_numpy
from ..kernels.pursuit import SAFEGUARD, STATUS_NAMES
from ..parallel import single_threaded_blas
from ..sparse import SparseVector
from .config import IHT, METHODS
from .loop import IterativeSolver
from .result import RecoveryResult
from .rules import rules_for
from .stopping import StoppingCriterion
from .steps import (DIRECT_LS_FLOPS, Candidate, as_operator, hard_threshold, kernel_matrix, least_squares,
                    restricted_norm_sq)

if TYPE_CHECKING:
    from ..typing import ArrayLike
    from scipy.sparse.linalg import LinearOperator

__all__ = ["IHTSolver", "iht", "restricted_norm_sq"]

#: ``||y||`` outside this range is scaled into it internally (by a power of two, exactly).
Y_NORM_RANGE = (2.0**-256, 2.0**256)

#: Operators with at least this many entries (n x N) get a progress bar inside each gradient pass
#: when the run shows progress (one pass then takes seconds to hours: m = 10^9 units, say).
LONG_PASS_ENTRIES = 10**10

_KAPPA, _C = SAFEGUARD


class IHTSolver(IterativeSolver):
    """The IHT loop as a solver object: :meth:`setup`, :meth:`step`, :meth:`run`, :meth:`finalize`.

    :func:`iht` is ``IHTSolver(...).solve(...)``. Use the class directly to
    act between iterations or to time single ones. Variants derive from it
    and share :meth:`step` (:class:`~sparsecert.recovery.SequentialIHTSolver`,
    :class:`~sparsecert.recovery.MinibatchIHTSolver`); :meth:`finalize` is the
    one place a :class:`RecoveryResult` is built. Parameters are those of
    :func:`iht`; the constructor validates them and calls :meth:`setup`.

    Attributes
    ----------
    S : ndarray of int64
        Current support (sorted); ``wS`` the values on it.
    r : ndarray, shape (n,)
        Current residual ``y - A w``.
    cache : object or None
        What the operator keeps between products (``A.make_cache()``), owned here.
    n_iter, residuals, steps, status
        The history :meth:`run` records and :meth:`finalize` packs.
    """

    #: Steps between exact residuals when the residual is updated by recurrence.
    exact_every = 25

    def __init__(
        self,
        A: LinearOperator | ArrayLike,
        y: ArrayLike,
        s: int,
        *,
        method: str = "niht",
        step: float | None = None,
        inner_iter: int = 3,
        ls_iter: int = 50,
        ls_tol: float = 1e-12,
        w0: SparseVector | ArrayLike | None = None,
    ) -> None:
        self.A = A = as_operator(A)
        self.shape = n, N = A.shape
        self.method = check_option(method, "method", set(METHODS))
        self.s = check_int(s, "s", low=1, high=N)
        self.y = A.native(check_array(to_numpy(y), "y", shape=(n,), dtype=A.dtype))  # converted once, here
        # y of extreme norm is scaled by a power of two (exact: the iterates are those of y times 2^k) so
        # that A^T r stays representable (||A|| ||y|| beyond float range otherwise: y at 1e-200 with A at
        # 1e-150 underflowed to "stationary" at w = 0); the result is scaled back. Not needed: 1.0.
        self.ynorm = norm(self.y)  # of the y the solver works with (the minibatch solver's: all samples)
        self.y_scale = 1.0
        if self.ynorm > 0 and not Y_NORM_RANGE[0] <= self.ynorm <= Y_NORM_RANGE[1]:
            self.y_scale = 2.0 ** -round(np.log2(self.ynorm))
            self.y = self.y * self.y_scale
            self.ynorm = norm(self.y)
        self.inner_iter = check_int(inner_iter, "inner_iter", low=0)
        self.ls_iter = check_int(ls_iter, "ls_iter", low=1)
        self.ls_tol = check_float(ls_tol, "ls_tol", low=0.0)
        if step is None and self.method == "iht":
            L = restricted_norm_sq(A, min(2 * self.s, N))
            step = 1.0 / L if L > 0 else 1.0
        step = None if step is None else check_float(step, "step", low=0.0, low_open=True)
        # the method's two choices, made once (sparsecert.recovery.rules)
        self.step_rule, self.inner = rules_for(self.method, step, self.inner_iter, self.ls_iter, self.ls_tol)
        self.adaptive = self.step_rule.adaptive
        if w0 is not None and (not isinstance(w0, SparseVector) or w0.size != N):
            raise ValueError(f"w0 must be a SparseVector of length {N}")
        self.setup(w0)

    # ------------------------------------------------------------------ template
    def setup(self, w0: SparseVector | None = None) -> IHTSolver:
        """Start (again) from ``w0`` (default zero): support, residual, cache and history."""
        self.t_start = time.perf_counter()
        self.pass_progress = False  # run() turns it on for long passes
        A = self.A
        check_working_set(self.memory_usage(), f"IHT on a {A.shape[0]} x {A.shape[1]} operator with s = {self.s}",
                          "lower s, or the operator's block and row_block")
        if w0 is None:
            self.S, self.wS = np.empty(0, np.int64), np.empty(0, A.dtype)
        else:
            self.S, self.wS = hard_threshold(w0.indices, w0.values.astype(A.dtype) * self.y_scale, self.s)
        self.cache = A.make_cache()
        self.peak_memory, self.peak_parts = 0, {}
        self.refresh()
        self.n_iter, self.status = 0, "max_iter"
        self.residuals: list[float] = [self.rel_residual]
        self.steps: list[float] = []
        return self

    def memory_usage(self) -> int:
        """Estimated peak bytes of the work arrays, before running (an upper estimate): one
        streaming pass, the cache (``A.cache_nbytes_bound``), restricted operators of up to 2s
        and s columns (``A.restricted_nbytes``), vectors."""
        n, N = self.A.shape
        k = min(2 * self.s, N)
        restricted = self.A.restricted_nbytes(k) + self.A.restricted_nbytes(self.s)
        cache = self.A.cache_nbytes_bound(self.s)
        return int(self.A.pass_nbytes + cache + restricted + 4 * n * self.A.dtype.itemsize + 12 * k * 8)

    def refresh(self) -> None:
        """Recompute ``A_S`` and the residual (after the operator changed)."""
        self.R_S = self.A.restrict(self.S, cache=self.cache)
        self.exact_residual()

    def exact_residual(self) -> Any:
        """Recompute ``r = y - A_S w_S`` from scratch (drops recurrence round-off)."""
        self.r = self.y - self._support_operator().matvec(self.wS) if self.S.size else copy(self.y)
        self._since_exact = 0
        return self.r

    def _support_operator(self):
        """``A_S`` of the current support, restricted again if a step let it go."""
        if self.R_S is None:
            self.R_S = self.A.restrict(self.S, cache=self.cache)
        return self.R_S

    @property
    def rel_residual(self) -> float:
        return norm(self.r) / self.ynorm if self.ynorm else 0.0

    def _step(self):
        grad = self._gradient()  # None: the gradient overflowed (stop, keep w)
        return self._accept(None if grad is None else self._candidate(*grad))

    def _gradient(self):
        """One pass: ``(g_S, candidate indices, candidate values)`` (the top-s of ``|g|`` off
        the support), or None when the gradient overflowed (NaN entries never make the top-s)."""
        A, S, s = self.A, self.S, self.s
        gS, cidx, cval = A.gradient_split(self.r, S, s, cache=self.cache, progress=self.pass_progress)
        if cidx.size < min(s, A.shape[1] - S.size) or not (np.isfinite(gS).all() and np.isfinite(cval).all()):
            return None
        return gS, cidx, cval

    def _candidate(self, gS, cidx, cval):
        """The next iterate from the gradient ``(g_S, cidx, cval)`` as a :class:`Candidate`, the state
        untouched: threshold ``w + mu g`` over ``S`` and the candidates, then the inner solve on the
        new support. Variants pass fewer candidates to restrict where the support may grow."""
        A, s, cache, S = self.A, self.s, self.cache, self.S
        R_S = self._support_operator()
        # U = S (disjoint) cup candidates, sorted; w is zero on the candidates.
        U = np.concatenate([S, cidx])
        order = np.argsort(U, kind="stable")
        U = U[order]
        gU = np.concatenate([gS, cval])[order]
        wU = np.concatenate([self.wS, np.zeros(cidx.size, A.dtype)])[order]
        step = self.step_rule.size(self, gS, cidx, cval, R_S)
        if step is None:
            return None
        mu, along_S, R_G, Ag, g_scale = step
        T, wT = hard_threshold(U, wU + mu * gU, s)
        work = R_S.nbytes + (R_G.nbytes if R_G is not R_S else 0)
        r_T = None  # the residual at (T, wT) when a product already gave it
        if self.adaptive and S.size and not np.array_equal(T, S):
            held = R_S.nbytes
            R_S = self.R_S = None  # the safeguard's A_U covers S; let A_S go (a retry restricts again)
            mu, T, wT, r_T, work = self._safeguard(U, wU, gU, mu, T, wT, work, held)
        same = bool(np.array_equal(T, S))
        R_T = R_S if same and R_S is not None else A.restrict(T, cache=cache)
        work = max(work, R_T.nbytes)
        if same and self.adaptive and along_S and self._since_exact < self.exact_every:
            # Same support: w moved by mu g_S, so r moves by -mu A_S g_S (computed above).
            r_T = self.r - (mu * g_scale) * Ag
        wT, r = self.inner.solve(R_T, self.y, wT, r_T)
        return Candidate(mu, T, wT, R_T, r, same, r_T is not None, work)

    def _safeguard(self, U, wU, gU, mu, T, wT, work, held):
        """Blumensath-Davies: accept ``mu`` only if ``mu <= omega``, shrinking it otherwise (at most 60
        times). Returns ``(mu, T, wT, r_T, work)``, ``r_T`` the residual at ``(T, wT)`` when the last
        product gave it (else None); ``work`` counts ``A_U`` beside the ``held`` bytes of ``A_S``."""
        R_U = self.A.restrict(U, cache=self.cache)
        work = max(work, held + R_U.nbytes)
        S = self.S
        for _ in range(60):
            diff = -wU
            diff[np.searchsorted(U, T)] += wT
            dn = norm(diff)
            Ad, Ad_T = R_U.matvec(diff / dn) * dn, T  # the kernels skip the zeros of diff: cost ~ |S cup T|
            ratio = dn / max(norm(Ad), np.finfo(float).tiny)
            omega = (1.0 - _C) * ratio * ratio
            if mu <= omega:
                break
            mu = mu / (_KAPPA * (1.0 - _C))
            T, wT = hard_threshold(U, wU + mu * gU, self.s)
            if np.array_equal(T, S):
                break
        r_T = self.r - Ad if Ad_T is T and not np.array_equal(T, S) and self._since_exact < self.exact_every else None
        return mu, T, wT, r_T, work

    def _accept(self, cand):
        """Make the candidate the iterate; returns ``(mu, same_support, ||w_new - w||)``
        (``(nan, False, inf)`` for None: no step could be taken, w stays)."""
        if cand is None:
            return np.nan, False, np.inf
        A = self.A
        n = A.shape[0]
        # the pass's buffers, the kept masks, the restricted products and the vectors (residuals, candidates, iterate)
        self._note_memory({"pass": A.pass_nbytes, "cache": A.cache_nbytes(self.cache), "restricted": cand.work,
                           "vectors": 4 * n * A.dtype.itemsize + 12 * (2 * self.s) * 8})
        self._since_exact = self._since_exact + 1 if cand.recurrence else 0
        same = cand.same
        dw = norm(cand.wS - self.wS) if same else np.inf
        self.S, self.wS, self.R_S, self.r = cand.S, cand.wS, cand.R_S, cand.r
        return cand.mu, same, dw

    def _long_passes(self) -> bool:
        return self.A.shape[0] * self.A.shape[1] >= LONG_PASS_ENTRIES

    def _compiled_run(self, max_iter, tol, xtol) -> str | None:
        """NIHT and HTP on an explicit matrix: :func:`~sparsecert.kernels.iht_dense` (:meth:`dense_kernel`)."""
        if not self.dense_kernel():
            return None
        return STATUS_NAMES[self._kernel_run(max_iter, tol, xtol, 0, 0)[0]]

    def dense_kernel(self) -> bool:
        """Whether :meth:`run` and :meth:`splice` hand the whole loop to
        :func:`sparsecert.kernels.iht_dense` (the same iteration in one compiled
        call): NIHT, or HTP small enough for direct least squares (``n s^2 <=
        DIRECT_LS_FLOPS``), on an explicit C-ordered float64 matrix, in a solver
        that does not change the step."""
        return (
            type(self)._step is IHTSolver._step and self.method in ("niht", "htp") and self.adaptive
            and kernel_matrix(self.A) is not None
            and (self.method == "niht" or self.shape[0] * self.s * self.s <= DIRECT_LS_FLOPS)
        )

    def _kernel_run(self, max_iter, tol, xtol, splice, max_rounds):
        """Run :func:`~sparsecert.kernels.iht_dense` from the current iterate and take its
        history; returns ``(status code, exchanges)``."""
        n, N = self.shape
        S, wS, r, code, it, made, res, steps = kernels.iht_dense(
            self.A.matrix, np.ascontiguousarray(self.y), self.S, self.wS, self.s, max_iter, tol, xtol, splice,
            max_rounds, self.method == "htp")
        self.S, self.wS, self.r, self.R_S, self._since_exact = S, wS, r, None, 0
        self.n_iter += it
        self.residuals.extend(res[1:].tolist())
        self.steps.extend(steps.tolist())
        # the kernel's arrays: a gradient and the candidates (3 N), two copies of the support's columns
        self._note_memory({"restricted": 8 * 2 * n * self.s, "vectors": 8 * (3 * N + 4 * n + 12 * self.s)})
        return code, made

    def splice(self, k_max: int = 2, max_rounds: int = 100) -> int:
        """Improve the current support by exchanges (the splicing of abess; Zhu et al., PNAS 2020).

        For ``k = 1 .. k_max``, the ``k`` support entries whose removal costs least
        (backward sacrifice ``||a_j||^2 w_j^2``) are exchanged for the ``k``
        columns off the support whose entry would gain most (forward sacrifice
        ``(a_j^T r)^2 / ||a_j||^2``, ranked among the ``4 k_max`` largest
        ``|a_j^T r|`` of one streaming pass), with least squares on the new
        support; the exchange that lowers ``||y - A w||`` most is kept, and this
        repeats until no exchange lowers it. Each round costs one pass and
        ``k_max`` least-squares solves. The support keeps its size; the residual
        never rises.

        Returns
        -------
        int
            Exchanges made; each counts as an iteration (its residual is
            recorded, its step size is NaN).
        """
        k_max = check_int(k_max, "k_max", low=1)
        max_rounds = check_int(max_rounds, "max_rounds", low=0)
        A, y, cache = self.A, self.y, self.cache
        if not self.S.size or self.ynorm == 0.0:
            return 0
        if self.dense_kernel():
            return self._kernel_run(0, 0.0, 0.0, k_max, max_rounds)[1]
        norms = A.column_norms(self.S) ** 2
        loss = norm(self.r)
        made = 0
        with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
            for _ in range(max_rounds):
                _, cidx, cval = A.gradient_split(self.r, self.S, 4 * k_max, cache=cache)
                if not cidx.size or not np.all(np.isfinite(cval)):
                    break
                cnorms = A.column_norms(cidx) ** 2
                gain = np.where(cnorms > 0, cval * cval / np.where(cnorms > 0, cnorms, 1.0), 0.0)
                enter = np.argsort(-gain, kind="stable")[:k_max]
                leave = np.argsort(norms * self.wS * self.wS, kind="stable")
                best = None
                for k in range(1, min(k_max, self.S.size, enter.size) + 1):
                    keep = np.sort(leave[k:])
                    T = np.concatenate([self.S[keep], cidx[enter[:k]]])
                    order = np.argsort(T, kind="stable")
                    T = T[order]
                    w0 = np.concatenate([self.wS[keep], np.zeros(k, self.wS.dtype)])[order]
                    R_T = A.restrict(T, cache=cache)
                    wT, rT = least_squares(R_T, y, w0, self.ls_iter, self.ls_tol)
                    lT = norm(rT)
                    if lT < loss * (1 - 1e-12) and (best is None or lT < best[0]):
                        best = (lT, T, wT, rT, R_T, np.concatenate([norms[keep], cnorms[enter[:k]]])[order])
                if best is None:
                    break
                loss, self.S, self.wS, self.r, self.R_S, norms = best
                self._since_exact = 0
                made += 1
                self.n_iter += 1  # an exchange counts as an iteration without a step size
                self.residuals.append(self.rel_residual)
                self.steps.append(np.nan)
        return made


def iht(
    A: LinearOperator | ArrayLike,
    y: ArrayLike,
    s: int,
    *,
    solver: IHT = IHT(method="niht", max_iter=500),
    w0: SparseVector | ArrayLike | None = None,
    stop: StoppingCriterion | None = None,
    s_project: int | None = None,
    splice: int = 0,
    progress: bool | None = None,
    callback: Callable | None = None,
    **legacy: Any,
) -> RecoveryResult:
    """Recover an s-sparse ``w`` with ``y ~ A w`` by iterative hard thresholding.

    One IHT run. To recover from the fewest samples use :func:`sparsecert.recovery.portfolio`
    (``SparseRegressor``'s and ``sparsecert recover --A``'s default): OMP and HTP, then AMP and the
    MCP path each polished by HTP, until one fits exactly.

    Parameters
    ----------
    A : SparseSensingOperator or ndarray, shape (n, N)
        Sensing operator (an array is wrapped in a ``DenseOperator``).
    y : array_like, shape (n,)
        Measurements (finite).
    s : int
        Sparsity, ``1 <= s <= N``.
    solver : sparsecert.IHT
        The step (``method``: see the module docstring; ``step``, ``inner_iter``, ``ls_iter``,
        ``ls_tol``) and when to stop (``max_iter``, ``tol``: ``||y - A w|| <= tol ||y||``, ``xtol``:
        the support unchanged and ``||w_new - w|| <= xtol ||w_new||``). Default NIHT, 500 iterations
        (an ``IHT()`` made without arguments is :func:`sparsecert.fit`'s AIHT, 100 iterations);
        its ``block`` and ``loss`` are a network fit's (set the block on the operator). 0.4's keywords
        (``method=``, ``max_iter=``, ``tol=``, ...) are folded into it with a FutureWarning until 0.6.
    w0 : SparseVector, optional
        Starting point (its top-s entries are used); default zero.
    stop : StoppingCriterion, optional
        When to stop, in place of ``solver``'s ``max_iter``, ``tol`` and ``xtol``: criteria of
        :mod:`sparsecert.recovery.stopping` joined by ``|`` (e.g.
        ``MaxIterations(1000) | RelativeResidual(1e-8) | TimeLimit(2.0)``).
    s_project : int, optional
        Relaxed projection (Jain, Tewari & Kar 2014): iterate on ``s_project >= s``
        nonzeros, so ``w`` has up to ``s_project`` of them; compared with the best
        s-sparse fit by :func:`sparsecert.certify.relaxed_iht`, which also gives
        the step ``2 / (3 beta)`` its theorem prescribes (``method="iht"``).
        ``result.info`` records ``s`` and ``s_project``.
    splice : int
        After the run, exchange up to ``splice`` support entries at a time
        while that lowers the residual (:meth:`IHTSolver.splice`; 0: off).
        It moves the 50 % recovery transition of Gaussian problems to fewer
        samples (N = 1000: HTP's n50 / s 5.29 / 4.48 / 3.66 at s = 10 / 25 / 50,
        with ``splice=2`` 4.94 / 4.05 / 3.45) at one pass and ``splice``
        least-squares solves per exchange. ``result.info["exchanges"]``.
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal.
    callback : callable, optional
        ``callback(it, w, rel_residual)`` after each iteration.

    Returns
    -------
    RecoveryResult

    Notes
    -----
    NIHT, and HTP with ``n s^2 <= DIRECT_LS_FLOPS``, on an explicit C-ordered float64
    matrix (and no callback or progress bar) run, splicing included, as one compiled
    call, :func:`sparsecert.kernels.iht_dense`: the same iteration
    (:meth:`IHTSolver.dense_kernel`). HTP's step after a least-squares solve is
    ``||w_S||^2 / ||A_S w_S||^2``: the NIHT ratio on ``g_S`` would be a ratio of
    round-off there.

    Working memory is one streaming pass of ``A`` (``A.pass_nbytes``) plus the
    restricted operators of at most ``2 s`` columns and a few length-n and
    length-2s vectors; for :class:`~sparsecert.operators.ReluPatternOperator`
    that is O(row_block * block + block * d + n * min(s, m) + s) bytes
    besides ``X`` and its transpose (:meth:`IHTSolver.memory_usage`).
    """
    solver = legacy_options("sparsecert.iht", legacy, solver=solver)["solver"]
    refuse_fields(solver, ("block", "loss"), "sparsecert.iht",
                  "it fits A as it is, in squared error; an operator's block is set on the operator")
    s_eff = s
    splice = check_int(splice, "splice", low=0)
    if s_project is not None:
        s = check_int(s, "s", low=1)
        s_eff = check_int(s_project, "s_project", low=s)
    run = IHTSolver(A, y, s_eff, w0=w0, **solver.step_options())
    run.run(max_iter=solver.max_iter, tol=solver.tol, xtol=solver.xtol, progress=progress, callback=callback, stop=stop)
    info = {}
    if splice:
        info["exchanges"] = made = run.splice(splice)
        if made and run.rel_residual <= solver.tol:
            run.status = "residual"
    res = run.finalize(**info)
    if s_project is not None:
        res.info.update(s=s, s_project=s_eff)
    return res
