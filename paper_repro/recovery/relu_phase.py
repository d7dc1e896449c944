"""A measured sample-complexity law for fixed-pattern recovery of planted ReLU nets.

For points (s, m, d) and a grid of n, planted two-layer nets are recovered by
NIHT on fixed activation patterns (:func:`sparsecert.cells.relu_recovery`):
with the planted generators (N = m d columns), with the planted generators among
as many random ones (N = 2 m d), and, for comparison, with a Gaussian A of the
same n, N = m d and s. Success is the network recovered: relative error of its
outputs on fresh samples <= 1e-4 (weights of units that share a generator are
not identifiable at any n; the trials keep ``weights_recovered`` too). Per point,
n50 (50 % success) comes with a bootstrap interval (trials resampled within each
n); then

    n50 = C s log(m d / s) + c

is fitted per variant, with a bootstrap interval for C, and each point is
predicted from the others (leave one out) and compared with its own interval
(``loo_within_interval``, which ignores the law's own uncertainty) and by the
joint bootstrap of :func:`held_out_interval` (``loo_consistent``).
n50 is where the success rate, made non-decreasing in n, crosses 1/2 (log-linear
interpolation): the rate of the ReLU variants need not rise monotonically, since
NIHT stalls in some instances at any n.
This is a measured law, not the recovery paper's theorem (whose constants are
not available here). A second figure measures Assumption 2 (pattern separation,
coverage and the pairs closer than gamma) for random generators as n grows. Quick: seven points (s, m, d varied one at a time around
(4, 8, 10)), 13 values of n a factor sqrt(2) apart (0.5 to 32 times s log(md/s)), 20 trials
(about 15 s on 2 cores); full: every
(s, m, d) in {2, 4, 8, 16} x {4, 8, 16, 32} x {5, 10, 20, 40}, 17 values of n a factor
sqrt(2) apart, 40 trials (about two hours); holdout: the independent grid a law must predict
((s, m, d) in {3, 6, 12} x {6, 12, 24} x {7, 14, 28}, other seeds). Every trial also records its
instance's restricted eigenvalues on the planted support and its planted patterns' coverage,
separation and distinct count (``relu_phase_trials``: the data a law needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert.certify import pattern_statistics, population_separation
from sparsecert.cells import RELU_VARIANTS
from sparsecert.plot import pyplot
from sparsecert.sweep import run_sweep
from ..common import FigureConfig

BASE = (4, 8, 10)
#: what each trial also records of its instance (:func:`sparsecert.cells.relu_recovery`): the data a law needs
INSTANCE = ("alpha", "beta", "kappa", "coverage", "separation", "distinct", "close_pairs")


@dataclass(frozen=True)
class Config(FigureConfig):
    """``points`` (s, m, d); n at ``factors`` times ``s log(md/s)``; ``trials`` per n; ``bootstrap``
    replicates; Assumption 2's figure: widths ``structure_m``, sample sizes ``structure_n``,
    ``structure_seeds`` draws, separation threshold ``gamma``; the trials' seeds start ``seed_offset``
    after the run's (an independent grid)."""

    points: tuple
    factors: tuple
    trials: int
    bootstrap: int
    structure_m: tuple
    structure_n: tuple
    structure_seeds: int
    gamma: float
    seed_offset: int = 0


QUICK = Config(points=tuple(sorted({BASE, (2, 8, 10), (8, 8, 10), (4, 4, 10), (4, 16, 10), (4, 8, 5), (4, 8, 20)})),
               factors=tuple(round(2 ** (k / 2), 3) for k in range(-2, 11)), trials=20, bootstrap=200,
               structure_m=(5, 20, 80),
               structure_n=(10, 30, 100, 300, 1000, 3000, 10000, 30000), structure_seeds=3, gamma=0.05)
#: every (s, m, d) in {2, 4, 8, 16} x {4, 8, 16, 32} x {5, 10, 20, 40} (m up to 6.4 d, d up to 10 m), n a
#: factor sqrt(2) apart from 0.25 to 64 times s log(md/s), 40 trials: about 130,000 trials, some two hours
#: on 2 cores (resumable)
FULL = Config(points=tuple((s, m, d) for s in (2, 4, 8, 16) for m in (4, 8, 16, 32) for d in (5, 10, 20, 40)
                           if s <= m * d),
              factors=tuple(round(2 ** (k / 2), 3) for k in range(-4, 13)), trials=40, bootstrap=1000,
              structure_m=(5, 20, 80, 320), structure_n=tuple(int(10 ** e) for e in np.arange(1, 6.01, 0.5)),
              structure_seeds=20, gamma=0.05)
#: the independent grid a law fitted on ``full`` must predict: (s, m, d) values none of whose are in it,
#: other seeds (issue 37)
HOLDOUT = FULL.replace(points=tuple((s, m, d) for s in (3, 6, 12) for m in (6, 12, 24) for d in (7, 14, 28)),
                       seed_offset=100_000)
MICRO = Config(points=(BASE,), factors=(1, 4), trials=2, bootstrap=20, structure_m=(5,), structure_n=(30, 300),
               structure_seeds=1, gamma=0.05)
#: every (s, m, d) in {2, 4, 8} x {4, 8, 16} x {5, 10, 20}: how n50 moves with each at fixed others
#: (about a minute on 2 cores)
FACTORIAL = QUICK.replace(points=tuple((s, m, d) for s in (2, 4, 8) for m in (4, 8, 16) for d in (5, 10, 20)
                                       if s <= m * d))
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL, "factorial": FACTORIAL, "holdout": HOLDOUT}


def law_x(s, m, d):
    """The law's variable ``s log(m d / s)``."""
    return s * np.log(m * d / s)


def _isotonic(y, w):
    """Non-decreasing least-squares fit of ``y`` with weights ``w`` (pool adjacent violators)."""
    blocks = []  # [mean, weight, count]
    for v, wt in zip(y, w):
        blocks.append([v, wt, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1, c1), (m2, w2, c2) = blocks[-2], blocks[-1]
            blocks[-2:] = [[(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2]]
    return np.concatenate([[m] * c for m, _, c in blocks])


def crossing(n, success):
    """n where the success rate, made non-decreasing in n (isotonic fit), first reaches 1/2,
    interpolated linearly in log n; NaN when it never does (or already does at the smallest n)."""
    n, success = np.asarray(n, float), np.asarray(success, float)
    ns = np.unique(n)
    rate = _isotonic([success[n == v].mean() for v in ns], [np.sum(n == v) for v in ns])
    above = np.flatnonzero(rate >= 0.5)
    if not above.size or above[0] == 0:
        return np.nan
    i = above[0]
    t = (0.5 - rate[i - 1]) / (rate[i] - rate[i - 1])
    return float(np.exp(np.log(ns[i - 1]) + t * (np.log(ns[i]) - np.log(ns[i - 1]))))


def n50_interval(n, success, n_boot, rng):
    """``(n50, lo, hi, replicates)``: :func:`crossing` and its 95 % bootstrap interval (trials
    resampled within each n; a replicate that never crosses counts as beyond the largest n)."""
    n, success = np.asarray(n, float), np.asarray(success, float)
    groups = [np.flatnonzero(n == v) for v in np.unique(n)]
    boots = np.array([crossing(n[t], success[t]) for t in
                      (np.concatenate([rng.choice(g, g.size) for g in groups]) for _ in range(n_boot))])
    filled = np.where(np.isnan(boots), np.inf, boots)
    lo, hi = np.percentile(filled, [2.5, 97.5], method="nearest") if n_boot else (np.nan, np.nan)
    return crossing(n, success), float(lo), float(hi), boots


def fit_law(x, n50):
    """Least-squares ``(C, c)`` of ``n50 = C x + c`` over the finite points."""
    ok = np.isfinite(n50)
    if ok.sum() < 2:
        return np.nan, np.nan
    C, c = np.polyfit(np.asarray(x)[ok], np.asarray(n50)[ok], 1)
    return float(C), float(c)


def held_out_interval(x, boots, i):
    """95 % bootstrap interval of ``prediction - n50`` at point ``i``, the law fitted on the other
    points: in replicate ``b`` the law is fitted to the others' replicate n50s ``boots[:, b]``
    and compared with ``boots[i, b]`` (a replicate that never crosses counts as beyond every n), so
    the interval carries the uncertainty of the law and of the held-out point. The point is
    consistent with the law when the interval holds 0. ``boots``: (points, replicates)."""
    keep = np.arange(len(x)) != i
    diffs = []
    for b in range(boots.shape[1]):
        C, c = fit_law(x[keep], boots[keep, b])
        if np.isfinite(C):
            diffs.append(C * x[i] + c - (np.inf if np.isnan(boots[i, b]) else boots[i, b]))
    if not diffs:
        return np.nan, np.nan
    lo, hi = np.percentile(diffs, [2.5, 97.5], method="nearest")
    return float(lo), float(hi)


TABLES = ("relu_phase", "relu_phase_law", "relu_phase_trials", "relu_structure")


def compute(cfg, run):
    """Trials of fixed-pattern recovery over n (a resumable sweep), n50 per point with its bootstrap
    interval, the law per variant with its held-out checks, and the patterns' structure."""
    seed = run.seed
    cells = [{"n": max(2, int(round(f * law_x(s, m, d)))), "d": d, "m": m, "s": s, "variant": v}
             for v in RELU_VARIANTS for (s, m, d) in cfg["points"] for f in cfg["factors"]]
    cells = list({tuple(sorted(c.items())): c for c in cells}.values())  # small x: two factors may round alike
    first = seed + cfg["seed_offset"]
    res = run_sweep("relu_recovery", cells, range(first, first + cfg["trials"]), run.store("relu_phase"),
                    executor=run.executor, progress=run.progress)
    rng = np.random.default_rng(seed)
    points, laws = [], []
    for v in RELU_VARIANTS:
        rows_v, boots = [], []
        for s, m, d in cfg["points"]:
            trials = [r for r in res.rows if r["variant"] == v and (r["s"], r["m"], r["d"]) == (s, m, d)]
            n50, lo, hi, b = n50_interval([r["n"] for r in trials], [r["success"] for r in trials], cfg["bootstrap"], rng)
            rows_v.append({"variant": v, "s": s, "m": m, "d": d, "x": law_x(s, m, d), "n50": n50, "n50_lo": lo,
                           "n50_hi": hi})
            boots.append(b)
        x, n50, boots = np.array([r["x"] for r in rows_v]), np.array([r["n50"] for r in rows_v]), np.array(boots)
        C, c = fit_law(x, n50)
        Cb = [fit_law(x, boots[:, i])[0] for i in range(cfg["bootstrap"])]
        C_lo, C_hi = np.nanpercentile(Cb, [2.5, 97.5]) if np.isfinite(Cb).any() else (np.nan, np.nan)
        for i, r in enumerate(rows_v):  # leave one out: the law fitted on the other points predicts this one
            keep = np.arange(len(rows_v)) != i
            Ci, ci = fit_law(x[keep], n50[keep])
            r["loo_prediction"] = Ci * r["x"] + ci
            r["loo_within_interval"] = bool(r["n50_lo"] <= r["loo_prediction"] <= r["n50_hi"])
            r["loo_diff_lo"], r["loo_diff_hi"] = held_out_interval(x, boots, i)
            r["loo_consistent"] = bool(r["loo_diff_lo"] <= 0.0 <= r["loo_diff_hi"])
        laws.append({"variant": v, "C": C, "C_lo": float(C_lo), "C_hi": float(C_hi), "c": c,
                     "loo_within": sum(r["loo_within_interval"] for r in rows_v),
                     "loo_consistent": sum(r["loo_consistent"] for r in rows_v), "points": len(rows_v)})
        points += rows_v
    for law in laws:
        print(f"  {law['variant']:12s} n50 = {law['C']:.2f} [{law['C_lo']:.2f}, {law['C_hi']:.2f}] s log(md/s) "
              f"{law['c']:+.1f}; held-out points within their interval: {law['loo_within']}/{law['points']}, "
              f"consistent with the law (joint bootstrap): {law['loo_consistent']}/{law['points']}")
    trials = [{**{k: r[k] for k in ("variant", "s", "m", "d", "n", "seed", "success")},
               **{k: float(f"{r[k]:.4g}") for k in INSTANCE if k in r}} for r in res.rows]  # 4 digits: a CSV to commit
    return {"relu_phase": points, "relu_phase_law": laws, "relu_phase_trials": trials,
            "relu_structure": pattern_structure(cfg, seed)}


def draw(tables, cfg):
    """The phase figure (n50 points, laws, trials) and the pattern-structure figure."""
    fig = _draw(tables["relu_phase"], tables["relu_phase_law"], tables["relu_phase_trials"], cfg)
    fig.tight_layout()
    structure = _draw_structure(tables["relu_structure"], cfg)
    structure.tight_layout()
    return {"relu_phase": fig, "relu_structure": structure}


def pattern_structure(cfg, seed=0):
    """Assumption 2 measured: separation, coverage and the fraction of pattern pairs closer than
    ``cfg["gamma"]`` for m random generators and Gaussian X (d = 10), as n grows, beside the
    separation the angles give (``population_separation``); one row per (m, n, seed)."""
    rows = []
    for m in cfg["structure_m"]:
        for k in range(cfg["structure_seeds"]):
            g = np.random.default_rng([seed, m, k])
            U = g.standard_normal((m, 10))
            X = g.standard_normal((max(cfg["structure_n"]), 10))
            limit = population_separation(U)
            for n in cfg["structure_n"]:
                st = pattern_statistics(X[:n], U, gamma=cfg["gamma"])
                rows.append({"m": m, "n": n, "seed": k, "separation": st["separation"], "coverage": st["coverage"],
                             "violating": st["violating"], "population_separation": limit})
    return rows


def _draw_structure(rows, cfg):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    for i, m in enumerate(cfg["structure_m"]):
        c = f"C{i}"
        ns = np.array(cfg["structure_n"])
        mean = lambda key: [np.mean([r[key] for r in rows if r["m"] == m and r["n"] == n]) for n in ns]
        axes[0].semilogx(ns, mean("separation"), "o-", color=c, label=f"m = {m}")
        axes[0].axhline(np.mean([r["population_separation"] for r in rows if r["m"] == m]), color=c, ls="--", lw=1)
        axes[1].semilogx(ns, mean("coverage"), "o-", color=c, label=f"m = {m}")
        axes[2].semilogx(ns, mean("violating"), "o-", color=c, label=f"m = {m}")
    axes[0].set(xlabel="n", ylabel="separation gamma (min over pairs)",
                title="separation of random generators' patterns\n(dashed: min angle / pi, the n -> inf value)")
    axes[1].axhline(0.5, color="k", ls="--", lw=1)
    axes[1].set(xlabel="n", ylabel="coverage eps (min over units)", title="coverage (dashed: 1/2)")
    axes[2].set(xlabel="n", ylabel=f"fraction of pairs with separation < {cfg['gamma']}",
                title=f"pairs violating gamma = {cfg['gamma']}")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(f"Assumption 2 measured: Gaussian X, d = 10, {cfg['structure_seeds']} draws per point", fontsize=10)
    return fig


def _draw(points, laws, trials, cfg):
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = dict(zip(RELU_VARIANTS, ("C0", "C3", "C7")))
    for law in laws:
        v = law["variant"]
        pts = [p for p in points if p["variant"] == v]
        x = np.array([p["x"] for p in pts])
        n50 = np.array([p["n50"] for p in pts])
        err = np.array([[p["n50"] - p["n50_lo"], p["n50_hi"] - p["n50"]] for p in pts]).T
        err = np.where(np.isfinite(err), err, 0.0).clip(0, None)  # no bar where the interval is open (never crossed)
        ax.errorbar(x, n50, yerr=err, fmt="o", color=colors[v], capsize=3, label=v)
        xs = np.linspace(0, x.max() * 1.05, 50)
        ax.plot(xs, law["C"] * xs + law["c"], color=colors[v], lw=1,
                label=f"measured: {law['C']:.2f} s log(md/s) {law['c']:+.1f}")
    ax.set(xlabel="s log(m d / s)", ylabel="n50 (50 % of the nets recovered)",
           title="fixed-pattern NIHT: measured sample complexity\n(not the paper's theorem)")
    ax.legend(fontsize=7)
    s, m, d = BASE
    for v in RELU_VARIANTS:
        rows = [r for r in trials if r["variant"] == v and (r["s"], r["m"], r["d"]) == BASE]
        ns = sorted({r["n"] for r in rows})
        ax2.semilogx(ns, [np.mean([r["success"] for r in rows if r["n"] == n]) for n in ns], "o-", color=colors[v],
                     label=v)
    ax2.set(xlabel="n", ylabel="success rate", title=f"(s, m, d) = {BASE}, {cfg['trials']} trials per n")
    ax2.legend(fontsize=8)
    return fig
