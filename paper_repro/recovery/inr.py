"""Implicit neural representations, the recovery paper's Figs. 4-5: PSNR of IHT vs IMP over (m, s).

One image, each pixel a sample: integer coordinates (and the channel index
for colour) -> d = 1500 random Fourier features (sigma 2 for the grey image,
5 for the colour one) -> intensity in [0, 1], fitted by a sparse two-layer
ReLU net (:func:`paper_repro.recovery.tasks.inr_task`); PSNR of the fit with peak 1.
IHT: sequential-convex AIHT, full batch; IMP (torch, optional): dense
bias-free net, Adam 1e-3, MSE, full batch, 10%/round global magnitude
pruning, rewind to init (see :mod:`.classify` for the memory accounting).

Quick (CI): scikit-learn's bundled photographs reduced by block averaging:
``china.jpg`` grey 28x28 and ``flower.jpg`` colour 16x16, 50 IHT
iterations / 50 IMP steps per round, one seed (about a minute on 2 cores).
Full (``$SPARSECERT_DATA``): MNIST test image 1000 (m 2..200, s 2..1000)
and CIFAR-10 test image 1000 (m 1..200, s 5..2000), 100 iterations / epochs,
seeds 0-2 (hours on 2 cores, dominated by IMP at m = 200).
``--config mnist5k``: a real MNIST digit, image 0 of the mnist5k test split
(:func:`sparsecert.data.load_mnist5k`), the full MNIST grid, one seed.
``--config fmnist``: Fashion-MNIST test image 1000 (the full-size stand-in for MNIST's), the full
MNIST grid, seeds 0-2, IMP at every width; ``--config photo32``: the colour photograph ``flower.jpg`` at
32 x 32 (the stand-in for CIFAR-10's image), the full CIFAR-10 grid, seeds 0-2, IMP at m <= 100;
``--config fmnist2``: ``fmnist`` with two hidden layers (the paper's Fig. 4 has 1 and 2), ``quick2`` the
quick grey image so.

Writes ``inr_<image>.png`` per image and ``inr.csv`` (``inr_<image>_<config>.png``, ``inr_<config>.csv``
for a named configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparsecert import data as D
from .tasks import inr_task
from ..common import FigureConfig
from ._iht_imp import by_figure, grids, seed_count, spread, task_figures


@dataclass(frozen=True)
class Config(FigureConfig):
    """``seeds`` (offsets of the run's seed); ``images``: figure key -> (source, Fourier-feature
    sigma, grid), the source ``("sample", file, size, grey)`` or ``(dataset, test index)``, the grid a
    dict of ``ms``, ``ss``, ``epochs`` and ``imp_epochs``."""

    seeds: tuple
    images: dict


QUICK = Config(
    seeds=(0,),
    images={
        "china_grey": (("sample", "china.jpg", 28, True), 2.0,
                       {"ms": (2, 5, 10, 20), "ss": (5, 10, 20, 50, 100, 200, 500, 1000), "epochs": 50,
                        "imp_epochs": 50}),
        "flower_rgb": (("sample", "flower.jpg", 16, False), 5.0,
                       {"ms": (2, 5, 10), "ss": (5, 10, 20, 50, 100, 200, 500, 1000, 2000), "epochs": 50,
                        "imp_epochs": 50}),
    },
)
FULL = Config(
    seeds=(0, 1, 2),
    images={
        "mnist": (("mnist", 1000), 2.0,
                  {"ms": (2, 5, 10, 20, 50, 100, 200), "ss": (2, 5, 10, 20, 50, 100, 200, 500, 1000), "epochs": 100,
                   "imp_epochs": 100}),
        "cifar10": (("cifar10", 1000), 5.0,
                    {"ms": (1, 2, 5, 10, 20, 50, 100, 200), "ss": (5, 10, 20, 50, 100, 200, 500, 1000, 2000),
                     "epochs": 100, "imp_epochs": 100}),
    },
)
MNIST5K = Config(seeds=(0,), images={"digit": (("mnist5k", 0),) + FULL["images"]["mnist"][1:]})
MICRO = Config(seeds=(0,), images={"china_grey": (("sample", "china.jpg", 12, True), 2.0,
                                                  {"ms": (2,), "ss": (10,), "epochs": 3, "imp_epochs": 2})})
#: the quick grid on seeds 0-2 (the paper page's mean ± sd; 3x the quick run's time)
SEEDS3 = QUICK.replace(seeds=(0, 1, 2))
#: Fig. 4 at full size on the MNIST stand-in: Fashion-MNIST test image 1000 (Debian's
#: dataset-fashion-mnist), the paper's MNIST grid, 100 iterations / epochs, 3 seeds; IMP at every width
#: (at m = 200 about 7 minutes a seed on one core), the tuned IMP at m = 10 and 50 (12 runs of IMP
#: each). Resumable per IHT fit (m, s, seed) and IMP run (m, seed).
FMNIST = Config(seeds=(0, 1, 2), images={"fmnist": (("fashion-mnist", 1000),) + FULL["images"]["mnist"][1:2]
                                         + ({**FULL["images"]["mnist"][2], "imp_ms": (2, 5, 10, 20, 50, 100, 200),
                                             "imp_tuned_ms": (10, 50)},)})
#: Fig. 5 at full size on the CIFAR-10 stand-in: scikit-learn's colour photograph ``flower.jpg`` reduced to
#: 32 x 32 (3,072 samples), the paper's CIFAR-10 grid, 3 seeds; IMP at m <= 100 (m = 200: a GPU), the
#: tuned IMP at m = 10 (12 runs of IMP).
PHOTO32 = Config(seeds=(0, 1, 2), images={"photo32": (("sample", "flower.jpg", 32, False),) + FULL["images"]["cifar10"][1:2]
                                          + ({**FULL["images"]["cifar10"][2], "imp_ms": (1, 2, 5, 10, 20, 50, 100),
                                              "imp_tuned_ms": (10,)},)})
#: Fig. 4's two hidden layers at full size: the same image and grid as ``fmnist``, both methods with two
#: hidden layers of width m (IHT layer by layer, s split evenly), 3 seeds, IMP at every width.
FMNIST2 = Config(seeds=(0, 1, 2), images={"fmnist_2layers": (("fashion-mnist", 1000),) + FULL["images"]["mnist"][1:2]
                                          + ({**FULL["images"]["mnist"][2], "imp_ms": (2, 5, 10, 20, 50, 100, 200),
                                              "layers": 2},)})
#: the quick grey image with two hidden layers (tests, and a look before the full-size run)
QUICK2 = Config(seeds=(0,), images={"china_grey_2layers": QUICK["images"]["china_grey"][:2]
                                    + ({**QUICK["images"]["china_grey"][2], "layers": 2},)})
#: What waits for a GPU on Figs. 4-5: both methods at m = 200 on Fig. 5's grid, 3 seeds (IMP there: 104
#: rounds of 100 full-batch epochs on 3,072 pixels, about 30 minutes a run on a core; Fig. 4's m = 200 ran
#: on the CPU in 0.4.17), on the GPU (``--device cuda``; ``benchmarks/README.md``).
GPU_M200 = Config(seeds=(0, 1, 2), images={
    key: (img[0], img[1], {**img[2], "ms": (200,), "imp_ms": (200,), "imp_tuned_ms": ()})
    for key, img in PHOTO32["images"].items()})
CONFIGS = {"micro": MICRO, "quick": QUICK, "seeds3": SEEDS3, "full": FULL, "mnist5k": MNIST5K, "fmnist": FMNIST,
           "photo32": PHOTO32, "fmnist2": FMNIST2, "quick2": QUICK2, "gpu-m200": GPU_M200}


def load_image(source):
    """``("sample", file, size, grey)`` or ``(dataset, test index)`` -> uint8 (H, W) or (H, W, 3)."""
    if source[0] == "sample":
        _, name, size, grey = source
        return D.sample_image(name, size, gray=grey)
    name, index = source
    X, _ = D.load(name, "test")
    img = X[index]
    return img.transpose(1, 2, 0) if img.ndim == 3 else img  # CIFAR: (3, 32, 32) -> (32, 32, 3)


#: ``--device cuda``: IHT on the torch backend and IMP on the GPU, memory measured there (:func:`._iht_imp.grids`)
GPU = True
TABLES = ("inr",)
#: written from the tables at every run and redraw: mean, sd, range over the seeds per (image, m, s)
DERIVED = ("inr_spread",)


def jobs(cfg, seed):
    """``(figure key, task, grid, seeds)`` per image of ``cfg``, the run's ``seed`` added to the seeds."""
    out = []
    for key, (source, sigma, grid) in cfg["images"].items():
        img = load_image(source)
        task = inr_task(img, d=1500, sigma=sigma, rng=seed, name=f"INR of {key} {img.shape}, sigma={sigma:g}")
        out.append((key, task, grid, [seed + k for k in cfg["seeds"]]))
    return out


def compute(cfg, run):
    """IHT and IMP per (image, m, s, seed); each row names its figure (a key of ``cfg["images"]``)."""
    todo = jobs(cfg, run.seed)
    done = grids([j[1:] for j in todo], progress=run.progress, store=run.store("inr"),  # IHT before IMP
                 device=run.device)
    return {"inr": [dict(r, figure=j[0]) for j, rows in zip(todo, done) for r in rows]}


def derive(tables, cfg):
    """``inr_spread``: :func:`._iht_imp.spread` of the rows."""
    return {"inr_spread": spread(tables["inr"], tol=0.5)}  # dB


def draw(tables, cfg):
    """One heatmap figure per image of ``cfg`` (``inr_<image>``), and with several seeds their
    spread (``inr_<image>_seeds``)."""
    figures = {}
    for key, image_rows in by_figure(tables["inr"], cfg["images"]):
        figures.update(task_figures("inr", key, image_rows, tables["inr_spread"], lo=0, hi=50, percent=False,
                                    note=f" ({seed_count(image_rows)})"))
    return figures
