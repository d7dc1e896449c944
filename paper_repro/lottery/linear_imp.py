"""IMP in linear models against classical selectors (Elesedy, Kanade & Teh's setting).

Two figures, written as PNG plus CSV:

* ``linear_imp_path``: test MSE of the least-squares refit on the kept
  features against the number kept, along the IMP path and for random
  pruning, one-shot magnitude pruning, backward elimination, OMP and the Lasso
  path, for two n/d ratios and two noise levels.
* ``linear_imp_support``: probability of recovering the true support as the
  signal-to-noise ratio grows, for IMP (20% per round), one-shot magnitude
  (threshold) pruning and OMP.

Setting: d features with pairwise correlation rho, s* true nonzeros of
magnitude 0.5-1.5 with random signs, Gaussian noise, zero initialisation,
training to convergence (closed form). Quick mode: d = 16 and few trials
(about 8 s, CI); full mode: d = 40, 50 trials per panel and 200 per SNR
point (about 3.5 minutes on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert import linear_theory as lt
from sparsecert.plot import pyplot
from ..common import FigureConfig


@dataclass(frozen=True)
class Config(FigureConfig):
    """``d`` features, ``s_true`` of them in the model, correlation ``rho``; sample ``ratios`` n / d and
    ``noises`` (sigma) of the path figure with ``trials`` each; the ``snr`` grid of the support figure
    with ``support_trials``; ``n_test`` held-out samples."""

    d: int
    s_true: int
    rho: float
    ratios: tuple
    noises: tuple
    trials: int
    snr: tuple
    support_trials: int
    n_test: int


QUICK = Config(d=16, s_true=4, rho=0.5, ratios=(1.5, 4.0), noises=(0.1, 1.0), trials=6, snr=(0.5, 1, 2, 3, 4, 6, 8),
               support_trials=30, n_test=500)
FULL = Config(d=40, s_true=8, rho=0.5, ratios=(1.25, 2.0, 5.0), noises=(0.1, 0.5, 1.5), trials=50,
              snr=(0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10), support_trials=200, n_test=2000)
MICRO = Config(d=8, s_true=2, rho=0.5, ratios=(2.0,), noises=(0.5,), trials=2, snr=(1, 4), support_trials=4,
               n_test=100)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}
#: Support selectors of figure 2.
SELECTORS = ("IMP (20%/round)", "one-shot threshold", "OMP")


def _design(rng, n, d, rho):
    C = (1 - rho) * np.eye(d) + rho
    return rng.standard_normal((n, d)) @ np.linalg.cholesky(C).T


def _problem(rng, n, d, s_true, rho, noise, n_test=0):
    beta = np.zeros(d)
    S = np.sort(rng.choice(d, s_true, replace=False))
    beta[S] = rng.choice([-1.0, 1.0], s_true) * (0.5 + rng.random(s_true))
    X = _design(rng, n, d, rho)
    y = X @ beta + noise * rng.standard_normal(n)
    Xt = _design(rng, n_test, d, rho) if n_test else None
    return X, y, beta, S, Xt


def _refit_mse(X, y, Xt, beta, S):
    w = np.zeros(X.shape[1])
    if len(S):
        w[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
    return float(np.mean((Xt @ (w - beta)) ** 2))


def _supports_by_size(X, y, rng, d):
    """{method: {k: support}} for k = d..1."""
    imp = lt.imp_path(X, y, 1, count=1)
    one = {k: lt.imp_path(X, y, k, one_shot=True).support for k in range(1, d + 1)}
    perm = rng.permutation(d)
    out = {
        "IMP": {size: np.flatnonzero(mk) for size, mk in zip(imp.sizes, imp.masks)},
        "one-shot": one,
        "random": {k: np.sort(perm[:k]) for k in range(1, d + 1)},
        "backward elim.": {k: lt.backward_elimination(X, y, k) for k in range(1, d + 1)},
        "OMP": {k: lt.omp_support(X, y, k) for k in range(1, d + 1)},
    }
    _, lasso = lt.lasso_path_supports(X, y, n_alphas=200)
    out["Lasso"] = {}
    for S in lasso:  # first support of each size along the path
        out["Lasso"].setdefault(S.size, S)
    return out


TABLES = ("linear_imp_path", "linear_imp_support")


def compute(cfg, run):
    """The rows of both figures: test error along each path, support recovery against the SNR."""
    rng = np.random.default_rng(run.seed)
    d = cfg["d"]

    # --- figure 1: test error along the path
    rows = []
    for ratio in cfg["ratios"]:
        for noise in cfg["noises"]:
            acc = {}
            for _ in range(cfg["trials"]):
                X, y, beta, _, Xt = _problem(rng, int(ratio * d), d, cfg["s_true"], cfg["rho"], noise, cfg["n_test"])
                for name, by_k in _supports_by_size(X, y, rng, d).items():
                    for k, S in by_k.items():
                        acc.setdefault(name, {}).setdefault(k, []).append(_refit_mse(X, y, Xt, beta, S))
            rows += [{"n_over_d": ratio, "noise": noise, "method": name, "kept": k, "test_mse": np.mean(by_k[k])}
                     for name, by_k in acc.items() for k in sorted(by_k)]

    # --- figure 2: support recovery vs SNR
    n = 2 * d
    rows2 = []
    for snr in cfg["snr"]:
        hits = dict.fromkeys(SELECTORS, 0)
        for _ in range(cfg["support_trials"]):
            # snr = min|beta*| sqrt(n) / sigma with min|beta*| >= 0.5
            X, y, beta, S, _ = _problem(rng, n, d, cfg["s_true"], cfg["rho"], 0.5 * np.sqrt(n) / snr)
            k = cfg["s_true"]
            hits["IMP (20%/round)"] += np.array_equal(lt.imp_path(X, y, k, rate=0.2).support, S)
            hits["one-shot threshold"] += np.array_equal(lt.imp_path(X, y, k, one_shot=True).support, S)
            hits["OMP"] += np.array_equal(lt.omp_support(X, y, k), S)
        rows2 += [{"snr": snr, "method": name, "p_recover": hits[name] / cfg["support_trials"]} for name in SELECTORS]
    return {"linear_imp_path": rows, "linear_imp_support": rows2}


def draw(tables, cfg):
    """Both figures from the tables."""
    rows, rows2, d = tables["linear_imp_path"], tables["linear_imp_support"], cfg["d"]
    plt = pyplot()
    fig, axes = plt.subplots(len(cfg["ratios"]), len(cfg["noises"]), figsize=(4.2 * len(cfg["noises"]), 3.2 * len(cfg["ratios"])),
                             squeeze=False, sharex=True)
    for i, ratio in enumerate(cfg["ratios"]):
        for j, noise in enumerate(cfg["noises"]):
            ax = axes[i, j]
            cell = [r for r in rows if r["n_over_d"] == ratio and r["noise"] == noise]
            for name in dict.fromkeys(r["method"] for r in cell):
                pts = [(r["kept"], r["test_mse"]) for r in cell if r["method"] == name]
                ax.semilogy([k for k, _ in pts], [m for _, m in pts], marker=".", label=name)
            ax.axvline(cfg["s_true"], color="gray", lw=0.8, ls=":")
            ax.set_title(f"n/d = {ratio}, noise = {noise}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(cfg["ratios"]) - 1:
                ax.set_xlabel("features kept")
            if j == 0:
                ax.set_ylabel("test MSE of refit")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"IMP path vs selectors (d={d}, s*={cfg['s_true']}, rho={cfg['rho']}, {cfg['trials']} trials)")
    fig.tight_layout()
    path_fig = fig
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name in SELECTORS:
        pts = [(r["snr"], r["p_recover"]) for r in rows2 if r["method"] == name]
        ax.plot([x for x, _ in pts], [p_ for _, p_ in pts], marker="o", label=name)
    ax.set_xlabel(r"SNR = min$|\beta^*_j|\sqrt{n}/\sigma$")
    ax.set_ylabel("P(exact support)")
    ax.set_title(f"support recovery, n={2 * d}, d={d}, s*={cfg['s_true']}, rho={cfg['rho']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"linear_imp_path": path_fig, "linear_imp_support": fig}
