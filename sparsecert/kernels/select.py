"""Top-k by magnitude and the thresholding of a streamed gradient block."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "topk_abs",
    "topk_abs_numpy",
    "threshold_candidates",
    "threshold_candidates_numpy",
]


# --------------------------------------------------------------------------- top-k
@njit(cache=True, nogil=True)
def topk_abs(values, indices, k):
    """Positions of the ``k`` entries of largest ``|values|`` (ties: smaller index).

    Parameters
    ----------
    values : ndarray, shape (L,)
    indices : ndarray of int64, shape (L,)
        Global index of each entry; distinct.
    k : int
        Number to keep; ``k >= L`` keeps everything.

    Returns
    -------
    pos : ndarray of int64, shape (min(k, L),)
        Positions into ``values``, ordered by increasing ``indices[pos]``.
    """
    L = values.size
    if k <= 0:
        return np.empty(0, np.int64)
    if k >= L:
        return np.argsort(indices, kind="mergesort").astype(np.int64)
    a = np.abs(values)
    kth = np.partition(a, L - k)[L - k]
    pos = np.empty(k, np.int64)
    c = 0
    n_eq = 0
    for p in range(L):
        if a[p] > kth:
            pos[c] = p
            c += 1
        elif a[p] == kth:
            n_eq += 1
    need = k - c
    eq = np.empty(n_eq, np.int64)
    e = 0
    for p in range(L):
        if a[p] == kth:
            eq[e] = p
            e += 1
    order = np.argsort(indices[eq], kind="mergesort")
    for t in range(need):
        pos[c + t] = eq[order[t]]
    return pos[np.argsort(indices[pos], kind="mergesort")]


def topk_abs_numpy(values, indices, k):
    """NumPy twin of :func:`topk_abs`."""
    values = np.asarray(values)
    indices = np.asarray(indices, dtype=np.int64)
    L = values.size
    if k <= 0:
        return np.empty(0, np.int64)
    if k >= L:
        return np.argsort(indices, kind="stable").astype(np.int64)
    a = np.abs(values)
    kth = np.partition(a, L - k)[L - k]
    gt = np.flatnonzero(a > kth)
    eq = np.flatnonzero(a == kth)
    eq = eq[np.argsort(indices[eq], kind="stable")][: k - gt.size]
    pos = np.concatenate([gt, eq]).astype(np.int64)
    return pos[np.argsort(indices[pos], kind="stable")]


@njit(cache=True, nogil=True)
def threshold_candidates(values, offset, tau, exclude):
    """Positions ``p`` with ``|values[p]| >= tau`` and ``offset + p`` not in ``exclude``.

    The filter a streaming top-k applies to each new block before merging:
    entries below the current k-th magnitude ``tau`` cannot enter.

    Parameters
    ----------
    values : ndarray, shape (L,)
        Block of a long vector whose global indices are ``offset + arange(L)``.
    offset : int
    tau : float
        Current admission threshold (0 admits everything).
    exclude : ndarray of int64, sorted
        Global indices never to admit.

    Returns
    -------
    pos : ndarray of int64, increasing.
    """
    L = values.size
    out = np.empty(L, np.int64)
    lo = np.searchsorted(exclude, offset)
    hi = np.searchsorted(exclude, offset + L)
    e = lo
    c = 0
    for p in range(L):
        g = offset + p
        while e < hi and exclude[e] < g:
            e += 1
        if e < hi and exclude[e] == g:
            continue
        if abs(values[p]) >= tau:
            out[c] = p
            c += 1
    return out[:c].copy()


def threshold_candidates_numpy(values, offset, tau, exclude):
    """NumPy twin of :func:`threshold_candidates`."""
    values = np.asarray(values)
    keep = np.abs(values) >= tau
    exclude = np.asarray(exclude, dtype=np.int64)
    lo, hi = np.searchsorted(exclude, [offset, offset + values.size])
    keep[exclude[lo:hi] - offset] = False
    return np.flatnonzero(keep).astype(np.int64)
