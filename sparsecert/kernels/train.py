"""Kernels of the NumPy network's training loop (:mod:`sparsecert.nn`)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "adam_step",
    "adam_step_numpy",
    "relu_backward_inplace",
    "relu_backward_inplace_numpy",
]


# ------------------------------------------------------------------------ kernels
@njit(cache=True)
def adam_step(w, g, m, v, mask, lr, b1, b2, eps, t):
    """One masked Adam update in place (Kingma & Ba): moments, bias correction, step, mask.

    Entries with ``mask == 0`` stay exactly 0 and keep zero moments.
    All arrays are 1-d views of one parameter tensor; ``t`` counts steps from 1.
    """
    c1 = 1.0 - b1**t
    c2 = 1.0 - b2**t
    for i in range(w.size):
        if mask[i]:
            m[i] = b1 * m[i] + (1.0 - b1) * g[i]
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i]
            w[i] -= lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)
        else:
            w[i] = 0.0
            m[i] = 0.0
            v[i] = 0.0
    return w


def adam_step_numpy(w, g, m, v, mask, lr, b1, b2, eps, t):
    """NumPy twin of :func:`adam_step`."""
    on = mask.astype(bool)
    m[on] = b1 * m[on] + (1 - b1) * g[on]
    v[on] = b2 * v[on] + (1 - b2) * g[on] ** 2
    w[on] -= lr * (m[on] / (1 - b1**t)) / (np.sqrt(v[on] / (1 - b2**t)) + eps)
    w[~on] = m[~on] = v[~on] = 0.0
    return w


@njit(cache=True)
def relu_backward_inplace(G, Z):
    """``G <- G * 1[Z > 0]`` (gradient through a ReLU), in place."""
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            if Z[i, j] <= 0.0:
                G[i, j] = 0.0
    return G


def relu_backward_inplace_numpy(G, Z):
    """NumPy twin of :func:`relu_backward_inplace`."""
    G[Z <= 0.0] = 0.0
    return G
