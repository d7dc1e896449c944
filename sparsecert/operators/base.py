"""The declared contract of a sensing operator (layer 1).

An n x N sensing operator ``A`` is a ``scipy.sparse.linalg.LinearOperator``
that IHT never materialises. Every operator in this package derives from
:class:`SparseSensingOperator` and provides:

* ``_matvec(x)``: ``A x`` for a dense ``x`` of length N;
* ``_blocks_rmatvec(r, cache=None)``: yields ``(offset, g_block)`` covering
  ``A^T r`` in column order (the streaming pass);
* ``restrict(idx, cache=None)``: ``A_S`` for sorted column indices ``S``, a
  :class:`RestrictedOperator`;
* ``pass_nbytes``: bytes of the work arrays of one streaming pass.

The base class builds ``rmatvec``, ``columns``, sparse ``matvec`` and the
memory-linear :meth:`SparseSensingOperator.gradient_split` on top of them.

Products never keep state between calls. Data worth keeping between products
(the activation masks of the ReLU-pattern operator) lives in a cache object
made by :meth:`SparseSensingOperator.make_cache` and owned by the caller (the
IHT solver), which passes it to ``gradient_split`` and ``restrict``; results
are the same with or without it.
"""

from __future__ import annotations

import abc
import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse.linalg import LinearOperator
from tqdm.auto import tqdm

from ..validation import check_int
from ..backend import is_tensor, to_numpy
from ..sparse import SparseVector, StreamingTopK

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["SparseSensingOperator", "RestrictedOperator", "check_support", "block_size", "DEFAULT_BLOCK_BYTES"]

#: Bytes one streaming block may use for its largest work array (n x block).
DEFAULT_BLOCK_BYTES = 64 * 2**20

#: Methods every sensing operator must provide (checked by composites).
REQUIRED = ("_matvec", "_blocks_rmatvec", "restrict", "pass_nbytes", "make_cache", "native")


def _apply(f, x, length, name):
    """``f`` on ``x`` (array or tensor) of shape (length,) or (length, 1); the result has the
    same number of dimensions (scipy's convention), and stays the kind ``f`` returns."""
    x = x if is_tensor(x) else np.asarray(x)
    if tuple(x.shape) not in ((length,), (length, 1)):
        raise ValueError(f"{name} must have shape ({length},), got {tuple(x.shape)}")
    y = f(x.reshape(-1))
    return y.reshape(-1, 1) if x.ndim == 2 else y


def check_support(idx: ArrayLike, N: int, name: str = "idx") -> np.ndarray:
    """``idx`` as strictly increasing int64 column indices within ``[0, N)`` (ValueError otherwise)."""
    idx = np.asarray(idx)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-d array of integer column indices")
    idx = idx.astype(np.int64)
    if idx.size and (idx[0] < 0 or idx[-1] >= N or np.any(np.diff(idx) <= 0)):
        raise ValueError(f"{name} must be strictly increasing column indices within [0, {N})")
    return idx


def block_size(block: int | None, n: int, N: int) -> int:
    """Columns per streaming block: given, or about :data:`DEFAULT_BLOCK_BYTES` of n x block."""
    if block is None:
        block = min(4096, max(1, DEFAULT_BLOCK_BYTES // (8 * n)))
    return min(check_int(block, "block", low=1), N)


class RestrictedOperator(LinearOperator):
    """``A_S``: the n x ``|S|`` submatrix of a sensing operator for a support ``S``.

    Attributes
    ----------
    indices : ndarray of int64
        The support ``S`` (sorted).
    nbytes : int
        Bytes this object holds (masks or cached columns).
    """

    indices: np.ndarray
    nbytes: int

    def to_dense(self) -> np.ndarray:
        """The n x ``|S|`` matrix itself."""
        raise NotImplementedError

    # Products return the operator's own vector kind (a device tensor for the torch
    # backend): scipy's wrappers would turn them into NumPy arrays.
    def matvec(self, v: Any) -> Any:
        return _apply(self._matvec, v, self.shape[1], "v")

    def rmatvec(self, r: Any) -> Any:
        return _apply(self._rmatvec, r, self.shape[0], "r")

    def normal(self, p: Any) -> tuple[Any, Any]:
        """``(q, A_S^T q)`` with ``q = A_S p`` (a conjugate-gradient step's two products);
        operators with a one-sweep kernel override it."""
        q = self.matvec(p)
        return q, self.rmatvec(q)


class SparseSensingOperator(LinearOperator, abc.ABC):
    """An n x N sensing operator applied in blocks of columns (see the module docstring)."""

    @abc.abstractmethod
    def _matvec(self, x):
        """``A x`` for a dense ``x`` of length N."""

    @abc.abstractmethod
    def _blocks_rmatvec(self, r, cache=None):
        """Yield ``(offset, g_block)`` covering ``A^T r`` in column order."""

    def _copy(self) -> Any:
        """A shallow copy (the same arrays and shape): the start of a view that then changes some of them."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    @abc.abstractmethod
    def restrict(self, idx: ArrayLike, cache: Any = None) -> RestrictedOperator:
        """``A_S`` for sorted column indices ``idx`` (a :class:`RestrictedOperator`)."""

    @property
    @abc.abstractmethod
    def pass_nbytes(self) -> int:
        """Bytes of the work arrays of one streaming pass."""

    def make_cache(self) -> Any:
        """A cache for :meth:`gradient_split` and :meth:`restrict` (``None``: nothing to keep)."""
        return None

    def cache_nbytes(self, cache: Any) -> int:
        """Bytes ``cache`` holds beyond :attr:`pass_nbytes` (0 for ``None``)."""
        return 0

    def cache_nbytes_bound(self, s: int) -> int:
        """Most bytes a cache may hold (and extra pass work it causes) for an s-sparse iterate."""
        return 0

    def restricted_nbytes(self, k: int) -> int:
        """Bytes a restriction to ``k`` columns may hold (default: its columns, indices and values)."""
        return int(k * (self.shape[0] * self.dtype.itemsize + 16))

    def native(self, a: Any) -> Any:
        """A length-n vector ``a`` as this operator's kind (NumPy here; a device tensor for torch)."""
        return np.ascontiguousarray(np.ravel(a), dtype=self.dtype)

    def matvec(self, x: Any) -> Any:
        """``A x`` for a dense vector or a :class:`~sparsecert.sparse.SparseVector`."""
        if isinstance(x, SparseVector):
            if x.size != self.shape[1]:
                raise ValueError(f"x has length {x.size}, operator has {self.shape[1]} columns")
            if x.nnz == 0:
                return np.zeros(self.shape[0], dtype=self.dtype)
            return self.restrict(x.indices).matvec(x.values.astype(self.dtype, copy=False))
        return _apply(self._matvec, x, self.shape[1], "x")

    def rmatvec(self, r: Any) -> Any:
        """``A^T r`` (a NumPy array: length-N vectors live on the host)."""
        return _apply(self._rmatvec, r, self.shape[0], "r")

    def dot(self, x: Any) -> Any:
        if isinstance(x, SparseVector):
            return self.matvec(x)
        return super().dot(x)

    def _rmatvec(self, r):
        return np.concatenate([g for _, g in self._blocks_rmatvec(self.native(r))])

    def columns(self, idx: ArrayLike) -> np.ndarray:
        """The n x ``|idx|`` submatrix ``A[:, idx]`` (idx sorted)."""
        return self.restrict(idx).to_dense()

    def column_norms(self, idx: ArrayLike | None = None, block: int = 256) -> np.ndarray:
        """Euclidean norms of the columns ``idx`` (sorted; default all), ``block`` columns at a time."""
        idx = np.arange(self.shape[1]) if idx is None else check_support(idx, self.shape[1])
        block = check_int(block, "block", low=1)
        parts = [np.linalg.norm(to_numpy(self.columns(idx[t : t + block])), axis=0) for t in range(0, idx.size, block)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def gradient_split(
        self,
        r: Any,
        support: ArrayLike,
        k: int,
        cache: Any = None,
        progress: bool | None = False,
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        """One streaming pass over ``g = A^T r``.

        Parameters
        ----------
        r : ndarray, shape (n,)
        support : ndarray of int64, sorted
        k : int
        cache : object from :meth:`make_cache`, optional
            Receives what the pass learns about the support and the
            candidates (masks), for later :meth:`restrict` calls.
        progress : bool
            A progress bar over the pass's columns (for passes that take long).

        Returns
        -------
        g_support : ndarray, shape (|support|,)
            ``g[support]``.
        cand_idx, cand_val : ndarray, shape (<= k,)
            The top-k entries of ``|g|`` outside ``support`` (ties: smaller
            index), indices increasing.

        Notes
        -----
        For any step ``mu > 0`` the top-s of ``x + mu g`` (``x`` supported on
        ``support``) lies in ``support`` union the top-s of ``|g|`` outside it,
        so this pass is all an IHT step needs; it holds O(k + |support|)
        numbers besides one block.
        """
        r = self.native(r)
        support = np.ascontiguousarray(support, dtype=np.int64)
        g_support = np.empty(support.size, dtype=self.dtype)
        top = StreamingTopK(k, exclude=support, dtype=self.dtype)
        long_pass = tqdm(total=self.shape[1], desc="gradient pass", unit="col", unit_scale=True, leave=False) \
            if progress else contextlib.nullcontext()  # no bar object at all for the usual short pass
        with long_pass as bar:
            for offset, g in self._blocks_rmatvec(r, cache):
                lo, hi = np.searchsorted(support, [offset, offset + g.size])
                g_support[lo:hi] = g[support[lo:hi] - offset]
                top.push(g, offset)
                if cache is not None:
                    self._keep(cache, offset, g.size, support, top.indices)
                if bar is not None:
                    bar.update(g.size)
        return g_support, top.indices, top.values

    def _keep(self, cache, offset, length, support, candidates):
        """Called after each block of a :meth:`gradient_split` pass with a cache: operators
        whose cache holds per-column data of the support and the candidates store it."""
