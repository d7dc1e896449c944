"""Checks for tests of any sensing operator (the public counterpart of PyLops' ``dottest``)."""

from __future__ import annotations

import numpy as np

from . import kernels
from .validation import check_rng
from .backend import to_numpy
from .operators.base import SparseSensingOperator

__all__ = ["check_operator"]


def check_operator(A, *, rng=0, support_size=None, rtol=1e-10):
    """Check that ``A`` keeps the sensing-operator contract; raise ``AssertionError`` if not.

    Checked, on random vectors drawn from ``rng``:

    * the adjoint identity ``<A w, r> = <w, A^T r>``;
    * ``restrict(S)`` is the column submatrix: ``A_S v = A w`` with ``w``
      equal to ``v`` on ``S``, ``A_S^T r = (A^T r)[S]`` and
      ``columns(S)`` equal to ``A`` applied to unit vectors;
    * ``gradient_split(r, S, k)`` returns ``(A^T r)[S]`` and the top-k of
      ``|A^T r|`` off ``S`` (ties to the smaller index), with and without
      the operator's cache, and a restriction through the cache afterwards
      equals one without it.

    Parameters
    ----------
    A : SparseSensingOperator
        Small enough for ``A^T r`` to be formed densely (N up to ~10^5); any
        backend (device products are brought to the host for the comparisons).
    rng : int or Generator
    support_size : int, optional
        ``|S|`` (default ``min(N, 8)``).
    rtol : float
        Relative tolerance of the floating-point comparisons (float64).

    Returns
    -------
    dict
        The measured errors (for reporting).
    """
    if not isinstance(A, SparseSensingOperator):
        raise TypeError(f"A must be a SparseSensingOperator, got {type(A).__name__}")
    rng = check_rng(rng)
    n, N = A.shape
    tol = rtol if A.dtype == np.float64 else max(rtol, 1e-4)
    w = rng.standard_normal(N).astype(A.dtype)
    r = rng.standard_normal(n).astype(A.dtype)
    Aw, g = to_numpy(A.matvec(w)), to_numpy(A.rmatvec(r))  # length-n products may live on a device
    assert Aw.shape == (n,) and g.shape == (N,), "matvec/rmatvec shapes"
    scale = np.linalg.norm(Aw) * np.linalg.norm(r) + np.linalg.norm(w) * np.linalg.norm(g) + 1.0
    adjoint = abs(float(Aw @ r) - float(w @ g)) / scale
    assert adjoint <= tol, f"adjoint identity off by {adjoint:.3e} (relative)"

    k = min(N, 8 if support_size is None else support_size)
    S = np.sort(rng.choice(N, k, replace=False)).astype(np.int64)
    v = rng.standard_normal(k).astype(A.dtype)
    wS = np.zeros(N, A.dtype)
    wS[S] = v
    R = A.restrict(S)
    ref = to_numpy(A.matvec(wS))
    err_mv = np.linalg.norm(to_numpy(R.matvec(v)) - ref) / (np.linalg.norm(ref) + np.linalg.norm(v) + 1.0)
    err_rmv = np.linalg.norm(R.rmatvec(r) - g[S]) / (np.linalg.norm(g[S]) + 1.0)
    assert err_mv <= tol, f"restrict(S).matvec differs from matvec by {err_mv:.3e}"
    assert err_rmv <= tol, f"restrict(S).rmatvec differs from rmatvec[S] by {err_rmv:.3e}"
    cols = A.columns(S)
    unit = np.stack([to_numpy(A.matvec(np.eye(1, N, j, dtype=A.dtype)[0])) for j in S[: min(k, 4)]], axis=1)
    assert np.allclose(cols[:, : unit.shape[1]], unit, rtol=tol, atol=tol), "columns(S) are not A e_j"

    off = np.setdiff1d(np.arange(N), S)
    want = off[kernels.topk_abs_numpy(g[off], off, k)]
    for cache in (None, A.make_cache()):
        gS, cidx, cval = A.gradient_split(r, S, k, cache=cache)
        assert np.allclose(gS, g[S], rtol=tol, atol=tol * (1 + np.abs(g).max())), "gradient_split: g on S"
        # ties in |g| may resolve differently under round-off: compare magnitudes, then indices
        assert np.allclose(np.sort(np.abs(cval)), np.sort(np.abs(g[want])), rtol=tol, atol=tol), "gradient_split: top-k"
        if cache is not None:
            U = np.union1d(S, cidx)
            same = np.allclose(A.restrict(U, cache=cache).to_dense(), A.restrict(U).to_dense(), rtol=tol, atol=tol)
            assert same, "restrict through the cache differs from restrict without it"
    return {"adjoint": float(adjoint), "restrict_matvec": float(err_mv), "restrict_rmatvec": float(err_rmv)}
