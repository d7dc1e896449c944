"""BINGO significance scores: probe subsets of weights during one training run, prune once after.

During ordinary training, after every ``probe_every`` steps, ``n_probes`` random
subsets (each a fraction ``subset_fraction`` of the surviving weights) are
studied one at a time: the subset is reset to its initial values, the batch
loss is measured, the weights are restored, and the rise in loss is credited
to every weight of the subset. A weight's significance is the mean credit
over the probes that included it (0 if never probed). After training the
least significant weights are pruned in one shot (Panangat 2025, "BINGO").

Cost: one extra forward pass on the batch per probe; ``bingo_train`` reports
it as ``probe_seconds`` next to the total.
"""

from __future__ import annotations

import time

import numpy as np

from ..validation import check_array, check_float, check_int, check_rng, legacy_options
from ..nn import Training, as_targets, loss_name, train

__all__ = ["bingo_train", "SubsetProbe"]


class SubsetProbe:
    """BINGO's probing for any model kind: the subsets, the credit and the significance.

    The model is seen as one flat vector over its weight tensors (sizes
    ``sizes``); ``live`` are the flat indices that may be probed. At a step where
    ``due(step)`` (every ``probe_every`` steps), ``probe(flats, init, batch_loss)`` resets
    ``n_probes`` random subsets of ``k = max(1, round(subset_fraction |live|))``
    live weights, one at a time, to their initial values, measures
    ``batch_loss()``, restores the weights and credits the rise in loss to the
    subset. ``flats``/``init`` are per-tensor 1-d views (NumPy arrays or torch
    tensors; ``index`` turns a NumPy index array into what they take).
    """

    def __init__(self, sizes, live, *, subset_fraction=0.05, n_probes=4, probe_every=1, rng=None, index=None):
        self.offsets = np.cumsum([0] + list(sizes))
        self.live = np.asarray(live)
        self.k = max(1, int(round(check_float(subset_fraction, "subset_fraction", low=0.0, high=1.0, low_open=True)
                                  * self.live.size)))
        self.n_probes = check_int(n_probes, "n_probes", low=1)
        self.every = check_int(probe_every, "probe_every", low=1)
        self.rng = check_rng(rng)
        self.index = (lambda a: a) if index is None else index
        self.credit = np.zeros(self.offsets[-1])
        self.count = np.zeros(self.offsets[-1])
        self.seconds = 0.0

    def due(self, step):
        """Whether training step ``step`` is a probing step."""
        return step % self.every == 0

    def probe(self, flats, init, batch_loss):
        t0 = time.perf_counter()
        base = batch_loss()
        for _ in range(self.n_probes):
            subset = np.sort(self.rng.choice(self.live, self.k, replace=False))
            cuts = np.searchsorted(subset, self.offsets)
            parts = [self.index(subset[cuts[l] : cuts[l + 1]] - self.offsets[l]) for l in range(len(flats))]
            saved = [flat[sel] for flat, sel in zip(flats, parts)]  # (fancy indexing copies)
            for flat, sel, start in zip(flats, parts, init):
                flat[sel] = start[sel]
            rise = batch_loss() - base
            for flat, sel, vals in zip(flats, parts, saved):
                flat[sel] = vals
            self.credit[subset] += rise
            self.count[subset] += 1
        self.seconds += time.perf_counter() - t0

    def significance(self, shapes):
        """Mean credit per weight (0 where never probed), one array per tensor of ``shapes``."""
        sig = np.divide(self.credit, self.count, out=np.zeros_like(self.credit), where=self.count > 0)
        return [sig[self.offsets[l] : self.offsets[l + 1]].reshape(shape) for l, shape in enumerate(shapes)]


def bingo_train(net, X, y, *, training=Training(), masks=None, subset_fraction=0.05, n_probes=4, probe_every=1,
                rng=None, init=None, record=(), **legacy):
    """:func:`sparsecert.nn.train` with BINGO probing; returns its dict plus ``significance``.

    Parameters
    ----------
    training, masks, rng, record
        As :func:`sparsecert.nn.train` (0.4's flat keywords ``loss=``, ``lr=``, ... still work until
        0.6, with a FutureWarning).
    subset_fraction : float in (0, 1]
        Fraction of the surviving weights in each probed subset.
    n_probes : int
        Subsets studied (one at a time) at each probing step.
    probe_every : int
        Training steps between probing steps.
    init : ReLUNet, optional
        Values to reset to (default: ``net`` as it is when training starts).

    Returns
    -------
    dict with ``losses``, ``steps``, ``iterates`` (as ``train``), ``significance``
    (list of arrays, one per weight matrix), ``probe_seconds`` and ``seconds``.
    """
    training = legacy_options("sparsecert.prune.bingo.bingo_train", legacy, training=training)["training"]
    loss = training.loss
    rng = check_rng(rng)
    init = net.copy() if init is None else init
    masks = [np.ones(W.shape, bool) for W in net.Ws] if masks is None else masks
    Y = as_targets(y, loss, k=net.Ws[-1].shape[0])
    X = check_array(X, "X", ndim=2)
    live = np.flatnonzero(np.concatenate([m.ravel() for m in masks]))
    probes = SubsetProbe([W.size for W in net.Ws], live, subset_fraction=subset_fraction, n_probes=n_probes,
                         probe_every=probe_every, rng=rng)
    starts = [W.ravel() for W in init.Ws]

    def probe(step, net, rows):
        if not probes.due(step):
            return
        Xb, Yb = X[rows], Y[rows]
        probes.probe([W.reshape(-1) for W in net.Ws], starts, lambda: _batch_loss(net, Xb, Yb, loss))

    t0 = time.perf_counter()
    out = train(net, X, y, training=training, masks=masks, rng=rng, record=record, callback=probe)
    out["significance"] = probes.significance([W.shape for W in net.Ws])
    out["probe_seconds"] = probes.seconds
    out["seconds"] = time.perf_counter() - t0
    return out


def _batch_loss(net, X, Y, loss):
    out2 = net.pre_activations(X)[-1]
    if loss_name(loss) == "mse":
        return 0.5 * float(np.sum((out2 - Y) ** 2)) / X.shape[0]
    z = out2 - out2.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -float(np.mean(logp[np.arange(X.shape[0]), Y[:, 0].astype(np.int64)]))
