"""The loop every solver of :mod:`sparsecert.recovery` shares (:class:`IterativeSolver`): run until a
stopping criterion fires, with a progress bar and a callback, and pack the run into a
:class:`~sparsecert.recovery.RecoveryResult`."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from ..parallel import single_threaded_blas
from ..sparse import SparseVector
from ..validation import progress_enabled
from .result import RecoveryResult
from .stopping import Step, StoppingCriterion, default_stop

__all__ = ["IterativeSolver"]

log = logging.getLogger("sparsecert.recovery.solver")


class IterativeSolver:
    """What every solver of this package shares: :meth:`run` (the loop: stopping criteria, progress
    bar, callback), :meth:`finalize` (the one place a :class:`RecoveryResult` is built) and
    :meth:`solve`. A solver defines ``setup``, ``_step`` (one iteration, returning ``(mu,
    same_support, ||w_new - w||)``), ``rel_residual``, ``exact_residual`` and the state ``S``, ``wS``,
    ``shape``, ``s``, ``method``, ``ynorm``, ``n_iter``, ``residuals``, ``steps``, ``status``,
    ``peak_memory`` (with its parts ``peak_parts``, counted by :meth:`_note_memory`), ``t_start`` and
    ``_since_exact`` (steps since the residual was exact).
    :class:`IHTSolver` and :class:`~sparsecert.recovery.FactoredIHTSolver` are its siblings.
    """

    #: The power of two y was scaled by inside the solver (1.0: not scaled; see IHTSolver).
    y_scale = 1.0
    method = "iht"
    s: int
    shape: tuple
    S: np.ndarray
    wS: Any
    ynorm: float
    n_iter: int
    status: str
    residuals: list
    steps: list
    peak_memory: int
    peak_parts: dict
    t_start: float
    _since_exact: int

    @property
    def rel_residual(self) -> float:
        """``||y - A w|| / ||y||`` of the current iterate (or the solver's own relative measure)."""
        raise NotImplementedError

    def exact_residual(self) -> Any:
        """Recompute the residual exactly (where it is kept by recurrence); returns it."""
        raise NotImplementedError

    def step(self) -> tuple[float, bool, float]:
        """One iteration. Returns ``(mu, same_support, ||w_new - w||)``.

        BLAS runs on one thread meanwhile: the operators' passes take the cores
        through :mod:`sparsecert.parallel` (see there why). To time single steps,
        hold ``with sparsecert.parallel.single_threaded_blas():`` around them all.
        """
        with single_threaded_blas():
            return self._step()

    def _step(self):
        raise NotImplementedError

    def _note_memory(self, parts: dict) -> None:
        """Count a working set held at once, by parts (bytes): the largest is ``peak_memory``, its parts
        ``peak_parts`` (the result's ``info["memory_parts"]``)."""
        total = int(sum(parts.values()))
        if total > self.peak_memory:
            self.peak_memory, self.peak_parts = total, {k: int(v) for k, v in parts.items()}

    @property
    def w(self) -> SparseVector:
        """Current iterate as a :class:`SparseVector`."""
        return SparseVector(self.S, self.wS, self.shape[1])

    def _long_passes(self) -> bool:
        """Whether one step takes long enough to show a bar inside it (see :data:`LONG_PASS_ENTRIES`)."""
        return False

    def _compiled_run(self, max_iter, tol, xtol) -> str | None:
        """Run the whole loop in one compiled call where the solver has one (the status), else None."""
        return None

    def run(
        self,
        max_iter: int = 500,
        tol: float = 1e-10,
        xtol: float = 1e-12,
        progress: bool | None = None,
        callback: Callable | None = None,
        stop: StoppingCriterion | None = None,
    ) -> IterativeSolver:
        """Iterate :meth:`step` until a stopping test fires; sets ``status``; returns ``self``.

        Arguments as in :func:`iht`; ``stop`` (a :class:`~sparsecert.recovery.StoppingCriterion`,
        e.g. ``MaxIterations(100) | TimeLimit(5.0)``) replaces ``max_iter``, ``tol`` and ``xtol``.
        """
        if stop is None:  # the keywords, checked once by the criteria they make
            stop = default_stop(max_iter, tol, xtol)
            limits = tuple(getattr(c, f) for c, f in zip(stop.criteria, ("n", "tol", "xtol")))
        elif isinstance(stop, StoppingCriterion):
            limits = None  # the compiled loop knows only the default criteria
        else:
            raise TypeError(f"stop must be a StoppingCriterion (e.g. MaxIterations(100)), got {type(stop).__name__}")
        progress = progress_enabled(progress)
        self.pass_progress = progress and self._long_passes()
        self.run_started = time.perf_counter()
        if self.ynorm == 0.0:
            self.status, self.S, self.wS = "zero", np.empty(0, np.int64), np.empty(0, self.wS.dtype)
            self.residuals[-1] = 0.0
            return self
        if limits is not None and callback is None and not progress:
            status = self._compiled_run(*limits)
            if status is not None:
                self.status = status
                return self
        bar = tqdm(total=stop.max_steps, desc=f"{self.method.upper()} s={self.s}", disable=not progress, leave=False)
        # A too-large fixed step overflows; that is reported as status "diverged".
        # BLAS stays on one thread for the whole run: switching it per step wakes
        # OpenBLAS's threads, whose spinning costs more than the step (sparsecert.parallel).
        with bar, np.errstate(over="ignore", invalid="ignore"), single_threaded_blas():
            k = 0
            while (status := stop.before(self, k)) is None:
                mu, same, dw = self.step()
                k += 1
                self.n_iter += 1
                rel = self.rel_residual
                self.residuals.append(rel)
                self.steps.append(mu)
                bar.update(1)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s it=%d rel_res=%.3e mu=%.3e |S|=%d", self.method, self.n_iter, rel, mu, self.S.size)
                if callback is not None:
                    callback(self.n_iter, self.w, rel)
                status = "diverged" if not np.isfinite(rel) else stop.after(self, Step(rel, mu, same, dw))
                if status != "residual" and not np.isfinite(mu):
                    status = "diverged"  # a product overflowed: say so rather than stop "converged"
                if status is not None:
                    break
        self.status = status
        return self

    def confirmed_residual(self) -> float:
        """The relative residual of the current iterate, recomputed exactly first where the running
        one is a recurrence (the residual test's confirmation)."""
        if self._since_exact:
            self.exact_residual()
            self.residuals[-1] = self.rel_residual
        return self.residuals[-1]

    def result_w(self) -> SparseVector:
        """The iterate the result reports (the current one; variants may choose another)."""
        return self.w

    def finalize(self, **info) -> RecoveryResult:
        """The :class:`RecoveryResult` of the run so far (``info`` entries added to ``result.info``)."""
        w = self.result_w()
        if self.y_scale != 1.0:
            w = SparseVector(w.indices, w.values / self.y_scale, w.size)
        n, N = self.shape
        return RecoveryResult(
            w=w,
            support=w.indices,
            n_iter=self.n_iter,
            converged=self.status not in ("max_iter", "diverged", "epochs", "time"),
            status=self.status,
            residuals=np.asarray(self.residuals),
            steps=np.asarray(self.steps),
            time=time.perf_counter() - self.t_start,
            peak_memory=int(self.peak_memory),
            method=self.method,
            info={"n": n, "N": N, "s": self.s, **({"memory_parts": dict(self.peak_parts)} if self.peak_parts else {}),
                  **info},
        )

    def solve(
        self,
        max_iter: int = 500,
        tol: float = 1e-10,
        xtol: float = 1e-12,
        progress: bool | None = None,
        callback: Callable | None = None,
        stop: StoppingCriterion | None = None,
    ) -> RecoveryResult:
        """:meth:`run` then :meth:`finalize`."""
        return self.run(max_iter, tol, xtol, progress, callback, stop).finalize()
