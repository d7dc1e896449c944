"""How conservative are the certificates? Fraction of Gaussian instances each condition
certifies, against the fraction where NIHT actually recovers, along rho = s/n.

Per instance (A with i.i.d. N(0, 1/n) entries, columns normalised, an s-sparse
w with random signs): the IHT condition delta_3s < 1/sqrt(32) (exact RIP when
the enumeration fits, else the coherence bound), uniqueness delta_2s < 1,
Tropp's ERC on the true support, the null space property for the true support
and signs (LP), and NIHT's actual recovery (relative error <= 1e-4). Quick:
N = 20, delta in {0.4, 0.7}, 15 instances per point (~20 s); full: N = 40,
delta in {0.3, 0.5, 0.7}, 100 instances per point (~30 min).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert import certify as C
from sparsecert.cells import SUCCESS_TOL
from sparsecert.metrics import relative_error
from sparsecert.plot import pyplot
from sparsecert.recovery import IHT, iht
from ..common import FigureConfig


@dataclass(frozen=True)
class Config(FigureConfig):
    """``N`` columns; ``deltas`` (n / N) and ``rhos`` (s / n); ``trials`` per cell; ``budget``: the
    most supports an exact certificate may enumerate."""

    N: int
    deltas: tuple
    rhos: tuple
    trials: int
    budget: int


QUICK = Config(N=20, deltas=(0.4, 0.7), rhos=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5), trials=15, budget=20_000)
FULL = Config(N=40, deltas=(0.3, 0.5, 0.7), rhos=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5), trials=100, budget=200_000)
MICRO = Config(N=12, deltas=(0.5,), rhos=(0.1, 0.3), trials=2, budget=2_000)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}
CONDITIONS = ("IHT: delta_3s < 1/sqrt(32)", "unique: 2s columns independent", "ERC on support", "NSP on support+signs",
              "NIHT recovers")


def trial(rng, n, N, s, budget):
    A = rng.standard_normal((n, N))
    A /= np.linalg.norm(A, axis=0)
    w = np.zeros(N)
    S = np.sort(rng.choice(N, s, replace=False))
    w[S] = rng.choice([-1.0, 1.0], s) * (0.5 + rng.random(s))
    y = A @ w
    algo = {c.name: c for c in C.algorithm_certificates(A, s, exact_budget=budget, n_random=30, rng=rng)}
    res = iht(A, y, s, solver=IHT(method="niht", max_iter=500), progress=False)
    err = relative_error(res.w, w)
    return {
        CONDITIONS[0]: algo["IHT: delta_3s < 1/sqrt(32)"].holds,
        CONDITIONS[1]: next(c for name, c in algo.items() if name.startswith("unique")).holds,
        CONDITIONS[2]: C.exact_recovery_condition(A, S).holds,
        CONDITIONS[3]: C.null_space_property(A, S, signs=np.sign(w[S])).holds,
        CONDITIONS[4]: bool(err <= SUCCESS_TOL),
    }


TABLES = ("certify_phase",)


def compute(cfg, run):
    """The fraction of instances meeting each condition per (delta, rho)."""
    rng = np.random.default_rng(run.seed)
    N = cfg["N"]
    rows = []
    for delta in cfg["deltas"]:
        n = round(delta * N)
        done = set()
        for rho in cfg["rhos"]:
            s = max(1, round(rho * n))
            if s > n or s in done:
                continue
            done.add(s)
            hits = {c: 0 for c in CONDITIONS}
            for _ in range(cfg["trials"]):
                for c, ok in trial(rng, n, N, s, cfg["budget"]).items():
                    hits[c] += ok
            rows += [{"delta": delta, "n": n, "N": N, "s": s, "rho": s / n, "condition": c,
                      "fraction": hits[c] / cfg["trials"]} for c in CONDITIONS]
    return {"certify_phase": rows}


def draw(tables, cfg):
    """One panel per delta: the fraction of instances meeting each condition against rho."""
    rows = tables["certify_phase"]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cfg["deltas"]), figsize=(4.6 * len(cfg["deltas"]), 3.6), squeeze=False, sharey=True)
    for ax, delta in zip(axes[0], cfg["deltas"]):
        cell = [r for r in rows if r["delta"] == delta]
        for c in CONDITIONS:
            pts = [(r["rho"], r["fraction"]) for r in cell if r["condition"] == c]
            ax.plot([x for x, _ in pts], [f for _, f in pts], marker="o", ms=3, lw=2.2 if c == "NIHT recovers" else 1.2,
                    color="k" if c == "NIHT recovers" else None, label=c)
        n = cell[0]["n"] if cell else round(delta * cfg["N"])
        ax.set_title(f"delta = n/N = {delta} (n={n}, N={cfg['N']})", fontsize=9)
        ax.set_xlabel(r"$\rho = s/n$")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction of instances")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"certified vs actual recovery ({cfg['trials']} instances per point)", fontsize=10)
    fig.tight_layout()
    return {"certify_phase": fig}
