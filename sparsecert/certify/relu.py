"""Assumption 2 of the recovery theorem: separation and coverage of the activation patterns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..validation import check_array

from .base import Certificate

if TYPE_CHECKING:
    from ..typing import ArrayLike


__all__ = [
    "pattern_statistics",
    "population_separation",
    "relu_structure",
]


def pattern_statistics(X: ArrayLike, U: ArrayLike, gamma: float | None = None) -> dict:
    """Separation and coverage of the activation patterns ``D_j = diag(1[X u_j >= 0])`` (Assumption 2).

    Parameters
    ----------
    X : array_like, shape (n, d)
    U : array_like, shape (p, d)
        Generators (hidden weights) whose patterns are compared; zero rows are skipped.
    gamma : float, optional
        A separation threshold: also report the fraction of pattern pairs closer than it.

    Returns
    -------
    dict
        ``separation``: the smallest normalised Hamming distance between two patterns or a
        pattern and the complement of another (``min(h, 1 - h)``), ``pair``: where it is
        attained, ``coverage``: the smallest fraction of samples a unit is active on
        (``coverages``: each unit's), ``distinct``: how many different patterns there are, and
        ``violating`` (with ``gamma``): the fraction of pairs with ``min(h, 1 - h) < gamma``.
        One GEMM of the patterns: O(n p^2) time, O(n p + p^2) memory.

    Notes
    -----
    For Gaussian ``X`` the patterns of ``u`` and ``v`` differ on each sample with
    probability ``angle(u, v) / pi`` (hyperplane rounding), so the separation tends
    to :func:`population_separation` and each unit's coverage to 1/2 as n grows.
    """
    X = check_array(X, "X", ndim=2)
    U = check_array(U, "U", ndim=2, shape=(None, X.shape[1]))
    P = (X @ U[U.any(axis=1)].T >= 0).astype(np.float64)
    n, p = P.shape
    cov = P.mean(axis=0)
    out = {"coverage": float(cov.min()) if p else 1.0, "coverages": cov, "separation": 1.0, "pair": (-1, -1),
           "distinct": len({col.tobytes() for col in P.T.astype(np.uint8)})}
    if p > 1:
        H = (P.T @ (1.0 - P) + (1.0 - P).T @ P) / n  # Hamming distances of all pairs
        H = np.minimum(H, 1.0 - H)  # a pattern and a complement are equally confusable for mixed signs
        iu = np.triu_indices(p, 1)
        k = int(np.argmin(H[iu]))
        out.update(separation=float(H[iu][k]), pair=(int(iu[0][k]), int(iu[1][k])))
        if gamma is not None:
            out["violating"] = float(np.mean(H[iu] < gamma))
    elif gamma is not None:
        out["violating"] = 0.0
    return out


def population_separation(U: ArrayLike) -> float:
    """The separation Gaussian data gives as n grows: ``min over pairs of min(theta, pi - theta) / pi``,
    ``theta`` the angle between two nonzero rows of ``U`` (1.0 for fewer than two)."""
    U = np.asarray(U, dtype=float)
    U = U[U.any(axis=1)]
    if len(U) < 2:
        return 1.0
    V = U / np.linalg.norm(U, axis=1, keepdims=True)
    theta = np.arccos(np.clip(V @ V.T, -1.0, 1.0))[np.triu_indices(len(U), 1)]
    return float(np.min(np.minimum(theta, np.pi - theta)) / np.pi)


def relu_structure(
    X: ArrayLike,
    U: ArrayLike,
    *,
    min_separation: float = 0.1,
    min_coverage: float = 0.05,
) -> list[Certificate]:
    """Structural conditions of the ReLU recovery theorem on data ``X`` and planted hidden weights ``U``.

    For the active units (nonzero rows of ``U``): *separation* and *coverage*
    of their patterns (:func:`pattern_statistics`). Returns two certificates
    compared with the given thresholds; the theorem's sample-size requirement
    is not included (its constants are not available here), so these are
    necessary structure checks, reported as measured.
    """
    st = pattern_statistics(X, U)
    sep, pair, cmin, cov = st["separation"], st["pair"], st["coverage"], st["coverages"]
    jmin = int(np.argmin(cov)) if cov.size else -1
    return [
        Certificate("pattern separation", sep, min_separation, "holds" if sep >= min_separation else "fails", "exact",
                    f"closest active patterns {pair} differ on a fraction {sep:.3g} of the samples (needs >= {min_separation})",
                    {"pair": np.array(pair)}),
        Certificate("pattern coverage", cmin, min_coverage, "holds" if cmin >= min_coverage else "fails", "exact",
                    f"least active unit {jmin} is on for a fraction {cmin:.3g} of the samples (needs >= {min_coverage})",
                    {"coverage": cov}),
    ]
