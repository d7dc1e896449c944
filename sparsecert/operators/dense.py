"""An explicit matrix behind the sensing-operator contract (small problems, baselines)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..validation import check_array, check_int
from .base import RestrictedOperator, SparseSensingOperator, check_support

if TYPE_CHECKING:
    from ..typing import ArrayLike

__all__ = ["DenseOperator"]


class _RestrictedDense(RestrictedOperator):
    def __init__(self, parent, idx):
        self.indices = idx
        self.cols = np.ascontiguousarray(parent.matrix[:, idx])
        self.nbytes = int(self.cols.nbytes)
        super().__init__(dtype=parent.dtype, shape=self.cols.shape)

    def _matvec(self, v):
        return self.cols @ np.ravel(v).astype(self.dtype, copy=False)

    def _rmatvec(self, r):
        return self.cols.T @ np.ravel(r).astype(self.dtype, copy=False)

    def to_dense(self):
        return self.cols.copy()


class DenseOperator(SparseSensingOperator):
    """An explicit n x N matrix behind the same interface (small problems, baselines).

    Parameters
    ----------
    matrix : array_like, shape (n, N)
    block : int, optional
        Columns per streaming block of ``gradient_split`` (default: all).
    """

    def __init__(self, matrix: ArrayLike, *, block: int | None = None) -> None:
        self.matrix = check_array(matrix, "matrix", ndim=2)
        n, N = self.matrix.shape
        if n < 1 or N < 1:
            raise ValueError(f"matrix must be non-empty, got shape {self.matrix.shape}")
        self.block = N if block is None else min(check_int(block, "block", low=1), N)
        super().__init__(dtype=self.matrix.dtype, shape=(n, N))

    def _matvec(self, x):
        return self.matrix @ np.ravel(x).astype(self.dtype, copy=False)

    def _blocks_rmatvec(self, r, cache=None):
        for j0 in range(0, self.shape[1], self.block):
            yield j0, self.matrix[:, j0 : j0 + self.block].T @ r

    @property
    def pass_nbytes(self) -> int:
        return int(self.block * self.dtype.itemsize)

    def restrict(self, idx: ArrayLike, cache: Any = None) -> RestrictedOperator:
        """``A_S`` as a copy of the columns ``idx``."""
        return _RestrictedDense(self, check_support(idx, self.shape[1]))
