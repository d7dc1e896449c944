"""Gaussian recovery phase diagrams for IHT, NIHT, AIHT, HTP and l1 (basis pursuit).

Donoho-Tanner axes (delta = n/N, rho = s/n); success = relative error
<= 1e-4; each cell averages seeds. Overlays: the l1 transition computed from
the statistical dimension (Amelunxen et al. 2014), the empirical 50% curve
(logistic fit per delta) and n = 4 s ln(N/s). Runs as a resumable sweep
(``figures/recovery/gaussian_phase.sqlite``). Quick: N = 64, 4 x 6 cells, 4 seeds
(~30 s on 2 cores); full: N = 256, 9 x 12 cells, 20 seeds (~1 hour; l1 by
SciPy's HiGHS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert.plot import pyplot, phase_diagram
from sparsecert.sweep import run_sweep
from ..common import FigureConfig


@dataclass(frozen=True)
class Config(FigureConfig):
    """``N`` columns; the grid of ``deltas`` (n / N) and ``rhos`` (s / n); ``seeds`` trials per cell."""

    N: int
    deltas: tuple
    rhos: tuple
    seeds: int


QUICK = Config(N=64, deltas=(0.25, 0.4, 0.6, 0.8), rhos=(0.05, 0.1, 0.2, 0.3, 0.45, 0.6), seeds=4)
FULL = Config(N=256, deltas=tuple(np.round(np.linspace(0.1, 0.9, 9), 3)),
              rhos=tuple(np.round(np.linspace(0.05, 0.6, 12), 3)), seeds=20)
MICRO = Config(N=24, deltas=(0.5,), rhos=(0.1, 0.3), seeds=1)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}
METHODS = ("iht", "niht", "aiht", "htp", "l1")


def _cells(cfg):
    """(n, s, nominal delta, nominal rho) for every grid point."""
    N = cfg["N"]
    pairs = [(max(1, round(d * N)), max(1, round(r * round(d * N))), d, r) for d in cfg["deltas"] for r in cfg["rhos"]]
    return N, pairs


TABLES = ("gaussian_phase",)


def compute(cfg, run):
    """Success of every method per (delta, rho) cell and seed (a resumable sweep)."""
    N, pairs = _cells(cfg)
    seeds = list(range(run.seed, run.seed + cfg["seeds"]))
    db, executor, progress = run.store("gaussian_phase"), run.executor, run.progress
    cells = [{"n": n, "N": N, "s": s, "cell_delta": d, "cell_rho": r} for n, s, d, r in pairs]
    iht_cells = [dict(c, method=m) for m in METHODS if m != "l1" for c in cells]
    rows = run_sweep("gaussian_recovery", iht_cells, seeds, db, executor=executor, progress=progress).table
    l1 = run_sweep("l1_recovery", cells, seeds, db, executor=executor, progress=progress)
    return {"gaussian_phase": rows + [dict(r, method="l1") for r in l1.table]}


def draw(tables, cfg):
    """One phase diagram per method from the rows."""
    rows, N = tables["gaussian_phase"], cfg["N"]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(METHODS), figsize=(3.3 * len(METHODS), 3.4), sharey=True)
    for ax, method in zip(axes, METHODS):
        im = phase_diagram([r for r in rows if r["method"] == method], ax=ax, title=f"{method.upper()}, N={N}",
                           keys=("cell_delta", "cell_rho"))
    axes[0].legend(fontsize=7, loc="upper left", framealpha=0.9)
    fig.colorbar(im, ax=list(axes), label="P(success)", shrink=0.85)
    return {"gaussian_phase": fig}
