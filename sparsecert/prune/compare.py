"""Pruning methods side by side on one classification task: one sweep cell per (method, kept fraction, seed).

Every method runs through the pruning vocabulary (a :class:`~sparsecert.prune.Plan` run by
:func:`sparsecert.prune.run.prune_numpy`) or the sparse-training / NEq loops, on the same MLP, data,
optimiser and epochs:

========== ============================================================================
method     configuration
========== ============================================================================
dense      plain training (the reference)
magnitude  after training, global magnitude, one-shot, fine-tune (same epochs)
imp        after training, layer-wise magnitude 20%/round (output 10%), rewind to init
random     at init, global random scores, one-shot, train from scratch
snip       at init, global SNIP ``|g * w|`` on one batch, one-shot, train from scratch
grasp      at init, global GraSP ``-w * Hg``, one-shot, train from scratch
synflow    at init, data-free SynFlow (100 rounds, exponential schedule), train from scratch
bingo      after training with BINGO probing, global one-shot on significance, fine-tune
set, rigl  sparse from the start (Erdos-Renyi densities), prune-and-regrow every 25 steps
neq        dense training with NEq freezing at threshold ``eps`` (``keep`` is 1)
========== ============================================================================
"""

from __future__ import annotations

import functools
import time

import numpy as np

from .. import data as D
from ..nn import ReLUNet, Training, train
from .plan import Plan
from .run import prune_numpy

__all__ = ["METHODS", "pruning_cell", "task_data"]

METHODS = ("dense", "magnitude", "imp", "random", "snip", "grasp", "synflow", "bingo", "set", "rigl", "neq")


@functools.lru_cache(maxsize=4)
def task_data(dataset, n_train=None, root=None):
    """(X_train, y_train, X_test, y_test) as float features scaled to [0, 1], standardised per feature."""
    Xtr, ytr = D.load(dataset, "train", root=root)
    Xte, yte = D.load(dataset, "test", root=root)
    scale = 16.0 if dataset == "digits" else 255.0
    Xtr, ytr, _ = D.prepare(Xtr, ytr, n=n_train, rng=0, scale=scale)
    Xte, yte, _ = D.prepare(Xte, yte, scale=scale)
    mean = Xtr.mean(axis=0)
    return Xtr - mean, ytr, Xte - mean, yte


def pruning_cell(params, seed):
    """One (method, keep, seed) cell; returns accuracy and costs (see the module docstring).

    ``params``: ``method``, ``keep`` (fraction of weights kept), ``dataset``,
    ``widths`` (hidden widths, a string like ``"128-64"``), ``epochs``, ``lr``,
    ``batch_size``, ``n_train`` (optional subset), ``eps`` (NEq), ``root``.
    """
    method, keep = params["method"], float(params["keep"])
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    Xtr, ytr, Xte, yte = task_data(params.get("dataset", "digits"), params.get("n_train"), params.get("root"))
    hidden = [int(w) for w in str(params.get("widths", "128-64")).split("-")]
    k = int(ytr.max()) + 1
    rng = np.random.default_rng(seed)
    net0 = ReLUNet.init([Xtr.shape[1], *hidden, k], rng)
    training = Training(epochs=int(params.get("epochs", 20)), lr=float(params.get("lr", 1e-3)),
                        batch_size=int(params.get("batch_size", 64)), loss="cross-entropy")
    kw = {"training": training}
    total = net0.n_weights
    target = max(len(net0.Ws), int(round(keep * total)))
    t0 = time.perf_counter()
    extra = {}
    if method == "dense":
        net = net0.copy()
        train(net, Xtr, ytr, training=training, rng=rng)
        kept = total
    elif method == "neq":
        from ..neq import neq_train

        net = net0.copy()
        out = neq_train(net, Xtr, ytr, Xtr[:256], eps=float(params.get("eps", 1e-3)),
                        mu_eq=float(params.get("mu_eq", 0.5)), rng=rng, **kw)
        kept, extra = total, {"saved_fraction": out["saved_fraction"]}
    elif method in ("set", "rigl"):
        from .dynamic import Regrowth, sparse_train

        net = net0.copy()
        out = sparse_train(net, Xtr, ytr, regrowth=Regrowth(method, density=keep, update_every=25), rng=rng, **kw)
        kept = sum(int(m.sum()) for m in out["masks"])
    else:
        plan = {
            "magnitude": Plan(score="magnitude", schedule="one-shot", scope="global", after="finetune", target=target),
            "imp": Plan(score="magnitude", scope="layer", after="rewind", rate=0.2, target=target),
            "bingo": Plan(score="bingo", schedule="one-shot", scope="global", after="finetune", target=target),
        }.get(method) or Plan(when="init", score=method, schedule="one-shot", scope="global", after="scratch",
                              target=target)
        if method == "bingo":
            kw["bingo"] = {"subset_fraction": float(params.get("bingo_subset", 0.05)),
                           "n_probes": int(params.get("bingo_probes", 4))}
        res = prune_numpy(net0, Xtr, ytr, plan, score_batch=256, rng=rng, progress=False, **kw)
        net, kept = res.net, res.metrics[-1]["kept"]
        extra = {"rounds": len(res.nets) - 1, "probe_seconds": res.info["probe_seconds"]}
    seconds = time.perf_counter() - t0
    acc = float(np.mean(np.argmax(net.forward(Xte), axis=1) == yte))
    return {"accuracy": acc, "kept": int(kept), "density": kept / total, "seconds": seconds, **extra}
