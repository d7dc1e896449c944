"""Phase transitions on Donoho-Tanner axes (delta = n/N, rho = s/n).

* :func:`l1_transition` -- the l1 (basis pursuit) phase transition from the
  statistical dimension of the l1 descent cone at an s-sparse point
  (Amelunxen, Lotz, McCoy & Tropp 2014): with ``eps = s/N``,

      psi(eps) = inf_{tau >= 0}  eps (1 + tau^2)
                 + 2 (1 - eps) [ (1 + tau^2) Q(tau) - tau phi(tau) ],

  (``phi``, ``Q``: standard normal density and upper tail), and recovery
  succeeds with high probability when ``n/N > psi(s/N)``. On DT axes the
  curve is the ``rho`` solving ``psi(rho delta) = delta``; it coincides with
  Donoho-Tanner's weak threshold.
* :func:`sample_complexity_curve` -- the ``n = c s ln(N/s)`` scale on the same
  axes (``c = 4``: the regime of the IHT tests).
* :func:`fit_transition` -- the empirical 50% point along ``rho`` by a
  logistic fit of success against ``rho`` at one ``delta``.
* :func:`fit_sample_size_law` -- a measured sample-size law: n50 (the n at which
  half the instances of (s, m, d) are recovered) as a combination of named terms
  (:data:`LAW_TERMS`), with bootstrap intervals, leave-one-out error and a
  jackknife prediction interval (:class:`SampleSizeLaw`; the fitted ones live in
  :data:`sparsecert.certify.LAWS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# SciPy's optimize and stats are imported where used: this module is imported with
# sparsecert.certify (its fitted laws), which should stay quick to import (every sweep worker does)

__all__ = ["l1_statistical_dimension", "l1_transition", "sample_complexity_curve", "fit_transition", "LAW_TERMS",
           "SampleSizeLaw", "fit_sample_size_law"]


def l1_statistical_dimension(eps):
    """``psi(eps)``: statistical dimension of the l1 descent cone divided by N, for ``eps = s/N`` in [0, 1]."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    if eps in (0.0, 1.0):
        return eps

    def f(tau):
        return eps * (1 + tau**2) + 2 * (1 - eps) * ((1 + tau**2) * norm.sf(tau) - tau * norm.pdf(tau))

    return float(minimize_scalar(f, bounds=(0.0, 12.0), method="bounded", options={"xatol": 1e-10}).fun)


def l1_transition(delta):
    """The l1 phase-transition ``rho`` (= s/n) at each ``delta`` (= n/N) in (0, 1)."""
    from scipy.optimize import brentq

    deltas = np.atleast_1d(np.asarray(delta, dtype=float))
    if np.any((deltas <= 0) | (deltas >= 1)):
        raise ValueError("delta must lie in (0, 1)")
    out = np.array([brentq(lambda r, d=d: l1_statistical_dimension(r * d) - d, 1e-9, 1.0 - 1e-12, xtol=1e-10)
                    for d in deltas])
    return out if np.ndim(delta) else float(out[0])


def sample_complexity_curve(delta, c=4.0):
    """``rho`` with ``n = c s ln(N/s)`` at each ``delta``: solves ``rho = 1 / (c ln(1 / (rho delta)))``."""
    from scipy.optimize import brentq

    deltas = np.atleast_1d(np.asarray(delta, dtype=float))
    out = []
    for d in deltas:
        g = lambda r, d=d: r * c * np.log(1.0 / (r * d)) - 1.0
        hi = min(1.0, 1.0 / (np.e * d))  # r c ln(1/(r d)) increases up to r = 1/(e d)
        out.append(brentq(g, 1e-12, hi) if g(hi) > 0 else np.nan)
    out = np.array(out)
    return out if np.ndim(delta) else float(out[0])


def fit_transition(rho, success):
    """Empirical 50% point: fit ``P(success) = 1 / (1 + exp(k (rho - rho50)))`` by maximum likelihood.

    Parameters
    ----------
    rho : array_like
        ``s/n`` of each trial (or cell).
    success : array_like
        Success indicator or rate in [0, 1] of each trial.

    Returns
    -------
    float
        ``rho50``, or NaN when every trial succeeded or every one failed.
    """
    from scipy.optimize import minimize

    rho = np.asarray(rho, dtype=float)
    y = np.asarray(success, dtype=float)
    if rho.shape != y.shape or rho.size == 0:
        raise ValueError("rho and success must be non-empty arrays of the same shape")
    if np.all(y >= 1) or np.all(y <= 0):
        return float("nan")

    def nll(theta):
        k, r50 = theta
        z = np.clip(k * (rho - r50), -50, 50)
        p = 1.0 / (1.0 + np.exp(z))
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))

    start = [10.0 / max(np.ptp(rho), 1e-3), float(np.median(rho))]
    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return float(res.x[1])


# --------------------------------------------------------------------------- sample-size laws

def _slog(p):
    return p["s"] * np.log(p["m"] * p["d"] / p["s"])


#: the terms a sample-size law combines: functions of a point's ``s``, ``m``, ``d`` and the measured
#: statistics of its planted patterns (``coverage`` eps, ``distinct`` patterns). "x" is the Gaussian
#: law's ``s log(m d / s)``; ``s + x = s log(e m d / s)`` stays positive up to s = m d, where x vanishes.
LAW_TERMS = {
    "1": lambda p: 1.0,
    "s": lambda p: float(p["s"]),
    "x": _slog,
    "s m/d": lambda p: p["s"] * p["m"] / p["d"],
    "s/eps": lambda p: p["s"] / p["coverage"],
    "s m/distinct": lambda p: p["s"] * p["m"] / p["distinct"],
    "log s": lambda p: np.log(p["s"]),
    "log m": lambda p: np.log(p["m"]),
    "log d": lambda p: np.log(p["d"]),
    "log x": lambda p: np.log(_slog(p)),
    "log(s + x)": lambda p: np.log(p["s"] + _slog(p)),
    "m/d": lambda p: p["m"] / p["d"],
    "s m/d^2": lambda p: p["s"] * p["m"] / p["d"] ** 2,
}


def _term(name, point):
    try:
        return float(LAW_TERMS[name](point))
    except ZeroDivisionError:  # a statistic of 0 (a coverage) in a denominator
        return np.inf


@dataclass(frozen=True)
class SampleSizeLaw:
    """A fitted sample-size law ``n50 = sum_k coef_k term_k(point)`` (``log=True``:
    ``log n50 = sum_k coef_k term_k``), with its prediction interval.

    ``n50`` is the sample size at which half the instances of a point (s, m, d) are
    recovered. The interval ``[n50 exp(-halfwidth), n50 exp(halfwidth)]`` is the
    jackknife (leave-one-point-out) prediction interval at ``level``: ``halfwidth``
    is that quantile of ``|log(n50_i / prediction_i)|`` over the fitting points,
    each predicted by the law fitted without it, so it carries the law's misfit and
    the trial noise of the measured n50s. ``coef_lo``/``coef_hi``: bootstrap intervals
    of the coefficients (trials and points resampled); ``cv_median_error``: the median relative
    error of those leave-one-out predictions; ``domain``: the (min, max) of s, m and d
    the law was fitted on (a prediction outside it is an extrapolation).
    """

    name: str
    terms: tuple
    coef: tuple
    log: bool = False
    halfwidth: float = float("nan")
    level: float = 0.95
    coef_lo: tuple = ()
    coef_hi: tuple = ()
    cv_median_error: float = float("nan")
    points: int = 0
    domain: dict = field(default_factory=dict)

    def features(self, point):
        """The law's terms at ``point`` (a mapping with s, m, d and the statistics its terms use)."""
        return np.array([_term(t, point) for t in self.terms])

    def predict(self, point):
        """``(n50, lo, hi)``: the law's n50 at ``point`` and its prediction interval."""
        v = float(self.features(point) @ np.asarray(self.coef, float))
        n50 = float(np.exp(v)) if self.log else v
        return n50, n50 * float(np.exp(-self.halfwidth)), n50 * float(np.exp(self.halfwidth))

    def extrapolates(self, point):
        """Whether ``point``'s s, m or d lies outside the range the law was fitted on."""
        return any(not lo <= point[k] <= hi for k, (lo, hi) in self.domain.items())


def _law_coef(F, n50, log):
    # relative least squares: log n50 for the log laws, residuals divided by n50 for the linear ones
    if log:
        return np.linalg.lstsq(F, np.log(n50), rcond=None)[0]
    return np.linalg.lstsq(F / n50[:, None], np.ones_like(n50), rcond=None)[0]


def fit_sample_size_law(points, n50, terms, *, log=False, name=None, level=0.95, replicates=None, rng=0):
    """Fit a sample-size law over measured points and measure how well it predicts.

    Parameters
    ----------
    points : sequence of mappings
        One per point: ``s``, ``m``, ``d`` and the statistics the ``terms`` use.
    n50 : array_like, shape (points,)
        Measured n50; NaN (never or always half recovered on the grid of n) is left out.
    terms : sequence of str
        Keys of :data:`LAW_TERMS`.
    log : bool
        Fit ``log n50`` (a power law when the terms are logs) instead of n50 with relative residuals.
    name : str, optional
        Defaults to the terms joined by " + ".
    level : float
        Coverage of the prediction interval.
    replicates : array_like, shape (points, B), optional
        Bootstrap replicates of each point's n50 (trials resampled): the coefficients' 95 %
        intervals, each replicate refitted on points drawn with replacement (so the intervals
        carry both the trial noise and the law's misfit).
    rng : int or Generator
        Draws the bootstrap's points.

    Returns
    -------
    law : SampleSizeLaw
    loo : ndarray, shape (points,)
        Each point's leave-one-out prediction (NaN where its n50 is).
    """
    terms = tuple(terms)
    unknown = set(terms) - set(LAW_TERMS)
    if unknown:
        raise ValueError(f"unknown law terms {sorted(unknown)}; choose from {sorted(LAW_TERMS)}")
    n50 = np.asarray(n50, dtype=float)
    F = np.array([[_term(t, p) for t in terms] for p in points]).reshape(len(n50), len(terms))
    ok = np.isfinite(n50) & (n50 > 0) & np.isfinite(F).all(axis=1)
    idx = np.flatnonzero(ok)
    if idx.size <= len(terms) + 1:
        raise ValueError(f"{idx.size} finite points cannot fit and cross-validate {len(terms)} terms")
    coef = _law_coef(F[idx], n50[idx], log)
    loo = np.full(len(n50), np.nan)
    for i in idx:
        rest = idx[idx != i]
        v = F[i] @ _law_coef(F[rest], n50[rest], log)
        loo[i] = np.exp(v) if log else v
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = np.abs(np.log(n50[idx] / loo[idx]))  # a non-positive prediction: an infinite miss
    resid = np.where(np.isfinite(resid), resid, np.inf)
    rank = min(int(np.ceil(level * (idx.size + 1))), idx.size)  # the jackknife quantile
    lo = hi = ()
    if replicates is not None:  # points resampled too (pairs bootstrap): the intervals carry the law's misfit
        R, Fi = np.asarray(replicates, dtype=float)[idx], F[idx]
        g = np.random.default_rng(rng)
        boot = []
        for b in range(R.shape[1]):
            pick = g.integers(0, idx.size, idx.size)
            keep = pick[np.isfinite(R[pick, b]) & (R[pick, b] > 0)]
            if np.linalg.matrix_rank(Fi[keep]) == len(terms):
                boot.append(_law_coef(Fi[keep], R[keep, b], log))
        if boot:
            lo, hi = (tuple(float(v) for v in q) for q in np.percentile(boot, [2.5, 97.5], axis=0))
    domain = {k: (float(min(points[i][k] for i in idx)), float(max(points[i][k] for i in idx)))
              for k in ("s", "m", "d")}
    law = SampleSizeLaw(name or " + ".join(terms), terms, tuple(float(c) for c in coef), log,
                        float(np.sort(resid)[rank - 1]), level, lo, hi,
                        float(np.median(np.abs(loo[idx] / n50[idx] - 1))), int(idx.size), domain)
    return law, loo
