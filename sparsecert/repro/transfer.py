"""Sparse transfer of winning tickets (Mehta 2019; needs the torch extra).

A CIFAR-style ResNet is trained on a source task; its convolutional weights
are pruned by magnitude (20% of the survivors per round, layer-wise, the
linear head untouched), iteratively with retraining from the initialisation,
or in one shot from the trained dense net. Each mask is transferred to the
target task with three starts -- theta_S (the trained source weights, "late
reset"), theta_0 (the ticket's initialisation) and a random initialisation --
and a fresh head, in two regimes: fine-tune everything, or freeze the
(pruned) features and train the head only. Reported: target test accuracy
against the fraction of conv weights remaining.

Quick (CI): scikit-learn's digits, source = digits 0-4, target = digits 5-9
(8x8, one channel), ResNet-8 width 8, Adam 1e-3, 200 source / 150 target
iterations per run, 3 levels (about 1.5 minutes on 2 cores; one seed, so
read it as a smoke run, not a result: 150 head-only iterations underfit the
frozen-feature regime, .57-.66 from every start, .74-.79 after 1000; and
even with a 1000-iteration source, digits 0-4 features frozen are no better
than the initialisation's, .74-.75 vs .77-.79, on digits 5-9). Full: CIFAR-10 -> Fashion-MNIST and SmallNORB
(32x32; Fashion-MNIST padded, SmallNORB's left image resized; grey images
repeated over 3 channels), ResNet-20 width 16, 30,000 source and 10,000 target
iterations, 8 levels (many hours on 2 cores). Writes ``transfer.png`` and
``transfer.csv``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from .. import data as D
from ..plot import pyplot
from ._common import save_figure

NEEDS_TORCH = True
QUICK = {"source": "digits0-4", "targets": ("digits5-9",), "depth": 8, "width": 8, "iterations": 200,
         "target_iterations": 150, "rounds": 3, "batch_size": 64}
FULL = {"source": "cifar10", "targets": ("fashion-mnist", "smallnorb"), "depth": 20, "width": 16,
        "iterations": 30000, "target_iterations": 10000, "rounds": 8, "batch_size": 128}


def task(name):
    """(train, test) pairs of (X float32 (n, C, H, W), y) for a source/target name."""
    if name.startswith("digits"):
        lo, hi = (int(v) for v in name[len("digits"):].split("-"))
        out = []
        for split in ("train", "test"):
            X, y = D.load_digits(split)
            keep = (y >= lo) & (y <= hi)
            out.append(((X[keep, None] / 16.0).astype(np.float32), y[keep] - lo))
        return tuple(out)
    out = []
    for split in ("train", "test"):
        X, y = D.load(name, split)
        X = X.astype(np.float32) / 255.0
        if name == "smallnorb":
            X = D.resize(X[:, :1], 32)
        elif X.ndim == 3:  # 28x28 grey: pad to 32
            X = np.pad(X[:, None], ((0, 0), (0, 0), (2, 2), (2, 2)))
        if X.shape[1] == 1:
            X = np.repeat(X, 3, axis=1)
        out.append((X.astype(np.float32), y))
    return tuple(out)


def run(out="figures", quick=True, seed=0, executor=None, progress=None):
    from ..torch_bridge import fit, prunable_weights, prune_torch, resnet
    from ..torch_bridge.prune import reinitialised

    cfg = QUICK if quick else FULL
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (Xs, ys), source_test = task(cfg["source"])
    k_s = int(ys.max()) + 1
    m0 = resnet(cfg["depth"], cfg["width"], in_channels=Xs.shape[1], classes=k_s, seed=seed)
    L = len(prunable_weights(m0))
    kw = {"lr": 1e-3, "batch_size": cfg["batch_size"], "progress": progress}
    common = dict(scope="layer", rate=0.2, rates=[0.2] * (L - 1) + [0.0], prunable=[True] * (L - 1) + [False],
                  seed=seed, iterations=cfg["iterations"], test=source_test, eval_every=cfg["iterations"], **kw)
    iterative = prune_torch(m0, Xs, ys, rounds=cfg["rounds"], after="rewind", **common)
    dense_state = iterative.states[0]
    tickets = [("iterative", r, iterative.masks[r], iterative.states[r], iterative.p_m[r])
               for r in range(len(iterative.masks))]
    for r in range(1, len(iterative.masks)):  # one-shot from the trained dense net to the same levels
        goal = iterative.kept[r]
        trained = copy.deepcopy(m0)
        trained.load_state_dict(dense_state)
        one = prune_torch(trained, Xs, ys, when="init", schedule="one-shot", target=goal, after="finetune", **dict(
            common, iterations=cfg["iterations"] // 2))
        tickets.append(("one-shot", r, one.masks[0], one.states[0], one.p_m[0]))
    rows = []
    for target in cfg["targets"]:
        (Xt, yt), target_test = task(target)
        k_t = int(yt.max()) + 1
        for kind, r, masks, theta_s, pm in tickets:
            starts = {"theta_S": theta_s, "theta_0": None, "random": "random"} if kind == "iterative" else {
                "theta_S": theta_s}
            for start, state in starts.items():
                for regime in ("fine-tune", "frozen"):
                    net = resnet(cfg["depth"], cfg["width"], in_channels=Xs.shape[1], classes=k_s, seed=seed)
                    if state == "random":
                        net = reinitialised(net, seed + 17 + r)
                    elif state is not None:
                        net.load_state_dict(state)
                    net.head = type(net.head)(net.head.in_features, k_t)  # fresh head for the target classes
                    mk = masks[:-1] + [np.ones(tuple(net.head.weight.shape), bool)]
                    params = list(net.head.parameters()) if regime == "frozen" else None
                    h = fit(net, Xt, yt, masks=mk, params=params, iterations=cfg["target_iterations"],
                            test=target_test, eval_every=cfg["target_iterations"], seed=seed + r, **kw)
                    rows.append({"target": target, "ticket": kind, "round": r, "p_m": pm, "start": start,
                                 "regime": regime, "test_acc": h["final_test_acc"]})
    plt = pyplot()
    fig, axes = plt.subplots(len(cfg["targets"]), 2, figsize=(10, 3.6 * len(cfg["targets"])), squeeze=False)
    styles = {("iterative", "theta_S"): ("C0", "o", "-"), ("iterative", "theta_0"): ("C1", "s", "-"),
              ("iterative", "random"): ("C7", "x", "-"), ("one-shot", "theta_S"): ("C0", "o", "--")}
    for i, target in enumerate(cfg["targets"]):
        for j, regime in enumerate(("fine-tune", "frozen")):
            ax = axes[i, j]
            for (kind, start), (c, mk, ls) in styles.items():
                sel = sorted((r["p_m"], r["test_acc"]) for r in rows if r["target"] == target and r["regime"] == regime
                             and r["ticket"] == kind and r["start"] == start)
                if sel:
                    x, yv = zip(*sel)
                    ax.plot(100 * np.array(x), yv, color=c, marker=mk, ls=ls, ms=4, label=f"{kind}, {start}")
            ax.set_xscale("log")
            ticks = sorted({round(100 * r["p_m"]) for r in rows}, reverse=True)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
            ax.invert_xaxis()
            ax.set_xlabel("conv weights remaining (%)")
            ax.set_ylabel("target test accuracy")
            ax.set_title(f"{cfg['source']} -> {target}: {regime}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    return [save_figure(fig, rows, out, "transfer")]
