"""Lottery tickets, Frankle & Carbin's Lenet-300-100 protocol (needs the torch extra).

IMP with layer-wise magnitude pruning (20% of each hidden layer's survivors per
round, 10% of the output layer's), survivors rewound to the original
initialisation, Adam 1.2e-3, minibatches of 60, Gaussian Glorot init;
validation and test accuracy every ``eval_every`` iterations, the
early-stopping iteration being the one of minimum validation loss. Controls at
the same P_m: the ticket's mask with a fresh initialisation ("reinit") and a
random mask with the same per-layer counts on the original initialisation
("random mask"). Error bars: min/max over trials, as in the paper.

Quick (CI): scikit-learn's digits (64 inputs, 1150 train / 288 validation /
359 test), 600 iterations per run, 8 rounds (P_m down to 17%), 2 trials,
controls every other round (about a minute). Full: MNIST 55,000 / 5,000 /
10,000 (``$SPARSECERT_DATA/mnist``), 50,000 iterations, evaluation every 100,
20 rounds (P_m to 1.2%, the paper's smallest), 5 trials (many hours on 2 cores).
``--config mnist5k``: real MNIST at reduced size (:func:`sparsecert.data.load_mnist5k`:
3500 train / 500 validation / 1000 test), 5000 iterations, evaluation every
100, 11 rounds (P_m to 8.7%), 2 trials, controls every other round (about
20 minutes on 2 cores).

Writes ``lottery_lenet.png`` and ``lottery_lenet.csv`` (``lottery_lenet_<config>.*`` for
a named configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

import copy

import numpy as np

from sparsecert import data as D
from sparsecert.plot import pyplot
from ..common import FigureConfig

NEEDS_TORCH = True


@dataclass(frozen=True)
class Config(FigureConfig):
    """``dataset``; training ``iterations`` per round, evaluated every ``eval_every``; pruning
    ``rounds``; ``trials``; the controls (reinit, random mask) every ``control_every`` rounds;
    ``n_val`` validation samples drawn from the training set."""

    dataset: str
    iterations: int
    eval_every: int
    rounds: int
    trials: int
    control_every: int
    n_val: int


QUICK = Config(dataset="digits", iterations=600, eval_every=25, rounds=8, trials=2, control_every=2, n_val=288)
FULL = Config(dataset="mnist", iterations=50000, eval_every=100, rounds=20, trials=5, control_every=1, n_val=5000)
MNIST5K = Config(dataset="mnist5k", iterations=5000, eval_every=100, rounds=11, trials=2, control_every=2, n_val=500)
MICRO = Config(dataset="digits", iterations=20, eval_every=10, rounds=2, trials=1, control_every=2, n_val=100)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL, "mnist5k": MNIST5K}


def split_train_val(dataset, n_val, seed=0):
    """(train, val, test) as (X float in [0, 1], y) pairs; validation drawn from the training set."""
    Xtr, ytr = D.load(dataset, "train")
    Xte, yte = D.load(dataset, "test")
    scale = 16.0 if dataset == "digits" else 255.0
    order = np.random.default_rng(seed).permutation(len(ytr))
    val, tr = order[:n_val], order[n_val:]
    f = lambda X: (X.reshape(len(X), -1) / scale).astype(np.float32)  # noqa: E731
    return (f(Xtr[tr]), ytr[tr]), (f(Xtr[val]), ytr[val]), (f(Xte), yte)


TABLES = ("lottery_lenet",)


def compute(cfg, run):
    """Per trial and round: the ticket's early-stopping iteration and accuracies, and its controls'."""
    from sparsecert.prune import Plan, prune
    from sparsecert import Training
    from sparsecert.torch_bridge import Evaluation, fit, lenet_300_100
    from sparsecert.torch_bridge.prune import reinitialised

    seed, progress = run.seed, run.progress
    train, val, test = split_train_val(cfg["dataset"], cfg["n_val"], seed)
    kw = {"training": Training(iterations=cfg["iterations"], lr=1.2e-3, batch_size=60, loss="cross-entropy"),
          "evaluation": Evaluation(val, test, cfg["eval_every"]), "progress": progress}
    rows = []
    for trial in range(cfg["trials"]):
        s = seed + 1000 * trial
        m0 = lenet_300_100(train[0].shape[1], 10, rng=s)
        res = prune(m0, *train, Plan(rounds=cfg["rounds"], rate=0.2, output_rate=0.1, after="rewind"), rng=s, **kw)
        rng = np.random.default_rng(s)
        for r, (masks, hist, pm) in enumerate(zip(res.masks, res.histories, res.p_m)):
            rows.append({"trial": trial, "round": r, "p_m": pm, "kind": "winning ticket",
                         "early_stop": hist["early_stop"], "test_acc": hist["test_acc_at_early_stop"],
                         "final_test_acc": hist["final_test_acc"]})
            if r == 0 or r % cfg["control_every"]:
                continue
            controls = {"reinit": (reinitialised(m0, s + 7 + r), masks),
                        "random mask": (m0, [rng.permutation(m.ravel()).reshape(m.shape) for m in masks])}
            for kind, (start, mk) in controls.items():
                h = fit(copy.deepcopy(start), *train, masks=mk, rng=s + r, **kw)
                rows.append({"trial": trial, "round": r, "p_m": pm, "kind": kind, "early_stop": h["early_stop"],
                             "test_acc": h["test_acc_at_early_stop"], "final_test_acc": h["final_test_acc"]})
    return {"lottery_lenet": rows}


def draw(tables, cfg):
    """Early-stopping iteration and test accuracy against P_m, per kind (ticket and its controls)."""
    rows = tables["lottery_lenet"]
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for kind, c in (("winning ticket", "C0"), ("reinit", "C3"), ("random mask", "C7")):
        for ax, key in zip(axes, ("early_stop", "test_acc")):
            pts = sorted({r["round"] for r in rows if r["kind"] == kind})
            x = [np.mean([r["p_m"] for r in rows if r["kind"] == kind and r["round"] == k]) for k in pts]
            v = [[r[key] for r in rows if r["kind"] == kind and r["round"] == k] for k in pts]
            mid = np.array([np.mean(a) for a in v])
            lo, hi = mid - np.array([np.min(a) for a in v]), np.array([np.max(a) for a in v]) - mid
            ax.errorbar(100 * np.array(x), mid, yerr=[lo, hi], color=c, marker="o", ms=3, capsize=2, label=kind)
    ticks = [t for t in (100, 50, 20, 10, 5, 2, 1) if t >= 100 * min(r["p_m"] for r in rows) * 0.9]
    for ax, lab in zip(axes, ("early-stopping iteration (min val. loss)", "test accuracy at early stopping")):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("P_m: weights remaining (%)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Lenet-300-100 lottery tickets on {cfg['dataset']} ({cfg['trials']} trials, min/max bars, "
                 f"{cfg['iterations']} iterations/run)", fontsize=10)
    fig.tight_layout()
    return {"lottery_lenet": fig}
