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
* A support of the ReLU-pattern operator is described per entry: ``blk[q]``
  is the row of ``masks`` (the block) and ``feat[q]`` the input feature
  (column of ``X``) of entry ``q``; generators grouped by block are
  CSR-style, the entries of block ``b`` being ``ptr[b]:ptr[b+1]``.
* Kernels release the GIL and take a row range ``r0:r1`` where their work
  splits by samples, so :mod:`sparsecert.parallel` can run them on threads.
"""

from __future__ import annotations

import numpy as np
import math

from numba import njit

__all__ = [
    "philox4x32",
    "philox4x32_numpy",
    "philox_normals",
    "philox_normals_numpy",
    "topk_abs",
    "topk_abs_numpy",
    "threshold_candidates",
    "threshold_candidates_numpy",
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
    "halfspace_sums",
    "halfspace_sums_numpy",
    "sparse_masks_numpy",
]


# ------------------------------------------------------------------ random normals
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox4x32 multipliers
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # Philox4x32 key increments (Weyl)
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_HALF_PI = 1.5707963267948966
#: 1 / (2k + 1), k = 1..10: 2 atanh(s) / (2 s) = 1 + s^2/3 + s^4/5 + ...
_ATANH = (1 / 3, 1 / 5, 1 / 7, 1 / 9, 1 / 11, 1 / 13, 1 / 15, 1 / 17, 1 / 19, 1 / 21)
#: (-1)^k / (2k + 1)! and (-1)^k / (2k)!, k = 1..8 (Taylor terms of sin and cos on [-pi/4, pi/4])
_SIN = (-1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800, -1 / 1307674368000,
        1 / 355687428096000)
_COS = (-1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600, -1 / 87178291200,
        1 / 20922789888000)


@njit(cache=True, nogil=True, inline="always")
def _philox_block(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al. 2011) of the counter ``(c0, c1, c2, c3)`` under the key ``(k0, k1)``.

    Words are 32-bit values held in uint64; the four output words likewise.
    """
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> _S32) ^ c1 ^ k0), p1 & _LO32, ((p0 >> _S32) ^ c3 ^ k1), p0 & _LO32
        k0 = (k0 + _W0) & _LO32
        k1 = (k1 + _W1) & _LO32
    return c0, c1, c2, c3


@njit(cache=True, nogil=True)
def philox4x32(ctr, key):
    """Philox4x32-10 of each counter row under one key.

    Parameters
    ----------
    ctr : ndarray of uint64, shape (L, 4)
        Counters, one 32-bit word per entry.
    key : ndarray of uint64, shape (2,)
        Key, two 32-bit words.

    Returns
    -------
    ndarray of uint64, shape (L, 4)
        The Random123 outputs (known-answer vectors in the tests).
    """
    out = np.empty_like(ctr)
    for i in range(ctr.shape[0]):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = _philox_block(
            ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[0], key[1]
        )
    return out


def philox4x32_numpy(ctr, key):
    """NumPy twin of :func:`philox4x32` (vectorised over the rows)."""
    c = [ctr[:, t].copy() for t in range(4)]
    k0, k1 = key[0], key[1]
    for _ in range(10):
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        c = [(p1 >> _S32) ^ c[1] ^ k0, p1 & _LO32, (p0 >> _S32) ^ c[3] ^ k1, p0 & _LO32]
        k0 = (k0 + _W0) & _LO32
        k1 = (k1 + _W1) & _LO32
    return np.stack(c, axis=1)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log_unit(w):
    """``log((w + 0.5) / 2**32)`` for a 32-bit word ``w``, by arithmetic only (no libm).

    The float ``f = w + 0.5`` is scaled into ``[1, 2)`` by exact powers of two
    (binary search on its exponent ``e``), folded to ``[sqrt(1/2), sqrt(2))``,
    and ``log f = e log 2 + 2 atanh((t - 1) / (t + 1))`` (series to ``s**21``,
    error below 1e-16 relative).
    """
    t = float(w) + 0.5
    e = 0.0
    # selects of constants, not branches (the later tests are close to coin flips)
    big = t >= 2.0**16
    t *= 2.0**-16 if big else 1.0
    e += 16.0 if big else 0.0
    big = t >= 2.0**8
    t *= 2.0**-8 if big else 1.0
    e += 8.0 if big else 0.0
    big = t >= 2.0**4
    t *= 2.0**-4 if big else 1.0
    e += 4.0 if big else 0.0
    big = t >= 4.0
    t *= 0.25 if big else 1.0
    e += 2.0 if big else 0.0
    big = t >= 2.0
    t *= 0.5 if big else 1.0
    e += 1.0 if big else 0.0
    big = t > _SQRT2
    t *= 0.5 if big else 1.0
    e += 1.0 if big else 0.0
    s = (t - 1.0) / (t + 1.0)
    s2 = s * s
    a = _ATANH
    p = ((((((((a[9] * s2 + a[8]) * s2 + a[7]) * s2 + a[6]) * s2 + a[5]) * s2 + a[4]) * s2 + a[3]) * s2 + a[2]) * s2
         + a[1]) * s2 + a[0]
    return (e - 32.0) * _LN2 + 2.0 * s * (p * s2 + 1.0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _normal_pair(w1, w2):
    """Box-Muller: ``rad * (cos, sin)(2 pi u2)``, ``rad = sqrt(-2 log u1)``, ``u = (w + 0.5) / 2**32``.

    The angle is reduced exactly: ``4 u2 = q + f`` with integer ``q`` and
    ``|f| <= 1/2``, sine and cosine of ``f pi / 2`` by their Taylor series to
    degree 17/16, then rotated by ``q`` quarter turns.
    """
    rad = math.sqrt(-2.0 * _log_unit(w1))
    quarter = (np.int64(w2) + 2**29) >> 30  # nearest integer to 4 u2, in 0..4
    x = (float(np.int64(w2) - (quarter << 30)) + 0.5) * (2.0**-30 * _HALF_PI)  # (4 u2 - quarter) pi / 2, |.| <= pi/4
    x2 = x * x
    a, b = _SIN, _COS
    ps = ((((((a[7] * x2 + a[6]) * x2 + a[5]) * x2 + a[4]) * x2 + a[3]) * x2 + a[2]) * x2 + a[1]) * x2 + a[0]
    pc = ((((((b[7] * x2 + b[6]) * x2 + b[5]) * x2 + b[4]) * x2 + b[3]) * x2 + b[2]) * x2 + b[1]) * x2 + b[0]
    sn = x + x * x2 * ps
    cs = 1.0 + x2 * pc
    quarter &= 3  # rotate by quarter turns: selects and exact sign flips, no branches
    swap = (quarter & 1) == 1
    cos_t = (sn if swap else cs) * (-1.0 if quarter == 1 or quarter == 2 else 1.0)
    sin_t = (cs if swap else sn) * (-1.0 if quarter >= 2 else 1.0)
    return rad * cos_t, rad * sin_t


@njit(cache=True, nogil=True, error_model="numpy")
def philox_normals(key, first, out):
    """Standard normals from consecutive Philox4x32-10 counters, four per counter.

    Counter ``first + c`` (a 64-bit integer in the two low words; the high
    words 0) under ``key`` (a 64-bit integer: low word, high word) gives
    words ``(a, b, c, d)``; entries ``4c .. 4c + 3`` of ``out`` are
    Box-Muller of ``(a, b)`` and of ``(c, d)`` (:func:`_normal_pair`). Every
    step is IEEE arithmetic without transcendental library calls, so the
    numbers are the same on every machine (no fused multiply-add is formed).
    Uniforms have 32 bits: ``|z| <= 6.66``, a tail of mass 3e-11 cut off.

    Parameters
    ----------
    key, first : int
        Non-negative 64-bit integers.
    out : ndarray of float64, shape (4 L,)
    """
    k0 = np.uint64(key) & _LO32
    k1 = np.uint64(key) >> _S32
    for c in range(out.size // 4):
        ctr = np.uint64(first) + np.uint64(c)
        a, b, g, h = _philox_block(ctr & _LO32, ctr >> _S32, np.uint64(0), np.uint64(0), k0, k1)
        out[4 * c], out[4 * c + 1] = _normal_pair(a, b)
        out[4 * c + 2], out[4 * c + 3] = _normal_pair(g, h)
    return out


def _log_unit_numpy(w):
    t = w.astype(np.float64) + 0.5
    e = np.zeros_like(t)
    for scale, bound in ((2.0**-16, 2.0**16), (2.0**-8, 2.0**8), (2.0**-4, 2.0**4), (0.25, 4.0), (0.5, 2.0)):
        big = t >= bound
        t = t * np.where(big, scale, 1.0)
        e = e + np.where(big, -np.log2(scale), 0.0)
    big = t > _SQRT2
    t = t * np.where(big, 0.5, 1.0)
    e = e + np.where(big, 1.0, 0.0)
    s = (t - 1.0) / (t + 1.0)
    s2 = s * s
    p = np.full_like(s, _ATANH[9])
    for k in range(8, -1, -1):
        p = p * s2 + _ATANH[k]
    return (e - 32.0) * _LN2 + 2.0 * s * (p * s2 + 1.0)


def _normal_pair_numpy(w1, w2):
    rad = np.sqrt(-2.0 * _log_unit_numpy(w1))
    quarter = (w2.astype(np.int64) + 2**29) >> 30
    x = ((w2.astype(np.int64) - (quarter << 30)).astype(np.float64) + 0.5) * (2.0**-30 * _HALF_PI)
    x2 = x * x
    ps = np.full_like(x, _SIN[7])
    pc = np.full_like(x, _COS[7])
    for k in range(6, -1, -1):
        ps = ps * x2 + _SIN[k]
        pc = pc * x2 + _COS[k]
    sn = x + x * x2 * ps
    cs = 1.0 + x2 * pc
    quarter &= 3
    swap = (quarter & 1) == 1
    cos_t = np.where(swap, sn, cs) * np.where((quarter == 1) | (quarter == 2), -1.0, 1.0)
    sin_t = np.where(swap, cs, sn) * np.where(quarter >= 2, -1.0, 1.0)
    return rad * cos_t, rad * sin_t


def philox_normals_numpy(key, first, out):
    """NumPy twin of :func:`philox_normals` (the same operations, so the same bits)."""
    L = out.size // 4
    ctr = np.uint64(first) + np.arange(L, dtype=np.uint64)
    zero = np.zeros(L, np.uint64)
    key = np.array([np.uint64(key) & _LO32, np.uint64(key) >> _S32])
    words = philox4x32_numpy(np.stack([ctr & _LO32, ctr >> _S32, zero, zero], axis=1), key)
    z = out[: 4 * L].reshape(L, 4)
    z[:, 0], z[:, 1] = _normal_pair_numpy(words[:, 0], words[:, 1])
    z[:, 2], z[:, 3] = _normal_pair_numpy(words[:, 2], words[:, 3])
    return out


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


@njit(cache=True, nogil=True, fastmath={"contract"})
def pattern_matvec(XT, masks, blk, feat, v, out, r0, r1):
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
    """
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
            x0, x1, x2, x3 = XT[feat[q0], i0:i1], XT[feat[q1], i0:i1], XT[feat[q2], i0:i1], XT[feat[q3], i0:i1]
            m0, m1, m2, m3 = masks[blk[q0], i0:i1], masks[blk[q1], i0:i1], masks[blk[q2], i0:i1], masks[blk[q3], i0:i1]
            v0, v1, v2, v3 = v[q0], v[q1], v[q2], v[q3]
            for i in range(L):
                o[i] += m0[i] * x0[i] * v0 + m1[i] * x1[i] * v1 + m2[i] * x2[i] * v2 + m3[i] * x3[i] * v3
            t += 4
        while t < nnz:
            q0 = nz[t]
            x0, m0, v0 = XT[feat[q0], i0:i1], masks[blk[q0], i0:i1], v[q0]
            for i in range(L):
                o[i] += m0[i] * x0[i] * v0
            t += 1
    return out


def pattern_matvec_numpy(XT, masks, blk, feat, v, out, r0, r1):
    """NumPy twin of :func:`pattern_matvec`."""
    out[r0:r1] = (masks[blk, r0:r1] * XT[feat, r0:r1]).T @ v
    return out


@njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _rmatvec_tile(XT, masks, blk, feat, r, out, i0, i1):
    """Add rows ``i0:i1``'s share of ``A_S^T r`` to ``out`` (four entries per sweep)."""
    nnz = feat.size
    L = i1 - i0
    rc = r[i0:i1]
    q = 0
    while q + 4 <= nnz:
        x0, x1, x2, x3 = XT[feat[q], i0:i1], XT[feat[q + 1], i0:i1], XT[feat[q + 2], i0:i1], XT[feat[q + 3], i0:i1]
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
        x0, m0 = XT[feat[q], i0:i1], masks[blk[q], i0:i1]
        a0 = 0.0
        for i in range(L):
            a0 += m0[i] * x0[i] * rc[i]
        out[q] += a0
        q += 1


@njit(cache=True, nogil=True)
def pattern_rmatvec(XT, masks, blk, feat, r, out, r0, r1):
    """The rows ``r0:r1`` part of ``A_S^T r``: ``out[q] = sum_{r0 <= i < r1} masks[blk[q], i] X[i, feat[q]] r[i]``.

    Same arguments as :func:`pattern_matvec`, with ``r`` of shape (n,) and
    ``out`` of shape (``|S|``,), overwritten. Partial sums of disjoint row ranges
    add up to ``A_S^T r``.
    """
    out[:] = 0.0
    for i0 in range(r0, r1, ROW_TILE):
        _rmatvec_tile(XT, masks, blk, feat, r, out, i0, min(r1, i0 + ROW_TILE))
    return out


def pattern_rmatvec_numpy(XT, masks, blk, feat, r, out, r0, r1):
    """NumPy twin of :func:`pattern_rmatvec`."""
    out[:] = (masks[blk, r0:r1] * XT[feat, r0:r1]) @ r[r0:r1]
    return out


@njit(cache=True, nogil=True)
def pattern_normal(XT, masks, blk, feat, p, q, out, r0, r1):
    """``q = A_S p`` on rows ``r0:r1`` and the rows-``r0:r1`` part of ``A_S^T q``, in one sweep.

    Each row tile computes ``q`` on its rows (as :func:`pattern_matvec`) and
    at once adds its rows' share of ``A_S^T q`` (as :func:`pattern_rmatvec`)
    while the tile's features and masks are still in cache: one pass over
    the data for ``A_S^T A_S p``, the product a conjugate-gradient step needs.
    Arguments as for :func:`pattern_matvec`; ``q`` of shape (n,) (rows
    ``r0:r1`` overwritten), ``out`` of shape (``|S|``,) (overwritten with the
    partial sum).
    """
    out[:] = 0.0
    for i0 in range(r0, r1, ROW_TILE):
        i1 = min(r1, i0 + ROW_TILE)
        pattern_matvec(XT, masks, blk, feat, p, q, i0, i1)
        _rmatvec_tile(XT, masks, blk, feat, q, out, i0, i1)
    return out


def pattern_normal_numpy(XT, masks, blk, feat, p, q, out, r0, r1):
    """NumPy twin of :func:`pattern_normal`."""
    pattern_matvec_numpy(XT, masks, blk, feat, p, q, r0, r1)
    return pattern_rmatvec_numpy(XT, masks, blk, feat, q, out, r0, r1)


@njit(cache=True, nogil=True, fastmath={"contract"})
def sparse_masks(XT, ptr, feat, vals, out, rows, r0, r1, relu_sum):
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
    """
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
                x = XT[feat[q], i0:i1]
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


def sparse_masks_numpy(XT, ptr, feat, vals, out, rows, r0, r1, relu_sum):
    """NumPy twin of :func:`sparse_masks`."""
    if relu_sum.size:
        relu_sum[r0:r1] = 0.0
    for b in range(ptr.size - 1):
        sl = slice(ptr[b], ptr[b + 1])
        z = vals[sl] @ XT[feat[sl], r0:r1] if ptr[b + 1] > ptr[b] else np.zeros(r1 - r0, XT.dtype)
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
