"""Sparse vectors and the streaming top-k state used by the memory-linear paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import kernels
from .validation import check_int

if TYPE_CHECKING:
    from .typing import ArrayLike, DTypeLike

__all__ = ["SparseVector", "StreamingTopK"]


@dataclass(frozen=True)
class SparseVector:
    """A vector of length ``size`` stored as sorted int64 indices and values.

    Attributes
    ----------
    indices : ndarray of int64, shape (nnz,)
        Strictly increasing positions in ``[0, size)``.
    values : ndarray, shape (nnz,)
    size : int
        Length ``N`` of the dense vector (``m * d`` for fused ReLU weights).
    """

    indices: np.ndarray
    values: np.ndarray
    size: int

    def __post_init__(self):
        idx = np.ascontiguousarray(self.indices, dtype=np.int64)
        val = np.ascontiguousarray(self.values)
        if idx.ndim != 1 or val.shape != idx.shape:
            raise ValueError(
                f"indices and values must be 1-d of equal length, got {idx.shape} and {val.shape}"
            )
        if idx.size and (idx[0] < 0 or idx[-1] >= self.size or np.any(np.diff(idx) <= 0)):
            raise ValueError(f"indices must be strictly increasing within [0, {self.size})")
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "values", val)

    @classmethod
    def zeros(cls, size: int, dtype: DTypeLike = np.float64) -> SparseVector:
        """The zero vector of length ``size``."""
        return cls(np.empty(0, np.int64), np.empty(0, dtype), int(size))

    @classmethod
    def from_dense(cls, w: ArrayLike) -> SparseVector:
        """Keep the nonzero entries of a dense 1-d array."""
        w = np.asarray(w)
        idx = np.flatnonzero(w)
        return cls(idx, w[idx], w.size)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.values.nbytes)

    def to_dense(self) -> np.ndarray:
        """The dense vector (length ``size``); only for small problems and tests."""
        out = np.zeros(self.size, dtype=self.values.dtype)
        out[self.indices] = self.values
        return out

    def prune_zeros(self) -> SparseVector:
        """Drop explicitly stored zeros."""
        keep = self.values != 0
        return SparseVector(self.indices[keep], self.values[keep], self.size)

    def __len__(self):
        return self.size


#: Entries :meth:`StreamingTopK.push` merges at a time (a merge allocates a few arrays of this length).
PUSH_CHUNK = 2**14


class StreamingTopK:
    """Running top-k by magnitude over a long vector seen block by block.

    Holds at most ``k`` (index, value) pairs: the whole vector is never
    stored. Ties are broken as in :func:`sparsecert.kernels.topk_abs`
    (larger magnitude, then smaller index), so the result equals the top-k of
    the concatenated blocks whatever the block sizes.

    Parameters
    ----------
    k : int
        Number of entries to keep (>= 0).
    exclude : array_like of int, optional
        Sorted global indices never admitted (e.g. the current support).
    dtype : dtype
    """

    def __init__(self, k: int, exclude: ArrayLike | None = None, dtype: DTypeLike = np.float64) -> None:
        self.k = check_int(k, "k", low=0)
        self.exclude = (
            np.empty(0, np.int64) if exclude is None else np.ascontiguousarray(exclude, np.int64)
        )
        self.indices = np.empty(0, np.int64)
        self.values = np.empty(0, dtype)
        self._tau = 0.0  # admission threshold: the k-th magnitude once full

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.values.nbytes + self.exclude.nbytes)

    def push(self, values: ArrayLike, offset: int) -> None:
        """Merge the block ``values`` whose global indices start at ``offset`` (:data:`PUSH_CHUNK`
        entries at a time, so what a merge allocates stays small whatever the block)."""
        if self.k == 0:
            return
        values = np.asarray(values).ravel()
        for c0 in range(0, values.size, PUSH_CHUNK):
            self._merge(values[c0 : c0 + PUSH_CHUNK], int(offset) + c0)

    def _merge(self, values: np.ndarray, offset: int) -> None:
        pos = kernels.threshold_candidates(values, int(offset), self._tau, self.exclude)
        if pos.size == 0:
            return
        idx = np.concatenate([self.indices, pos + int(offset)])
        val = np.concatenate([self.values, values[pos].astype(self.values.dtype, copy=False)])
        keep = kernels.topk_abs(val, idx, self.k)
        self.indices, self.values = idx[keep], val[keep]
        if self.indices.size == self.k:
            self._tau = float(np.abs(self.values).min())

    def result(self, size: int) -> SparseVector:
        """The kept entries as a :class:`SparseVector` of length ``size``."""
        return SparseVector(self.indices, self.values, size)
