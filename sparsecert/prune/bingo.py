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

from .._validation import check_array, check_float, check_int, check_rng
from ..nn import as_targets, train

__all__ = ["bingo_train"]


def bingo_train(net, X, y, *, masks=None, subset_fraction=0.05, n_probes=4, probe_every=1, rng=None, init=None,
                loss="mse", record=(), **train_kwargs):
    """:func:`sparsecert.nn.train` with BINGO probing; returns its dict plus ``significance``.

    Parameters
    ----------
    subset_fraction : float in (0, 1]
        Fraction of the surviving weights in each probed subset.
    n_probes : int
        Subsets studied (one at a time) at each probing step.
    probe_every : int
        Training steps between probing steps.
    init : DenseNet, optional
        Values to reset to (default: ``net`` as it is when training starts).

    Returns
    -------
    dict with ``losses``, ``steps``, ``iterates`` (as ``train``), ``significance``
    (list of arrays, one per weight matrix), ``probe_seconds`` and ``seconds``.
    """
    subset_fraction = check_float(subset_fraction, "subset_fraction", low=0.0, high=1.0, low_open=True)
    n_probes = check_int(n_probes, "n_probes", low=1)
    probe_every = check_int(probe_every, "probe_every", low=1)
    rng = check_rng(rng)
    init = net.copy() if init is None else init
    masks = [np.ones(W.shape, bool) for W in net.Ws] if masks is None else masks
    Y = as_targets(y, loss, k=net.Ws[-1].shape[0])
    X = check_array(X, "X", ndim=2)
    sizes = [W.size for W in net.Ws]
    offsets = np.cumsum([0] + sizes)
    init_flat = np.concatenate([W.ravel() for W in init.Ws])
    credit = np.zeros(offsets[-1])
    count = np.zeros(offsets[-1])
    live = np.flatnonzero(np.concatenate([m.ravel() for m in masks]))
    probe_time = 0.0

    def probe(step, net, rows):
        nonlocal probe_time
        if step % probe_every:
            return
        t0 = time.perf_counter()
        Xb, Yb = X[rows], Y[rows]
        base = _batch_loss(net, Xb, Yb, loss)
        flats = [W.reshape(-1) for W in net.Ws]
        k = max(1, int(round(subset_fraction * live.size)))
        for _ in range(n_probes):
            subset = np.sort(rng.choice(live, k, replace=False))
            cuts = np.searchsorted(subset, offsets)
            parts = [subset[cuts[l] : cuts[l + 1]] - offsets[l] for l in range(len(sizes))]
            saved = [flat[sel] for flat, sel in zip(flats, parts)]
            for l, (flat, sel) in enumerate(zip(flats, parts)):
                flat[sel] = init_flat[sel + offsets[l]]
            rise = _batch_loss(net, Xb, Yb, loss) - base
            for flat, sel, vals in zip(flats, parts, saved):
                flat[sel] = vals
            credit[subset] += rise
            count[subset] += 1
        probe_time += time.perf_counter() - t0

    t0 = time.perf_counter()
    out = train(net, X, y, masks=masks, rng=rng, loss=loss, record=record, callback=probe, **train_kwargs)
    sig = np.divide(credit, count, out=np.zeros_like(credit), where=count > 0)
    out["significance"] = [sig[offsets[l] : offsets[l + 1]].reshape(W.shape) for l, W in enumerate(net.Ws)]
    out["probe_seconds"] = probe_time
    out["seconds"] = time.perf_counter() - t0
    return out


def _batch_loss(net, X, Y, loss):
    out = net._forward(X)
    out2 = out[:, None] if out.ndim == 1 else out
    if loss == "mse":
        return 0.5 * float(np.sum((out2 - Y) ** 2)) / X.shape[0]
    z = out2 - out2.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -float(np.mean(logp[np.arange(X.shape[0]), Y[:, 0].astype(np.int64)]))
