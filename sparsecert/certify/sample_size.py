"""A predictive certificate: how many samples fixed-pattern recovery of a planted ReLU net needs, from
the sample-size law measured on the relu-phase grids (not a theorem).

The laws in :data:`LAWS` were fitted by ``sparsecert repro relu-phase --config laws`` (NIHT on the
convex reformulation's operator with fixed activation patterns; success: the network's outputs on
fresh samples within 1e-4 relative) over (s, m, d) in {2, 4, 8, 16} x {4, 8, 16, 32} x {5, 10, 20, 40},
40 trials per n, Gaussian X; each variant's law is the candidate with the least leave-one-out error
(``figures/recovery/relu_phase_law_laws.csv`` lists every candidate) and was checked on 45 held-out
points of other (s, m, d) values and seeds (``relu_law_holdout_laws.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..phase import SampleSizeLaw
from ..validation import check_array, check_int, check_option

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["LAWS", "SampleSize", "sample_size"]

#: The fitted laws per operator (``relu-phase --config laws``, sparsecert 0.4.3; copied from
#: ``figures/recovery/relu_phase_law_laws.csv``, which a test compares them with):
#: ``"planted"``: the planted generators (N = m d columns); ``"planted+random"``: the planted
#: generators among as many random ones (N = 2 m d); ``"gaussian"``: a Gaussian A of the same n,
#: N = m d and s (the compressed-sensing reference).
LAWS: dict[str, SampleSizeLaw] = {
    # 43 of 45 held-out points within the interval, 37 within 20 %
    "planted": SampleSizeLaw(
        "crowding x^a exp(b m/d + c s m/d^2)", ("1", "log x", "m/d", "s m/d^2"),
        (1.2830785987817954, 0.8368463142427511, -0.32234689484231865, 0.7794603350270515), log=True,
        halfwidth=1.006703281089571,
        coef_lo=(0.7653196680742044, 0.6770229102495103, -0.5556924249004936, 0.44863699887123953),
        coef_hi=(1.7590173010369328, 1.0145250121841878, -0.1262035940378996, 1.1386853806186816),
        cv_median_error=0.09790466063714065, points=56, domain={"s": (2, 16), "m": (4, 32), "d": (5, 40)}),
    # 43 of 45 within the interval, 30 within 20 %
    "planted+random": SampleSizeLaw(
        "crowding x^a exp(b m/d + c s m/d^2)", ("1", "log x", "m/d", "s m/d^2"),
        (1.6736222770131075, 0.7581529393023824, -0.4073364249531438, 1.1126578235683073), log=True,
        halfwidth=1.453891824023307,
        coef_lo=(0.8929740888613226, 0.6009189648330847, -0.7103430925426747, 0.7545440404895324),
        coef_hi=(2.171924176659828, 1.0117598326395278, -0.1614903304194944, 1.7638371478454282),
        cv_median_error=0.1364599775002282, points=54, domain={"s": (2, 16), "m": (4, 32), "d": (5, 40)}),
    # 45 of 45 within the interval and within 20 %
    "gaussian": SampleSizeLaw(
        "x^a (s + x)^b", ("1", "log x", "log(s + x)"), (0.5477201677335491, -0.084346889783951, 0.9572951334279451),
        log=True, halfwidth=0.13017010288155498,
        coef_lo=(0.4182883576432618, -0.15802625079817045, 0.7702750228579183),
        coef_hi=(0.6673519265144686, 0.09497353539258993, 1.0439228976136579),
        cv_median_error=0.03490331318401413, points=64, domain={"s": (2, 16), "m": (4, 32), "d": (5, 40)}),
}


@dataclass(frozen=True)
class SampleSize:
    """What :func:`sample_size` predicts.

    ``n50``: the sample size at which half the instances of (s, m, d) are recovered, with its
    prediction interval ``[lo, hi]`` at ``level``; ``law``: the law's name, ``cv_median_error``: its
    median relative error predicting the fitting points left out one at a time; ``extrapolation``:
    (s, m, d) outside the range the law was fitted on; ``n``: the sample size given (None for a bare
    shape without it); ``status``: ``"enough"`` (n >= hi), ``"too few"`` (n < lo), ``"uncertain"``
    (in between) or ``"no n"``.
    """

    n50: float
    lo: float
    hi: float
    level: float
    law: str
    operator: str
    cv_median_error: float
    extrapolation: bool
    n: int | None
    status: str

    def __str__(self) -> str:
        where = " (extrapolated: outside the fitted range)" if self.extrapolation else ""
        given = "" if self.n is None else f"; n = {self.n}: {self.status}"
        return (f"n50 = {self.n50:.0f} [{self.lo:.0f}, {self.hi:.0f}] at {self.level:.0%}{where}, "
                f"law {self.law!r} ({self.operator}; leave-one-out median error {self.cv_median_error:.0%}){given}")


def sample_size(X: ArrayLike | tuple, m: int, s: int, *, generators: str = "planted") -> SampleSize:
    """Predict the n at which fixed-pattern NIHT recovers half the planted nets of (s, m, d).

    Parameters
    ----------
    X : array_like, shape (n, d), or tuple (n, d) or (d,)
        The data (only its shape is used: the law was measured on Gaussian X) or its shape; a
        1-tuple ``(d,)`` asks for n50 alone.
    m : int
        Hidden units.
    s : int
        Nonzero first-layer weights, ``1 <= s <= m d``.
    generators : {"planted", "planted+random", "gaussian"}
        The operator's generators: the planted ones, the planted ones among as many random ones, or
        (for comparison) a Gaussian A of N = m d columns.

    Returns
    -------
    SampleSize

    Notes
    -----
    A measured law, not the recovery paper's theorem: it holds for the instances it was measured
    on (Gaussian X, s weights uniformly placed among the m d entries, N(0, 1) values, positive
    output weights) and says where half of them are recovered, not that a given one is.
    """
    if isinstance(X, tuple):
        if len(X) not in (1, 2):
            raise ValueError(f"X as a shape is (n, d) or (d,), got {X!r}")
        n = check_int(X[0], "n", low=1) if len(X) == 2 else None
        d = check_int(X[-1], "d", low=1)
    else:
        n, d = check_array(X, "X", ndim=2).shape
    m = check_int(m, "m", low=1)
    s = check_int(s, "s", low=1, high=m * d)
    generators = check_option(generators, "generators", set(LAWS))
    law = LAWS[generators]
    point = {"s": s, "m": m, "d": d}
    n50, lo, hi = law.predict(point)
    status = "no n" if n is None else "enough" if n >= hi else "too few" if n < lo else "uncertain"
    return SampleSize(n50, lo, hi, law.level, law.name, generators, law.cv_median_error, law.extrapolates(point),
                      n, status)
