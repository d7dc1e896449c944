"""Convergence of IHT, NIHT, AIHT and HTP on a planted Gaussian and a planted ReLU problem.

Relative residual per iteration (one panel per problem); prints relative
error, iterations, time and peak working memory of every run. Quick: N = 1000,
s = 10 Gaussian and n = 4000, d = 100, m = 20, s = 60 ReLU (seconds); full:
N = 20000, s = 100 and n = 20000, m = 200, s = 400 (minutes). Writes
``demo_convergence.csv`` (one row per run) and ``demo_convergence_residuals.csv``
(the residual per iteration, from which ``--redraw`` draws the figure again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from sparsecert.metrics import relative_error
from sparsecert.models import planted_gaussian, planted_relu
from sparsecert.plot import convergence_figure
from sparsecert.recovery import IHT, METHODS, iht
from ..common import FigureConfig


@dataclass(frozen=True)
class Config(FigureConfig):
    """Gaussian problem: ``N`` columns, ``s`` nonzeros, ``n = ceil(4 s log(N / s))`` rows; ReLU
    problem: ``relu`` = (n, d, m, s); ``max_iter`` per run."""

    N: int
    s: int
    relu: tuple
    max_iter: int


QUICK = Config(N=1000, s=10, relu=(4000, 100, 20, 60), max_iter=1000)
FULL = Config(N=20000, s=100, relu=(20000, 100, 200, 400), max_iter=5000)
MICRO = Config(N=200, s=5, relu=(600, 20, 4, 8), max_iter=200)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}


TABLES = ("demo_convergence_residuals", "demo_convergence")


def compute(cfg, run):
    """Each method of the IHT family on a planted Gaussian and a planted ReLU problem: a summary row
    per run and its residual per iteration."""
    seed = run.seed
    N, s = cfg["N"], cfg["s"]
    n = math.ceil(4 * s * math.log(N / s))
    n_r, d, m, s_r = cfg["relu"]
    problems = {
        f"Gaussian A\nn={n}, N={N}, s={s}": planted_gaussian(n, N, s, rng=seed),
        f"ReLU patterns, planted generators\nn={n_r}, d={d}, m={m}, s={s_r}": planted_relu(n_r, d, m, s_r, rng=seed),
    }
    rows, residuals = [], []
    for name, p in problems.items():
        print(name.replace("\n", ": "))
        for method in METHODS:
            res = iht(p.A, p.y, p.w.nnz, solver=IHT(method=method, max_iter=cfg["max_iter"]), progress=False)
            err = relative_error(res.w, p.w)
            print(f"  {method:5s} rel. error {err:9.2e}  iterations {res.n_iter:5d}  time {res.time:7.3f} s  "
                  f"peak work memory {res.peak_memory / 2**20:6.1f} MiB  [{res.status}]")
            rows.append({"problem": name.replace("\n", ": "), "method": method, "rel_error": err,
                         "iterations": res.n_iter, "time_s": res.time, "peak_bytes": res.peak_memory,
                         "status": res.status})
            residuals += [{"problem": name, "method": method, "iteration": i, "residual": float(v), "time_s": res.time}
                          for i, v in enumerate(res.residuals)]
    return {"demo_convergence_residuals": residuals, "demo_convergence": rows}


def draw(tables, cfg):
    """The figure from the per-iteration rows (problem, method, iteration, residual, time_s)."""
    panels: dict = {}
    for r in tables["demo_convergence_residuals"]:
        panels.setdefault(r["problem"], {}).setdefault(r["method"], []).append(r)
    panels = {name: {method: SimpleNamespace(residuals=np.array([r["residual"] for r in rs]), time=rs[0]["time_s"])
                     for method, rs in by_method.items()} for name, by_method in panels.items()}
    return {"demo_convergence": convergence_figure(panels, title="IHT family on planted problems")}
