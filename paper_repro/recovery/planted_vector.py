"""Planted sparse MLPs with 10 outputs, the recovery paper's Fig. 2: PSNR of vector IHT over (m, s).

The planted net follows the published code (Gaussian inputs, d = 100, s/2
N(0, 1) weights in each of the hidden and the output layer, ``Y = relu(X U^T) V``);
IHT thresholds both layers together (:func:`sparsecert.fit` with a 2-d ``y``)
for as many full-batch steps as the paper's minibatch epochs. Runs as a
resumable sweep. Quick: n = 2000, m in {1, 5, 20}, s in {2, 10, 40}, 10 epochs
of 500 (40 steps; about 10 s); full: m, s in {2, 5, 10, 20, 50, 100, 200, 500,
1000} (s >= 2: one weight per layer at least), n = 50,000, seeds {0, 1, 2}, 100
epochs of 5000 (1000 steps per cell: a GPU job, ``--device cuda --executor serial``).
The IMP baseline (dense ReLU net with biases, Adam 1e-3, MSE, 10% of the
weights pruned per round, rewound, the same epochs and batch per round) runs
on the same instances, side by side. ``--config paper``: the paper's grid at n = 50,000 up to
m = 200 with IHT's steps on the minibatches (the published schedule), 3 seeds, IHT only (IMP: a GPU),
memory measured; drawn as the paper draws it with an error-bar panel.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparsecert.plot import Panel, grid_heatmap
from sparsecert.sweep import run_sweep
from ..common import FigureConfig
from ._iht_imp import no_signal_note, seed_count, spread, sweep_grid_rows, task_figures


@dataclass(frozen=True)
class Config(FigureConfig):
    """``n`` samples; widths ``ms``, budgets ``ss`` (over both layers); ``seeds``; ``epochs`` of
    minibatches of ``batch_size`` (IHT takes as many full-batch steps, or with ``minibatch`` steps on
    the minibatches; IMP trains so per round); ``imp_ms``: the widths IMP runs at (None: all);
    ``measure``: both methods' memory measured one way and the paper's panels with error bars."""

    n: int
    ms: tuple
    ss: tuple
    seeds: tuple
    epochs: int
    batch_size: int
    minibatch: bool = False
    imp_ms: tuple | None = None
    measure: bool = False


QUICK = Config(n=2000, ms=(1, 5, 20), ss=(2, 10, 40), seeds=(0,), epochs=10, batch_size=500)
FULL = Config(n=50000, ms=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), ss=(2, 5, 10, 20, 50, 100, 200, 500, 1000),
              seeds=(0, 1, 2), epochs=100, batch_size=5000)
MICRO = Config(n=300, ms=(2,), ss=(4,), seeds=(0,), epochs=2, batch_size=150)
#: the quick grid on seeds 0-2 (the paper page's mean ± sd; 3x the quick run's time)
SEEDS3 = QUICK.replace(seeds=(0, 1, 2))
#: Fig. 2 at the paper's size on 2 cores: n = 50,000, the paper's schedule (100 epochs of 5,000, IHT's
#: steps on the batches: 80 s a fit at m = 100, 5 minutes at m = 1000), every width, 3 seeds; IMP (100
#: epochs a round, 10,000-60,000 Adam steps a cell: 1-13 minutes a cell on a shared core at m = 10, and
#: growing with m) at m = 10 only: the other widths wait for a GPU.
PAPER = FULL.replace(minibatch=True, imp_ms=(10,), measure=True)
CONFIGS = {"micro": MICRO, "quick": QUICK, "seeds3": SEEDS3, "full": FULL, "paper": PAPER}


GPU = True
TABLES = ("planted_vector",)
#: with ``measure``: mean, sd and the method ahead per (m, s)
DERIVED = ("planted_vector_spread",)


def compute(cfg, run):
    """Vector IHT and IMP per (m, s, seed) cell (a resumable sweep); ``run.device`` runs IHT on the
    torch backend there (e.g. ``"cuda"``)."""
    d, k, device = 100, 10, run.device
    imp_ms = cfg["ms"] if cfg["imp_ms"] is None else cfg["imp_ms"]
    extra = {**({} if device is None else {"device": device}), **({"minibatch": True} if cfg["minibatch"] else {}),
             **({"measure_memory": True} if cfg["measure"] else {})}
    cells = [{"m": m, "s": s, "n": cfg["n"], "d": d, "k": k, "epochs": cfg["epochs"], "batch_size": cfg["batch_size"],
              "imp_baseline": m in imp_ms, **extra}
             for m in cfg["ms"] for s in cfg["ss"] if s <= m * (d + k)]
    res = run_sweep("planted_vector", cells, [run.seed + j for j in cfg["seeds"]], run.store("planted_vector"),
                    executor=run.executor, progress=run.progress)
    return {"planted_vector": res.table}


def _grid_rows(tables):
    rows = tables["planted_vector"]
    return sweep_grid_rows(rows, "vector", f"planted MLP, {rows[0]['k']} outputs, n={rows[0]['n']}, d={rows[0]['d']}")


def derive(tables, cfg):
    """``planted_vector_spread`` (:func:`._iht_imp.spread`, 0.5 dB) when memory is measured."""
    return {"planted_vector_spread": spread(_grid_rows(tables), tol=0.5)} if cfg["measure"] else {}


def draw(tables, cfg):
    """The heatmaps from the rows; with ``measure`` IHT | IMP | memory ratio and the mean ± sd panel."""
    if cfg["measure"]:
        rows = _grid_rows(tables)
        return task_figures("planted", "vector", rows, tables["planted_vector_spread"], lo=-20, hi=50,
                            percent=False, note=f" ({cfg['epochs']} epochs of {cfg['batch_size']}, "
                                                f"{seed_count(rows)}{no_signal_note(rows, 'iht')})")
    rows = tables["planted_vector"]
    k = rows[0]["k"] if rows else 10
    fig = grid_heatmap(rows, [
        Panel("psnr", f"vector IHT, {k} outputs, n={cfg['n']}\n{cfg['epochs']} epochs of {cfg['batch_size']}, PSNR (dB)"),
        Panel("imp_psnr", f"IMP (Adam 1e-3, 10%/round)\n{cfg['epochs']} epochs/round, PSNR (dB)")],
        suptitle=no_signal_note(rows, sep="") or None)
    return {"planted_vector": fig}
