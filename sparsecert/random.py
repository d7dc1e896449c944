"""Counter-based normal streams (layer 0): any block of rows reproducible from a key.

The Gaussian sensing matrix and the seeded generators of the ReLU-pattern
operator are rows of such a stream, so a column block or a generator block is
regenerated from ``(key, first row)`` alone, in any order, on any executor.
"""

from __future__ import annotations

import threading

import numpy as np

from . import kernels
from .parallel import map_rows

__all__ = ["counter_normals"]

_local = threading.local()


def _philox_at(key, counter):
    """A Philox bit generator for ``key`` positioned at ``counter`` (cached per thread)."""
    cache = getattr(_local, "philox", None)
    if cache is None:
        cache = _local.philox = {}
    entry = cache.get(key)
    if entry is None:
        if len(cache) > 64:
            cache.clear()
        bitgen = np.random.Philox(key=key)
        entry = cache[key] = (bitgen, bitgen.state)
    bitgen, state = entry
    state["state"]["counter"][:] = (counter & (2**64 - 1), counter >> 64, 0, 0)
    state["buffer_pos"] = 4  # empty buffer: the next word comes from `counter`
    bitgen.state = state  # about 3 us, against about 30 us for a new Philox
    return bitgen


#: Entries a thread generates at least (fewer rows run on the calling thread).
MIN_ENTRIES_PER_THREAD = 2**16
#: Entries generated per chunk (the raw words and normals of a chunk stay in L2).
CHUNK_ENTRIES = 2**15


def counter_normals(key, first_row, n_rows, row_len, dtype=np.float64):
    """Rows ``first_row .. first_row + n_rows - 1`` of a keyed stream of N(0, 1) rows.

    Row ``i`` of the stream depends only on ``(key, i, row_len)``: it is read
    from the Philox counter ``i * ceil(row_len / 4)`` onward (4 words per
    counter) and mapped to normals by Box-Muller, one word per entry
    (:func:`sparsecert.kernels.box_muller`). So any block of rows can be
    regenerated in any order, on any executor, and the rows are the same
    whatever the thread count: ranges of rows are generated on
    :mod:`sparsecert.parallel`'s threads, each from its own Philox positioned
    at its first row, in cache-sized chunks.

    Returns
    -------
    ndarray, shape (n_rows, row_len)
    """
    key, first_row = int(key), int(first_row)
    words = -(-row_len // 4)  # Philox counters per row
    width = 4 * words
    out = np.empty((n_rows, row_len), dtype=dtype)
    chunk = max(1, CHUNK_ENTRIES // width)

    def fill(a, b):
        bitgen = _philox_at(key, (first_row + a) * words)
        z = np.empty(min(chunk, b - a) * width)
        for c0 in range(a, b, chunk):
            c1 = min(b, c0 + chunk)
            raw = bitgen.random_raw((c1 - c0) * width)  # the stream continues where it stopped
            zc = kernels.box_muller(raw, z[: raw.size]).reshape(c1 - c0, width)
            out[c0:c1] = zc[:, :row_len]

    map_rows(fill, n_rows, min_rows=max(1, MIN_ENTRIES_PER_THREAD // width), single_blas=False)
    return out
