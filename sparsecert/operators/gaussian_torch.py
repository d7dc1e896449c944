"""The Gaussian sensing operator with its products on a torch device (same columns as on the host)."""

from __future__ import annotations

import numpy as np

from ..backend import resolve, to_numpy
from .base import RestrictedOperator, check_support
from .gaussian import GaussianOperator
from .on_device import OnDevice

__all__ = ["TorchGaussianOperator"]


class _TorchRestrictedGaussian(RestrictedOperator):
    """``A_S`` on the device: its columns kept there while they fit ``cache_bytes``, else regenerated."""

    def __init__(self, parent, idx):
        self.parent, self.indices = parent, idx
        n = parent.shape[0]
        fits = n * idx.size * parent.dtype.itemsize <= parent.cache_bytes
        self.cols = parent._dev(parent.host_columns(idx)) if fits else None  # (|S|, n): row t = column idx[t]
        self.nbytes = 0 if self.cols is None else int(self.cols.numel() * self.cols.element_size())
        super().__init__(dtype=parent.dtype, shape=(n, idx.size))

    def _chunks(self):
        if self.cols is not None:
            yield 0, self.cols
            return
        step = self.parent.block
        for t0 in range(0, self.indices.size, step):
            yield t0, self.parent._dev(self.parent.host_columns(self.indices[t0 : t0 + step]))

    def _matvec(self, v):
        p = self.parent
        out = p.torch.zeros(self.shape[0], dtype=p.tdtype, device=p.device)
        v = np.ravel(v)
        for t0, C in self._chunks():
            out += C.T @ p._dev(v[t0 : t0 + C.shape[0]])
        return out

    def _rmatvec(self, r):
        r = self.parent.native(r)
        if not self.shape[1]:
            return np.zeros(0, self.dtype)
        return np.concatenate([to_numpy(C @ r) for _, C in self._chunks()])

    def to_dense(self):
        return self.parent.host_columns(self.indices).T.copy()


class TorchGaussianOperator(OnDevice, GaussianOperator):
    """:class:`GaussianOperator` whose products run on a torch device.

    The columns are those of the NumPy operator with the same seed: drawn on
    the host from the counter-based stream (:func:`sparsecert.random.counter_normals`)
    and moved to the device a block at a time, so generation, not the device,
    bounds a pass. Length-n vectors are device tensors; length-N and length-``|S|``
    vectors NumPy arrays, as for every operator.

    Parameters
    ----------
    n, N, rng, dtype, block, cache_bytes
        As for :class:`GaussianOperator`.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:K"``.
    """

    def __init__(self, n, N, rng=None, *, dtype=np.float64, block=None, cache_bytes=256 * 2**20, device="cpu"):
        self.backend = resolve("torch", device)
        super().__init__(n, N, rng, dtype=dtype, block=block, cache_bytes=cache_bytes)

    def host_columns(self, idx):
        """Columns ``idx`` of A as rows of a host (``|idx|``, n) array (the NumPy operator's columns)."""
        return GaussianOperator.restrict(self, idx).to_dense().T

    def _blocks_rmatvec(self, r, cache=None):
        r = self.native(r)
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            yield j0, to_numpy(self._dev(self._column_block(j0, min(N, j0 + self.block))) @ r)

    def _matvec(self, x):
        x = np.ravel(x).astype(self.dtype, copy=False)
        out = self.torch.zeros(self.shape[0], dtype=self.tdtype, device=self.device)
        N = self.shape[1]
        for j0 in range(0, N, self.block):
            j1 = min(N, j0 + self.block)
            out += self._dev(self._column_block(j0, j1)).T @ self._dev(x[j0:j1])
        return out

    def restrict(self, idx, cache=None):
        return _TorchRestrictedGaussian(self, check_support(idx, self.shape[1]))

    def to_dense(self):
        return GaussianOperator.to_dense(self)
