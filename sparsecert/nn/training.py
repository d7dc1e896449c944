"""Training a :class:`~sparsecert.nn.ReLUNet` in NumPy: its loss and gradient (:func:`loss_and_grad`)
and the training loop (:func:`train`: full or minibatch GD or Adam, masked updates, MSE or
cross-entropy). Pruning strategies (:mod:`sparsecert.prune`) build on it, as in open_lth: model,
training and pruning kept apart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..validation import (check_array, check_float, check_int, check_option, check_rng, is_integral, legacy_options,
                          refuse_fields)
from ..kernels import adam_step, relu_backward_inplace

__all__ = ["Training", "train", "loss_and_grad", "as_targets", "LOSSES", "loss_name", "OPTIMIZERS", "optimizer_name"]

#: Training losses, one vocabulary for the NumPy and the torch networks (``"ce"`` is accepted
#: for ``"cross-entropy"``).
LOSSES = ("mse", "cross-entropy")


def loss_name(loss):
    """The canonical name of a training loss (``"ce"`` -> ``"cross-entropy"``); ValueError if unknown."""
    return check_option("cross-entropy" if loss == "ce" else loss, "loss", set(LOSSES))


#: Optimisers, one vocabulary for the NumPy and the torch networks: ``"adam"`` (betas 0.9, 0.999,
#: eps 1e-8) and ``"sgd"`` (heavy ball: ``v <- momentum v + g``, ``w <- w - lr v``, as torch's SGD
#: without dampening). ``"gd"`` is accepted for ``"sgd"`` with momentum 0.
OPTIMIZERS = ("adam", "sgd")


def optimizer_name(optimizer, momentum):
    """``(name, momentum)`` in canonical form (``"gd"`` -> ``("sgd", 0.0)``); ValueError if the name is
    unknown or the momentum is outside [0, 1]."""
    if optimizer == "gd":
        return "sgd", 0.0
    return (check_option(optimizer, "optimizer", set(OPTIMIZERS)),
            check_float(momentum, "momentum", low=0.0, high=1.0))


@dataclass(frozen=True)
class Training:
    """How a network is trained by gradient steps: one configuration for the NumPy loop
    (:func:`train`) and the torch one (:func:`sparsecert.torch_bridge.fit`), checked when made.

    Parameters
    ----------
    optimizer : {"adam", "sgd"}
        See :data:`OPTIMIZERS` (``"gd"``: ``"sgd"`` with momentum 0).
    lr : float, > 0
        Learning rate.
    epochs : int, >= 0
        Passes over the data.
    iterations : int, optional
        Steps instead of ``epochs`` (torch loop only).
    batch_size : int, optional
        Samples per step; None: the full batch.
    loss : {"mse", "cross-entropy"}
        :data:`LOSSES` (``"ce"`` is accepted); cross-entropy targets are integer labels.
    momentum : float in [0, 1]
        Of ``"sgd"`` (heavy ball, as torch's SGD).
    weight_decay : float, >= 0
        L2 penalty of the optimiser (torch loop only).
    tol : float, >= 0
        Stop when the full-batch gradient norm falls below ``tol`` after an epoch (NumPy loop only).
    augment : callable, optional
        ``augment(xb, generator) -> xb`` on each batch of tensors (torch loop only).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 10
    iterations: int | None = None
    batch_size: int | None = None
    loss: str = "mse"
    momentum: float = 0.9
    weight_decay: float = 0.0
    tol: float = 0.0
    augment: Callable | None = None

    def __post_init__(self) -> None:
        optimizer, momentum = optimizer_name(self.optimizer, self.momentum)
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "momentum", momentum)
        object.__setattr__(self, "loss", loss_name(self.loss))
        check_float(self.lr, "lr", low=0.0, low_open=True)
        check_int(self.epochs, "epochs", low=0)
        for name in ("iterations", "batch_size"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, low=0 if name == "iterations" else 1)
        check_float(self.weight_decay, "weight_decay", low=0.0)
        check_float(self.tol, "tol", low=0.0)
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"augment must be callable, got {type(self.augment).__name__}")


def _adam_keep_frozen(w, g, st, upd, lr, step, frozen, l):
    """Masked Adam; with frozen units, their entries keep value and moments (upd = 0 there)."""
    if frozen is None or not frozen[l].any():
        adam_step(w.reshape(-1), g.reshape(-1), *st, upd, lr, 0.9, 0.999, 1e-8, step)
        return
    keep_w, keep_m, keep_v = w.reshape(-1).copy(), st[0].copy(), st[1].copy()
    adam_step(w.reshape(-1), g.reshape(-1), *st, upd, lr, 0.9, 0.999, 1e-8, step)
    fz = (np.broadcast_to(frozen[l][:, None], w.shape) if w.ndim == 2 else frozen[l]).reshape(-1)
    w.reshape(-1)[fz] = keep_w[fz]
    st[0][fz] = keep_m[fz]
    st[1][fz] = keep_v[fz]


def _sgd_step(w, g, v, upd, lr, momentum):
    """Masked heavy-ball step in place: where ``upd`` is 1, ``v <- momentum v + g`` and ``w <- w - lr v``;
    elsewhere ``w`` and ``v`` keep their values. ``v``: flat velocity of w's size."""
    if not momentum:
        w -= lr * g * upd.reshape(w.shape)
        return
    on = upd.astype(bool)
    v[on] = momentum * v[on] + g.reshape(-1)[on]
    w.reshape(-1)[on] -= lr * v[on]


def loss_and_grad(net, X, Y, loss, frozen=None):
    """Loss and gradients (lists for W and b) of the mean loss over the batch.

    With ``frozen`` (per layer, bool per unit), the weight-gradient rows of
    frozen units are not computed (left 0): the work NEq saves.
    """
    Zs = net.pre_activations(X)
    out = Zs[-1]
    n = X.shape[0]
    if loss_name(loss) == "mse":
        R = out - Y
        value = 0.5 * float(np.sum(R * R)) / n
        G = R / n
    else:  # softmax cross-entropy, Y holds integer labels in column 0
        z = out - out.max(axis=1, keepdims=True)
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
        if frozen is not None and frozen[l].any():
            live = np.flatnonzero(~frozen[l])
            gW[l] = np.zeros(net.Ws[l].shape)
            gW[l][live] = G[:, live].T @ H
        else:
            gW[l] = G.T @ H
        gb[l] = G.sum(axis=0)
        if l:
            G = G @ net.Ws[l]
            relu_backward_inplace(G, Zs[l - 1])
    return value, gW, gb


def as_targets(Y, loss, k=None):
    """Targets as an (n, .) float array: labels (n, 1) for cross-entropy, values (n, k) for MSE.

    Cross-entropy labels must be integers in ``[0, k)`` (``k``: the net's outputs, when known),
    one per sample: -1 would index the last class, 2.7 would be truncated, NaN would fail
    deep in the gradient."""
    Y = np.asarray(Y)
    if loss_name(loss) == "cross-entropy":
        if Y.ndim == 2 and Y.shape[1] == 1:
            Y = Y[:, 0]
        if Y.ndim != 1 or Y.dtype.kind not in "biuf":
            raise ValueError(f"cross-entropy labels must be a 1-d array of class indices, got shape {Y.shape}, "
                             f"dtype {Y.dtype}")
        if Y.size and (not is_integral(Y) or Y.min() < 0 or (k is not None and Y.max() >= k)):
            hi = "" if k is None else f", < {k}"
            raise ValueError(f"cross-entropy labels must be integers >= 0{hi} (class indices); "
                             f"got values in [{Y.min()}, {Y.max()}]" + (" with NaN" if np.isnan(Y).any() else ""))
        return Y.reshape(-1, 1).astype(np.float64)
    return check_array(Y, "y", ndim=(1, 2)).reshape(Y.shape[0], -1)


def _update(p, g, state, upd, optimizer, lr, momentum, step, frozen, l):
    """One masked update of the parameter ``p`` (a weight matrix or a bias of layer ``l``) in place."""
    if optimizer == "adam":
        _adam_keep_frozen(p, g, state, upd, lr, step, frozen, l)
    else:
        _sgd_step(p, g, state[0], upd, lr, momentum)


def train(net, X, y, *, training=Training(), masks=None, rng=None, record=(), callback=None, frozen=None,
          epoch_callback=None, **legacy):
    """Train ``net`` in place with masked updates; return per-epoch losses and recorded iterates.

    Parameters
    ----------
    net : ReLUNet
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, k); integer labels for ``loss="cross-entropy"``
    training : Training
        Optimiser, learning rate, epochs, batch size, loss, momentum and ``tol`` (its ``iterations``,
        ``weight_decay`` and ``augment`` are the torch loop's). 0.4's keywords of these (``lr=``,
        ``epochs=``, ...) still work until 0.6, with a FutureWarning.
    masks : list of ndarray of bool, optional
        One per weight matrix; pruned weights stay 0. Biases are never masked.
    rng : None, int or Generator
        Shuffles minibatches.
    record : iterable of int
        Steps after which a copy of the weights is kept (rewinding points).
    callback : callable, optional
        ``callback(step, net, rows)`` after each update (``rows``: the batch).
        It may return a new list of masks (prune-and-regrow sparse training):
        newly pruned weights are zeroed, regrown ones start from their current
        value with zero optimizer moments.
    frozen : list of ndarray of bool, optional
        Per layer, units (rows of ``W_l``, entries of ``b_l``) whose parameters
        are neither updated nor have their weight gradients computed.
    epoch_callback : callable, optional
        ``epoch_callback(epoch, net)`` after each epoch; it may return a new
        ``frozen`` list for the next epoch (NEq).

    Returns
    -------
    dict with ``losses`` (per epoch), ``steps``, ``iterates`` ({step: ReLUNet})
    and ``masks`` (those in force at the end).
    """
    training = legacy_options("sparsecert.nn.train", legacy, training=training)["training"]
    refuse_fields(training, ("iterations", "weight_decay", "augment"), "sparsecert.nn.train", "the torch loop's")
    X = check_array(X, "X", ndim=2)
    n = X.shape[0]
    loss, optimizer, lr, momentum, tol = training.loss, training.optimizer, training.lr, training.momentum, training.tol
    Y = as_targets(y, loss, k=net.Ws[-1].shape[0])
    if Y.shape[0] != n:
        raise ValueError(f"y must have {n} rows, got {Y.shape[0]}")
    bs = n if not training.batch_size else min(training.batch_size, n)
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
    for _ in range(training.epochs):
        order = rng.permutation(n) if bs < n else np.arange(n)
        total = 0.0
        for b0 in range(0, n, bs):
            rows = order[b0 : b0 + bs]
            value, gW, gb = loss_and_grad(net, X[rows], Y[rows], loss, frozen)
            total += value * rows.size
            step += 1
            for l, W in enumerate(net.Ws):
                upd = flat_masks[l] if frozen is None else (masks[l] & ~frozen[l][:, None]).ravel().astype(np.uint8)
                _update(W, gW[l], state[l], upd, optimizer, lr, momentum, step, frozen, l)
            for l, b in enumerate(net.bs or []):
                upd_b = ones_b[l] if frozen is None else (~frozen[l]).astype(np.uint8)
                _update(b, gb[l], state_b[l], upd_b, optimizer, lr, momentum, step, frozen, l)
            if step in record:
                iterates[step] = net.copy()
            new_masks = None if callback is None else callback(step, net, rows)
            if new_masks is not None:
                masks = new_masks
                flat_masks = [mk.ravel().astype(np.uint8) for mk in masks]
                for W, mk, (m1, v1) in zip(net.Ws, masks, state):
                    W[~mk] = 0.0
                    m1[~mk.ravel()] = 0.0
                    v1[~mk.ravel()] = 0.0
        losses.append(total / n)
        if epoch_callback is not None:
            new_frozen = epoch_callback(len(losses), net)
            if new_frozen is not None:
                frozen = new_frozen
        if tol:
            _, gW, gb = loss_and_grad(net, X, Y, loss)
            gnorm = math.sqrt(sum(float(np.sum((g * mk) ** 2)) for g, mk in zip(gW, masks))
                              + (sum(float(g @ g) for g in gb) if net.bs is not None else 0.0))
            if gnorm <= tol:
                break
    return {"losses": np.asarray(losses), "steps": step, "iterates": iterates, "masks": masks}
