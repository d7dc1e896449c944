"""Numba kernels, each with a NumPy twin of the same signature.

Every public kernel ``name`` has a twin ``name_numpy``; the tests check that
both return the same thing. With ``NUMBA_DISABLE_JIT=1`` the Numba versions
run as plain Python (slowly) and the package still works.

Conventions
-----------
* Top-k by magnitude breaks ties deterministically: larger ``|value|`` first,
  then the smaller (global) index. Selections are returned as positions into
  the input, ordered by increasing global index.
* Activation masks of a support's blocks are stored as uint8 0/1 rows, one
  per block: ``masks[b, i]`` is ``1[x_i . h_j >= 0]`` for the ``b``-th block
  the support touches (one byte per sample: 1/8 of a float64 column, and
  SIMD-friendly where bit-packing measured 4-8x slower).
* A support grouped by block is described CSR-style: the entries of block
  ``b`` are ``ptr[b]:ptr[b+1]`` and ``feat[q]`` is the input feature (column
  of ``X``) of entry ``q``.
"""

from __future__ import annotations

import numpy as np
import math

from numba import njit

__all__ = [
    "box_muller",
    "box_muller_numpy",
    "topk_abs",
    "topk_abs_numpy",
    "threshold_candidates",
    "threshold_candidates_numpy",
    "mask_scale_inplace",
    "mask_scale_inplace_numpy",
    "mask_scale_capture",
    "mask_scale_capture_numpy",
    "mask_scale_followed",
    "mask_scale_followed_numpy",
    "pattern_matvec",
    "pattern_matvec_numpy",
    "pattern_rmatvec",
    "pattern_rmatvec_numpy",
    "sparse_masks",
    "sparse_masks_numpy",
]


# ------------------------------------------------------------------ random normals
@njit(cache=True)
def box_muller(raw, out):
    """Standard normals from 64-bit words, two per pair of words (Box-Muller).

    Word ``w`` gives ``u = ((w >> 11) + 0.5) / 2**53`` in (0, 1); the pair
    ``(u1, u2)`` at positions ``2k, 2k + 1`` gives ``sqrt(-2 ln u1) cos(2 pi u2)``
    and ``... sin(2 pi u2)``. Entry ``i`` depends on words ``2 (i // 2)`` and
    ``2 (i // 2) + 1`` only, so a counter-based stream stays position-exact.

    Parameters
    ----------
    raw : ndarray of uint64, shape (L,), L even
    out : ndarray of float64, shape (L,)
    """
    scale = 2.0**-53
    for k in range(raw.size // 2):
        u1 = (float(raw[2 * k] >> 11) + 0.5) * scale
        u2 = (float(raw[2 * k + 1] >> 11) + 0.5) * scale
        rad = math.sqrt(-2.0 * math.log(u1))
        theta = 2.0 * math.pi * u2
        out[2 * k] = rad * math.cos(theta)
        out[2 * k + 1] = rad * math.sin(theta)
    return out


def box_muller_numpy(raw, out):
    """NumPy twin of :func:`box_muller`."""
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    rad = np.sqrt(-2.0 * np.log(u[0::2]))
    theta = 2.0 * np.pi * u[1::2]
    out[0::2] = rad * np.cos(theta)
    out[1::2] = rad * np.sin(theta)
    return out


# --------------------------------------------------------------------------- top-k
@njit(cache=True)
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


@njit(cache=True)
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


# ----------------------------------------------------------- ReLU-pattern kernels
# These kernels are serial on purpose: they run between BLAS calls, and a
# Numba thread pool spinning up beside OpenBLAS's threads costs far more than
# it saves (measured: a 4-18x slower pass on 2 cores). BLAS gives the threads.


@njit(cache=True)
def mask_scale_inplace(Z, r):
    """Overwrite the pre-activations ``Z`` (rows, B) with ``1[Z >= 0] * r[:, None]``.

    The mask half of the fused mask-and-reduce behind ``rmatvec``: with
    ``Z = X_rows @ H_B.T`` it turns ``Z`` into ``M * r`` in place, so that
    the gradient block ``X_rows.T @ Z`` is one GEMM and no second array of
    Z's size exists.
    """
    rows, B = Z.shape
    for i in range(rows):
        ri = r[i]
        for b in range(B):
            Z[i, b] = ri if Z[i, b] >= 0 else 0.0
    return Z


@njit(cache=True)
def mask_scale_capture(Z, r, M, r0):
    """:func:`mask_scale_inplace` that also writes the mask: ``M[r0 + i, b] = 1[Z[i, b] >= 0]``.

    ``M`` has shape (n, >= B) (uint8), sample-major like ``Z`` so that the
    writes are contiguous (a block-major ``M`` costs a TLB miss per write).
    """
    rows, B = Z.shape
    for i in range(rows):
        ri = r[i]
        row = r0 + i
        for b in range(B):
            active = Z[i, b] >= 0
            M[row, b] = active
            Z[i, b] = ri if active else 0.0
    return Z


def mask_scale_capture_numpy(Z, r, M, r0):
    """NumPy twin of :func:`mask_scale_capture`."""
    rows, B = Z.shape
    M[r0 : r0 + rows, :B] = Z >= 0
    np.multiply(Z >= 0, r[:, None], out=Z)
    return Z


def mask_scale_inplace_numpy(Z, r):
    """NumPy twin of :func:`mask_scale_inplace`."""
    np.multiply(Z >= 0, r[:, None], out=Z)
    return Z


@njit(cache=True)
def mask_scale_followed(Zd, dpos, fpos, Mf, r0, r, Z, M):
    """``Z = M * r[:, None]`` for a block of generators of which some follow sparse weights.

    The masks ``M`` (rows, B) are assembled first: column ``dpos[k]`` is
    ``1[Zd[:, k] >= 0]`` (a dense generator, pre-activations from a GEMM),
    column ``fpos[k]`` is ``Mf[k, r0:r0 + rows]`` (a generator that follows
    sparse weights, its mask computed in O(n nnz) by :func:`sparse_masks`).

    Parameters
    ----------
    Zd : ndarray, shape (rows, len(dpos))
    dpos, fpos : ndarray of int64
        Disjoint positions in ``range(B)`` covering it.
    Mf : ndarray of uint8, shape (len(fpos), n)
    r0 : int
        First sample of the tile.
    r : ndarray, shape (rows,)
    Z : ndarray, shape (rows, B)
        Overwritten with ``M * r[:, None]``.
    M : ndarray of uint8, shape (rows, >= B)
        Overwritten (columns ``:B``) with the masks.
    """
    rows, B = Z.shape
    for i in range(rows):
        ri = r[i]
        Mi = M[i]
        for k in range(dpos.size):
            Mi[dpos[k]] = Zd[i, k] >= 0
        for k in range(fpos.size):
            Mi[fpos[k]] = Mf[k, r0 + i]
        for b in range(B):
            Z[i, b] = ri * Mi[b]
    return Z


def mask_scale_followed_numpy(Zd, dpos, fpos, Mf, r0, r, Z, M):
    """NumPy twin of :func:`mask_scale_followed`."""
    M[:, dpos] = Zd >= 0
    M[:, fpos] = Mf[:, r0 : r0 + Z.shape[0]].T
    np.multiply(M[:, : Z.shape[1]], r[:, None], out=Z)
    return Z


@njit(cache=True, fastmath={"contract"})
def pattern_matvec(XT, masks, ptr, feat, v, out):
    """``out = A_S v`` for a support ``S`` of the ReLU-pattern operator.

    ``out[i] = sum_b masks[b, i] * sum_{q in block b} X[i, feat[q]] * v[q]``,
    four entries per sweep over ``i`` (contiguous, SIMD-friendly rows; a
    quarter of the read-modify-writes of ``out``).

    Parameters
    ----------
    XT : ndarray, shape (d, n)
        The data transposed (C-contiguous), so each feature is a contiguous row.
    masks : ndarray of uint8, shape (nb, n)
        Activation masks (0/1) of the ``nb`` blocks the support touches.
    ptr : ndarray of int64, shape (nb + 1,)
    feat : ndarray of int64, shape (|S|,)
    v : ndarray, shape (|S|,)
    out : ndarray, shape (n,)
        Overwritten.
    """
    n = XT.shape[1]
    nnz = feat.size
    blk = np.empty(nnz, np.int64)
    for b in range(ptr.size - 1):
        for q in range(ptr[b], ptr[b + 1]):
            blk[q] = b
    out[:] = 0.0
    q = 0
    while q + 4 <= nnz:
        x0, x1, x2, x3 = XT[feat[q]], XT[feat[q + 1]], XT[feat[q + 2]], XT[feat[q + 3]]
        m0, m1, m2, m3 = masks[blk[q]], masks[blk[q + 1]], masks[blk[q + 2]], masks[blk[q + 3]]
        v0, v1, v2, v3 = v[q], v[q + 1], v[q + 2], v[q + 3]
        for i in range(n):
            out[i] += m0[i] * x0[i] * v0 + m1[i] * x1[i] * v1 + m2[i] * x2[i] * v2 + m3[i] * x3[i] * v3
        q += 4
    while q < nnz:
        x0, m0, v0 = XT[feat[q]], masks[blk[q]], v[q]
        for i in range(n):
            out[i] += m0[i] * x0[i] * v0
        q += 1
    return out


def pattern_matvec_numpy(XT, masks, ptr, feat, v, out):
    """NumPy twin of :func:`pattern_matvec`."""
    blk = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    out[:] = (masks[blk] * XT[feat]).T @ v
    return out


@njit(cache=True, fastmath={"reassoc", "contract"})
def pattern_rmatvec(XT, masks, ptr, feat, r, out):
    """``out = A_S^T r``: ``out[q] = sum_i masks[b, i] X[i, feat[q]] r[i]`` (q in block b).

    Same arguments as :func:`pattern_matvec`, with ``r`` of shape (n,) and
    ``out`` of shape (|S|,), overwritten.
    """
    n = XT.shape[1]
    for b in range(ptr.size - 1):
        for q in range(ptr[b], ptr[b + 1]):
            f = feat[q]
            acc = 0.0
            for i in range(n):
                acc += masks[b, i] * XT[f, i] * r[i]
            out[q] = acc
    return out


def pattern_rmatvec_numpy(XT, masks, ptr, feat, r, out):
    """NumPy twin of :func:`pattern_rmatvec`."""
    blk = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    out[:] = (masks[blk] * XT[feat]) @ r
    return out


@njit(cache=True, fastmath={"contract"})
def sparse_masks(XT, ptr, feat, vals, out, rows):
    """Activation masks of sparse generators: ``out[rows[b], i] = 1[sum_q X[i, feat[q]] vals[q] >= 0]``.

    For the sequential-convex variant, where ``h_j = w_j`` has a few nonzeros:
    O(n * nnz) work instead of the O(n * d) per block of a dense GEMM.

    Parameters
    ----------
    XT : ndarray, shape (d, n)
    ptr : ndarray of int64, shape (nb + 1,)
        Entries of generator ``b`` are ``ptr[b]:ptr[b+1]``.
    feat, vals : ndarray, shape (nnz,)
        Feature index and value of each entry.
    out : ndarray of uint8, shape (>= nb, n)
    rows : ndarray of int64, shape (nb,)
        Row of ``out`` receiving generator ``b``.
    """
    n = XT.shape[1]
    z = np.empty(n, XT.dtype)
    for b in range(ptr.size - 1):
        z[:] = 0.0
        for q in range(ptr[b], ptr[b + 1]):
            f = feat[q]
            v = vals[q]
            for i in range(n):
                z[i] += XT[f, i] * v
        row = rows[b]
        for i in range(n):
            out[row, i] = 1 if z[i] >= 0 else 0
    return out


def sparse_masks_numpy(XT, ptr, feat, vals, out, rows):
    """NumPy twin of :func:`sparse_masks`."""
    for b in range(ptr.size - 1):
        sl = slice(ptr[b], ptr[b + 1])
        out[rows[b]] = (vals[sl] @ XT[feat[sl]]) >= 0 if ptr[b + 1] > ptr[b] else 1
    return out
