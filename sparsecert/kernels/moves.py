"""Scores of the sequential rule's feature moves: one feature of a unit moved to another unit.

For a network whose units ``j = 0..k-1`` have pre-activations ``Z[:, j] = X w_j`` and signed
outputs ``O[:, j] = sg_j relu(Z[:, j])``, moving the entry ``q`` (feature ``f``, weight ``v``) of unit
``i`` to unit ``t`` changes the output by

    D = sg_i relu(Z_i - z) - O_i + sg_t relu(Z_t + z) - O_t,   z = X[:, f] v,

and the score of the move is the new squared residual ``||r - D||^2`` (rows of the scoring sample).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["move_scores", "move_scores_numpy"]


@njit(cache=True, nogil=True)
def move_scores(X, r, Z, O, sg, part, feat, wS, bounds, has):
    """``||r - D||^2`` for moving each support entry to each unit (see the module).

    Parameters
    ----------
    X : ndarray, shape (rows, d)
        The scoring samples.
    r : ndarray, shape (rows,)
        The residual on them.
    Z, O : ndarray, shape (rows, k)
        The units' pre-activations and signed outputs.
    sg : ndarray, shape (k,)
        Each unit's output sign; ``part[j]``: the part of a stack unit ``j`` belongs to.
    feat, wS : ndarray, shape (``|S|``,)
        Feature and weight of each support entry, grouped by unit: unit ``j``'s entries are
        ``bounds[j]:bounds[j + 1]``.
    has : ndarray of bool, shape (k, d)
        Whether unit ``j`` has a weight on feature ``f``.

    Returns
    -------
    val : ndarray, shape (``|S|``, k)
        The score of moving entry ``q`` to unit ``t``; ``inf`` where the move is not allowed (the
        same unit, another part, a target that has the feature, a unit with one weight).
    """
    rows, k = Z.shape
    val = np.full((feat.size, k), np.inf)
    z = np.empty(rows)
    for i in range(k):
        a, b = bounds[i], bounds[i + 1]
        if b - a < 2:
            continue
        for q in range(a, b):
            f = feat[q]
            for row in range(rows):
                z[row] = X[row, f] * wS[q]
            for t in range(k):
                if t == i or part[t] != part[i] or has[t, f]:
                    continue
                acc = 0.0
                for row in range(rows):
                    D = (sg[i] * max(Z[row, i] - z[row], 0.0) - O[row, i]
                         + sg[t] * max(Z[row, t] + z[row], 0.0) - O[row, t])
                    e = r[row] - D
                    acc += e * e
                val[q, t] = acc
    return val


def move_scores_numpy(X, r, Z, O, sg, part, feat, wS, bounds, has):
    """NumPy twin of :func:`move_scores` (one (rows, features, targets) array per unit)."""
    k = Z.shape[1]
    val = np.full((feat.size, k), np.inf)
    for i in range(k):
        a, b = bounds[i], bounds[i + 1]
        js = np.flatnonzero((part == part[i]) & (np.arange(k) != i))
        if b - a < 2 or not js.size:
            continue
        z = (X[:, feat[a:b]] * wS[a:b])[:, :, None]
        D = (sg[i] * np.maximum(Z[:, i, None, None] - z, 0) - O[:, i, None, None]
             + sg[js] * np.maximum(Z[:, None, js] + z, 0) - O[:, None, js])
        e = r[:, None, None] - D
        v = np.einsum("rft,rft->ft", e, e)
        v[has[js][:, feat[a:b]].T] = np.inf
        val[a:b, js] = v
    return val
