"""When an IHT run stops: stopping criteria as small objects that compose with ``|``.

:meth:`IHTSolver.run <sparsecert.recovery.IHTSolver.run>` asks its criterion before every step
(:meth:`StoppingCriterion.before`: may the run take another step?) and after it
(:meth:`StoppingCriterion.after`: does the new iterate end the run?); the first to answer gives
the run its status (a key of :data:`~sparsecert.recovery.STATUSES`). ``a | b`` stops when either
does, ``a`` asked first. ``max_iter``, ``tol`` and ``xtol`` of :func:`~sparsecert.recovery.iht` are
``MaxIterations(max_iter) | RelativeResidual(tol) | Stagnation(xtol)`` (:func:`default_stop`).

Whatever the criterion, a run whose residual or step turns non-finite stops as ``"diverged"``.

Examples
--------
>>> from sparsecert.recovery import MaxIterations, RelativeResidual, TimeLimit
>>> stop = MaxIterations(1000) | RelativeResidual(1e-8) | TimeLimit(2.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..backend import norm
from ..validation import check_float, check_int

__all__ = ["StoppingCriterion", "Step", "MaxIterations", "RelativeResidual", "Stagnation", "TimeLimit", "AnyOf",
           "default_stop"]


@dataclass(frozen=True)
class Step:
    """What one step reports: the relative residual after it, its step size ``mu``, whether the
    support stayed the same, and ``dw = ||w_new - w||`` (inf when the support changed)."""

    rel: float
    mu: float
    same: bool
    dw: float


class StoppingCriterion:
    """Base of the criteria: each answers None (go on) or a status."""

    def before(self, solver, k: int) -> str | None:
        """Before step ``k + 1`` of this run (``k`` steps taken): a status stops the run there."""
        return None

    def after(self, solver, step: Step) -> str | None:
        """After a step (``solver`` holds the new iterate): a status stops the run there."""
        return None

    @property
    def max_steps(self) -> int | None:
        """The most steps this criterion lets a run take (None: no bound; the progress bar's total)."""
        return None

    def __or__(self, other: StoppingCriterion) -> AnyOf:
        if not isinstance(other, StoppingCriterion):
            return NotImplemented
        return AnyOf(self, other)


class AnyOf(StoppingCriterion):
    """Stops when any of ``criteria`` does; they are asked in order (``a | b | c``)."""

    def __init__(self, *criteria: StoppingCriterion) -> None:
        flat: list[StoppingCriterion] = []
        for c in criteria:
            if not isinstance(c, StoppingCriterion):
                raise TypeError(f"AnyOf takes stopping criteria, got {type(c).__name__}")
            flat += c.criteria if isinstance(c, AnyOf) else [c]
        self.criteria: tuple[StoppingCriterion, ...] = tuple(flat)

    def before(self, solver, k):
        return next((s for c in self.criteria if (s := c.before(solver, k)) is not None), None)

    def after(self, solver, step):
        return next((s for c in self.criteria if (s := c.after(solver, step)) is not None), None)

    @property
    def max_steps(self):
        bounds = [b for c in self.criteria if (b := c.max_steps) is not None]
        return min(bounds) if bounds else None

    def __repr__(self):
        return " | ".join(map(repr, self.criteria))


@dataclass(frozen=True)
class MaxIterations(StoppingCriterion):
    """At most ``n`` steps in a run (status ``"max_iter"``); ``n = 0`` takes none."""

    n: int

    def __post_init__(self):
        object.__setattr__(self, "n", check_int(self.n, "max_iter", low=0))  # checked, as a Python number

    def before(self, solver, k):
        return "max_iter" if k >= self.n else None

    @property
    def max_steps(self):
        return self.n


@dataclass(frozen=True)
class RelativeResidual(StoppingCriterion):
    """``||y - A w|| / ||y|| <= tol`` (status ``"residual"``), confirmed on an exactly recomputed
    residual where the solver's is a recurrence."""

    tol: float

    def __post_init__(self):
        object.__setattr__(self, "tol", check_float(self.tol, "tol", low=0.0))  # checked, as a Python number

    def after(self, solver, step):
        return "residual" if step.rel <= self.tol and solver.confirmed_residual() <= self.tol else None


@dataclass(frozen=True)
class Stagnation(StoppingCriterion):
    """The support unchanged and ``||w_new - w|| <= xtol ||w||`` (status ``"stationary"``)."""

    xtol: float

    def __post_init__(self):
        object.__setattr__(self, "xtol", check_float(self.xtol, "xtol", low=0.0))  # checked, as a Python number

    def after(self, solver, step):
        if step.same and step.dw <= self.xtol * max(norm(solver.wS), np.finfo(float).tiny):
            return "stationary"
        return None


@dataclass(frozen=True)
class TimeLimit(StoppingCriterion):
    """No step starts after ``seconds`` of wall time in this run (status ``"time"``)."""

    seconds: float

    def __post_init__(self):
        object.__setattr__(self, "seconds", check_float(self.seconds, "seconds", low=0.0))  # checked, as a Python number

    def before(self, solver, k):
        return "time" if time.perf_counter() - solver.run_started >= self.seconds else None


def default_stop(max_iter: int = 500, tol: float = 1e-10, xtol: float = 1e-12) -> AnyOf:
    """``MaxIterations(max_iter) | RelativeResidual(tol) | Stagnation(xtol)``: what ``max_iter``,
    ``tol`` and ``xtol`` mean everywhere."""
    return MaxIterations(max_iter) | RelativeResidual(tol) | Stagnation(xtol)
