"""Array backends (layer 0): NumPy (default, the reference) or torch on CPU or CUDA.

The IHT solvers keep length-n vectors (measurements, residuals, products
``A_S v``) where the operator keeps its data -- NumPy arrays, or torch tensors
on the operator's device -- and everything of length O(s) (supports, values,
gradients on the support, candidates) as NumPy arrays on the host. So the
solver needs only a handful of operations on length-n vectors, given here
for both kinds: :func:`norm`, :func:`copy`, :func:`to_numpy`.

:func:`resolve` validates a ``backend``/``device`` pair at the public boundary
and returns a :class:`Backend` that converts arrays once. torch is imported
only when the torch backend is asked for.
"""

from __future__ import annotations


from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "Backend", "resolve", "norm", "copy", "to_numpy", "is_tensor", "TORCH_HINT"]

#: How to get torch, for every message of a path that needs it (the extra is a range; ``make`` pins
#: the CPU build through constraints.txt).
TORCH_HINT = "pip install -e '.[torch]' in the repository (torch 2.1 to 2.13.0; make installs 2.13.0, the CPU build)"

BACKENDS = ("numpy", "torch")


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


#: Sums of squares inside this range are exact enough as they are (no overflow, no underflow).
_SAFE_SQ = (1e-290, 1e290)


def norm(x) -> float:
    """Euclidean norm of a vector of either kind, as a Python float, at any representable scale.

    One dot product when the sum of squares lies safely inside float64's range
    (the usual case, one pass over ``x``); otherwise the vector is divided by its
    largest magnitude before squaring, so entries of 1e200 or 1e-200 neither
    overflow nor underflow. ``inf`` or ``nan`` entries give ``inf``/``nan``.
    """
    tensor = is_tensor(x)
    x = x if tensor else np.asarray(x)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sq = float((x * x).sum()) if tensor or x.ndim != 1 else float(x @ x)
    if _SAFE_SQ[0] < sq < _SAFE_SQ[1]:
        return float(np.sqrt(sq))
    big = float(abs(x).max()) if (x.numel() if tensor else x.size) else 0.0
    if big == 0.0 or not np.isfinite(big):
        return big
    scaled = x / big
    return big * float(scaled.norm() if tensor else np.linalg.norm(scaled))


def copy(x):
    """A copy of a vector of either kind (same kind, same device)."""
    return x.clone() if is_tensor(x) else x.copy()


def to_numpy(x: Any) -> Any:
    """A NumPy array of ``x`` (a copy from the device for tensors)."""
    return x.detach().cpu().numpy() if is_tensor(x) else np.asarray(x)


@dataclass(frozen=True)
class Backend:
    """A validated backend: ``name`` in :data:`BACKENDS` and, for torch, the device.

    Attributes
    ----------
    name : str
    device : str or None
        torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``None`` for NumPy.
    """

    name: str
    device: str | None = None

    @property
    def torch(self):
        import torch

        return torch

    def asarray(self, a, dtype=None):
        """``a`` (NumPy array or tensor) as this backend's array, converted once."""
        if self.name == "numpy":
            return to_numpy(a) if dtype is None else to_numpy(a).astype(dtype, copy=False)
        t = self.torch
        dt = {np.dtype(np.float64): t.float64, np.dtype(np.float32): t.float32}.get(np.dtype(dtype or a.dtype))
        if dt is None:
            raise TypeError(f"torch backend supports float64 and float32 data, got {np.dtype(dtype or a.dtype)}")
        return t.as_tensor(a, dtype=dt, device=self.device)


def resolve(backend="numpy", device=None) -> Backend:
    """Validate ``backend`` and ``device``; return a :class:`Backend`.

    Parameters
    ----------
    backend : {"numpy", "torch"}
    device : str, optional
        torch only: ``"cpu"`` (default), ``"cuda"`` or ``"cuda:K"``.

    Raises
    ------
    ValueError
        Unknown backend, a device with the NumPy backend, an unknown or
        unavailable device (the message lists those that exist).
    ImportError
        torch asked for but not installed (the message names the extra).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"device={device!r} needs backend='torch' (the NumPy backend runs on the CPU)")
        return Backend("numpy")
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised where torch is absent
        raise ImportError(f"backend='torch' needs PyTorch: {TORCH_HINT}") from exc
    device = "cpu" if device is None else str(device)
    available = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    name = "cuda:0" if device == "cuda" else device
    if name not in available:
        cuda = "no CUDA device is visible" if len(available) == 1 else f"CUDA devices: {', '.join(available[1:])}"
        raise ValueError(f"device {device!r} is not available ({cuda}); choose one of {available}")
    return Backend("torch", name)
