"""Minibatch IHT: epochs of one IHT step per batch of samples."""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_int, check_option, check_rng
from ..backend import norm, to_numpy
from ..operators.relu_pattern import gather_transposed
from .epochs import run_epochs
from .solver import IHTSolver
from .sequential import UnitRules

#: Bytes of the support's columns the dead-unit check gathers at a time (rows of X times the kept
#: weights, twice: the gather and its product): the check's memory, whatever the batch and s.
DEAD_CHECK_BYTES = 2**18

__all__ = ["MinibatchIHTSolver"]


class MinibatchIHTSolver(UnitRules, IHTSolver):
    """One :meth:`IHTSolver.step` per minibatch, warm-started from the previous batch.

    Each epoch shuffles the samples with ``rng``; a step runs on the
    operator restricted to the batch's rows. A feature-major (F-contiguous) NumPy ``X`` is read in
    place (``A.with_rows(rows)``: no copy of a batch, tiles of it gathered by every product; 1.0-1.2x
    the time of a step on a gathered batch on binary Fashion-MNIST, m = 100 and 1000); otherwise each
    batch is gathered once, transposed
    (``A.with_data(X[rows].T, transposed=True)``: d x batch_size floats).
    ``residuals`` holds the full-data relative residual before the first and
    after each epoch (evaluated in row chunks of one batch); ``steps`` one
    step size per batch. The status is ``"epochs"``.

    Parameters
    ----------
    A : operator with ``with_data`` (ReLU-pattern, or a stack of them), shape (n, N)
    X : array_like, shape (n, d)
        The data behind ``A``.
    y : array_like, shape (n,)
    s : int
    batch_size : int, ``1 <= batch_size``
    epochs : int, ``>= 1``
    rng : None, int or Generator
        Shuffles the rows each epoch.
    sequential : bool
        Generators follow the weights every ``period`` steps; the run returns its best epoch-end
        network (:meth:`run`).
    period : int
    admission : {"halving", "all"}
        Sequential: how units enter the support at an update. ``"all"``: every unit the
        thresholding picks (the published rule). ``"halving"`` (default): when units enter, the step is
        retried with half, a quarter, ... one and none of the entering units (none: the support's units
        grown from their own off-support gradient) and the best network on the batch is taken
        (:class:`~sparsecert.recovery.sequential.UnitRules`, judged on the batch;
        ``info["admission_retries"]``), twin units are merged (``info["merged_weights"]``), and
        after each update the weights of dead units are let go (:meth:`_drop_dead_units`). A unit
        entering under a random pattern that its weights then replace can lose the fit, and twins
        and dead units hold their weights for good: on binary Fashion-MNIST (12,000 images, batches
        of 1,000, 15 epochs) at m = 1000, test accuracy at s = 5 .70 -> .94, at s = 200 .55 -> .98
        (seed 0, 0.4.10 -> 0.4.11), at s = 2 .625 -> .92 (seed 2, 0.4.11 -> 0.4.12: two units on
        one pixel).
    **kwargs
        As for :class:`IHTSolver` (``method``, ``inner_iter``, ...).
    """

    none_entering = True  # a batch's update may admit no unit (UnitRules)

    def __init__(self, A, X, y, s, *, batch_size, epochs=1, rng=None, sequential=False, period=1, admission="halving",
                 **kwargs):
        if not callable(getattr(A, "with_data", None)):
            raise TypeError(f"minibatch IHT needs an operator with with_data, got {type(A).__name__}")
        X = check_array(to_numpy(X), "X", ndim=2, shape=(A.shape[0], None), dtype=A.dtype, fortran=True)  # no copy
        self.X = A.native_data(X) if callable(getattr(A, "native_data", None)) else X  # converted once, here
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.epochs = check_int(epochs, "epochs", low=1)
        self.period = check_int(period, "period", low=1)
        self.sequential = bool(sequential)
        self.admission = check_option(admission, "admission", {"halving", "all"})
        self.unit, self.retries, self.merged, self.dead_weights = int(getattr(A, "d", 1)), 0, 0, 0
        if self.sequential and not callable(getattr(A, "following", None)):
            raise TypeError("sequential minibatch IHT needs an operator with following")
        self.rng = check_rng(rng)
        self.in_place = (isinstance(self.X, np.ndarray) and self.X.flags.f_contiguous
                         and callable(getattr(A, "with_rows", None)))
        self.full_A = A
        super().__init__(A, y, s, **kwargs)
        self.full_y = self.y

    def use_rows(self, rows):
        """Point the solver at the samples ``rows`` (operator, targets, cache, A_S, residual), or with
        None at all of them, no batch held. The previous batch's operator (its rows, their
        transpose, its masks) is let go first, so that two batches are never held at once."""
        self._drop_batch()
        if rows is None:
            return
        if self.in_place:
            self.A = self.full_A.with_rows(rows)  # read in place from the feature-major X: no copy
        elif isinstance(self.X, np.ndarray):  # the batch held once, transposed (the products' layout)
            self.A = self.full_A.with_data(gather_transposed(self.X, rows), transposed=True)
        else:  # a device tensor (torch parts)
            self.A = self.full_A.with_data(self.X[rows])
        self.y = self.full_y[rows]
        self.cache = self.A.make_cache()
        self.refresh()

    def _drop_batch(self):
        self.A, self.cache, self.R_S = self.full_A, None, None

    def _step(self):
        """A sequential step on the batch: entering units are admitted by halving and twin units
        merged (:class:`~sparsecert.recovery.sequential.UnitRules`), else :meth:`IHTSolver._step`."""
        if not (self.sequential and self.admission == "halving") or (self.n_iter + 1) % self.period:
            return super()._step()
        grad = self._gradient()
        cand = None if grad is None else self._candidate(*grad)
        if cand is not None:
            cand = self._admit(grad, cand, self._follow(cand))
            self._merge(cand)
        return self._accept(cand)

    def _drop_dead_units(self):
        """Let go the weights of units whose ReLU is zero on every sample, ``X w_j <= 0``.

        Such a unit adds nothing to the network, and once its generator follows its weights its
        block of ``A`` is zero on the support: the gradient cannot move those weights and the
        thresholding keeps them, so they hold the budget for good (binary Fashion-MNIST, m = 1000,
        s = 5: four of five weights sat on units ``relu(-0.8 x_742)``, test accuracy .70). Dropping
        them leaves the network as it is; the next step fills the budget. The units' pre-activations
        are checked a chunk of rows at a time (at most a batch, at most :data:`DEAD_CHECK_BYTES` of
        gathered entries), stopping once every unit is seen active (usually in the first chunk):
        O(min(batch_size, DEAD_CHECK_BYTES / (8 nnz)) nnz) a step, not a batch's rows times s (12 MB at
        s = 500 on batches of 1,000). ``info["dead_weights"]`` counts the weights let go."""
        S, d = self.S, self.unit
        if not S.size:
            return
        wS = to_numpy(self.wS)
        start = np.flatnonzero(np.r_[True, np.diff(S // d) > 0])  # S is sorted: each unit's run of S
        dead = np.ones(start.size, bool)
        n, feats = self.shape[0], S % d
        rows = max(1, min(self.batch_size, DEAD_CHECK_BYTES // (8 * S.size)))
        for b0 in range(0, n, rows):
            Z = to_numpy(self.X[b0 : b0 + rows][:, feats]) * wS
            dead &= np.add.reduceat(Z, start, axis=1).max(axis=0) <= 0
            if not dead.any():
                return
        keep = ~np.repeat(dead, np.diff(np.r_[start, S.size]))
        self.dead_weights += int((~keep).sum())
        self.S, self.wS, self.R_S, self._since_exact = S[keep], self.wS[keep], None, 0

    def full_residual(self):
        """``||y - A w|| / ||y||`` on all samples, in row chunks of one batch."""
        n, w, r2 = self.shape[0], self.w, 0.0
        for b0 in range(0, n, self.batch_size):
            b1 = min(n, b0 + self.batch_size)
            Ab = self.full_A.with_rows(np.arange(b0, b1)) if self.in_place else self.full_A.with_data(self.X[b0:b1])
            r2 += np.float64(norm(self.full_y[b0 : b0 + self.batch_size] - Ab.matvec(w))) ** 2  # inf, not OverflowError
        return np.sqrt(r2) / self.ynorm if self.ynorm else 0.0  # ynorm: of the full y (__init__)

    def epoch_residual(self):
        """:meth:`full_residual`."""
        return self.full_residual()

    def run(self, progress=None, callback=None):
        """All epochs (:func:`~sparsecert.recovery.epochs.run_epochs`, generators following the weights
        every ``period`` steps when ``sequential``); sets ``status = "epochs"``; returns ``self``.

        Sequential: the network changes with its generators and the epochs' residuals are not monotone
        (a step that brings units in under random patterns can lose the fit, on wide nets with few
        weights), so, as :class:`SequentialIHTSolver`, the run ends on the epoch whose network fitted
        all samples best (``info["best_iter"]``, the step it ended on; 0: none beat ``w = 0``), the
        operator following it."""
        self.best = (self.residuals[-1], self.w, 0)  # (relative residual on all samples, w, step)

        def follow():
            if self.n_iter % self.period == 0:
                if self.admission == "halving":
                    self._drop_dead_units()
                self.full_A = self.full_A.following(self.w)

        def epoch_end(n_iter, w, residual):
            if residual < self.best[0]:
                self.best = (residual, w, n_iter)  # an iterate is never changed in place
            if callback is not None:
                callback(n_iter, w, residual)

        run_epochs(self, self.epochs, self.batch_size, desc=f"minibatch {self.method.upper()}", progress=progress,
                   callback=epoch_end if self.sequential else callback, after_step=follow if self.sequential else None)
        if self._best_is_earlier():
            self.full_A = self.full_A.following(self.best[1])  # the operator describes the network returned
        self.A, self.y = self.full_A, self.full_y
        return self

    def _best_is_earlier(self):
        return self.sequential and self.best[0] < self.residuals[-1]

    def result_w(self):
        return self.best[1] if self._best_is_earlier() else self.w

    def solve(self, progress=None, callback=None):
        self.run(progress, callback)
        best = ({"best_iter": self.best[2], "admission_retries": self.retries, "merged_weights": self.merged,
                 "dead_weights": self.dead_weights} if self.sequential else {})
        return self.finalize(epochs=self.epochs, batch_size=self.batch_size, **best)
