"""``A_S`` of a ReLU-pattern operator: the support's columns ``D_j X[:, k]`` from the masks of the
blocks it touches, by per-entry kernels or by GEMMs over the active blocks."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import kernels
from ..backend import is_tensor
from ..parallel import map_rows
from .base import RestrictedOperator
from .pattern_cache import PatternCache

__all__ = ["RestrictedPattern", "GEMM_FILL", "gather_masks"]

#: Restricted products switch from the per-entry kernels (O(n |S|)) to GEMMs
#: over the active blocks (O(n d nb)) when the support fills at least this
#: fraction of its blocks' n x d entries (measured break-even on a 2-core EPYC:
#: the kernels do about as many entries per second as BLAS does FMAs).
GEMM_FILL = 0.5


def gather_masks(
    parent: Any,
    blocks: np.ndarray,
    cache: PatternCache | None,
    in_place: bool,
    empty: Callable,
) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """The masks of ``blocks`` as ``(source, rows, new)``: block ``blocks[t]``'s mask is ``source[rows[t]]``.

    When every mask is known (:meth:`ReluPatternOperator.known_masks`) as a row
    of one array (the followed masks, a pass buffer) and ``in_place``, that array
    is the source (no copy; ``new`` is None). Otherwise ``source = empty((nb, n),
    uint8-like)`` holds copies of the known masks and those computed by GEMM
    (their positions are ``new``; a ``cache`` keeps them).
    """
    nb, n = blocks.size, parent.shape[0]
    known = parent.known_masks(blocks, cache)
    if in_place and nb and len(known) == nb and len({id(arr) for _, arr, _ in known}) == 1:
        rows = np.empty(nb, np.int64)
        for t, _, row in known:
            rows[t] = row
        return known[0][1], rows, None
    source = empty((nb, n))
    todo = np.ones(nb, dtype=bool)
    if is_tensor(source):  # one indexed copy per source array: a copy per row is a launch per row on a GPU
        by_array: dict = {}
        for t, arr, row in known:
            by_array.setdefault(id(arr), (arr, [], []))
            by_array[id(arr)][1].append(t)
            by_array[id(arr)][2].append(row)
        for arr, ts, rs in by_array.values():
            source[parent.native_index(ts)] = arr[parent.native_index(rs)]
    elif known:  # whole-row copies (memcpy, without the GIL) shared out among the pass threads

        def copy(k0, k1):
            for t, arr, row in known[k0:k1]:
                source[t] = arr[row]

        map_rows(copy, len(known), min_rows=max(1, 2**16 // n), single_blas=False)
    todo[[t for t, _, _ in known]] = False
    new = np.flatnonzero(todo)
    parent.block_masks(blocks[new], out=source, rows=new)
    if cache is not None:
        for t in new.tolist():
            cache.masks[int(blocks[t])] = (source, t)
    return source, np.arange(nb), new


class RestrictedPattern(RestrictedOperator):
    """``A_S`` for the ReLU-pattern operator: one byte mask per sample per touched block, plus X.

    Products use the per-entry kernels (:func:`sparsecert.kernels.pattern_matvec`)
    or, when the support fills its blocks (``|S| >= GEMM_FILL * nb * d``),
    GEMMs over the active blocks; ``mode`` says which.
    """

    def __init__(self, parent: Any, idx: np.ndarray, cache: PatternCache | None = None) -> None:
        d, n = parent.d, parent.shape[0]
        self.parent = parent
        self.indices = idx
        blk = idx // d
        self.feat = idx - blk * d
        self.blocks, self.blk = np.unique(blk, return_inverse=True)
        self.blk = self.blk.astype(np.int64)
        self.mode = "gemm" if idx.size and idx.size >= GEMM_FILL * self.blocks.size * d else "entries"
        self.masks, rows, new = gather_masks(
            parent, self.blocks, cache, self.mode == "entries", lambda shape: np.empty(shape, np.uint8)
        )
        self.blk = rows[self.blk]
        own = 0 if new is None else self.masks.nbytes
        new = np.empty(0, np.int64) if new is None else new
        self.n_new_blocks = int(new.size)
        self.nbytes = int(own + self.feat.nbytes + self.blk.nbytes + idx.nbytes)
        super().__init__(dtype=parent.dtype, shape=(n, idx.size))

    def _matvec(self, v):
        v = np.ascontiguousarray(np.ravel(v), dtype=self.dtype)
        out = np.empty(self.shape[0], dtype=self.dtype)
        parent, masks = self.parent, self.masks
        if self.mode == "gemm":
            W = np.zeros((self.blocks.size, parent.d), dtype=self.dtype)
            W[self.blk, self.feat] = v

            def rows(r0, r1):
                for i0, i1, XTt in self._data_tiles(r0, r1):
                    out[i0:i1] = np.einsum("bi,bi->i", masks[:, i0:i1], W @ XTt)
        else:

            def rows(r0, r1):
                kernels.pattern_matvec(parent.XT, masks, self.blk, self.feat, v, out, r0, r1, parent.cols)

        map_rows(rows, self.shape[0])
        return out

    def _rmatvec(self, r):
        r = np.ascontiguousarray(np.ravel(r), dtype=self.dtype)
        parent, masks = self.parent, self.masks
        if self.mode == "gemm":

            def rows(r0, r1):
                G = np.zeros((self.blocks.size, parent.d), dtype=self.dtype)
                for i0, i1, XTt in self._data_tiles(r0, r1):
                    G += (masks[:, i0:i1] * r[i0:i1]) @ (parent.X[i0:i1] if parent.cols is None else XTt.T)
                return G[self.blk, self.feat]
        else:

            def rows(r0, r1):
                return kernels.pattern_rmatvec(parent.XT, masks, self.blk, self.feat, r, np.empty(self.shape[1], self.dtype),
                                               r0, r1, parent.cols)

        parts = map_rows(rows, self.shape[0])
        return parts[0] if len(parts) == 1 else np.sum(parts, axis=0)

    def normal(self, p: Any) -> tuple[Any, Any]:
        """``(q, A_S^T q)``, ``q = A_S p``, in one sweep over the data (:func:`sparsecert.kernels.pattern_normal`)."""
        if self.mode == "gemm":
            return super().normal(p)
        p = np.ascontiguousarray(np.ravel(p), dtype=self.dtype)
        q = np.empty(self.shape[0], dtype=self.dtype)
        parent, masks, size = self.parent, self.masks, self.shape[1]

        def rows(r0, r1):
            return kernels.pattern_normal(parent.XT, masks, self.blk, self.feat, p, q, np.empty(size, self.dtype), r0, r1,
                                          parent.cols)

        parts = map_rows(rows, self.shape[0])
        return q, parts[0] if len(parts) == 1 else np.sum(parts, axis=0)

    def _data_tiles(self, r0, r1):
        """``(i0, i1, X[i0:i1].T)`` for tiles of :data:`~sparsecert.kernels.ROW_TILE` samples of ``r0:r1``
        (the parent's :meth:`~ReluPatternOperator.data_tile`: views, or for an operator on some rows of
        its data tiles of at most its ``row_block`` samples gathered into one buffer)."""
        parent = self.parent
        step = kernels.ROW_TILE if parent.cols is None else min(kernels.ROW_TILE, parent.row_block)
        buf = None if parent.cols is None else np.empty((parent.d, min(step, r1 - r0)), self.dtype)
        for i0 in range(r0, r1, step):
            i1 = min(r1, i0 + step)
            yield i0, i1, parent.data_tile(i0, i1, buf)

    def to_dense(self) -> np.ndarray:
        XT = self.parent.XT[self.feat]
        XT = XT if self.parent.cols is None else XT[:, self.parent.cols]
        return (self.masks[self.blk] * XT).T.astype(self.dtype)
