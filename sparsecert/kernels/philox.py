"""Counter-based Gaussian draws: Philox4x32-10 and an arithmetic Box-Muller (:func:`philox_normals`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "philox4x32",
    "philox4x32_numpy",
    "philox_normals",
    "philox_normals_numpy",
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
