"""Pruning methods compared: accuracy vs fraction of weights kept, and NEq's saved work vs accuracy.

Every method runs through the pruning vocabulary on one ReLU MLP (Adam
1e-3, cross-entropy, minibatch 64, the same epochs for every training run):
magnitude (after training, one-shot, fine-tune), IMP (20%/round layer-wise,
output 10%, rewind to init), random / SNIP / GraSP / SynFlow (at init,
train from scratch), BINGO (probing during training, one-shot, fine-tune),
SET and RigL (sparse training) and NEq (dense with frozen units); see
:mod:`sparsecert.prune.compare`. Error bars: one standard deviation over seeds.

Quick (CI): scikit-learn's bundled digits (1438 train / 359 test 8x8
images), MLP 64-128-64-10, 20 epochs, 3 seeds, kept fractions 0.5..0.02
(about 1.5 minutes on 2 cores). Full: MNIST from ``$SPARSECERT_DATA/mnist``
(else Fashion-MNIST, e.g. Debian's dataset-fashion-mnist), Lenet-300-100, 10
epochs, 3 seeds, kept fractions 0.5..0.01 (several hours on 2 cores; use
``--executor dask`` on a cluster).

Writes ``pruning_compare.png`` and ``.csv`` (one row per cell) and
``pruning_cost.csv`` (mean seconds per method and level: BINGO's probing
against plain training and IMP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert import data as D
from sparsecert.plot import pyplot
from sparsecert.sweep import run_sweep
from ..common import FigureConfig

SPARSE = ("magnitude", "imp", "random", "snip", "grasp", "synflow", "bingo", "set", "rigl")


@dataclass(frozen=True)
class Config(FigureConfig):
    """``dataset``; hidden ``widths`` ("128-64"); training ``epochs``; ``seeds``; the ``keeps``
    (fractions of the weights kept) compared; NEq's thresholds ``neq_eps``."""

    dataset: str
    widths: str
    epochs: int
    seeds: int
    keeps: tuple
    neq_eps: tuple


QUICK = Config(dataset="digits", widths="128-64", epochs=20, seeds=3, keeps=(0.5, 0.2, 0.1, 0.05, 0.02),
               neq_eps=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2))
FULL = Config(dataset="mnist", widths="300-100", epochs=10, seeds=3, keeps=(0.5, 0.2, 0.1, 0.05, 0.02, 0.01),
              neq_eps=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2))
MICRO = Config(dataset="digits", widths="16-8", epochs=2, seeds=1, keeps=(0.2,), neq_eps=(1e-2,))
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}
STYLE = {"magnitude": ("C0", "o"), "imp": ("C1", "s"), "random": ("C7", "x"), "snip": ("C2", "^"),
         "grasp": ("C3", "v"), "synflow": ("C4", "D"), "bingo": ("C5", "*"), "set": ("C8", "<"), "rigl": ("C9", ">")}


def _full_dataset():
    for name in ("mnist", "fashion-mnist"):
        try:
            D.load(name, "test")
            return name
        except D.DataNotFound:
            continue
    D.load("mnist", "test")  # raises the message that says which files to put where


def _stats(rows, key):
    v = np.array([r[key] for r in rows], float)
    return v.mean(), v.std()


TABLES = ("pruning_compare", "pruning_cost")


def compute(cfg, run):
    """Accuracy, density and seconds of every method and level per seed (a resumable sweep), and
    the mean cost per method and level; the full configuration takes MNIST, else Fashion-MNIST."""
    dataset = _full_dataset() if run.key == "full" else cfg["dataset"]
    base = {"dataset": dataset, "widths": cfg["widths"], "epochs": cfg["epochs"], "lr": 1e-3, "batch_size": 64,
            "bingo_probes": 2, "bingo_subset": 0.05}
    cells = [dict(base, method="dense", keep=1.0)]
    cells += [dict(base, method=m, keep=k) for m in SPARSE for k in cfg["keeps"]]
    cells += [dict(base, method="neq", keep=1.0, eps=e) for e in cfg["neq_eps"]]
    seeds = list(range(run.seed, run.seed + cfg["seeds"]))
    rows = run_sweep("pruning", cells, seeds, run.store("pruning_compare"), executor=run.executor,
                     progress=run.progress).table
    dense_t = _stats([r for r in rows if r["method"] == "dense"], "seconds")[0]
    cost = []
    for m in SPARSE:
        for k in cfg["keeps"]:
            sel = [r for r in rows if r["method"] == m and r["keep"] == k]
            if sel:
                (am, as_), (tm, _) = _stats(sel, "accuracy"), _stats(sel, "seconds")
                probe = _stats(sel, "probe_seconds")[0] if sel[0].get("probe_seconds") is not None else 0.0
                cost.append({"method": m, "keep": k, "accuracy": am, "accuracy_std": as_, "seconds": tm,
                             "probe_seconds": probe, "dense_seconds": dense_t})
    return {"pruning_compare": rows, "pruning_cost": cost}


def draw(tables, cfg):
    """Accuracy against the kept fraction per method, and NEq's saved work."""
    rows = tables["pruning_compare"]
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    dense = [r for r in rows if r["method"] == "dense"]
    dm, ds = _stats(dense, "accuracy")
    ax.axhspan(dm - ds, dm + ds, color="k", alpha=0.08)
    ax.axhline(dm, color="k", lw=0.8, ls="--", label=f"dense ({dm:.3f})")
    for m in SPARSE:
        pts = []
        for k in cfg["keeps"]:
            sel = [r for r in rows if r["method"] == m and r["keep"] == k]
            if sel:
                pts.append((np.mean([r["density"] for r in sel]), *_stats(sel, "accuracy")))
        x, y, e = map(np.array, zip(*pts))
        c, mk = STYLE[m]
        ax.errorbar(x, y, yerr=e, color=c, marker=mk, ms=4, lw=1.2, capsize=2, label=m)
    ax.set_xscale("log")
    ax.set_xticks(cfg["keeps"], [f"{100 * k:g}%" for k in cfg["keeps"]])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("fraction of weights kept")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(max(0.0, min(r["accuracy"] for r in rows) - 0.05), 1.0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title(f"{rows[0]['dataset']}, MLP {cfg['widths']}, {cfg['epochs']} epochs/run, {cfg['seeds']} seeds", fontsize=9)

    neq = [(e, [r for r in rows if r["method"] == "neq" and r["eps"] == e]) for e in cfg["neq_eps"]]
    sx = np.array([_stats(sel, "saved_fraction") for _, sel in neq])
    ay = np.array([_stats(sel, "accuracy") for _, sel in neq])
    bx.errorbar([0.0], [dm], yerr=[ds], color="k", marker="o", capsize=2, label="full training")
    bx.errorbar(sx[:, 0], ay[:, 0], xerr=sx[:, 1], yerr=ay[:, 1], color="C6", marker="o", capsize=2,
                label="NEq (its eps above each point)")
    for (e, _), x_, top in zip(neq, sx[:, 0], ay[:, 0] + np.nan_to_num(ay[:, 1])):  # eps above each error bar
        bx.annotate(f"{e:.0e}".replace("e-0", "e-"), (x_, top), textcoords="offset points", xytext=(0, 3), ha="center",
                    va="bottom", fontsize=7)
    bx.set_xlabel("fraction of weight-gradient work saved")
    bx.set_ylabel("test accuracy")
    bx.grid(alpha=0.3)
    bx.legend(fontsize=7, loc="lower left")
    bx.set_title("NEq (mu_eq = 0.5): saved backward work vs accuracy", fontsize=9)
    fig.tight_layout()
    return {"pruning_compare": fig}
