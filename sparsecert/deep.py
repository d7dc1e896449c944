"""Vector-output and deeper sparse ReLU networks, fitted by IHT.

* :func:`recover_relu_vector`: a two-layer net ``F(X) = relu(X U^T) V`` with
  k outputs. IHT runs on the factored parameters ``theta = [vec(U); vec(V)]``
  (length ``m d + m k``) with one top-s over both layers, as in the paper's
  vector-output experiments. The gradient is streamed over blocks of hidden
  units and only its top-2s entries are kept (the weights themselves are held
  as dense m x d and m x k arrays here: this fit is not memory-linear). Units
  without weights take their activation pattern from a seeded random
  generator (the sequential-convex rule), so they can enter the support.
* :func:`recover_mlp`: deeper nets fitted layer by layer: each layer is a
  sparse two-layer fit on the previous layer's ReLU features, the sparsity
  budget split evenly across layers.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm.auto import tqdm

from ._validation import check_array, check_int, check_rng, seed_from_rng
from .kernels import topk_abs
from .random import counter_normals
from .recovery import RecoveryResult
from .relu import recover_relu
from .sparse import SparseVector, StreamingTopK

__all__ = ["MLP", "recover_relu_vector", "recover_mlp"]


class MLP:
    """ReLU network ``x -> relu(... relu(x W_1^T) ... W_L^T) V``.

    Parameters
    ----------
    Ws : list of ndarray
        Hidden layers, ``Ws[l]`` of shape (m_l, m_{l-1}) with ``m_0 = d``.
    V : ndarray, shape (m_L,) or (m_L, k)
        Output layer (no activation).
    """

    def __init__(self, Ws, V):
        self.Ws = [check_array(W, f"Ws[{i}]", ndim=2) for i, W in enumerate(Ws)]
        for i in range(1, len(self.Ws)):
            if self.Ws[i].shape[1] != self.Ws[i - 1].shape[0]:
                raise ValueError(f"Ws[{i}] must have {self.Ws[i - 1].shape[0]} columns, got {self.Ws[i].shape}")
        self.V = check_array(V, "V", ndim=(1, 2))
        if self.V.shape[0] != self.Ws[-1].shape[0]:
            raise ValueError(f"V must have {self.Ws[-1].shape[0]} rows, got {self.V.shape}")

    def features(self, X, depth=None):
        """ReLU features after ``depth`` hidden layers (default all), shape (n, m_depth)."""
        H = check_array(X, "X", ndim=2, shape=(None, self.Ws[0].shape[1]))
        for W in self.Ws[: len(self.Ws) if depth is None else depth]:
            H = np.maximum(H @ W.T, 0.0)
        return H

    def forward(self, X):
        """Outputs, shape (n,) or (n, k)."""
        return self.features(X) @ self.V

    __call__ = forward

    @property
    def nnz(self) -> int:
        return int(sum(np.count_nonzero(W) for W in self.Ws) + np.count_nonzero(self.V))


def _generators(key, m, d, U, j0, j1):
    """Pattern generators of units j0..j1-1: their own weights, or a seeded draw if they have none."""
    H = U[j0:j1].copy()
    idle = ~H.any(axis=1)
    if idle.any():
        H[idle] = counter_normals(key, j0, j1 - j0, d, H.dtype)[idle]
    return H


def recover_relu_vector(X, Y, m, s, *, max_iter=100, tol=1e-10, block=256, rng=None, progress=None, init_scale=None):
    """Fit ``F(X) = relu(X U^T) V`` (U: m x d, V: m x k) with at most ``s`` nonzeros in (U, V).

    IHT on the factored loss ``0.5 ||Y - F(X)||_F^2``: a gradient step on
    ``theta = [vec(U); vec(V)]``, one shared top-s over both layers, and an
    backtracking step size (halved until the loss lies under its quadratic
    majoriser, starting from twice the last accepted step), so the loss never
    increases. Non-convex: no recovery guarantee, unlike the scalar
    convex reformulation.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Y : array_like, shape (n, k) or (n,)
    m : int
        Hidden width.
    s : int
        Nonzeros over both layers, ``1 <= s <= m (d + k)``.
    max_iter : int
    tol : float
        Stop when ``||Y - F(X)||_F <= tol ||Y||_F``.
    block : int
        Hidden units per streaming block.
    rng : None, int or Generator
        Seeds the initial weights and the generators of empty units.
    progress : bool, optional
    init_scale : float, optional
        Standard deviation of the random start (default ``1/sqrt(d)``).

    Returns
    -------
    net : MLP
        One hidden layer, ``V`` of shape (m, k) (or (m,) for a 1-d ``Y``).
    result : RecoveryResult
        ``w`` is the sparse ``theta``.
    """
    t_start = time.perf_counter()
    X = check_array(X, "X", ndim=2)
    n, d = X.shape
    Y = check_array(Y, "Y", ndim=(1, 2), dtype=X.dtype)
    if Y.shape[0] != n:
        raise ValueError(f"Y must have {n} rows (one per sample), got shape {Y.shape}")
    vector = Y.ndim == 2
    Y2 = Y if vector else Y[:, None]
    k = Y2.shape[1]
    m = check_int(m, "m", low=1)
    s = check_int(s, "s", low=1, high=m * (d + k))
    block = check_int(block, "block", low=1)
    rng = check_rng(rng)
    key = seed_from_rng(rng)
    scale = 1.0 / np.sqrt(d) if init_scale is None else float(init_scale)
    if progress is None:
        progress = sys.stderr.isatty()

    # Random start, thresholded to s entries over both layers.
    U = rng.standard_normal((m, d)) * scale
    V = rng.standard_normal((m, k)) * scale
    N = m * (d + k)

    def theta_top(U, V, s):
        top = StreamingTopK(s)
        top.push(U.ravel(), 0)
        top.push(V.ravel(), m * d)
        return top.indices, top.values

    def unpack(idx, val):
        U = np.zeros((m, d))
        V = np.zeros((m, k))
        u = idx < m * d
        U.flat[idx[u]] = val[u]
        V.flat[idx[~u] - m * d] = val[~u]
        return U, V

    def predict(U, V):
        act = np.flatnonzero(U.any(axis=1) & V.any(axis=1))
        if act.size == 0:
            return np.zeros((n, k))
        return np.maximum(X @ U[act].T, 0.0) @ V[act]

    idx, val = theta_top(U, V, s)
    U, V = unpack(idx, val)
    R = Y2 - predict(U, V)
    ynorm = float(np.linalg.norm(Y2))
    loss = 0.5 * float(np.sum(R * R))
    residuals = [np.sqrt(2 * loss) / ynorm if ynorm else 0.0]
    steps, mu, status, it = [], 1.0 / n, "max_iter", 0
    peak = 0
    with tqdm(total=max_iter, desc=f"vector IHT s={s}", disable=not progress, leave=False) as bar:
        for it in range(1, max_iter + 1):
            # Streamed gradient: only the top candidates and the support's entries are kept.
            top = StreamingTopK(2 * s)
            g_sup = np.zeros(idx.size)
            for j0 in range(0, m, block):
                j1 = min(m, j0 + block)
                Z = X @ _generators(key, m, d, U, j0, j1).T  # (n, B) pre-activations
                P = R @ V[j0:j1].T  # (n, B): residual through the output weights
                gU = -(X.T @ ((Z >= 0) * P)).T  # (B, d): gradient of the loss
                own = U[j0:j1].any(axis=1)  # units whose pattern is their own
                gV = -(np.maximum(Z, 0.0) * own).T @ R  # (B, k)
                for off, g in ((j0 * d, gU.ravel()), (m * d + j0 * k, gV.ravel())):
                    top.push(g, off)
                    lo, hi = np.searchsorted(idx, [off, off + g.size])
                    g_sup[lo:hi] = g[idx[lo:hi] - off]
                peak = max(peak, 8 * (Z.size + P.size + gU.size + gV.size) + top.nbytes)
            # Candidate set: support plus the 2s strongest gradients; theta is 0 off the support.
            cand = np.union1d(idx, top.indices)
            g_c = np.zeros(cand.size)
            g_c[np.searchsorted(cand, top.indices)] = top.values
            g_c[np.searchsorted(cand, idx)] = g_sup
            th_c = np.zeros(cand.size)
            th_c[np.searchsorted(cand, idx)] = val
            mu = mu * 2.0
            for _ in range(60):  # backtracking on the thresholded step
                keep = topk_abs(th_c - mu * g_c, cand, s)
                n_idx, n_val = cand[keep], (th_c - mu * g_c)[keep]
                nU, nV = unpack(n_idx, n_val)
                nR = Y2 - predict(nU, nV)
                nloss = 0.5 * float(np.sum(nR * nR))
                dtheta = np.zeros(cand.size)
                dtheta[keep] = n_val
                dtheta -= th_c
                # majorisation: accept when the loss is below its quadratic model at theta
                if nloss <= loss + float(g_c @ dtheta) + float(dtheta @ dtheta) / (2 * mu):
                    break
                mu *= 0.5
            if nloss > loss:  # no decrease along the thresholded path: stationary
                status = "stationary"
                break
            idx, val, U, V, R, loss = n_idx, n_val, nU, nV, nR, nloss
            rel = np.sqrt(2 * loss) / ynorm if ynorm else 0.0
            residuals.append(rel)
            steps.append(mu)
            bar.update(1)
            if rel <= tol:
                status = "residual"
                break
    w = SparseVector(idx, val, N)
    result = RecoveryResult(
        w=w, support=w.indices, n_iter=it, converged=status != "max_iter", status=status,
        residuals=np.asarray(residuals), steps=np.asarray(steps), time=time.perf_counter() - t_start,
        peak_memory=int(peak), method="vector-iht", info={"n": n, "d": d, "m": m, "k": k, "s": s},
    )
    return MLP([U], V if vector else V[:, 0]), result


def recover_mlp(X, y, widths, s, *, method="aiht", sequential=True, max_iter=30, rng=None, progress=None, **kwargs):
    """Fit a deep sparse ReLU net layer by layer, the budget ``s`` split evenly.

    Layer ``l`` is a sparse two-layer fit (:func:`sparsecert.relu.recover_relu`
    for a 1-d ``y``, :func:`recover_relu_vector` for a 2-d ``y``) of ``y``
    on the ReLU features of the layers before it; its hidden weights are kept
    and its output weights become the network's output layer if it is last.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, k)
    widths : sequence of int
        Hidden widths ``m_1, ..., m_L``.
    s : int
        Total nonzeros; layer ``l`` gets ``s // L`` (the first gets the rest).
    method, sequential, max_iter, rng, progress
        Passed to the per-layer fits (scalar output); ``**kwargs`` too.

    Returns
    -------
    net : MLP
    results : list of RecoveryResult, one per layer
    """
    widths = [check_int(w, "widths[i]", low=1) for w in widths]
    if not widths:
        raise ValueError("widths must name at least one hidden layer")
    L = len(widths)
    s = check_int(s, "s", low=L)
    budgets = [s // L] * L
    budgets[0] += s - sum(budgets)
    rng = check_rng(rng)
    X = check_array(X, "X", ndim=2)
    y = check_array(y, "y", ndim=(1, 2), dtype=X.dtype)
    H, Ws, results, V = X, [], [], None
    for m_l, s_l in zip(widths, budgets):
        s_l = min(s_l, m_l * H.shape[1])
        if y.ndim == 1:
            net, res = recover_relu(
                H, y, m_l, s_l, method=method, sequential=sequential, max_iter=max_iter, rng=rng,
                progress=progress, **kwargs,
            )
            W, V = net.U * np.abs(net.v)[:, None], np.sign(net.v)
        else:
            net, res = recover_relu_vector(H, y, m_l, s_l, max_iter=max_iter, rng=rng, progress=progress)
            W, V = net.Ws[0], net.V
        Ws.append(W)
        results.append(res)
        H = np.maximum(H @ W.T, 0.0)
    return MLP(Ws, V), results
