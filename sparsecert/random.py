"""Counter-based normal streams (layer 0): any block of rows reproducible from a key.

The Gaussian sensing matrix and the seeded generators of the ReLU-pattern
operator are rows of such a stream, so a column block or a generator block is
regenerated from ``(key, first row)`` alone, in any order, on any executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import kernels
from .parallel import map_rows

if TYPE_CHECKING:
    from .typing import DTypeLike

__all__ = ["counter_normals"]

#: Entries a thread generates at least (fewer rows run on the calling thread).
MIN_ENTRIES_PER_THREAD = 2**16
#: Entries generated per chunk where rows are padded (the padded chunk stays in L2).
CHUNK_ENTRIES = 2**15


def counter_normals(key: int, first_row: int, n_rows: int, row_len: int, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Rows ``first_row .. first_row + n_rows - 1`` of a keyed stream of N(0, 1) rows.

    Row ``i`` of the stream depends only on ``(key, i, row_len)``: it is
    made from the Philox4x32-10 counters ``i * ceil(row_len / 4)`` onward
    under ``key``, four normals per counter
    (:func:`sparsecert.kernels.philox_normals`: Box-Muller on 32-bit
    uniforms, computed with IEEE arithmetic only, so the same numbers on
    every machine; about 2.5 ns per entry on one core). So any block of rows
    can be regenerated in any order, on any executor, and the rows are the
    same whatever the thread count: ranges of rows are generated on
    :mod:`sparsecert.parallel`'s threads.

    Parameters
    ----------
    key : int
        Non-negative, below 2**64.
    first_row, n_rows, row_len : int
    dtype : float64 or float32
        float32 rows are the float64 ones rounded.

    Returns
    -------
    ndarray, shape (n_rows, row_len)
    """
    key, first_row = int(key), int(first_row)
    words = -(-row_len // 4)  # Philox counters per row
    width = 4 * words
    out = np.empty((n_rows, row_len), dtype=dtype)
    direct = width == row_len and out.dtype == np.float64
    chunk = max(1, CHUNK_ENTRIES // width)

    def fill(a, b):
        if direct:  # consecutive rows use consecutive counters: one call fills them
            kernels.philox_normals(key, (first_row + a) * words, out[a:b].reshape(-1))
            return
        z = np.empty(min(chunk, b - a) * width)
        for c0 in range(a, b, chunk):
            c1 = min(b, c0 + chunk)
            zc = kernels.philox_normals(key, (first_row + c0) * words, z[: (c1 - c0) * width])
            out[c0:c1] = zc.reshape(c1 - c0, width)[:, :row_len]

    map_rows(fill, n_rows, min_rows=max(1, MIN_ENTRIES_PER_THREAD // width), single_blas=False)
    return out
