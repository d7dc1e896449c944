"""A measured sample-complexity law for fixed-pattern recovery of planted ReLU nets.

For points (s, m, d) and a grid of n, planted two-layer nets are recovered by
NIHT on fixed activation patterns (:func:`sparsecert.cells.relu_recovery`):
with the planted generators (N = m d columns), with the planted generators among
as many random ones (N = 2 m d), and, for comparison, with a Gaussian A of the
same n, N = m d and s. Success is the network recovered: relative error of its
outputs on fresh samples <= 1e-4 (weights of units that share a generator are
not identifiable at any n; the trials keep ``weights_recovered`` too). Per point,
n50 (50 % success) comes with a bootstrap interval (trials resampled within each
n): n50 is where the success rate, made non-decreasing in n, crosses 1/2 (log-linear
interpolation; the rate of the ReLU variants need not rise monotonically, since
NIHT stalls in some instances at any n).

Every law of :data:`CANDIDATES` is then fitted per variant
(:func:`sparsecert.phase.fit_sample_size_law`: relative least squares, bootstrap
intervals of the coefficients with trials and points resampled, leave-one-out error,
jackknife prediction interval) and, where the configuration has held-out points
(other (s, m, d) values, other seeds), judged by how many of them it predicts within
its interval and within 20 %. The law with the least leave-one-out error per variant
is the one :func:`sparsecert.certify.sample_size` uses. This is a measured law, not the
recovery paper's theorem (whose constants are not available here). A second figure
measures Assumption 2 (pattern separation, coverage and the pairs closer than gamma) for
random generators as n grows.

Quick: seven points (s, m, d varied one at a time around (4, 8, 10)), 13 values of n a
factor sqrt(2) apart (0.5 to 32 times s log(md/s)), 20 trials (about 15 s on 2 cores);
factorial: every (s, m, d) in {2, 4, 8} x {4, 8, 16} x {5, 10, 20} (about a minute);
laws (= full): every (s, m, d) in {2, 4, 8, 16} x {4, 8, 16, 32} x {5, 10, 20, 40}, 17
values of n a factor sqrt(2) apart, 40 trials, and 45 held-out points (about 20 minutes
on 2 cores). Every trial also records its instance's restricted eigenvalues on the
planted support and its planted patterns' coverage, separation and distinct count
(``relu_phase_trials``: the data a law needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert.certify import pattern_statistics, population_separation
from sparsecert.phase import LAW_TERMS, SampleSizeLaw, fit_sample_size_law
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
    holdout: tuple = ()
    holdout_offset: int = 100_000


QUICK = Config(points=tuple(sorted({BASE, (2, 8, 10), (8, 8, 10), (4, 4, 10), (4, 16, 10), (4, 8, 5), (4, 8, 20)})),
               factors=tuple(round(2 ** (k / 2), 3) for k in range(-2, 11)), trials=20, bootstrap=200,
               structure_m=(5, 20, 80),
               structure_n=(10, 30, 100, 300, 1000, 3000, 10000, 30000), structure_seeds=3, gamma=0.05)
#: every (s, m, d) in {2, 4, 8, 16} x {4, 8, 16, 32} x {5, 10, 20, 40} (m up to 6.4 d, d up to 10 m), n a
#: factor sqrt(2) apart from 0.25 to 64 times s log(md/s), 40 trials: about 130,000 trials; and the
#: held-out grids the laws must predict, (s, m, d) in {3, 6, 12} x {6, 12, 24} x {7, 14, 28} and in
#: {5, 10} x {5, 10, 20} x {6, 12, 24} (no value in the first) on other seeds (issue 37)
FULL = Config(points=tuple((s, m, d) for s in (2, 4, 8, 16) for m in (4, 8, 16, 32) for d in (5, 10, 20, 40)
                           if s <= m * d),
              factors=tuple(round(2 ** (k / 2), 3) for k in range(-4, 13)), trials=40, bootstrap=1000,
              structure_m=(5, 20, 80, 320), structure_n=tuple(int(10 ** e) for e in np.arange(1, 5.01, 0.5)),
              structure_seeds=10, gamma=0.05,
              holdout=tuple((s, m, d) for s in (3, 6, 12) for m in (6, 12, 24) for d in (7, 14, 28))
              + tuple((s, m, d) for s in (5, 10) for m in (5, 10, 20) for d in (6, 12, 24)))
MICRO = Config(points=(BASE,), factors=(1, 4), trials=2, bootstrap=20, structure_m=(5,), structure_n=(30, 300),
               structure_seeds=1, gamma=0.05)
#: every (s, m, d) in {2, 4, 8} x {4, 8, 16} x {5, 10, 20}: how n50 moves with each at fixed others
#: (about a minute on 2 cores)
FACTORIAL = QUICK.replace(points=tuple((s, m, d) for s in (2, 4, 8) for m in (4, 8, 16) for d in (5, 10, 20)
                                       if s <= m * d))
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL, "laws": FULL, "factorial": FACTORIAL}


def law_x(s, m, d):
    """The Gaussian law's variable ``s log(m d / s)`` (``LAW_TERMS["x"]``)."""
    return LAW_TERMS["x"]({"s": s, "m": m, "d": d})


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


#: the candidate laws fitted per variant: (name, terms of :data:`sparsecert.phase.LAW_TERMS`, log);
#: every one is reported (issue 37). x = s log(md/s) (the Gaussian law), s + x = s log(e md/s); the
#: linear ones add a crowding term, the log ones free the exponents
CANDIDATES = (
    ("s log(md/s)", ("x", "1"), False),
    ("s log(e md/s)", ("x", "s", "1"), False),
    ("+ s m/d", ("x", "s m/d", "1"), False),
    ("+ s m/distinct", ("x", "s m/distinct", "1"), False),
    ("+ s/eps", ("x", "s/eps", "1"), False),
    ("power law s^a m^b d^c", ("1", "log s", "log m", "log d"), True),
    ("(s log(e md/s))^a", ("1", "log(s + x)"), True),
    ("x^a (s + x)^b", ("1", "log x", "log(s + x)"), True),
    ("crowding x^a exp(b m/d + c s m/d^2)", ("1", "log x", "m/d", "s m/d^2"), True),
)
#: the statistics of a point's instances a law may use: medians over its trials at its largest n
POINT_STATS = ("kappa", "coverage", "separation", "distinct", "close_pairs")


def point_rows(rows, points, variant, n_boot, rng):
    """Per point: n50 with its bootstrap interval and the medians of :data:`POINT_STATS` over the
    trials at the point's largest n (the instance's population values, as near as the grid gets);
    and the (points, n_boot) bootstrap replicates of n50."""
    out, boots = [], []
    for s, m, d in points:
        trials = [r for r in rows if r["variant"] == variant and (r["s"], r["m"], r["d"]) == (s, m, d)]
        n = np.array([r["n"] for r in trials])
        n50, lo, hi, b = n50_interval(n, [r["success"] for r in trials], n_boot, rng)
        top = [r for r in trials if r["n"] == n.max()]
        stats = {k: float(np.median([r[k] for r in top])) for k in POINT_STATS if k in top[0]}
        out.append({"variant": variant, "s": s, "m": m, "d": d, "x": law_x(s, m, d), "n_min": int(n.min()),
                    "n_max": int(n.max()), "n50": n50, "n50_lo": lo, "n50_hi": hi, **stats})
        boots.append(b)
    return out, np.array(boots).reshape(len(out), n_boot)


def _censored_hit(p, lo, hi, pred):
    """A point whose n50 is beyond the grid (rate below 1/2 at its largest n; NaN n50) is predicted
    within the interval when the interval reaches past that n, and within 20 % when the prediction does."""
    return hi >= p["n_max"], pred >= p["n_max"] / 1.2


def candidate_laws(fit, boots, holdout=()):
    """Every :data:`CANDIDATES` law fitted on the ``fit`` points of one variant (bootstrap intervals
    of the coefficients from ``boots``, leave-one-out error, jackknife prediction interval) and,
    with ``holdout`` points, how it predicts them. Returns (laws, predictions): one row per
    candidate and one per (candidate, held-out point)."""
    laws, preds = [], []
    n50 = np.array([p["n50"] for p in fit])
    for name, terms, log in CANDIDATES:
        try:
            law, _ = fit_sample_size_law(fit, n50, terms, log=log, name=name, replicates=boots)
        except (KeyError, ValueError):  # a statistic the variant lacks (the Gaussian A has no patterns)
            continue
        if not all(np.isfinite(law.features(p)).all() for p in fit):
            continue
        row = {"variant": fit[0]["variant"], "law": name, "log": log, "points": law.points,
               "cv_median_error": law.cv_median_error, "halfwidth": law.halfwidth,
               **{f"coef[{t}]": c for t, c in zip(terms, law.coef)},
               **{f"coef_lo[{t}]": c for t, c in zip(terms, law.coef_lo)},
               **{f"coef_hi[{t}]": c for t, c in zip(terms, law.coef_hi)}}
        hits = []
        for p in holdout:
            pred, lo, hi = law.predict(p)
            if np.isfinite(p["n50"]):
                within, close = lo <= p["n50"] <= hi, abs(pred / p["n50"] - 1) <= 0.2
            else:
                within, close = _censored_hit(p, lo, hi, pred)
            hits.append((within, close))
            preds.append({"variant": p["variant"], "law": name, "s": p["s"], "m": p["m"], "d": p["d"],
                          "n50": p["n50"], "prediction": pred, "lo": lo, "hi": hi, "within_interval": bool(within),
                          "within_20pct": bool(close)})
        if holdout:
            row.update(holdout_points=len(holdout), holdout_within_interval=sum(h[0] for h in hits),
                       holdout_within_20pct=sum(h[1] for h in hits))
        laws.append(row)
    return laws, preds


TABLES = ("relu_phase", "relu_phase_law", "relu_phase_trials", "relu_structure", "relu_law_holdout")


def compute(cfg, run):
    """Trials of fixed-pattern recovery over n (a resumable sweep), n50 per point with its bootstrap
    interval, every candidate law per variant (with its prediction of the held-out grid, when the
    configuration has one) and the patterns' structure."""
    seed = run.seed
    rows = []
    for points, offset in ((cfg["points"], cfg["seed_offset"]), (cfg["holdout"], cfg["holdout_offset"])):
        cells = [{"n": max(2, int(round(f * law_x(s, m, d)))), "d": d, "m": m, "s": s, "variant": v}
                 for v in RELU_VARIANTS for (s, m, d) in points for f in cfg["factors"]]
        cells = list({tuple(sorted(c.items())): c for c in cells}.values())  # small x: two factors may round alike
        if cells:
            rows += run_sweep("relu_recovery", cells, range(seed + offset, seed + offset + cfg["trials"]),
                              run.store("relu_phase"), executor=run.executor, progress=run.progress).rows
    rng = np.random.default_rng(seed)
    points, laws, preds = [], [], []
    for v in RELU_VARIANTS:
        fit, boots = point_rows(rows, cfg["points"], v, cfg["bootstrap"], rng)
        held = point_rows(rows, cfg["holdout"], v, 0, rng)[0]
        law_rows, pred_rows = candidate_laws(fit, boots, held)
        laws += law_rows
        preds += pred_rows
        points += [{**p, "grid": "fit"} for p in fit] + [{**p, "grid": "holdout"} for p in held]
    for law in laws:
        coef = ", ".join(f"{k[5:-1]} {v:.3g}" for k, v in law.items() if k.startswith("coef["))
        tail = (f"; held out within interval {law['holdout_within_interval']}/{law['holdout_points']}, "
                f"within 20 % {law['holdout_within_20pct']}" if "holdout_points" in law else "")
        print(f"  {law['variant']:12s} {law['law']:24s} [{coef}] leave-one-out median error "
              f"{law['cv_median_error']:.1%}, interval x/ {np.exp(law['halfwidth']):.2f}{tail}")
    trials = [{**{k: r[k] for k in ("variant", "s", "m", "d", "n", "seed", "success")},
               **{k: float(f"{r[k]:.4g}") for k in INSTANCE if k in r}} for r in rows]  # 4 digits: a CSV to commit
    out = {"relu_phase": points, "relu_phase_law": laws, "relu_phase_trials": trials,
           "relu_structure": pattern_structure(cfg, seed), "relu_law_holdout": preds}
    return {k: v for k, v in out.items() if v}  # no laws on a grid too small to fit one (micro)


def draw(tables, cfg):
    """The phase figure (n50 points, laws, trials) and the pattern-structure figure."""
    fig = _draw(tables["relu_phase"], tables.get("relu_phase_law", []), tables["relu_phase_trials"], cfg)
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


def law_from_row(row):
    """The :class:`~sparsecert.phase.SampleSizeLaw` a ``relu_phase_law`` row describes (for drawing and
    predicting; its bootstrap intervals and domain are not kept)."""
    terms = tuple(k[5:-1] for k in row if k.startswith("coef[") and row[k] is not None)
    return SampleSizeLaw(row["law"], terms, tuple(row[f"coef[{t}]"] for t in terms), bool(row["log"]),
                         row["halfwidth"], cv_median_error=row["cv_median_error"], points=row["points"])


def best_law(laws, variant):
    """The ``relu_phase_law`` row of ``variant`` with the smallest leave-one-out error."""
    return min((r for r in laws if r["variant"] == variant), key=lambda r: r["cv_median_error"])


def _draw(points, laws, trials, cfg):
    plt = pyplot()
    fig, (ax, ax1, ax2) = plt.subplots(1, 3, figsize=(16, 4.6))
    colors = dict(zip(RELU_VARIANTS, ("C0", "C3", "C7")))
    for v in RELU_VARIANTS:
        c = colors[v]
        for grid, marker, face in (("fit", "o", c), ("holdout", "s", "none")):
            pts = [p for p in points if p["variant"] == v and p.get("grid", "fit") == grid and np.isfinite(p["n50"])]
            if not pts:
                continue
            x, n50 = np.array([p["x"] for p in pts]), np.array([p["n50"] for p in pts])
            err = np.array([[p["n50"] - p["n50_lo"], p["n50_hi"] - p["n50"]] for p in pts]).T
            err = np.where(np.isfinite(err), err, 0.0).clip(0, None)  # no bar where the interval is open
            ax.errorbar(x, n50, yerr=err if grid == "fit" else None, fmt=marker, color=c, mfc=face, ms=4,
                        capsize=2, label=f"{v}" + (" (held out)" if grid == "holdout" else ""))
            if not any(r["variant"] == v for r in laws):
                continue
            law = law_from_row(best_law(laws, v))
            pred = np.array([law.predict(p)[0] for p in pts])
            ax1.loglog(pred, n50, marker, color=c, mfc=face, ms=4,
                       label=f"{v}: {law.name}" if grid == "fit" else f"{v}, held out")
        first = [r for r in laws if r["variant"] == v and r["law"] == CANDIDATES[0][0]]
        if first:
            gauss = law_from_row(first[0])
            xs = np.linspace(0, max(p["x"] for p in points) * 1.05, 50)
            ax.plot(xs, gauss.coef[0] * xs + gauss.coef[1], color=c, lw=1)
    ax.set(xlabel="s log(m d / s)", ylabel="n50 (50 % of the nets recovered)",
           title="fixed-pattern NIHT: measured sample complexity\n(lines: n50 = C s log(md/s) + c per variant)")
    ax.legend(fontsize=7)
    if any(r["variant"] == RELU_VARIANTS[0] for r in laws):
        lim = np.array(ax1.get_xlim() + ax1.get_ylim())
        lim = [lim[lim > 0].min(), lim.max()]
        best = law_from_row(best_law(laws, RELU_VARIANTS[0]))
        ax1.plot(lim, lim, "k-", lw=1)
        ax1.fill_between(lim, np.multiply(lim, np.exp(-best.halfwidth)), np.multiply(lim, np.exp(best.halfwidth)),
                         color=colors[RELU_VARIANTS[0]], alpha=0.12, lw=0)
        ax1.legend(fontsize=7)
    ax1.set(xlabel="n50 the best law predicts", ylabel="n50 measured",
            title=f"best law per variant (least leave-one-out error)\nband: {RELU_VARIANTS[0]}'s "
                  "95% prediction interval")
    for v in RELU_VARIANTS:
        rows = [r for r in trials if r["variant"] == v and (r["s"], r["m"], r["d"]) == BASE]
        ns = sorted({r["n"] for r in rows})
        ax2.semilogx(ns, [np.mean([r["success"] for r in rows if r["n"] == n]) for n in ns], "o-", color=colors[v],
                     label=v)
    ax2.set(xlabel="n", ylabel="success rate", title=f"(s, m, d) = {BASE}, {cfg['trials']} trials per n")
    ax2.legend(fontsize=8)
    return fig
