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
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar
from scipy.stats import norm

__all__ = ["l1_statistical_dimension", "l1_transition", "sample_complexity_curve", "fit_transition"]


def l1_statistical_dimension(eps):
    """``psi(eps)``: statistical dimension of the l1 descent cone divided by N, for ``eps = s/N`` in [0, 1]."""
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
    deltas = np.atleast_1d(np.asarray(delta, dtype=float))
    if np.any((deltas <= 0) | (deltas >= 1)):
        raise ValueError("delta must lie in (0, 1)")
    out = np.array([brentq(lambda r, d=d: l1_statistical_dimension(r * d) - d, 1e-9, 1.0 - 1e-12, xtol=1e-10)
                    for d in deltas])
    return out if np.ndim(delta) else float(out[0])


def sample_complexity_curve(delta, c=4.0):
    """``rho`` with ``n = c s ln(N/s)`` at each ``delta``: solves ``rho = 1 / (c ln(1 / (rho delta)))``."""
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
