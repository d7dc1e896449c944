"""How good a fit or a recovery is: one home for the measures the figures and experiments report.

* :func:`psnr`: peak signal-to-noise ratio in dB, the recovery paper's normalisation;
* :func:`relative_error`: ``||w_hat - w|| / ||w||`` for dense or sparse vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .sparse import SparseVector

if TYPE_CHECKING:
    from .typing import ArrayLike

__all__ = ["psnr", "relative_error"]


def psnr(y: ArrayLike, y_hat: ArrayLike, peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB with the paper's normalisation.

    ``20 log10(peak) - 10 log10(mean((y - y_hat)^2))`` with ``peak = max |y|``
    by default (planted nets) or given (1 for images in [0, 1]); ``inf`` for
    an exact fit. NaN when ``y`` is zero everywhere and no peak is given: there is
    no signal to measure against (a planted net whose output is zero, e.g. when no
    output weight reads a hidden unit that has weights), and fitting it says
    nothing of recovery.
    """
    y = np.asarray(y, dtype=np.float64)
    mse = float(np.mean((y - np.asarray(y_hat, dtype=np.float64)) ** 2))
    if peak is None and not np.any(y):
        return float("nan")
    peak = float(np.max(np.abs(y))) if peak is None else float(peak)
    if mse == 0.0:
        return float("inf")
    return 20.0 * np.log10(peak) - 10.0 * np.log10(mse) if peak > 0 else -10.0 * np.log10(mse)


def relative_error(w_hat: SparseVector | ArrayLike, w: SparseVector | ArrayLike) -> float:
    """``||w_hat - w||_2 / ||w||_2`` for vectors of one length, dense or :class:`SparseVector`
    (``inf`` when ``w`` is zero and ``w_hat`` is not, 0 when both are)."""
    a, b = (x.to_dense() if isinstance(x, SparseVector) else np.asarray(x, dtype=np.float64) for x in (w_hat, w))
    if a.shape != b.shape:
        raise ValueError(f"w_hat has shape {a.shape}, w has shape {b.shape}")
    den, num = float(np.linalg.norm(b)), float(np.linalg.norm(a - b))
    return num / den if den else (0.0 if num == 0 else float("inf"))
