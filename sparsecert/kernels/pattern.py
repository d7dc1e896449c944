"""Kernels of the ReLU-pattern operator: masks, restricted products, followed generators, half-space sums."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "ROW_TILE",
    "mask_scale_capture",
    "mask_scale_capture_numpy",
    "mask_scale_followed",
    "mask_scale_followed_numpy",
    "pattern_matvec",
    "pattern_matvec_numpy",
    "pattern_rmatvec",
    "pattern_rmatvec_numpy",
    "pattern_normal",
    "pattern_normal_numpy",
    "sparse_masks",
    "sparse_masks_numpy",
    "halfspace_sums",
    "halfspace_sums_numpy",
    "gather_columns",
    "gather_columns_numpy",
]


# ----------------------------------------------------------- ReLU-pattern kernels
# These kernels are serial and release the GIL: sparsecert.parallel runs them
# on disjoint row ranges from its own threads, with BLAS held to one thread
# meanwhile. (A Numba thread pool spinning beside OpenBLAS's measured a 4-18x
# slower pass on 2 cores.) Masks and pre-activation tiles are block-major,
# (B, samples), so every mask row is contiguous.


@njit(cache=True, nogil=True)
def mask_scale_capture(Z, r, M, r0):
    """Masks of a tile of pre-activations, and the tile scaled by them.

    With ``Z = H_B @ X_rows.T`` (B, L) for samples ``r0 .. r0 + L - 1``:
    ``M[b, r0 + i] = 1[Z[b, i] >= 0]`` and ``Z[b, i] <- M[b, r0 + i] * r[i]``
    in place, so the gradient block ``Z @ X_rows`` is one GEMM and no second
    array of Z's size exists.

    Parameters
    ----------
    Z : ndarray, shape (B, L)
    r : ndarray, shape (L,)
        The residual on the tile's samples.
    M : ndarray of uint8, shape (>= B, n)
        Block-major mask buffer; columns ``r0 : r0 + L`` of rows ``:B`` written.
    r0 : int
    """
    B, L = Z.shape
    for b in range(B):
        Zb = Z[b]
        Mb = M[b, r0 : r0 + L]
        for i in range(L):
            active = Zb[i] >= 0
            Mb[i] = active
            Zb[i] = r[i] if active else 0.0
    return Z


def mask_scale_capture_numpy(Z, r, M, r0):
    """NumPy twin of :func:`mask_scale_capture`."""
    B, L = Z.shape
    M[:B, r0 : r0 + L] = Z >= 0
    np.multiply(Z >= 0, r[None, :], out=Z)
    return Z


@njit(cache=True, nogil=True)
def mask_scale_followed(Zd, dpos, fpos, Mf, r0, r, Z, M):
    """:func:`mask_scale_capture` for a block of generators of which some follow sparse weights.

    Row ``dpos[k]`` of the masks is ``1[Zd[k] >= 0]`` (a dense generator,
    pre-activations from a GEMM); row ``fpos[k]`` is ``Mf[k, r0 : r0 + L]`` (a
    generator that follows sparse weights, its mask computed in O(n nnz) by
    :func:`sparse_masks`). Then ``Z = M * r[None, :]``.

    Parameters
    ----------
    Zd : ndarray, shape (len(dpos), L)
    dpos, fpos : ndarray of int64
        Disjoint positions in ``range(B)`` covering it.
    Mf : ndarray of uint8, shape (len(fpos), n)
    r0 : int
        First sample of the tile.
    r : ndarray, shape (L,)
    Z : ndarray, shape (B, L)
        Overwritten with ``M * r[None, :]``.
    M : ndarray of uint8, shape (>= B, n)
        Block-major mask buffer; columns ``r0 : r0 + L`` of rows ``:B`` written.
    """
    B, L = Z.shape
    for k in range(dpos.size):
        Zk = Zd[k]
        Mb = M[dpos[k], r0 : r0 + L]
        for i in range(L):
            Mb[i] = Zk[i] >= 0
    for k in range(fpos.size):
        M[fpos[k], r0 : r0 + L] = Mf[k, r0 : r0 + L]
    for b in range(B):
        Mb = M[b, r0 : r0 + L]
        Zb = Z[b]
        for i in range(L):
            Zb[i] = r[i] * Mb[i]
    return Z


def mask_scale_followed_numpy(Zd, dpos, fpos, Mf, r0, r, Z, M):
    """NumPy twin of :func:`mask_scale_followed`."""
    L = Z.shape[1]
    M[dpos, r0 : r0 + L] = Zd >= 0
    M[fpos, r0 : r0 + L] = Mf[:, r0 : r0 + L]
    np.multiply(M[: Z.shape[0], r0 : r0 + L], r[None, :], out=Z)
    return Z


#: Samples per cache tile of the restricted products: a tile of every feature
#: (d x ROW_TILE doubles) and of every mask stays in L2 across the entries.
ROW_TILE = 2048


@njit(cache=True, nogil=True, inline="always")
def _feature(XT, f, i0, i1, cols, buf):
    """Feature ``f`` on samples ``i0:i1``: ``XT[f, i0:i1]`` (a view), or with ``cols`` (the samples'
    columns of ``XT``, e.g. a minibatch's rows of a larger X) ``XT[f, cols[i0:i1]]`` gathered into
    ``buf``, so that the arithmetic after it is the same either way."""
    if cols is None:
        return XT[f, i0:i1]
    for i in range(i1 - i0):
        buf[i] = XT[f, cols[i0 + i]]
    return buf[: i1 - i0]


@njit(cache=True, nogil=True)
def gather_columns(XT, cols, out):
    """``out[:, i] = XT[:, cols[i]]``: samples (columns of the (d, N) ``XT``) gathered into the
    (d, len(cols)) ``out``, one feature row at a time (sorted ``cols`` read each row forwards)."""
    for f in range(XT.shape[0]):
        src, dst = XT[f], out[f]
        for i in range(cols.size):
            dst[i] = src[cols[i]]
    return out


def gather_columns_numpy(XT, cols, out):
    """NumPy twin of :func:`gather_columns`."""
    return np.take(XT, cols, axis=1, out=out, mode="clip")  # "clip": unbuffered (the default copies)


@njit(cache=True, nogil=True, inline="always")
def _gather_buffers(XT, cols, k):
    """``k`` rows of :func:`_feature`'s buffers (one column when nothing is gathered)."""
    if cols is None:
        width = 1
    else:
        width = ROW_TILE
    return np.empty((k, width), XT.dtype)


@njit(cache=True, nogil=True, fastmath={"contract"})
def pattern_matvec(XT, masks, blk, feat, v, out, r0, r1, cols=None):
    """Rows ``r0:r1`` of ``A_S v`` for a support ``S`` of the ReLU-pattern operator.

    ``out[i] = sum_q masks[blk[q], i] * X[i, feat[q]] * v[q]`` for ``r0 <= i < r1``
    (other entries of ``out`` untouched). Entries with ``v[q] == 0`` cost
    nothing. Rows are swept in tiles of :data:`ROW_TILE` samples, four entries
    per sweep, so the features and masks a tile reads stay in cache; disjoint
    row ranges can run on separate threads (the kernel releases the GIL).

    Parameters
    ----------
    XT : ndarray, shape (d, n)
        The data transposed (C-contiguous), so each feature is a contiguous row.
    masks : ndarray of uint8, shape (nb, n)
        Activation masks (0/1) of the ``nb`` blocks the support touches.
    blk : ndarray of int64, shape (``|S|``,)
        Row of ``masks`` of each entry.
    feat : ndarray of int64, shape (``|S|``,)
        Input feature (row of ``XT``) of each entry.
    v : ndarray, shape (``|S|``,)
    out : ndarray, shape (n,)
        Rows ``r0:r1`` overwritten.
    r0, r1 : int
        Row range, ``0 <= r0 <= r1 <= n``.
    cols : ndarray of int64, shape (n,), optional
        Sample ``i`` is column ``cols[i]`` of ``XT`` (then of shape (d, N)): the samples of a
        minibatch read in place from the whole data's ``X.T``, each tile's features gathered
        into a small buffer first. Default: sample ``i`` is column ``i``.
    """
    xb = _gather_buffers(XT, cols, 4)
    nz = np.flatnonzero(v != 0)
    nnz = nz.size
    for i0 in range(r0, r1, ROW_TILE):
        i1 = min(r1, i0 + ROW_TILE)
        L = i1 - i0
        o = out[i0:i1]
        o[:] = 0.0
        t = 0
        while t + 4 <= nnz:
            q0, q1, q2, q3 = nz[t], nz[t + 1], nz[t + 2], nz[t + 3]
            x0, x1 = _feature(XT, feat[q0], i0, i1, cols, xb[0]), _feature(XT, feat[q1], i0, i1, cols, xb[1])
            x2, x3 = _feature(XT, feat[q2], i0, i1, cols, xb[2]), _feature(XT, feat[q3], i0, i1, cols, xb[3])
            m0, m1, m2, m3 = masks[blk[q0], i0:i1], masks[blk[q1], i0:i1], masks[blk[q2], i0:i1], masks[blk[q3], i0:i1]
            v0, v1, v2, v3 = v[q0], v[q1], v[q2], v[q3]
            for i in range(L):
                o[i] += m0[i] * x0[i] * v0 + m1[i] * x1[i] * v1 + m2[i] * x2[i] * v2 + m3[i] * x3[i] * v3
            t += 4
        while t < nnz:
            q0 = nz[t]
            x0, m0, v0 = _feature(XT, feat[q0], i0, i1, cols, xb[0]), masks[blk[q0], i0:i1], v[q0]
            for i in range(L):
                o[i] += m0[i] * x0[i] * v0
            t += 1
    return out


def _features_numpy(XT, feat, r0, r1, cols):
    """``X[r0:r1, feat].T`` for the NumPy twins (``cols``: as in :func:`pattern_matvec`)."""
    return XT[feat, r0:r1] if cols is None else XT[feat][:, cols[r0:r1]]


def pattern_matvec_numpy(XT, masks, blk, feat, v, out, r0, r1, cols=None):
    """NumPy twin of :func:`pattern_matvec`."""
    out[r0:r1] = (masks[blk, r0:r1] * _features_numpy(XT, feat, r0, r1, cols)).T @ v
    return out


@njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _rmatvec_tile(XT, masks, blk, feat, r, out, i0, i1, cols, xb):
    """Add rows ``i0:i1``'s share of ``A_S^T r`` to ``out`` (four entries per sweep; ``cols``, ``xb``:
    :func:`_feature`'s)."""
    nnz = feat.size
    L = i1 - i0
    rc = r[i0:i1]
    q = 0
    while q + 4 <= nnz:
        x0, x1 = _feature(XT, feat[q], i0, i1, cols, xb[0]), _feature(XT, feat[q + 1], i0, i1, cols, xb[1])
        x2, x3 = _feature(XT, feat[q + 2], i0, i1, cols, xb[2]), _feature(XT, feat[q + 3], i0, i1, cols, xb[3])
        m0, m1, m2, m3 = masks[blk[q], i0:i1], masks[blk[q + 1], i0:i1], masks[blk[q + 2], i0:i1], masks[blk[q + 3], i0:i1]
        a0 = a1 = a2 = a3 = 0.0
        for i in range(L):
            ri = rc[i]
            a0 += m0[i] * x0[i] * ri
            a1 += m1[i] * x1[i] * ri
            a2 += m2[i] * x2[i] * ri
            a3 += m3[i] * x3[i] * ri
        out[q] += a0
        out[q + 1] += a1
        out[q + 2] += a2
        out[q + 3] += a3
        q += 4
    while q < nnz:
        x0, m0 = _feature(XT, feat[q], i0, i1, cols, xb[0]), masks[blk[q], i0:i1]
        a0 = 0.0
        for i in range(L):
            a0 += m0[i] * x0[i] * rc[i]
        out[q] += a0
        q += 1


@njit(cache=True, nogil=True)
def pattern_rmatvec(XT, masks, blk, feat, r, out, r0, r1, cols=None):
    """The rows ``r0:r1`` part of ``A_S^T r``: ``out[q] = sum_{r0 <= i < r1} masks[blk[q], i] X[i, feat[q]] r[i]``.

    Same arguments as :func:`pattern_matvec`, with ``r`` of shape (n,) and
    ``out`` of shape (``|S|``,), overwritten. Partial sums of disjoint row ranges
    add up to ``A_S^T r``.
    """
    xb = _gather_buffers(XT, cols, 4)
    out[:] = 0.0
    for i0 in range(r0, r1, ROW_TILE):
        _rmatvec_tile(XT, masks, blk, feat, r, out, i0, min(r1, i0 + ROW_TILE), cols, xb)
    return out


def pattern_rmatvec_numpy(XT, masks, blk, feat, r, out, r0, r1, cols=None):
    """NumPy twin of :func:`pattern_rmatvec`."""
    out[:] = (masks[blk, r0:r1] * _features_numpy(XT, feat, r0, r1, cols)) @ r[r0:r1]
    return out


@njit(cache=True, nogil=True)
def pattern_normal(XT, masks, blk, feat, p, q, out, r0, r1, cols=None):
    """``q = A_S p`` on rows ``r0:r1`` and the rows-``r0:r1`` part of ``A_S^T q``, in one sweep.

    Each row tile computes ``q`` on its rows (as :func:`pattern_matvec`) and
    at once adds its rows' share of ``A_S^T q`` (as :func:`pattern_rmatvec`)
    while the tile's features and masks are still in cache: one pass over
    the data for ``A_S^T A_S p``, the product a conjugate-gradient step needs.
    Arguments as for :func:`pattern_matvec`; ``q`` of shape (n,) (rows
    ``r0:r1`` overwritten), ``out`` of shape (``|S|``,) (overwritten with the
    partial sum).
    """
    xb = _gather_buffers(XT, cols, 4)
    out[:] = 0.0
    for i0 in range(r0, r1, ROW_TILE):
        i1 = min(r1, i0 + ROW_TILE)
        pattern_matvec(XT, masks, blk, feat, p, q, i0, i1, cols)
        _rmatvec_tile(XT, masks, blk, feat, q, out, i0, i1, cols, xb)
    return out


def pattern_normal_numpy(XT, masks, blk, feat, p, q, out, r0, r1, cols=None):
    """NumPy twin of :func:`pattern_normal`."""
    pattern_matvec_numpy(XT, masks, blk, feat, p, q, r0, r1, cols)
    return pattern_rmatvec_numpy(XT, masks, blk, feat, q, out, r0, r1, cols)


@njit(cache=True, nogil=True, fastmath={"contract"})
def sparse_masks(XT, ptr, feat, vals, out, rows, r0, r1, relu_sum, cols=None):
    """Activation masks of sparse generators: ``out[rows[b], i] = 1[z_b[i] >= 0]``, ``z_b = X h_b``.

    For the sequential-convex variant, where ``h_j = w_j`` has a few nonzeros:
    O(n * nnz) work instead of the O(n * d) per block of a dense GEMM. With
    ``relu_sum`` of length n it also writes ``relu_sum[i] = sum_b max(z_b[i], 0)``:
    the network output ``A w`` when every generator is its own weight. Only
    samples ``r0 <= i < r1`` are written (disjoint ranges may run on separate
    threads).

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
    r0, r1 : int
        Sample range.
    relu_sum : ndarray, shape (n,) or (0,)
        Written when it has length n; ignored when empty.
    cols : ndarray of int64, shape (n,), optional
        As in :func:`pattern_matvec`: the samples are these columns of ``XT``.
    """
    xb = _gather_buffers(XT, cols, 1)
    z = np.empty(ROW_TILE, XT.dtype)
    with_sum = relu_sum.size > 0
    for i0 in range(r0, r1, ROW_TILE):
        i1 = min(r1, i0 + ROW_TILE)
        L = i1 - i0
        if with_sum:
            relu_sum[i0:i1] = 0.0
        for b in range(ptr.size - 1):
            z[:L] = 0.0
            for q in range(ptr[b], ptr[b + 1]):
                x = _feature(XT, feat[q], i0, i1, cols, xb[0])
                v = vals[q]
                for i in range(L):
                    z[i] += x[i] * v
            o = out[rows[b], i0:i1]
            for i in range(L):
                o[i] = 1 if z[i] >= 0 else 0
            if with_sum:
                acc = relu_sum[i0:i1]
                for i in range(L):
                    if z[i] > 0:
                        acc[i] += z[i]
    return out


def sparse_masks_numpy(XT, ptr, feat, vals, out, rows, r0, r1, relu_sum, cols=None):
    """NumPy twin of :func:`sparse_masks`."""
    if relu_sum.size:
        relu_sum[r0:r1] = 0.0
    for b in range(ptr.size - 1):
        sl = slice(ptr[b], ptr[b + 1])
        z = vals[sl] @ _features_numpy(XT, feat[sl], r0, r1, cols) if ptr[b + 1] > ptr[b] else np.zeros(r1 - r0, XT.dtype)
        out[rows[b], r0:r1] = z >= 0
        if relu_sum.size:
            relu_sum[r0:r1] += np.maximum(z, 0)
    return out



@njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def halfspace_sums(XT, r, acc, k0, k1):
    """Per feature ``k`` in ``k0:k1`` (columns of ``acc``, shape (6, d)), over the samples:
    ``<x_k^+, r>``, ``<x_k^-, r>``, ``||x_k^+||^2``, ``||x_k^-||^2``, the number of negative and
    of positive ``x_k`` (``x^+ = max(x, 0)``, ``x^- = min(x, 0)``; ``XT`` is (d, n)). Written, not
    accumulated; splits by features. Branch-free, so the sample loop vectorises."""
    n = XT.shape[1]
    for k in range(k0, k1):
        cp = cn = qp = qn = neg = pos = 0.0
        for i in range(n):
            x = XT[k, i]
            p = max(x, 0.0)
            q = x - p
            cp += r[i] * p
            cn += r[i] * q
            qp += p * p
            qn += q * q
            neg += 1.0 if x < 0 else 0.0
            pos += 1.0 if x > 0 else 0.0
        acc[0, k], acc[1, k], acc[2, k], acc[3, k], acc[4, k], acc[5, k] = cp, cn, qp, qn, neg, pos


def halfspace_sums_numpy(XT, r, acc, k0, k1):
    """NumPy twin of :func:`halfspace_sums`."""
    Xk = XT[k0:k1]
    P = np.maximum(Xk, 0)
    N = Xk - P
    acc[:, k0:k1] = (P @ r, N @ r, (P * P).sum(1), (N * N).sum(1), (Xk < 0).sum(1), (Xk > 0).sum(1))
