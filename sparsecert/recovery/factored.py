"""Factored IHT: a two-layer ReLU net with k outputs, thresholded over both layers at once."""

from __future__ import annotations

import time

import numpy as np

from ..validation import check_array, check_bool, check_float, check_int, check_option, check_rng, seed_from_rng
from ..backend import is_tensor, norm, resolve, to_numpy
from ..kernels import topk_abs
from ..random import counter_normals
from ..sparse import StreamingTopK
from .epochs import run_epochs
from .config import LOSSES
from .solver import IterativeSolver

__all__ = ["FactoredIHTSolver", "IDLE_SCORED"]
#: Decay of the running mean of squared gradients behind ``precondition``'s metric.
DECAY = 0.999
#: On NumPy the products with X run this many bytes at a time: the forward pass's pre-activations and
#: residual in chunks of rows (an epoch's loss on all of 60,000 images at m = 100 held 48 MB of them at
#: once), and a minibatch of a sample-major X is read in place, a tile of its rows (or of its features)
#: at a time (gathered, a batch of 5,000 Fashion-MNIST images is 31 MB).
TILE_BYTES = 2**22
#: Idle units (no weight in either layer) whose gradient a pass computes, at most: beyond it a window of this
#: many that moves on by as many each pass (``idle_scored``).
IDLE_SCORED = 256


def _sumsq(a) -> float:
    """Sum of squares of an array or tensor, as a Python float."""
    return float((a * a).sum())


def _softmax_residual(F, Y):
    """``(Y - softmax(F), -sum(Y * log softmax(F)))`` row-wise, for arrays or tensors."""
    if is_tensor(F):
        logp = F.log_softmax(dim=1)
        return Y - logp.exp(), -float((Y * logp).sum())
    Fm = F - F.max(axis=1, keepdims=True)
    logp = Fm - np.log(np.exp(Fm).sum(axis=1, keepdims=True))
    return Y - np.exp(logp), -float((Y * logp).sum())


def _largest(rows, keep):
    """Per row, the sorted column indices of its ``keep`` entries of largest magnitude."""
    return np.sort(np.argsort(-np.abs(rows), axis=1, kind="stable")[:, :keep], axis=1)


def _runs(units):
    """``(first unit, start, stop)`` of each run of consecutive integers ``units[start:stop]`` in the sorted
    ``units``."""
    if units.size == 0:
        return []
    cut = np.flatnonzero(np.diff(units) != 1) + 1
    starts, stops = np.concatenate([[0], cut]), np.concatenate([cut, [units.size]])
    return [(int(units[a]), int(a), int(b)) for a, b in zip(starts, stops)]


class FactoredIHTSolver(IterativeSolver):
    """IHT on ``theta = [vec(U); vec(V)]`` for ``F(X) = relu(X U^T) V`` (U: m x d, V: m x k).

    Each :meth:`step` streams the gradient of the loss (``0.5 ||Y - F(X)||_F^2``,
    or the softmax cross-entropy, see ``loss``) over
    blocks of hidden units, keeping its values on the support and its top-2s
    elsewhere, then takes one shared top-s of the gradient step over both
    layers with a backtracking step size (halved until the loss lies under its
    quadratic majoriser, starting from twice the last accepted step), so the
    loss never increases. When no step decreases it, the iterate stays and
    :meth:`step` reports a zero update (status ``"stationary"``). A unit with
    weights in one layer only, or none, is a saddle of ``relu(X u_j) v_j``
    (zero output; zero gradient for the layers it has): the random start gives
    each unit it uses weights in both layers, and after each step the idle
    unit whose hidden gradient is largest at seeded virtual output weights
    (with its seeded random pattern, the sequential-convex rule) is tried as a
    whole unit -- one hidden weight at the exact line-search step and its
    virtual output weights -- in place of the weakest entries, and kept if the
    loss drops (the published code instead seeds inactive units with small
    random weights in its first epoch). Non-convex: no
    recovery guarantee. The weights are held as dense m x d and m x k arrays
    (this fit is not memory-linear). :meth:`run` and :meth:`finalize` are
    :class:`IHTSolver`'s.

    Minibatches (:meth:`run_epochs`): one step per shuffled batch of samples, the published code's
    schedule; the step size, the metric and the momentum carry over from batch to batch, and each
    step decreases the loss of its own batch only. A sample-major (C-contiguous) X is read in place
    (:meth:`use_rows`): no batch is copied.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Y : array_like, shape (n, k) or (n,)
    m : int
        Hidden width.
    s : int
        Nonzeros over both layers, ``1 <= s <= m (d + k)``.
    block : int
        Hidden units per streaming block.
    rng : None, int or Generator
        Seeds the initial weights and the generators of empty units.
    init_scale : float, optional
        Standard deviation of the random start (default ``1/sqrt(d)``).
    backend, device
        ``"numpy"`` (default) or ``"torch"`` on ``device``: ``X``, ``Y`` and the
        (n, .) products live there; the weights and gradients stay on the host.
    loss : {"squared", "cross-entropy"}
        ``"squared"`` (default): ``0.5 ||Y - F(X)||_F^2``. ``"cross-entropy"``:
        ``-sum_i sum_c Y_ic log softmax(F(X)_i)_c`` for ``Y`` whose rows are class
        probabilities (one-hot labels; k >= 2); the loss the published code and the
        IMP baseline use for 10 classes. The solver's "residual" ``R`` is
        ``-dloss/dF``: ``Y - F`` or ``Y - softmax(F)``, and ``residuals`` hold
        ``sqrt(loss / loss at F = 0)`` (for squared loss ``||Y - F||_F / ||Y||_F``).
        Cross-entropy has no zero, so a fit under it ends at ``max_iter`` or
        ``"stationary"``.
    precondition : bool, optional
        Step in a diagonal metric ``D`` (default: with cross-entropy only): ``D`` is the square root
        of a running mean (decay :data:`DECAY`, bias-corrected) of every weight's
        squared gradient, the step ``theta - mu D^-1 g``, the projection the top-s of
        ``sqrt(D) |theta|`` (the s-sparse point nearest in the D-norm) and candidates
        ranked by ``g^2 / D``. Weights whose gradients are small (rarely active
        pixels, small units) take proportionally larger steps, as Adam gives them;
        on 10-class mnist5k it lifts test accuracy by 1-3 points at s >= 1000.
        Costs 8 m (d + k) bytes. Off by default for squared loss: on planted nets
        (Gaussian inputs, exact fits) the running mean remembers the first, large
        gradients and slows the final convergence (e.g. 116 -> 55 dB at m = 5,
        s = 200 in 100 steps). ``False``: the Euclidean step (the published rule).
    momentum : bool, optional
        Add the heavy-ball term ``beta_t (theta_t - theta_{t-1})`` on the support
        (default: with squared loss, and with cross-entropy on minibatches, :meth:`run_epochs`),
        ``beta_t = t / (t + 3)`` counted from the
        last restart; when the step with it does not lower the loss (of the step's batch) it is
        dropped and ``t`` starts again (adaptive restart), so that loss still never increases.
        Costs one more loss evaluation per restart. On planted nets it reaches exact
        fits in fewer steps (m = 5, s = 200: 116 -> 220 dB in 100 steps). Under
        cross-entropy on full batches of few samples it fits the training set faster and the test
        accuracy drops (mnist5k, m = 10, s = 1000: train .93 -> .97, test .88 -> .86); on
        minibatches it carries the descent from batch to batch, as SGD's momentum does: 10-class
        Fashion-MNIST (60,000 images, 50 epochs of batches of 5,000), test accuracy at m = 10 (seed 0)
        .615 / .715 / .766 / .781 / .795 -> .692 / .712 / .797 / .820 / .830 at s = 100 ... 2000,
        at m = 50 (seed 1) .730 / .818 at s = 200 / 1000 (without: .695 / .788, the mean of 3 seeds);
        mnist5k (batches of 500) .788 / .868 / .885 -> .771 / .881 / .888 at s = 200 / 1000 / 2000.
        ``precondition=False, momentum=False`` is the published rule.
    idle_scored : int or None, optional
        Idle units (no weight in either layer) whose gradient a pass computes to choose the one that
        may enter (default :data:`IDLE_SCORED`, 256). With more idle units than that, each pass scores a
        window of ``idle_scored`` of them that moves on by as many the next pass, so every idle unit is
        scored once in ``ceil(idle / idle_scored)`` passes while the idle units stay the same; the units
        with weights are always scored.
        The pass then costs what one of width ``units with weights + idle_scored`` does, whatever ``m``:
        at m = 1000 most of a pass went to scoring idle units for one entrant. ``None``: every idle
        unit, every pass (fits with at most ``idle_scored`` idle units, every one up to m = 256, are the
        same either way). Measured on 10-class mnist5k (50 epochs of batches of 500, seeds 0-2, test
        accuracy, the mean of the seeds, ``None`` -> 256): (m, s) = (500, 200): .794 -> .801; (500,
        1000): .861 -> .871; (1000, 200): .795 -> .808; (1000, 1000): .886 -> .877 (higher in 8 of the
        12 fits, lower in 4 by .001-.016), in 1.3-2.8x less time.
    """

    method = "vector-iht"

    def __init__(self, X, Y, m, s, *, block=256, rng=None, init_scale=None, backend="numpy", device=None,
                 loss="squared", precondition=None, momentum=None, idle_scored=IDLE_SCORED):
        self.idle_scored = None if idle_scored is None else check_int(idle_scored, "idle_scored", low=1)
        self.backend = resolve(backend, device)
        self.loss_name = check_option(loss, "loss", LOSSES)
        ce = self.loss_name == "cross-entropy"
        self.precondition = ce if precondition is None else check_bool(precondition, "precondition")
        self.momentum = (not ce) if momentum is None else check_bool(momentum, "momentum")
        self._momentum_default = momentum is None  # run_epochs turns it on
        X = check_array(to_numpy(X), "X", ndim=2, fortran=True)  # a feature-major X is used as it is: no copy
        n, d = X.shape
        Y = check_array(to_numpy(Y), "Y", ndim=(1, 2), dtype=X.dtype)
        if Y.shape[0] != n:
            raise ValueError(f"Y must have {n} rows (one per sample), got shape {Y.shape}")
        Y = Y if Y.ndim == 2 else Y[:, None]
        if self.loss_name == "cross-entropy" and (Y.shape[1] < 2 or (Y < 0).any() or not np.allclose(Y.sum(axis=1), 1.0)):
            raise ValueError("loss='cross-entropy' needs Y of shape (n, k), k >= 2, whose rows are class "
                             "probabilities (nonnegative, summing to 1), e.g. one-hot labels")
        self.dtype = X.dtype
        self.X, self.Y = self._dev(X), self._dev(Y)  # converted once, here
        self._all = (self.X, self.Y)  # the samples; X and Y are a batch's during run_epochs
        self._rows = None  # a batch's rows of X read in place (use_rows)
        self._in_place = not is_tensor(self.X) and self.X.flags.c_contiguous  # a sample-major NumPy X
        m = check_int(m, "m", low=1)
        self.m, self.d, self.k = m, d, Y.shape[1]
        self.s = check_int(s, "s", low=1, high=m * (d + self.k))
        self.block = check_int(block, "block", low=1)
        self.rng = check_rng(rng)
        self.key = seed_from_rng(self.rng)
        self.scale = 1.0 / np.sqrt(d) if init_scale is None else check_float(init_scale, "init_scale", low=0.0)
        self.shape = (n, m * (d + self.k))
        self.setup()

    def setup(self, w0=None):
        """Random start (drawn from ``rng``): ``max(1, s // 2k)`` units (at most m), each with its
        largest ``q`` output and ``s // units - q`` hidden weights (``q <= k``)."""
        if w0 is not None:
            raise ValueError("the factored solver starts from its seeded random draw (w0 must be None)")
        self.t_start = time.perf_counter()
        m, d, k = self.m, self.d, self.k
        U = self.rng.standard_normal((m, d)) * self.scale
        V = self.rng.standard_normal((m, k)) * self.scale
        # a units (chosen at random), each with weights in both layers: q output and p hidden
        # weights, the largest of its draw (a unit with one layer only is a saddle: zero output,
        # zero gradient for the layer it has)
        s = self.s
        a = min(m, max(1, s // (2 * k)))
        q = min(k, max(1, (s // a) // 2))
        p = min(d, s // a - q)
        units = np.sort(self.rng.choice(m, a, replace=False))
        hid, out = _largest(U[units], p), _largest(V[units], q)
        self.S = np.concatenate([(units[:, None] * d + hid).ravel(), (m * d + units[:, None] * k + out).ravel()])
        self.wS = np.concatenate([U[units[:, None], hid].ravel(), V[units[:, None], out].ravel()])
        self.U, self.V = self._unpack(self.S, self.wS)
        # the loss at F = 0: 0.5 ||Y||^2, or sum(Y) log k (log softmax(0) = -log k), as _fit sums it
        self.loss0 = 0.5 * _sumsq(self.Y) if self.loss_name == "squared" else float((self.Y * np.log(k)).sum())
        self.R, self.loss = self._fit(self.U, self.V)
        self.ynorm = norm(self.Y)
        self.mu, self.peak_memory, self.peak_parts, self._since_exact = 1.0 / self.shape[0], 0, {}, 0
        self._note_evaluation()
        # running mean of g^2 (precondition), pass count, metric floor; last iterate (momentum)
        self._sq = np.zeros(m * (d + k)) if self.precondition else None
        self._t, self._floor, self._prev, self._since_restart = 0, np.finfo(float).tiny, None, 0
        self.n_iter, self.status = 0, "max_iter"
        self.residuals, self.steps = [self.rel_residual], []
        return self

    def memory_parts(self, batch=None):
        """The working set by parts (bytes), for full-batch steps or steps on batches of ``batch`` rows:
        ``dense`` (the two layers' weights and the metric's running mean, m (d + k) floats each),
        ``residual`` (the samples' residual and output, (rows, k) each), ``tiles`` (a block's
        pre-activations and back-propagated residual, (rows, block) each, and its gradient rows),
        ``batch`` (the batch's rows of X: gathered, or one tile of them read in place from a
        sample-major X, see :meth:`use_rows`; 0 for full batches) and ``candidates`` (the top-2s)."""
        n, (m, d, k), B = self.shape[0], (self.m, self.d, self.k), min(self.block, self.m)
        rows = n if batch is None else min(check_int(batch, "batch", low=1), n)
        itemsize = np.dtype(self.dtype).itemsize
        return {"dense": 8 * (3 if self.precondition else 2) * m * (d + k), "residual": 8 * 2 * rows * k,
                "tiles": 8 * (2 * rows * B + B * (d + k)),
                "batch": 0 if rows == n else min(TILE_BYTES, rows * d * itemsize) if self._in_place else rows * d * itemsize,
                "candidates": 12 * 8 * 2 * self.s}

    def _note_evaluation(self):
        """Count the working set of the network's evaluation on the current samples (:meth:`_fit`: the
        setup's, and each epoch end's on all of them): the parts of :meth:`memory_parts` for these rows,
        with ``tiles`` one chunk of pre-activations (at most :data:`TILE_BYTES`) and no candidates."""
        rows = self.Y.shape[0]
        parts = self.memory_parts(None if rows == self.shape[0] else rows)
        self._note_memory({**parts, "tiles": min(TILE_BYTES, 8 * rows * self.m), "candidates": 0})

    def memory_usage(self):
        """The sum of :meth:`memory_parts` for full-batch steps (bytes)."""
        return int(sum(self.memory_parts().values()))

    @property
    def rel_residual(self) -> float:
        return float(np.sqrt(self.loss / self.loss0)) if self.loss0 else 0.0

    def exact_residual(self):
        return self.R

    def _unpack(self, idx, val):
        m, d, k = self.m, self.d, self.k
        U, V = np.zeros((m, d)), np.zeros((m, k))
        u = idx < m * d
        U.flat[idx[u]] = val[u]
        V.flat[idx[~u] - m * d] = val[~u]
        return U, V

    def _dev(self, a):
        """A host array as the backend's array (identity for NumPy)."""
        return a if self.backend.name == "numpy" else self.backend.asarray(a)

    def _fit(self, U, V):
        """``(R, loss)`` of the net ``(U, V)`` on the current samples: ``R = -dloss/dF`` (n, k) on the
        backend. On NumPy a chunk of rows at a time, :data:`TILE_BYTES` of pre-activations (and, under
        cross-entropy, of each of the softmax's (rows, k) arrays, 8 of them at most): each row of ``R``
        and of the loss's terms is a function of that row of X alone (the loss: ``0.5 ||R||^2`` of the
        whole, or the sum of the chunks' cross-entropies)."""
        act = np.flatnonzero(U.any(axis=1) & V.any(axis=1))
        H, W = self._dev(U[act].T), self._dev(V[act])
        ce = self.loss_name == "cross-entropy"
        if is_tensor(self.X):
            Z = self.X @ H
            F = self.Y * 0.0 if act.size == 0 else (Z * (Z > 0)) @ W
            if ce:
                return _softmax_residual(F, self.Y)
            R = self.Y - F
            return R, 0.5 * _sumsq(R)
        n, k = self.Y.shape
        R, loss = np.empty((n, k), np.result_type(self.dtype, W.dtype)), 0.0
        rows = max(1, TILE_BYTES // (8 * max(act.size, 8 * k if ce else 1)))
        for i0 in range(0, n, rows):
            i1 = min(n, i0 + rows)
            F = np.zeros((i1 - i0, k), R.dtype)
            if act.size:
                Z = self._xmul(H, i0, i1)
                Z *= Z > 0  # relu in place (Z * (Z > 0): the same numbers)
                F = Z @ W
                del Z  # before the next chunk's
            if ce:
                R[i0:i1], part = _softmax_residual(F, self.Y[i0:i1])
                loss += part
            else:
                R[i0:i1] = self.Y[i0:i1] - F
        return R, loss if ce else 0.5 * _sumsq(R)

    def _xmul(self, H, i0=0, i1=None):
        """``X H`` on the current samples ``i0 .. i1 - 1`` (default all): (rows, B) for H (d, B), or (rows,)
        for H (d,); a batch read in place a tile of its rows at a time."""
        if self._rows is None:
            return self.X[i0:i1] @ H
        rows = self._rows[i0:i1]
        out = np.empty((rows.size,) + H.shape[1:], np.result_type(self.dtype, H.dtype))
        tile = max(1, TILE_BYTES // (self.X.itemsize * self.d))
        for r0 in range(0, rows.size, tile):
            np.matmul(self.X[rows[r0 : r0 + tile]], H, out=out[r0 : r0 + tile])
        return out

    def _xtmul(self, M):
        """``X^T M`` on the current samples: (d, B) for M (n, B); a batch read a tile of its features at a
        time (each entry the same dot product over the batch's samples as the gathered batch's)."""
        if self._rows is None:
            return self.X.T @ M
        out = np.empty((self.d,) + M.shape[1:], np.result_type(self.dtype, M.dtype))
        cols = max(1, TILE_BYTES // (self.X.itemsize * self._rows.size))
        for f0 in range(0, self.d, cols):
            out[f0 : f0 + cols] = self.X[self._rows, f0 : f0 + cols].T @ M
        return out

    @staticmethod
    def _draws(key, units, width):
        """The rows ``units`` (sorted) of the keyed stream ``key`` of N(0, 1) rows of ``width``
        (:func:`~sparsecert.random.counter_normals`, a draw per run of consecutive units)."""
        out = np.empty((units.size, width))
        for u0, a, b in _runs(units):
            out[a:b] = counter_normals(key, u0, b - a, width, out.dtype)
        return out

    def _generators(self, units):
        """Pattern generators of ``units`` (sorted indices): their own weights, or a seeded draw if they
        have none."""
        H = self.U[units]
        idle = ~H.any(axis=1)
        if idle.any():
            H[idle] = self._draws(self.key, units[idle], self.d)
        return H

    def _output_weights(self, units, idle):
        """Output weights of ``units``; the ``idle`` ones (no weight at all) get virtual ones, a seeded draw
        of scale ``init_scale``, so that their hidden weights have a gradient to enter by."""
        V = self.V[units]
        if idle.any():
            V[idle] = self._draws(self.key + 1, units[idle], self.k) * self.scale
        return V

    def _scored_units(self, t):
        """The units whose gradient pass ``t`` (1, 2, ...) computes (sorted): every unit with weights, and of
        the idle ones (no weight) at most ``idle_scored``, a window over them that moves on by that many a
        pass."""
        busy = self.U.any(axis=1) | self.V.any(axis=1)
        idle = np.flatnonzero(~busy)
        if self.idle_scored is not None and idle.size > self.idle_scored:
            busy[np.roll(idle, -((t - 1) * self.idle_scored % idle.size))[: self.idle_scored]] = True
            return np.flatnonzero(busy)
        return np.arange(self.m)

    def _stream_gradient(self):
        """One streamed pass over blocks of the scored units (:meth:`_scored_units`): ``(top, g_sup,
        entrant)``, the 2s candidates off the support ranked by ``g^2 / D``
        (:class:`~sparsecert.sparse.StreamingTopK`), the gradient on the support, and ``(energy, (unit,
        its hidden gradient))`` of the idle unit that may enter (``(0.0, None)`` for none)."""
        U, V, R, idx = self.U, self.V, self.R, self.S
        m, d, k = self.m, self.d, self.k
        top = StreamingTopK(2 * self.s)
        g_sup = np.zeros(idx.size)
        entrant = (0.0, None)  # (gradient energy, (unit, gU row)) of the best idle unit
        self._t += 1
        scored = self._scored_units(self._t)
        rows = R.shape[0]  # the samples of this pass: all of them, or a batch
        held = self.memory_parts(None if rows == self.shape[0] else rows)  # all but the tiles and candidates
        for b0 in range(0, scored.size, self.block):
            units = scored[b0 : b0 + self.block]
            own = U[units].any(axis=1)  # units whose pattern is their own
            idle = ~(own | V[units].any(axis=1))  # units without any weight
            Z = self._xmul(self._dev(self._generators(units).T))  # (n, B) pre-activations
            P = R @ self._dev(self._output_weights(units, idle).T)  # (n, B): residual through the output weights
            gU = -to_numpy(self._xtmul((Z >= 0) * P)).T  # (B, d): gradient of the loss
            gV = -to_numpy(((Z * (Z > 0)) * self._dev(own.astype(self.dtype))).T @ R)  # (B, k)
            if idle.any():
                # the idle unit whose hidden gradient at its virtual output weights is largest may
                # enter after the step (_enter); the idle units' rows stay out of the candidates
                energy = np.where(idle, (gU * gU).sum(1), -1.0)
                b = int(np.argmax(energy))
                if energy[b] > entrant[0]:
                    entrant = (float(energy[b]), (int(units[b]), gU[b].copy()))
                gU[idle], gV[idle] = 0.0, 0.0
            for u0, r0, r1 in _runs(units):
                for off, g in ((u0 * d, gU[r0:r1].ravel()), (m * d + u0 * k, gV[r0:r1].ravel())):
                    # candidates ranked by their decrease in the metric: g^2 / D
                    top.push(g / np.sqrt(self._update_metric(off, g)), off)
                    lo, hi = np.searchsorted(idx, [off, off + g.size])
                    g_sup[lo:hi] = g[idx[lo:hi] - off]
            # the working set by the parts of memory_parts: Z and P, gU and gV, the candidates
            self._note_memory({**held, "tiles": 8 * (2 * rows * Z.shape[1] + gU.size + gV.size),
                               "candidates": top.nbytes})
        return top, g_sup, entrant

    def _step(self):
        U, V, R, idx, val = self.U, self.V, self.R, self.S, self.wS
        top, g_sup, entrant = self._stream_gradient()  # only the top candidates and the support's entries are kept
        if self.precondition:
            self._floor = 1e-8 * max(float(np.sqrt(self._sq.max() / (1 - DECAY ** self._t))), np.finfo(float).tiny)
        # Candidate set: support plus the 2s strongest gradients; theta is 0 off the support.
        cand = np.union1d(idx, top.indices)
        D_c = self._metric(cand)
        g_c = np.zeros(cand.size)
        g_c[np.searchsorted(cand, top.indices)] = top.values * np.sqrt(self._metric(top.indices))
        on = np.searchsorted(cand, idx)
        g_c[on] = g_sup
        th_c = np.zeros(cand.size)
        th_c[on] = val
        # heavy-ball term on the support: beta_t (theta_t - theta_{t-1}), restarted when it does not descend
        p_c = np.zeros(cand.size)
        if self.momentum and self._prev is not None and self._since_restart:
            p_idx, p_val = self._prev
            before = np.zeros(idx.size)  # theta_{t-1} on S_t
            hit = np.isin(idx, p_idx)
            before[hit] = p_val[np.searchsorted(p_idx, idx[hit])]
            p_c[on] = (val - before) * (self._since_restart / (self._since_restart + 3.0))
        while True:
            new = self._threshold(cand, th_c, g_c, D_c, p_c)
            if new[-1] <= self.loss or not p_c.any():
                break
            p_c[:] = 0.0  # the momentum step rose: restart without it
            self._since_restart = 0
        self._since_restart += 1
        n_idx, n_val, nU, nV, nR, nloss = new
        if nloss > self.loss:  # no decrease along the thresholded path: stay
            n_idx, n_val, nU, nV, nR, nloss = idx, val, U, V, R, self.loss
        if entrant[1] is not None:
            n_idx, n_val, nU, nV, nR, nloss = self._enter(*entrant[1], n_idx, n_val, nU, nV, nR, nloss)
        if n_idx is idx:
            return self.mu, True, 0.0  # nothing decreased the loss: stationary
        dw = float(np.linalg.norm(self._pack_diff(idx, val, n_idx, n_val)))
        self._prev = (idx, val)
        self.S, self.wS, self.U, self.V, self.R, self.loss = n_idx, n_val, nU, nV, nR, nloss
        return self.mu, bool(np.array_equal(n_idx, idx)), dw

    def _threshold(self, cand, th_c, g_c, D_c, p_c):
        """The thresholded step ``H_s(theta - mu D^-1 g + p)`` over the candidates, in the metric
        ``D`` (top-s of ``sqrt(D) |z|``), ``mu`` halved from twice the last accepted one until
        the loss lies under its quadratic majoriser ``loss + g.dtheta + dtheta' D dtheta / 2 mu``.
        Returns ``(idx, val, U, V, R, loss)`` of the last step tried (``self.mu`` is its ``mu``)."""
        mu = self.mu * 2.0
        for _ in range(60):
            z = th_c - mu * g_c / D_c + p_c
            keep = topk_abs(z * np.sqrt(D_c), cand, self.s)
            n_idx, n_val = cand[keep], z[keep]
            nU, nV = self._unpack(n_idx, n_val)
            nR, nloss = self._fit(nU, nV)
            dtheta = np.zeros(cand.size)
            dtheta[keep] = n_val
            dtheta -= th_c
            if nloss <= self.loss + float(g_c @ dtheta) + float(dtheta @ (D_c * dtheta)) / (2 * mu):
                break
            mu *= 0.5
        self.mu = mu
        return n_idx, n_val, nU, nV, nR, nloss

    def _update_metric(self, off, g):
        """Fold the gradient entries ``off .. off + g.size`` into the running mean of ``g^2``;
        returns ``D`` there (ones without ``precondition``)."""
        if not self.precondition:
            return np.ones(g.size)
        sl = slice(off, off + g.size)
        self._sq[sl] = DECAY * self._sq[sl] + (1 - DECAY) * g * g
        return self._metric(sl)

    def _metric(self, at):
        """The diagonal metric ``D`` at the indices ``at``: ``sqrt`` of the bias-corrected running
        mean of ``g^2`` plus a floor, ``1e-8`` of its largest value at the last pass (ones
        without ``precondition``)."""
        if not self.precondition:
            return np.ones(np.size(at))
        return np.sqrt(self._sq[at] / (1 - DECAY ** self._t)) + self._floor

    @staticmethod
    def _pack_diff(idx, val, n_idx, n_val):
        """The values of ``theta_new - theta`` over the union of the two supports."""
        u = np.union1d(idx, n_idx)
        diff = np.zeros(u.size)
        diff[np.searchsorted(u, n_idx)] += n_val
        diff[np.searchsorted(u, idx)] -= val
        return diff

    def _enter(self, j, gu, idx, val, U, V, R, loss):
        """Try idle unit ``j`` as a whole unit of ``1 + q`` weights: its virtual output weights
        ``c_j`` (the top-q of the seeded draw, ``q = min(k, s // 2)``) and one hidden weight,
        ``-t g_u`` at the largest entry of its gradient ``g_u`` (taken at ``c_j``), ``t`` the
        exact minimiser along it with the unit's random pattern under squared loss (under
        cross-entropy the minimiser of its quadratic model of curvature 1, which bounds the
        softmax's curvature); the weakest entries of the
        support make room. Kept only if the loss decreases (later steps grow the unit by its
        gradients); returns the (possibly unchanged) state."""
        m, d, k, s = self.m, self.d, self.k, self.s
        q = min(k, s // 2)
        if q < 1 or not np.any(gu):
            return idx, val, U, V, R, loss
        c = counter_normals(self.key + 1, j, 1, k, U.dtype)[0] * self.scale
        cq = np.argsort(-np.abs(c), kind="stable")[:q]
        uq = np.argsort(-np.abs(gu), kind="stable")[:1]
        h = self._generators(np.array([j]))[0]
        direction = np.zeros(d)
        direction[uq] = -gu[uq]
        cv = np.zeros(k)
        cv[cq] = c[cq]
        Xd = to_numpy(self._xmul(self._dev(direction))) * (to_numpy(self._xmul(self._dev(h))) >= 0)  # D_j X direction
        denom = float(Xd @ Xd) * float(cv @ cv)
        if denom == 0.0:
            return idx, val, U, V, R, loss
        t = float(gu[uq] @ gu[uq]) / denom  # argmin over t of 0.5 ||R - t (D_j X direction) c^T||^2 (gu: at c)
        new_idx = np.concatenate([j * d + uq, m * d + j * k + cq])
        new_val = np.concatenate([t * direction[uq], cv[cq]])
        keep = np.sort(np.argsort(-np.abs(val), kind="stable")[: max(0, s - new_idx.size)])
        e_idx = np.concatenate([idx[keep], new_idx])
        order = np.argsort(e_idx)
        e_idx, e_val = e_idx[order], np.concatenate([val[keep], new_val])[order]
        eU, eV = self._unpack(e_idx, e_val)
        eR, eloss = self._fit(eU, eV)
        if eloss < loss:
            return e_idx, e_val, eU, eV, eR, eloss
        return idx, val, U, V, R, loss

    def use_rows(self, rows):
        """Point the solver at the samples ``rows`` (None: all of them): ``X``, ``Y``, the residual
        ``R`` and the loss become the batch's; the weights, the step size, the metric and the
        momentum's last iterate carry over. A sample-major (C-contiguous) NumPy X is read in place,
        a tile at a time (:meth:`_xmul`, :meth:`_xtmul`); any other is gathered into one buffer the
        size of the largest batch (the rows of a feature-major X are scattered: reading them tile by
        tile at every product made a step 3.3x slower)."""
        X, Y = self._all
        self.X, self.Y, self._rows, self.R = X, Y, None, None  # the last batch let go before the next is read
        if rows is None:
            self._batch = None  # all samples: the batches' buffer goes too
        elif self._in_place:
            self._rows, self.Y = rows, Y[rows]
        else:
            self.X, self.Y = self._gather(X, rows), Y[rows]
        self.R, self.loss = self._fit(self.U, self.V)
        self._note_evaluation()

    def _gather(self, X, rows):
        """``X[rows]``; on NumPy into one buffer of the largest batch's size, reused by every batch
        and filled 256 rows at a time (``np.take(..., out=)`` buffers a whole copy of X)."""
        if is_tensor(X):
            return X[rows]
        buf = getattr(self, "_batch", None)
        if buf is None or buf.shape[0] < len(rows):
            buf = self._batch = np.empty((len(rows), X.shape[1]), X.dtype)
        out = buf[: len(rows)]
        for c0 in range(0, len(rows), 256):
            out[c0 : c0 + 256] = X[rows[c0 : c0 + 256]]
        return out

    def run_epochs(self, epochs, batch_size, progress=None, callback=None):
        """``epochs`` passes over the samples in shuffled batches of ``batch_size`` rows, one
        :meth:`step` per batch (:func:`~sparsecert.recovery.epochs.run_epochs`). ``residuals`` holds the
        relative residual on all samples before the first and after each epoch, ``steps`` one step
        size per batch. Status ``"epochs"`` (``"zero"`` for ``Y = 0``, ``"diverged"`` if the loss
        stops being finite)."""
        epochs = check_int(epochs, "epochs", low=1)
        batch_size = min(check_int(batch_size, "batch_size", low=1), self.shape[0])
        if self.ynorm == 0.0:
            return self.run(0)
        if self._momentum_default:
            self.momentum = True  # on minibatches whatever the loss (see momentum)
        return run_epochs(self, epochs, batch_size, desc="minibatch vector IHT", progress=progress, callback=callback)

    def epoch_residual(self):
        """The relative residual on all samples (after ``use_rows(None)``)."""
        return self.rel_residual

    def run(self, *args, **kwargs):
        super().run(*args, **kwargs)
        if self.status == "zero":  # Y = 0: the zero net (the run emptied the support; U, V follow it)
            self.U, self.V = self._unpack(self.S, self.wS)
        return self

    def finalize(self, **info):
        return super().finalize(d=self.d, m=self.m, k=self.k, **info)
