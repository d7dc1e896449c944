"""Iterative magnitude pruning (lottery tickets) for NumPy models.

Kept apart, as in open_lth: the model (:class:`DenseNet`: weights and biases,
ReLU hidden layers, linear output), the training loop (:func:`train`: full or
minibatch GD or Adam, masked updates, MSE or cross-entropy) and the pruning
strategy (:func:`magnitude_prune`: layer-wise or global, per-layer rates, the
output layer at half rate by default, biases never pruned). :func:`imp` ties
them together: train, prune, rewind, repeat (Frankle & Carbin 2019).

Rounding convention: a round prunes ``ceil(rate * active)`` weights of a
layer (layer-wise) or of the whole network (global), at least one and never
below the target; among equal magnitudes the smaller flat index goes first.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from tqdm.auto import tqdm

from ._validation import check_array, check_float, check_int, check_option, check_rng

__all__ = [
    "DenseNet",
    "train",
    "magnitude_prune",
    "imp",
    "IMPResult",
    "adam_step",
    "adam_step_numpy",
    "relu_backward_inplace",
    "relu_backward_inplace_numpy",
]


# ------------------------------------------------------------------------ kernels
@njit(cache=True)
def adam_step(w, g, m, v, mask, lr, b1, b2, eps, t):
    """One masked Adam update in place (Kingma & Ba): moments, bias correction, step, mask.

    Entries with ``mask == 0`` stay exactly 0 and keep zero moments.
    All arrays are 1-d views of one parameter tensor; ``t`` counts steps from 1.
    """
    c1 = 1.0 - b1**t
    c2 = 1.0 - b2**t
    for i in range(w.size):
        if mask[i]:
            m[i] = b1 * m[i] + (1.0 - b1) * g[i]
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i]
            w[i] -= lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)
        else:
            w[i] = 0.0
            m[i] = 0.0
            v[i] = 0.0
    return w


def adam_step_numpy(w, g, m, v, mask, lr, b1, b2, eps, t):
    """NumPy twin of :func:`adam_step`."""
    on = mask.astype(bool)
    m[on] = b1 * m[on] + (1 - b1) * g[on]
    v[on] = b2 * v[on] + (1 - b2) * g[on] ** 2
    w[on] -= lr * (m[on] / (1 - b1**t)) / (np.sqrt(v[on] / (1 - b2**t)) + eps)
    w[~on] = m[~on] = v[~on] = 0.0
    return w


@njit(cache=True)
def relu_backward_inplace(G, Z):
    """``G <- G * 1[Z > 0]`` (gradient through a ReLU), in place."""
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            if Z[i, j] <= 0.0:
                G[i, j] = 0.0
    return G


def relu_backward_inplace_numpy(G, Z):
    """NumPy twin of :func:`relu_backward_inplace`."""
    G[Z <= 0.0] = 0.0
    return G


# -------------------------------------------------------------------------- model
class DenseNet:
    """Fully connected ReLU network: ``h_0 = x``, ``h_l = relu(h_{l-1} W_l^T + b_l)``, output linear.

    A linear model is a ``DenseNet`` with no hidden layer.

    Parameters
    ----------
    Ws : list of ndarray
        ``Ws[l]`` of shape (m_{l+1}, m_l); the last is the output layer.
    bs : list of ndarray or None
        Biases (same count as ``Ws``), or None for a net without biases.
    """

    def __init__(self, Ws, bs=None):
        self.Ws = [check_array(W, f"Ws[{i}]", ndim=2, copy=True) for i, W in enumerate(Ws)]
        if not self.Ws:
            raise ValueError("Ws must hold at least one layer")
        for i in range(1, len(self.Ws)):
            if self.Ws[i].shape[1] != self.Ws[i - 1].shape[0]:
                raise ValueError(f"Ws[{i}] must have {self.Ws[i - 1].shape[0]} columns, got {self.Ws[i].shape}")
        self.bs = None if bs is None else [
            check_array(b, f"bs[{i}]", shape=(W.shape[0],), copy=True) for i, (b, W) in enumerate(zip(bs, self.Ws))
        ]

    @classmethod
    def init(cls, sizes, rng=None, bias=True):
        """He-uniform init as in PyTorch's ``nn.Linear`` (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``).

        ``sizes = [d, m_1, ..., k]``.
        """
        rng = check_rng(rng)
        sizes = [check_int(s, "sizes[i]", low=1) for s in sizes]
        if len(sizes) < 2:
            raise ValueError("sizes must list the input and output widths at least")
        Ws, bs = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)
            Ws.append(rng.uniform(-bound, bound, (b, a)))
            bs.append(rng.uniform(-bound, bound, b))
        return cls(Ws, bs if bias else None)

    @classmethod
    def linear(cls, w, b=None):
        """The linear model ``x -> x . w (+ b)`` as a one-layer net."""
        w = check_array(w, "w", ndim=1)
        return cls([w[None, :]], None if b is None else [np.array([float(b)])])

    @classmethod
    def from_two_layer(cls, net):
        """A :class:`~sparsecert.models.TwoLayerReLU` as a bias-free DenseNet (same function)."""
        return cls([net.U, net.v[None, :]])

    def copy(self):
        return DenseNet(self.Ws, self.bs)

    def forward(self, X, keep=False):
        """Outputs (n, k) (or (n,) for k = 1); with ``keep`` also the pre-activations."""
        H = check_array(X, "X", ndim=2, shape=(None, self.Ws[0].shape[1]))
        Zs = []
        for l, W in enumerate(self.Ws):
            Z = H @ W.T
            if self.bs is not None:
                Z += self.bs[l]
            Zs.append(Z)
            H = np.maximum(Z, 0.0) if l < len(self.Ws) - 1 else Z
        out = H[:, 0] if H.shape[1] == 1 else H
        return (out, Zs) if keep else out

    __call__ = forward

    @property
    def n_weights(self) -> int:
        return int(sum(W.size for W in self.Ws))

    @property
    def nbytes(self) -> int:
        return int(sum(W.nbytes for W in self.Ws) + (sum(b.nbytes for b in self.bs) if self.bs else 0))


def _loss_grad(net, X, Y, loss):
    """Loss and gradients (lists for W and b) of the mean loss over the batch."""
    out, Zs = net.forward(X, keep=True)
    n = X.shape[0]
    out2 = out[:, None] if out.ndim == 1 else out
    if loss == "mse":
        R = out2 - Y
        value = 0.5 * float(np.sum(R * R)) / n
        G = R / n
    else:  # softmax cross-entropy, Y holds integer labels in column 0
        z = out2 - out2.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        lab = Y[:, 0].astype(np.int64)
        value = -float(np.mean(np.log(p[np.arange(n), lab] + 1e-300)))
        G = p
        G[np.arange(n), lab] -= 1.0
        G /= n
    gW, gb = [None] * len(net.Ws), [None] * len(net.Ws)
    for l in range(len(net.Ws) - 1, -1, -1):
        H = X if l == 0 else np.maximum(Zs[l - 1], 0.0)
        gW[l] = G.T @ H
        gb[l] = G.sum(axis=0)
        if l:
            G = G @ net.Ws[l]
            relu_backward_inplace(G, Zs[l - 1])
    return value, gW, gb


def _targets(Y, loss):
    Y = np.asarray(Y)
    if loss == "ce":
        return Y.reshape(-1, 1).astype(np.float64)
    return check_array(Y, "y", ndim=(1, 2)).reshape(Y.shape[0], -1)


def train(net, X, y, *, masks=None, optimizer="adam", lr=1e-3, epochs=10, batch_size=None, loss="mse",
          tol=0.0, rng=None, record=()):
    """Train ``net`` in place with masked updates; return per-epoch losses and recorded iterates.

    Parameters
    ----------
    net : DenseNet
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, k); integer labels for ``loss="ce"``
    masks : list of ndarray of bool, optional
        One per weight matrix; pruned weights stay 0. Biases are never masked.
    optimizer : {"adam", "gd"}
    lr : float
    epochs : int
    batch_size : int, optional
        Full batch when None or 0.
    loss : {"mse", "ce"}
    tol : float
        Stop early when the full-batch gradient norm falls below ``tol`` (GD convergence).
    rng : None, int or Generator
        Shuffles minibatches.
    record : iterable of int
        Steps after which a copy of the weights is kept (rewinding points).

    Returns
    -------
    dict with ``losses`` (per epoch), ``steps`` and ``iterates`` ({step: DenseNet}).
    """
    X = check_array(X, "X", ndim=2)
    n = X.shape[0]
    loss = check_option(loss, "loss", {"mse", "ce"})
    optimizer = check_option(optimizer, "optimizer", {"adam", "gd"})
    Y = _targets(y, loss)
    if Y.shape[0] != n:
        raise ValueError(f"y must have {n} rows, got {Y.shape[0]}")
    lr = check_float(lr, "lr", low=0.0, low_open=True)
    epochs = check_int(epochs, "epochs", low=0)
    bs = n if not batch_size else min(check_int(batch_size, "batch_size", low=1), n)
    rng = check_rng(rng)
    masks = [np.ones(W.shape, bool) for W in net.Ws] if masks is None else masks
    flat_masks = [mk.ravel().astype(np.uint8) for mk in masks]
    ones_b = [np.ones(b.size, np.uint8) for b in (net.bs or [])]
    for W, mk in zip(net.Ws, masks):
        W[~mk] = 0.0
    state = [(np.zeros(W.size), np.zeros(W.size)) for W in net.Ws]
    state_b = [(np.zeros(b.size), np.zeros(b.size)) for b in (net.bs or [])]
    record = set(int(k) for k in record)
    iterates = {0: net.copy()} if 0 in record else {}
    losses, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(n) if bs < n else np.arange(n)
        total = 0.0
        for b0 in range(0, n, bs):
            rows = order[b0 : b0 + bs]
            value, gW, gb = _loss_grad(net, X[rows], Y[rows], loss)
            total += value * rows.size
            step += 1
            for l, W in enumerate(net.Ws):
                if optimizer == "adam":
                    adam_step(W.reshape(-1), gW[l].reshape(-1), *state[l], flat_masks[l], lr, 0.9, 0.999, 1e-8, step)
                else:
                    W -= lr * gW[l] * masks[l]
            if net.bs is not None:
                for l, b in enumerate(net.bs):
                    if optimizer == "adam":
                        adam_step(b, gb[l], *state_b[l], ones_b[l], lr, 0.9, 0.999, 1e-8, step)
                    else:
                        b -= lr * gb[l]
            if step in record:
                iterates[step] = net.copy()
        losses.append(total / n)
        if tol:
            _, gW, gb = _loss_grad(net, X, Y, loss)
            gnorm = math.sqrt(sum(float(np.sum((g * mk) ** 2)) for g, mk in zip(gW, masks))
                              + (sum(float(g @ g) for g in gb) if net.bs is not None else 0.0))
            if gnorm <= tol:
                break
    return {"losses": np.asarray(losses), "steps": step, "iterates": iterates}


# ---------------------------------------------------------------------- pruning
def _prune_count(rate, active, floor):
    return min(math.ceil(rate * active), max(0, active - floor)) if active else 0


def _smallest(values, idx, k):
    """The k entries of idx with the smallest |values|; ties to the smaller index."""
    return idx[np.lexsort((idx, np.abs(values[idx])))[:k]]


def magnitude_prune(net, masks, rates, *, scope="layer", floors=None):
    """New masks with the smallest-magnitude surviving weights removed.

    Parameters
    ----------
    net : DenseNet
    masks : list of ndarray of bool
    rates : list of float
        Per-layer rate (layer-wise), or one rate in ``rates[0]`` for ``scope="global"``.
    scope : {"layer", "global"}
    floors : list of int or int, optional
        Minimum number of weights to keep (per layer, or in total for global).
    """
    scope = check_option(scope, "scope", {"layer", "global"})
    new = [mk.copy() for mk in masks]
    if scope == "layer":
        floors = floors if floors is not None else [1] * len(masks)
        for l, (W, mk) in enumerate(zip(net.Ws, new)):
            flat = mk.reshape(-1)
            idx = np.flatnonzero(flat)
            k = _prune_count(rates[l], idx.size, floors[l])
            flat[_smallest(W.reshape(-1), idx, k)] = False
        return new
    values = _flat(net.Ws)
    flat = _flat(new)
    idx = np.flatnonzero(flat)
    flat[_smallest(values, idx, _prune_count(rates[0], idx.size, floors or 1))] = False
    return _unflat(flat, new)


def _flat(arrays):
    return np.concatenate([a.reshape(-1) for a in arrays])


def _unflat(flat, like):
    out, o = [], 0
    for a in like:
        out.append(flat[o : o + a.size].reshape(a.shape))
        o += a.size
    return out


@dataclass
class IMPResult:
    """Rounds of IMP: masks, trained nets and metrics.

    Attributes
    ----------
    masks : list of list of ndarray of bool
        Masks used in each round (round 0 dense).
    nets : list of DenseNet
        Trained network of each round.
    metrics : list of dict
        Per round: ``kept`` (weights), ``density``, ``loss`` (final training loss)
        and whatever ``evaluate(net)`` returned.
    time : float
    peak_memory : int
        Bytes of the dense state IMP holds: weights, masks, optimizer moments,
        rewinding copy and one batch of activations.
    """

    masks: list
    nets: list
    metrics: list
    time: float = 0.0
    peak_memory: int = 0
    info: dict = field(default_factory=dict)

    @property
    def net(self):
        return self.nets[-1]


def imp(net0, X, y, *, target=None, rounds=None, rate=0.2, output_rate=None, scope="layer", rewind="init",
        evaluate=None, progress=None, rng=None, **train_kwargs):
    """Iterative magnitude pruning: train, prune, rewind, repeat.

    Parameters
    ----------
    net0 : DenseNet
        Initialisation (not modified).
    X, y
        Training data.
    target : int, optional
        Stop once this many weights remain (biases excluded).
    rounds : int, optional
        Or a fixed number of pruning rounds.
    rate : float in (0, 1)
        Fraction of the surviving weights pruned per round (per layer, or globally).
    output_rate : float, optional
        Rate of the output layer for layer-wise pruning (default ``rate / 2``).
    scope : {"layer", "global"}
    rewind : "init", "continue", "reinit" or int k
        Start of each round: ``net0``; the last round's trained weights; a fresh
        init of the same shapes; or the weights after ``k`` steps of the dense run.
    evaluate : callable, optional
        ``evaluate(net) -> dict`` of extra metrics per round (e.g. test accuracy).
    train_kwargs
        Passed to :func:`train` (optimizer, lr, epochs, batch_size, loss, tol).

    Returns
    -------
    IMPResult
    """
    t0 = time.perf_counter()
    rate = check_float(rate, "rate", low=0.0, low_open=True)
    if rate >= 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    output_rate = rate / 2 if output_rate is None else check_float(output_rate, "output_rate", low=0.0)
    if (target is None) == (rounds is None):
        raise ValueError("give exactly one of target= (weights to keep) or rounds=")
    total = net0.n_weights
    if target is not None:
        target = check_int(target, "target", low=1, high=total)
    else:
        rounds = check_int(rounds, "rounds", low=0)
    if not (isinstance(rewind, (int, np.integer)) and not isinstance(rewind, bool)):
        rewind = check_option(rewind, "rewind", {"init", "continue", "reinit"})
    elif rewind < 0:
        raise ValueError(f"rewind step must be >= 0, got {rewind}")
    rng = check_rng(rng)
    if progress is None:
        progress = sys.stderr.isatty()
    L = len(net0.Ws)
    rates = [rate] * L if scope == "global" else [rate] * (L - 1) + [output_rate]
    masks = [np.ones(W.shape, bool) for W in net0.Ws]
    result_masks, nets, metrics = [], [], []
    rewind_net = None
    prev = None
    bar = tqdm(desc="IMP rounds", disable=not progress, leave=False)
    r = 0
    peak = 0
    while True:
        if r == 0 or rewind == "init":
            net = net0.copy()
        elif rewind == "continue":
            net = prev.copy()
        elif rewind == "reinit":
            net = DenseNet.init([net0.Ws[0].shape[1]] + [W.shape[0] for W in net0.Ws], rng, bias=net0.bs is not None)
        else:
            net = rewind_net.copy()
        record = (rewind,) if (r == 0 and not isinstance(rewind, str)) else ()
        out = train(net, X, y, masks=masks, rng=rng, record=record, **train_kwargs)
        if record:
            rewind_net = out["iterates"].get(rewind, net).copy()
        kept = int(sum(mk.sum() for mk in masks))
        row = {"round": r, "kept": kept, "density": kept / total, "loss": float(out["losses"][-1]) if out["losses"].size else np.nan}
        if evaluate is not None:
            row.update(evaluate(net))
        result_masks.append([mk.copy() for mk in masks])
        nets.append(net)
        metrics.append(row)
        batch = train_kwargs.get("batch_size") or X.shape[0]
        acts = batch * sum(W.shape[0] for W in net.Ws) * 8 * 2
        peak = max(peak, 4 * net.nbytes + sum(mk.size for mk in masks) + acts)
        bar.update(1)
        prev = net
        done = (rounds is not None and r >= rounds) or (target is not None and kept <= target)
        if done:
            break
        floors = None if target is None else (target if scope == "global" else [1] * L)
        new = magnitude_prune(net, masks, rates, scope=scope, floors=floors)
        if target is not None and scope == "layer":
            # layer-wise rates may overshoot the total target: stop exactly at it
            over = target - int(sum(mk.sum() for mk in new))
            if over > 0:
                new = _topup(net, masks, new, over)
        if all(np.array_equal(a, b) for a, b in zip(new, masks)):
            raise ValueError("the schedule cannot reach the target: a round pruned nothing")
        masks = new
        r += 1
    bar.close()
    return IMPResult(masks=result_masks, nets=nets, metrics=metrics, time=time.perf_counter() - t0,
                     peak_memory=int(peak), info={"rate": rate, "output_rate": output_rate, "scope": scope,
                                                  "rewind": rewind})


def _topup(net, old, new, count):
    """Give back the ``count`` largest-magnitude weights pruned in this round."""
    values, now = _flat(net.Ws), _flat(new)
    dropped = np.flatnonzero(_flat(old) & ~now)
    now[dropped[np.lexsort((dropped, -np.abs(values[dropped])))[:count]]] = True
    return _unflat(now, new)
