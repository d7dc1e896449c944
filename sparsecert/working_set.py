"""The solver's peak working set for given (n, d, m, s, block), estimated and measured (tracemalloc),
against the O(n d + n block + s) model."""

from __future__ import annotations

import tracemalloc

import numpy as np

from .validation import check_int, check_option, check_rng
from .operators import ReluPatternOperator
from .recovery import iht
from .sparse import SparseVector

__all__ = ["working_set"]


def working_set(n, d, m, s, *, block=None, method="niht", iters=3, rng=0):
    """Peak working memory of IHT on a ReLU-pattern problem, estimated and measured.

    Plants ``s`` random fused weights on ``m`` seeded generators and runs
    ``iters`` iterations.

    Returns
    -------
    dict
        ``n, d, m, s, block, row_block``; ``estimate`` (bytes, from the
        arrays the solver and operator hold, :attr:`RecoveryResult.peak_memory`);
        ``measured`` (bytes, tracemalloc peak during the solve: NumPy
        allocations, not Numba's); ``data`` (bytes of X and its transpose,
        not counted in either). The working set is O(row_block * block + n *
        block / 8 + n * min(2 s, m) + s) bytes: one tile, one block's masks,
        byte masks of the blocks the support and the candidates touch.
    """
    n, d, m, s = (check_int(v, k, low=1) for v, k in ((n, "n"), (d, "d"), (m, "m"), (s, "s")))
    method = check_option(method, "method", {"iht", "niht", "aiht", "htp"})
    rng = check_rng(rng)
    X = rng.standard_normal((n, d))
    A = ReluPatternOperator(X, m, rng=rng, block=block)
    A.XT
    idx = np.sort(rng.choice(m * d, min(s, m * d), replace=False))
    y = A.matvec(SparseVector(idx, rng.standard_normal(idx.size), m * d))
    iht(A, y, idx.size, method=method, max_iter=1, progress=False)  # warm caches and kernels
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    res = iht(A, y, idx.size, method=method, max_iter=iters, progress=False)
    measured = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "n": n, "d": d, "m": m, "s": s, "block": A.block, "row_block": A.row_block,
        "estimate": res.peak_memory, "measured": int(measured), "data": 2 * X.nbytes,
    }


# ------------------------------------------------------------ sweep experiments
