"""Coordinate descent on the MCP-penalised least squares (the MCP path's inner solver,
:func:`sparsecert.recovery.mcp_path`), with its NumPy twin."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mcp_cd", "mcp_cd_numpy"]


@njit(cache=True, nogil=True)
def mcp_cd(Ct, cn, w, r, lam, gamma, tol, max_epochs):
    """Cyclic coordinate descent on ``1/2 ||r||^2 + sum_j MCP(w_j; lam, gamma)`` over a working set.

    ``Ct`` (k, n) holds the working set's columns as rows (``Ct[j] = a_j``), ``cn[j] = ||a_j||^2``
    (each ``> 1 / gamma``). ``w`` (k,) and the residual ``r = y - A w`` (n,) are updated in place.
    A coordinate's update is the minimiser of ``cn_j / 2 (v - z)^2 + MCP(v)`` with
    ``z = w_j + a_j^T r / cn_j``: ``z`` where ``|z| > gamma lam``, else the firm threshold
    ``sign(z) max(cn_j |z| - lam, 0) / (cn_j - 1 / gamma)`` (Breheny & Huang 2011). Epochs stop
    when the largest change ``sqrt(cn_j) |dw_j|`` is at most ``tol``. Returns the epochs run.
    """
    k, n = Ct.shape
    for epoch in range(max_epochs):
        biggest = 0.0
        for j in range(k):
            a = Ct[j]
            g = 0.0
            for i in range(n):
                g += a[i] * r[i]
            c = cn[j]
            z = w[j] + g / c
            if abs(z) > gamma * lam:
                new = z
            else:
                t = c * abs(z) - lam
                new = 0.0 if t <= 0.0 else np.sign(z) * t / (c - 1.0 / gamma)
            d = new - w[j]
            if d != 0.0:
                for i in range(n):
                    r[i] -= d * a[i]
                w[j] = new
                biggest = max(biggest, abs(d) * np.sqrt(c))
        if biggest <= tol:
            return epoch + 1
    return max_epochs


def mcp_cd_numpy(Ct, cn, w, r, lam, gamma, tol, max_epochs):
    """NumPy twin of :func:`mcp_cd` (the same coordinate order and updates)."""
    for epoch in range(max_epochs):
        biggest = 0.0
        for j in range(Ct.shape[0]):
            z = w[j] + float(Ct[j] @ r) / cn[j]
            if abs(z) > gamma * lam:
                new = z
            else:
                t = cn[j] * abs(z) - lam
                new = 0.0 if t <= 0.0 else np.sign(z) * t / (cn[j] - 1.0 / gamma)
            d = new - w[j]
            if d != 0.0:
                r -= d * Ct[j]
                w[j] = new
                biggest = max(biggest, abs(d) * np.sqrt(cn[j]))
        if biggest <= tol:
            return epoch + 1
    return max_epochs
