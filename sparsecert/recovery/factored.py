"""Factored IHT: a two-layer ReLU net with k outputs, thresholded over both layers at once."""

from __future__ import annotations

import time

import numpy as np

from .._validation import check_array, check_float, check_int, check_rng, seed_from_rng
from ..backend import norm, resolve, to_numpy
from ..kernels import topk_abs
from ..random import counter_normals
from ..sparse import StreamingTopK
from .solver import IHTSolver

__all__ = ["FactoredIHTSolver"]


def _sumsq(a) -> float:
    """Sum of squares of an array or tensor, as a Python float."""
    return float((a * a).sum())


def _largest(rows, keep):
    """Per row, the sorted column indices of its ``keep`` entries of largest magnitude."""
    return np.sort(np.argsort(-np.abs(rows), axis=1, kind="stable")[:, :keep], axis=1)


class FactoredIHTSolver(IHTSolver):
    """IHT on ``theta = [vec(U); vec(V)]`` for ``F(X) = relu(X U^T) V`` (U: m x d, V: m x k).

    Each :meth:`step` streams the gradient of ``0.5 ||Y - F(X)||_F^2`` over
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
    """

    method = "vector-iht"

    def __init__(self, X, Y, m, s, *, block=256, rng=None, init_scale=None, backend="numpy", device=None):
        self.backend = resolve(backend, device)
        X = check_array(to_numpy(X), "X", ndim=2)
        n, d = X.shape
        Y = check_array(to_numpy(Y), "Y", ndim=(1, 2), dtype=X.dtype)
        if Y.shape[0] != n:
            raise ValueError(f"Y must have {n} rows (one per sample), got shape {Y.shape}")
        Y = Y if Y.ndim == 2 else Y[:, None]
        self.dtype = X.dtype
        self.X, self.Y = self._dev(X), self._dev(Y)  # converted once, here
        m = check_int(m, "m", low=1)
        self.m, self.d, self.k = m, d, Y.shape[1]
        self.s = check_int(s, "s", low=1, high=m * (d + self.k))
        self.block = check_int(block, "block", low=1)
        self.rng = check_rng(rng)
        self.key = seed_from_rng(self.rng)
        self.scale = 1.0 / np.sqrt(d) if init_scale is None else check_float(init_scale, "init_scale", low=0.0)
        self.shape = (n, m * (d + self.k))
        self.A = None
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
        self.R = self.Y - self._predict(self.U, self.V)
        self.loss = 0.5 * _sumsq(self.R)
        self.ynorm = norm(self.Y)
        self.mu, self.peak_memory, self._since_exact = 1.0 / self.shape[0], 0, 0
        self.n_iter, self.status = 0, "max_iter"
        self.residuals, self.steps = [self.rel_residual], []
        return self

    def memory_usage(self):
        """Dense weights, residual, two (n, block) tiles and the top-2s candidates."""
        n, (m, d, k), B = self.shape[0], (self.m, self.d, self.k), min(self.block, self.m)
        return int(8 * (2 * (m * (d + k)) + 2 * n * k + 2 * n * B + B * (d + k)) + 12 * 8 * 2 * self.s)

    @property
    def rel_residual(self) -> float:
        return float(np.sqrt(2 * self.loss)) / self.ynorm if self.ynorm else 0.0

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

    def _predict(self, U, V):
        act = np.flatnonzero(U.any(axis=1) & V.any(axis=1))
        if act.size == 0:
            return self.Y * 0.0
        Z = self.X @ self._dev(U[act].T)
        return (Z * (Z > 0)) @ self._dev(V[act])

    def _generators(self, j0, j1):
        """Pattern generators of units j0..j1-1: their own weights, or a seeded draw if they have none."""
        H = self.U[j0:j1].copy()
        idle = ~H.any(axis=1)
        if idle.any():
            H[idle] = counter_normals(self.key, j0, j1 - j0, self.d, H.dtype)[idle]
        return H

    def _output_weights(self, j0, j1, idle):
        """Output weights of units j0..j1-1; the ``idle`` ones (no weight at all) get virtual ones, a
        seeded draw of scale ``init_scale``, so that their hidden weights have a gradient to enter by."""
        V = self.V[j0:j1].copy()
        if idle.any():
            V[idle] = counter_normals(self.key + 1, j0, j1 - j0, self.k, V.dtype)[idle] * self.scale
        return V

    def _step(self):
        X, U, V, R, idx, val, s = self.X, self.U, self.V, self.R, self.S, self.wS, self.s
        m, d, k = self.m, self.d, self.k
        # Streamed gradient: only the top candidates and the support's entries are kept.
        top = StreamingTopK(2 * s)
        g_sup = np.zeros(idx.size)
        entrant = (0.0, None)  # (gradient energy, (unit, gU row)) of the best idle unit
        for j0 in range(0, m, self.block):
            j1 = min(m, j0 + self.block)
            own = U[j0:j1].any(axis=1)  # units whose pattern is their own
            idle = ~(own | V[j0:j1].any(axis=1))  # units without any weight
            Z = X @ self._dev(self._generators(j0, j1).T)  # (n, B) pre-activations
            P = R @ self._dev(self._output_weights(j0, j1, idle).T)  # (n, B): residual through the output weights
            gU = -to_numpy(X.T @ ((Z >= 0) * P)).T  # (B, d): gradient of the loss
            gV = -to_numpy(((Z * (Z > 0)) * self._dev(own.astype(self.dtype))).T @ R)  # (B, k)
            if idle.any():
                # the idle unit whose hidden gradient at its virtual output weights is largest may
                # enter after the step (_enter); the idle units' rows stay out of the candidates
                energy = np.where(idle, (gU * gU).sum(1), -1.0)
                b = int(np.argmax(energy))
                if energy[b] > entrant[0]:
                    entrant = (float(energy[b]), (j0 + b, gU[b].copy()))
                gU[idle], gV[idle] = 0.0, 0.0
            for off, g in ((j0 * d, gU.ravel()), (m * d + j0 * k, gV.ravel())):
                top.push(g, off)
                lo, hi = np.searchsorted(idx, [off, off + g.size])
                g_sup[lo:hi] = g[idx[lo:hi] - off]
            tiles = 2 * Z.shape[0] * Z.shape[1]  # Z and P
            self.peak_memory = max(self.peak_memory, 8 * (tiles + gU.size + gV.size) + top.nbytes)
        # Candidate set: support plus the 2s strongest gradients; theta is 0 off the support.
        cand = np.union1d(idx, top.indices)
        g_c = np.zeros(cand.size)
        g_c[np.searchsorted(cand, top.indices)] = top.values
        g_c[np.searchsorted(cand, idx)] = g_sup
        th_c = np.zeros(cand.size)
        th_c[np.searchsorted(cand, idx)] = val
        mu = self.mu * 2.0
        for _ in range(60):  # backtracking on the thresholded step
            keep = topk_abs(th_c - mu * g_c, cand, s)
            n_idx, n_val = cand[keep], (th_c - mu * g_c)[keep]
            nU, nV = self._unpack(n_idx, n_val)
            nR = self.Y - self._predict(nU, nV)
            nloss = 0.5 * _sumsq(nR)
            dtheta = np.zeros(cand.size)
            dtheta[keep] = n_val
            dtheta -= th_c
            # majorisation: accept when the loss is below its quadratic model at theta
            if nloss <= self.loss + float(g_c @ dtheta) + float(dtheta @ dtheta) / (2 * mu):
                break
            mu *= 0.5
        self.mu = mu
        if nloss > self.loss:  # no decrease along the thresholded path: stay
            n_idx, n_val, nU, nV, nR, nloss = idx, val, U, V, R, self.loss
        if entrant[1] is not None:
            n_idx, n_val, nU, nV, nR, nloss = self._enter(*entrant[1], n_idx, n_val, nU, nV, nR, nloss)
        if n_idx is idx:
            return mu, True, 0.0  # nothing decreased the loss: stationary
        dw = float(np.linalg.norm(self._pack_diff(idx, val, n_idx, n_val)))
        self.S, self.wS, self.U, self.V, self.R, self.loss = n_idx, n_val, nU, nV, nR, nloss
        return mu, bool(np.array_equal(n_idx, idx)), dw

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
        exact minimiser along it with the unit's random pattern; the weakest entries of the
        support make room. Kept only if the loss decreases (later steps grow the unit by its
        gradients); returns the (possibly unchanged) state."""
        m, d, k, s = self.m, self.d, self.k, self.s
        q = min(k, s // 2)
        if q < 1 or not np.any(gu):
            return idx, val, U, V, R, loss
        c = counter_normals(self.key + 1, j, 1, k, U.dtype)[0] * self.scale
        cq = np.argsort(-np.abs(c), kind="stable")[:q]
        uq = np.argsort(-np.abs(gu), kind="stable")[:1]
        h = self._generators(j, j + 1)[0]
        direction = np.zeros(d)
        direction[uq] = -gu[uq]
        cv = np.zeros(k)
        cv[cq] = c[cq]
        Xd = to_numpy(self.X @ self._dev(direction)) * (to_numpy(self.X @ self._dev(h)) >= 0)  # D_j X direction
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
        eR = self.Y - self._predict(eU, eV)
        eloss = 0.5 * _sumsq(eR)
        if eloss < loss:
            return e_idx, e_val, eU, eV, eR, eloss
        return idx, val, U, V, R, loss

    def run(self, *args, **kwargs):
        super().run(*args, **kwargs)
        if self.status == "zero":  # Y = 0: the zero net (the run emptied the support; U, V follow it)
            self.U, self.V = self._unpack(self.S, self.wS)
        return self

    def finalize(self, **info):
        return super().finalize(d=self.d, m=self.m, k=self.k, **info)
