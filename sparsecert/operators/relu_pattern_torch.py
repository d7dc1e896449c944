"""The ReLU-pattern operator on torch tensors, CPU or CUDA (the GPU backend of the IHT core).

Same contract, same columns, same generators (drawn on the host from the
counter-based stream and moved to the device) as
:class:`~sparsecert.operators.ReluPatternOperator`, which it extends. Length-n
vectors (``A_S v``, residuals) are tensors on the device; length-O(s) vectors
(coefficients, ``A_S^T r``, gradient blocks) are NumPy arrays on the host, as
the solvers keep them. Every product is a GEMM tile on the device:
``Z = H_B @ X_rows.T``, masks ``1[Z >= 0]``, ``(M * r) @ X_rows``; restricted
products run over the active blocks (``W @ X_rows.T`` with the coefficients
scattered into ``W``). torch is imported only when an instance is made.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ..validation import check_array
from ..backend import is_tensor, resolve, to_numpy
from .base import RestrictedOperator, check_support
from .on_device import OnDevice
from . import pattern_triton
from .relu_pattern import ReluPatternOperator, halfspace_ratio
from .restricted_pattern import GEMM_FILL, gather_masks

__all__ = ["TorchReluPatternOperator"]

#: Bytes of one device tile (blocks x samples) of pre-activations or products.
DEVICE_TILE_BYTES = 64 * 2**20


def _tiles(n, rows_of_tile):
    for i0 in range(0, n, rows_of_tile):
        yield i0, min(n, i0 + rows_of_tile)


class _TorchRestrictedPattern(RestrictedOperator):
    """``A_S`` on the device: byte masks of the touched blocks (rows of a source tensor) and X."""

    def __init__(self, parent, idx, cache=None):
        t, d, n = parent.torch, parent.d, parent.shape[0]
        self.parent, self.indices = parent, idx
        blk = idx // d
        feat = idx - blk * d
        self.blocks, inv = np.unique(blk, return_inverse=True)
        nb = self.blocks.size
        self.source, rows, new = gather_masks(
            parent, self.blocks, cache, True, lambda shape: t.empty(shape, dtype=t.bool, device=parent.device)
        )
        own = 0 if new is None else int(self.source.numel())
        new = np.empty(0, np.int64) if new is None else new
        self.n_new_blocks = int(new.size)
        consecutive = bool(nb) and np.array_equal(rows, np.arange(rows[0], rows[0] + nb))
        if consecutive:  # a view of those rows: no gather per product
            self.source, rows = self.source[int(rows[0]) : int(rows[0]) + nb], rows - rows[0]
        self.rows = slice(None) if consecutive else parent.native_index(rows)
        # per-entry products (Triton, O(n |S|)) where the support is sparse in its blocks, as on the CPU
        entries = idx.size < GEMM_FILL * nb * d and parent.dtype == np.float64 and pattern_triton.available(parent.device)
        self.mode = "entries" if entries else "gemm"
        self.entry_rows = parent.native_index(rows[inv]) if entries else None  # mask row of each entry
        self.blk = t.as_tensor(inv.astype(np.int64), device=parent.device)
        self.feat = t.as_tensor(feat, device=parent.device)
        self.tile = max(1, DEVICE_TILE_BYTES // (8 * max(nb, 1)))
        self.nbytes = int(own + 24 * idx.size + 8 * nb)
        super().__init__(dtype=parent.dtype, shape=(n, idx.size))

    def _matvec(self, v):
        p, t = self.parent, self.parent.torch
        n = self.shape[0]
        out = t.zeros(n, dtype=p.tdtype, device=p.device)
        if not self.shape[1]:
            return out
        if self.mode == "entries":
            return pattern_triton.entries_matvec(self.source, self.entry_rows, self.feat, p._dev(np.ravel(v)), p.XT_contiguous())
        W = t.zeros((self.blocks.size, p.d), dtype=p.tdtype, device=p.device)
        W[self.blk, self.feat] = t.as_tensor(np.ravel(v), dtype=p.tdtype, device=p.device)
        for i0, i1 in _tiles(n, self.tile):
            out[i0:i1] = (self.source[self.rows, i0:i1] * (W @ p.XTd[:, i0:i1])).sum(0)
        return out

    def _rmatvec(self, r):
        p, t = self.parent, self.parent.torch
        if not self.shape[1]:
            return np.zeros(0, self.dtype)
        r = p.native(r)
        if self.mode == "entries":
            return to_numpy(pattern_triton.entries_rmatvec(self.source, self.entry_rows, self.feat, r, p.XT_contiguous()))
        G = t.zeros((self.blocks.size, p.d), dtype=p.tdtype, device=p.device)
        for i0, i1 in _tiles(self.shape[0], self.tile):
            G += (self.source[self.rows, i0:i1] * r[i0:i1]) @ p.Xd[i0:i1]
        return to_numpy(G[self.blk, self.feat])

    def to_dense(self):
        p = self.parent
        M = to_numpy(self.source[self.rows]).astype(self.dtype)
        return (M[to_numpy(self.blk)] * to_numpy(p.XTd)[to_numpy(self.feat)]).T


class TorchReluPatternOperator(OnDevice, ReluPatternOperator):
    """:class:`ReluPatternOperator` with its data and products on a torch device.

    Parameters
    ----------
    X : array_like or torch.Tensor, shape (n, d)
    generators : array_like of shape (m, d), or int m
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:K"`` (validated by :func:`sparsecert.backend.resolve`).
    rng, block, row_block, dtype
        As for :class:`ReluPatternOperator`.

    Notes
    -----
    Generators are drawn on the host (the same counter-based stream as the
    NumPy operator, so the same columns) and moved per block. Masks are bool
    tensors (one byte per sample per block); device memory beyond ``X`` is
    about ``n * (block + 2 * min(2 s, m))`` bytes plus 64 MiB tiles.
    """

    def __init__(self, X, generators, *, device="cpu", rng=None, block=None, row_block=None, dtype=None):
        self.backend = resolve("torch", device)
        Xh = to_numpy(X) if is_tensor(X) else X
        super().__init__(Xh, generators, rng=rng, block=block, row_block=row_block, dtype=dtype)
        self._to_device(self.X)

    def _to_device(self, X):
        self.Xd = self.backend.asarray(X, self.dtype)
        self.XTd = self.Xd.T  # a view: BLAS reads it transposed, no second copy of X on the device
        self._XTc = None  # a contiguous X^T, made when a per-entry kernel first needs it

    def XT_contiguous(self):
        """``X^T`` (d, n) as a contiguous device tensor, made on first use (the per-entry kernels read
        one feature row per support entry; n d more bytes on the device)."""
        if self._XTc is None:
            self._XTc = self.Xd.T.contiguous()
        return self._XTc

    def native_data(self, X):
        """Data ``X`` (n', d) as a device tensor, for :meth:`with_data` on its rows (converted once)."""
        return self.backend.asarray(X, self.dtype)

    def with_data(self, X):
        """The operator with the same generators (and followed weights) on other data ``X``."""
        new = self._view(new_data=True)
        if is_tensor(X):
            if X.ndim != 2 or X.shape[1] != self.d:
                raise ValueError(f"X must have shape (n, {self.d}), got {tuple(X.shape)}")
            new.X, new.Xd = None, X.to(device=self.Xd.device, dtype=self.tdtype)
            new.XTd = new.Xd.T
        else:
            new.X = check_array(X, "X", ndim=2, shape=(None, self.d), dtype=self.dtype)
            new._to_device(new.X)
        new._XT = new._XTc = None
        n = new.Xd.shape[0]
        new.row_block = new._rows_per_tile(n)
        LinearOperator.__init__(new, dtype=self.dtype, shape=(n, self.shape[1]))
        return new

    def _rows_per_tile(self, n):
        """``row_block`` as given, else a 64 MiB device tile."""
        return min(n, self._row_block or max(8, DEVICE_TILE_BYTES // (8 * self.block)))

    def _followed_masks(self, cache=None):
        if cache is not None and cache.bind(self).followed is not None:
            return cache.followed
        t, f, d, n = self.torch, self._follow, self.d, self.shape[0]
        if f is None or not f.nnz:
            out = np.empty(0, np.int64), t.empty((0, n), dtype=t.bool, device=self.device), t.zeros(n, dtype=self.tdtype, device=self.device)
        else:
            blk = f.indices // d
            blocks, inv = np.unique(blk, return_inverse=True)
            W = np.zeros((blocks.size, d), self.dtype)
            W[inv, f.indices - blk * d] = f.values
            W = self._dev(W)
            masks = t.empty((blocks.size, n), dtype=t.bool, device=self.device)
            output = t.empty(n, dtype=self.tdtype, device=self.device)
            for i0, i1 in _tiles(n, max(8, DEVICE_TILE_BYTES // (8 * blocks.size))):
                Z = W @ self.XTd[:, i0:i1]
                masks[:, i0:i1] = Z >= 0
                output[i0:i1] = t.clamp_min(Z, 0).sum(0)
            out = blocks, masks, output
        if cache is not None:
            cache.followed = out
        return out

    def block_masks(self, blocks, out=None, rows=None):
        t, n = self.torch, self.shape[0]
        blocks = np.asarray(blocks, dtype=np.int64)
        if out is None:
            out = t.empty((blocks.size, n), dtype=t.bool, device=self.device)
        rows = np.arange(blocks.size) if rows is None else np.asarray(rows, dtype=np.int64)
        for t0 in range(0, blocks.size, self.block):
            H = self._dev(self._generator_rows(blocks[t0 : t0 + self.block]))
            dest = t.as_tensor(rows[t0 : t0 + self.block], device=self.device)
            for i0, i1 in _tiles(n, self.row_block):
                out[dest, i0:i1] = (H @ self.XTd[:, i0:i1]) >= 0
        return out

    def _blocks_rmatvec(self, r, cache=None):
        t, d, n = self.torch, self.d, self.shape[0]
        r = self.native(r)
        fblocks, fmasks, _ = self._followed_masks(cache)
        if cache is not None:
            cache.masks = {}
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            M = t.empty((j1 - j0, n), dtype=t.bool, device=self.device)
            if cache is not None:
                cache.buffer = M
            H = self._dev(self.generators(j0, j1))
            lo, hi = np.searchsorted(fblocks, [j0, j1])
            fol = t.as_tensor(fblocks[lo:hi] - j0, device=self.device)
            G = t.zeros((j1 - j0, d), dtype=self.tdtype, device=self.device)
            for i0, i1 in _tiles(n, self.row_block):
                Mt = (H @ self.XTd[:, i0:i1]) >= 0
                if hi > lo:  # generators that follow weights: the masks every product uses
                    Mt[fol] = fmasks[lo:hi, i0:i1]
                M[:, i0:i1] = Mt
                G += (Mt * r[i0:i1]) @ self.Xd[i0:i1]
            yield j0 * d, to_numpy(G).ravel()

    def _matvec(self, w):
        t, d, n = self.torch, self.d, self.shape[0]
        w = np.ravel(w).astype(self.dtype, copy=False)
        out = t.zeros(n, dtype=self.tdtype, device=self.device)
        for j0 in range(0, self.m, self.block):
            j1 = min(self.m, j0 + self.block)
            W = w[j0 * d : j1 * d].reshape(j1 - j0, d)
            if not W.any():
                continue
            H, W = self._dev(self.generators(j0, j1)), self._dev(W)
            for i0, i1 in _tiles(n, self.row_block):
                X_t = self.XTd[:, i0:i1]
                out[i0:i1] += (((H @ X_t) >= 0) * (W @ X_t)).sum(0)
        return out

    def halfspace_scores(self, r):
        t, n = self.torch, self.shape[0]
        r = self.native(r)
        acc = t.zeros((6, self.d), dtype=t.float64, device=self.device)
        for i0, i1 in _tiles(n, max(8, DEVICE_TILE_BYTES // (8 * self.d))):
            Xc, rc = self.Xd[i0:i1], r[i0:i1]
            P = t.clamp_min(Xc, 0)
            N = Xc - P
            acc += t.stack([rc @ P, rc @ N, (P * P).sum(0), (N * N).sum(0), (Xc < 0).sum(0), (Xc > 0).sum(0)]).to(t.float64)
        return halfspace_ratio(to_numpy(acc))

    def restrict(self, idx, cache=None):
        return _TorchRestrictedPattern(self, check_support(idx, self.shape[1]), cache)
