"""The outcome of every IHT solver, built in one place (:meth:`IHTSolver.finalize`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..sparse import SparseVector

__all__ = ["RecoveryResult", "STATUSES"]

#: Every value ``RecoveryResult.status`` takes, and what it means.
STATUSES = {
    "residual": "relative residual <= tol (confirmed on an exactly recomputed residual)",
    "stationary": "support unchanged and relative update <= xtol (or no descent left, vector fits)",
    "zero": "y = 0: the answer is w = 0",
    "diverged": "the residual became non-finite (a fixed step too large for ||A||)",
    "max_iter": "max_iter iterations ran without another stopping test firing",
    "time": "a TimeLimit's seconds ran out (no step starts after it)",
    "epochs": "minibatch IHT ran its epochs (it has no other stopping test)",
    "network_differs": "fixed activation patterns: the network read off w is not the fitted linear model A w "
                       "(a unit's pattern is not its generator's); residual is the returned network's, "
                       "info['linear_residual'] the linear model's",
}

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
        True when a test of convergence fired (not ``max_iter``, ``time``, ``epochs`` or ``diverged``).
    status : str
        One of :data:`STATUSES`.
    residuals : ndarray, shape (n_iter + 1,)
        Relative residual ``||y - A w|| / ||y||`` before the first and after
        each iteration.
    steps : ndarray, shape (n_iter,)
        Step size ``mu`` used in each iteration (NaN for an exchange of
        :meth:`~sparsecert.recovery.IHTSolver.splice`).
    time : float
        Wall time in seconds.
    peak_memory : int
        Peak bytes of the work arrays the solver and operator allocated
        (estimated from their sizes; excludes ``X``/``y`` owned by the caller).
    method : str
    info : dict
        Problem sizes and solver-specific entries (``best_iter`` of the
        sequential solver, ``epochs``/``batch_size`` of the minibatch one);
        ``memory_parts``: ``peak_memory`` by part (bytes, summing to it), e.g.
        ``pass``, ``cache``, ``restricted`` and ``vectors`` for IHT on an operator, ``dense``,
        ``residual``, ``tiles``, ``batch`` and ``candidates`` for the factored fit, and ``features``
        (the layer's input, the previous layer's ReLU outputs) for a layer-wise fit's second layer on.
    final_residual : float, optional
        The returned model's relative residual where it is not ``residuals[-1]``
        (a best iterate returned instead of the last; a network read off ``w``
        that is not ``A w``); :attr:`residual` reads it.
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
    final_residual: float | None = None

    @property
    def residual(self) -> float:
        """Relative residual of the returned model (``final_residual`` where set, else the last
        iterate's)."""
        return float(self.residuals[-1] if self.final_residual is None else self.final_residual)

    def lean(self) -> RecoveryResult:
        """A copy whose ``info`` keeps only its plain entries (numbers, strings, None, and dicts of them
        such as ``memory_parts``): no operator, so none of the data behind it (what a pickle or a saved
        file should carry)."""
        return replace(self, info={k: v for k, v in self.info.items() if _plain(v)})

    def save(self, path: str | Path) -> Path:
        """Write the result to ``path`` (``.npz``: the solution, residuals and steps as arrays, the rest
        as JSON; the plain entries of ``info`` only, never an operator or its data)."""
        from ..files import save_arrays

        lean = self.lean()  # asdict copies every field deeply: not the operator and its data
        scalars = {k: v for k, v in asdict(lean).items() if k not in ("w", "support", "residuals", "steps", "info")}
        info = lean.info
        return save_arrays(path, "RecoveryResult", {"indices": self.w.indices, "values": self.w.values,
                                                    "residuals": self.residuals, "steps": self.steps},
                           {"size": self.w.size, "fields": scalars, "info": info})

    @classmethod
    def load(cls, path: str | Path) -> RecoveryResult:
        """The result :meth:`save` wrote."""
        from ..files import load_arrays

        arrays, meta = load_arrays(path, "RecoveryResult")
        w = SparseVector(arrays["indices"], arrays["values"], int(meta["size"]))
        return cls(w=w, support=w.indices, residuals=arrays["residuals"], steps=arrays["steps"], info=meta["info"],
                   **meta["fields"])

    def to_dict(self) -> dict:
        """Plain-Python summary (arrays as lists) for storage."""
        d = asdict(self)
        d["w"] = {"indices": self.w.indices.tolist(), "values": self.w.values.tolist(), "size": self.w.size}
        d["support"] = self.support.tolist()
        d["residuals"] = self.residuals.tolist()
        d["steps"] = self.steps.tolist()
        return d


def _plain(value: Any) -> bool:
    """Whether ``value`` is a number, a string, None or a dict of them keyed by strings (JSON as it is)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, (bool, int, float, str, type(None)))
