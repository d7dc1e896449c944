"""i.i.d. N(0, 1/n) sensing, regenerated column block by column block from a counter-based stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..validation import check_dtype, check_int, seed_from_rng
from ..random import counter_normals
from .base import RestrictedOperator, SparseSensingOperator, block_size, check_support

if TYPE_CHECKING:
    from ..typing import ArrayLike, DTypeLike, RngLike

__all__ = ["GaussianOperator"]


class _RestrictedGaussian(RestrictedOperator):
    def __init__(self, parent, idx, cache_bytes):
        self.parent = parent
        self.indices = idx
        self.cache = None
        n = parent.shape[0]
        if n * idx.size * parent.dtype.itemsize <= cache_bytes:
            self.cache = self._generate(idx)
        self.nbytes = 0 if self.cache is None else int(self.cache.nbytes)
        super().__init__(dtype=parent.dtype, shape=(n, idx.size))

    def _generate(self, idx):
        """Rows ``t`` = column ``idx[t]`` of A; runs of consecutive columns are drawn at once."""
        p = self.parent
        cols = np.empty((idx.size, p.shape[0]), dtype=p.dtype)
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, idx.size]):
            for t0 in range(a, b, p.block):
                t1 = min(b, t0 + p.block)
                cols[t0:t1] = p._column_block(int(idx[t0]), int(idx[t1 - 1]) + 1)
        return cols

    def _chunks(self):
        if self.cache is not None:
            yield 0, self.cache
            return
        step = self.parent.block
        for t0 in range(0, self.indices.size, step):
            yield t0, self._generate(self.indices[t0 : t0 + step])

    def _matvec(self, v):
        v = np.ravel(v).astype(self.dtype, copy=False)
        out = np.zeros(self.shape[0], dtype=self.dtype)
        for t0, C in self._chunks():
            out += C.T @ v[t0 : t0 + C.shape[0]]
        return out

    def _rmatvec(self, r):
        r = np.ravel(r).astype(self.dtype, copy=False)
        return np.concatenate([C @ r for _, C in self._chunks()]) if self.shape[1] else np.zeros(0, self.dtype)

    def to_dense(self):
        return np.concatenate([C for _, C in self._chunks()]).T.copy() if self.shape[1] else np.zeros((self.shape[0], 0), self.dtype)


class GaussianOperator(SparseSensingOperator):
    """n x N matrix with i.i.d. N(0, 1/n) entries, regenerated block by block.

    Column ``j`` is row ``j`` of :func:`sparsecert.random.counter_normals`
    with the operator's key, scaled by ``1/sqrt(n)``, so every column block is
    reproducible from ``(key, j)`` and the matrix is never stored. float32
    operators hold the float64 entries rounded to float32.

    Parameters
    ----------
    n, N : int
        Number of measurements (rows) and of unknowns (columns).
    rng : None, int or numpy.random.Generator
        Source of the stream key (one draw).
    dtype : float64 or float32
    block : int, optional
        Columns generated at a time (default: about 64 MiB of columns).
    cache_bytes : int
        A restricted operator ``A_S`` keeps its columns when they fit in this
        many bytes, and regenerates them on every product otherwise.

    Notes
    -----
    Memory of one streaming pass: ``n * block`` entries; of ``A_S``:
    ``n * |S|`` entries while under ``cache_bytes``, else ``n * block``.
    """

    def __init__(
        self,
        n: int,
        N: int,
        rng: RngLike = None,
        *,
        dtype: DTypeLike = np.float64,
        block: int | None = None,
        cache_bytes: int = 256 * 2 ** 20,
    ) -> None:
        n = check_int(n, "n", low=1)
        N = check_int(N, "N", low=1)
        dtype = check_dtype(dtype)
        self.key = seed_from_rng(rng)
        self.block = block_size(block, n, N)
        self.cache_bytes = check_int(cache_bytes, "cache_bytes", low=0)
        self._scale = 1.0 / np.sqrt(n)
        super().__init__(dtype=dtype, shape=(n, N))

    def _column_block(self, j0, j1):
        """Columns j0..j1-1 as rows of a (j1 - j0, n) array."""
        cols = counter_normals(self.key, j0, j1 - j0, self.shape[0])
        cols *= self._scale
        return cols.astype(self.dtype, copy=False)

    def _blocks_rmatvec(self, r, cache=None):
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            yield j0, self._column_block(j0, min(N, j0 + self.block)) @ r

    def _matvec(self, x):
        x = np.ravel(x).astype(self.dtype, copy=False)
        out = np.zeros(self.shape[0], dtype=self.dtype)
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            j1 = min(N, j0 + self.block)
            out += self._column_block(j0, j1).T @ x[j0:j1]
        return out

    @property
    def pass_nbytes(self) -> int:
        """Bytes of work arrays in one streaming pass (one column block)."""
        return int(self.block * self.shape[0] * (8 + self.dtype.itemsize) + self.block * 8)

    def restrict(self, idx: ArrayLike, cache: Any = None) -> RestrictedOperator:
        """``A_S`` for the sorted column indices ``idx`` (no cache is used)."""
        return _RestrictedGaussian(self, check_support(idx, self.shape[1]), self.cache_bytes)

    def to_dense(self) -> np.ndarray:
        """The whole n x N matrix (for small problems and tests)."""
        return self.restrict(np.arange(self.shape[1])).to_dense()
