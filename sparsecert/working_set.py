"""Peak memory, measured one way for every method: :func:`measure_peak` (the growth of the process's
resident set during a call, and tracemalloc's peak as a cross-check), and the IHT solver's working set
for given (n, d, m, s, block), estimated and measured, against the O(n d + n block + s) model
(:func:`working_set`)."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, Callable

import numpy as np

from .validation import check_int, check_option, check_rng
from .operators import ReluPatternOperator
from .recovery import IHT, iht
from .sparse import SparseVector

__all__ = ["working_set", "measure_peak", "measured_bytes", "measured_bytes_on", "pin_allocator", "MALLOC_ENV"]

#: Environment for a fresh process whose resident set should follow its live arrays: glibc serves every
#: allocation above 128 KiB by mmap and returns it at free (its default raises that threshold as arrays
#: are freed, after which freed heap pages are reused without showing in the resident set). Set it before
#: the process starts (:mod:`paper_repro.recovery.memory` does).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072", "MALLOC_TOP_PAD_": "0"}


def pin_allocator() -> bool:
    """Set :data:`MALLOC_ENV`'s three glibc settings in this running process (``mallopt``): from then
    on every allocation above 128 KiB is its own mapping, returned at free, so the resident set
    follows the live arrays in a process that has run other work before (a sweep's cells) as in a
    fresh one (left to itself, glibc keeps freed arrays for reuse: the same minibatch fit measured
    10.6 to 17.7 MB by what ran before it, against 10.2 MB in a fresh process). It stays pinned for the
    rest of the process, and NumPy code that makes large temporaries runs slower under it (the INR
    fits 2x): only processes that measure should call it (:func:`measure_peak` does).
    Returns False where the C library is not glibc (nothing changed)."""
    import ctypes
    import ctypes.util

    global _PINNED, _TRIM
    if _PINNED is None:  # once per process (finding the C library runs a program)
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt, _TRIM = libc.mallopt, libc.malloc_trim
        except (OSError, AttributeError):
            _PINNED = False
        else:  # M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3 (malloc.h)
            _PINNED = all(mallopt(opt, int(MALLOC_ENV[key])) == 1 for opt, key in (
                (-3, "MALLOC_MMAP_THRESHOLD_"), (-1, "MALLOC_TRIM_THRESHOLD_"), (-2, "MALLOC_TOP_PAD_")))
    return _PINNED


def _release_free_memory() -> None:
    """Hand the pages of freed heap chunks back to the OS (glibc's ``malloc_trim``), so that a call
    which reuses them takes them again and shows in the resident set (arrays freed before the
    allocator was pinned, by a warm-up fit for one, would otherwise hide as much of a peak)."""
    if _TRIM is not None:
        _TRIM(0)


_PINNED: bool | None = None
_TRIM = None


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError):
        return None


def _reset_high_water_mark() -> bool:
    """Reset this process's peak resident set (VmHWM) to its current one (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure_peak(fn: Callable[..., Any], /, *args: Any, trace: bool = True, **kwargs: Any) -> tuple[Any, dict]:
    """Run ``fn(*args, **kwargs)`` and measure what it allocated at its peak, by the same means for
    every method (NumPy, Numba, torch on the CPU: they all take pages from the process).

    Returns
    -------
    result
        What ``fn`` returned.
    measured : dict
        ``rss_bytes``: the peak resident set during the call minus the resident set before it (the
        kernel's high-water mark, reset first: exact, not sampled; None where the OS does not give
        it); ``traced_bytes``: tracemalloc's peak over the same call (Python and NumPy allocations only:
        a cross-check that misses torch's and Numba's; None with ``trace=False``, which spares the
        call tracemalloc's cost, 2-5x on code that allocates many small objects); ``seconds``.

    Notes
    -----
    Data made before the call (``X``, ``y``) is not counted; copies the call makes of it are. Run it
    after a warm-up call (compilation and first-use allocations of the libraries are not the
    method's). It pins the allocator first (:func:`pin_allocator`) and hands freed heap pages back
    to the OS, so that freed memory the allocator would reuse does not hide a peak.
    """
    import gc

    pin_allocator()
    gc.collect()
    _release_free_memory()
    reset = _reset_high_water_mark()
    before = _status_kib("VmRSS")
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - t0
        traced = int(tracemalloc.get_traced_memory()[1]) if trace else None
    finally:
        if trace:
            tracemalloc.stop()
    peak = _status_kib("VmHWM")
    rss = (peak - before) * 1024 if reset and peak is not None and before is not None else None
    return result, {"rss_bytes": rss, "traced_bytes": traced, "seconds": seconds}


def measured_bytes(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``fn``'s result and its measured peak bytes, one instrument for every method: the resident
    set's growth (:func:`measure_peak` without tracemalloc, which would slow the fit), or
    tracemalloc's peak where the OS does not give the former (``fn`` then runs a second time)."""
    out, peak = measure_peak(fn, *args, trace=False, **kwargs)
    if peak["rss_bytes"] is None:
        out, peak = measure_peak(fn, *args, **kwargs)
        return out, int(peak["traced_bytes"])
    return out, int(peak["rss_bytes"])


def measured_bytes_on(device: str | None, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """:func:`measured_bytes` where the fit runs: the host's resident set for ``device`` None or
    ``"cpu"``; on a CUDA device the growth of torch's allocated device memory at its peak
    (``torch.cuda.max_memory_allocated``, reset first), one instrument for every method there."""
    if device is None or not str(device).startswith("cuda"):
        return measured_bytes(fn, *args, **kwargs)
    import torch

    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    out = fn(*args, **kwargs)
    torch.cuda.synchronize(device)
    return out, int(torch.cuda.max_memory_allocated(device) - before)


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
    iht(A, y, idx.size, solver=IHT(method=method, max_iter=1), progress=False)  # warm caches and kernels
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    res = iht(A, y, idx.size, solver=IHT(method=method, max_iter=iters), progress=False)
    measured = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "n": n, "d": d, "m": m, "s": s, "block": A.block, "row_block": A.row_block,
        "estimate": res.peak_memory, "measured": int(measured), "data": 2 * X.nbytes,
    }


# ------------------------------------------------------------ sweep experiments
