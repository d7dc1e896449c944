"""What every torch operator shares: its device, dtype and the one conversion of arrays to it."""

from __future__ import annotations

import numpy as np

from ..backend import is_tensor

__all__ = ["OnDevice"]


class OnDevice:
    """Mixin of the torch operators; needs ``self.backend`` (a torch :class:`~sparsecert.backend.Backend`)
    and ``self.dtype`` (the NumPy dtype of the operator)."""

    @property
    def torch(self):
        return self.backend.torch

    @property
    def device(self):
        return self.backend.device

    @property
    def tdtype(self):
        """The torch dtype matching ``self.dtype``."""
        return {np.dtype(np.float64): self.torch.float64, np.dtype(np.float32): self.torch.float32}[np.dtype(self.dtype)]

    def _dev(self, a):
        """A host array on the device in the operator's dtype."""
        return self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.tdtype, device=self.device)

    def native_index(self, ix):
        """Integer positions ``ix`` as an int64 tensor on the device (for one indexed copy)."""
        return self.torch.as_tensor(np.asarray(ix, dtype=np.int64), device=self.device)

    def native(self, a):
        """``a`` as a tensor on the device in the operator's dtype (no copy if it is one)."""
        if is_tensor(a) and a.device == self.torch.device(self.device) and a.dtype == self.tdtype:
            return a
        return self.backend.asarray(a, self.dtype)
