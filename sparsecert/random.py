"""Counter-based normal streams (layer 0): any block of rows reproducible from a key.

The Gaussian sensing matrix and the seeded generators of the ReLU-pattern
operator are rows of such a stream, so a column block or a generator block is
regenerated from ``(key, first row)`` alone, in any order, on any executor.
"""

from __future__ import annotations

import threading

import numpy as np

from . import kernels

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


def counter_normals(key, first_row, n_rows, row_len, dtype=np.float64):
    """Rows ``first_row .. first_row + n_rows - 1`` of a keyed stream of N(0, 1) rows.

    Row ``i`` of the stream depends only on ``(key, i, row_len)``: it is read
    from the Philox counter ``i * ceil(row_len / 4)`` onward (4 words per
    counter) and mapped to normals by Box-Muller, one word per entry
    (:func:`sparsecert.kernels.box_muller`). So any block of rows can be
    regenerated in any order, on any executor.

    Returns
    -------
    ndarray, shape (n_rows, row_len)
    """
    words = -(-row_len // 4)  # Philox counters per row
    bitgen = _philox_at(int(key), int(first_row) * words)
    raw = bitgen.random_raw(n_rows * words * 4)
    z = kernels.box_muller(raw, np.empty(raw.size)).reshape(n_rows, words * 4)[:, :row_len]
    return np.ascontiguousarray(z, dtype=dtype)
