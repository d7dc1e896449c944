"""Threads for the row-chunked passes of the operators (layer 0).

Every pass of the ReLU-pattern operator splits by samples: rows ``r0:r1`` of
``A_S v``, the partial sum of ``A_S^T r`` over rows ``r0:r1``, the
pre-activations and masks of a row tile. :func:`map_rows` runs such a
function on :func:`get_n_threads` disjoint row ranges at once, on one
process-wide pool of threads (the Numba kernels release the GIL). While the
workers run, BLAS is held to one thread each (:func:`single_threaded_blas`),
so the pool is the only source of parallelism. The IHT solvers hold BLAS to
one thread for a whole step: OpenBLAS's idle threads spin after each of their
calls and steal the cores the pool's next kernel needs (measured on 2 cores:
25.8 ms against 48.6 ms per sequential AIHT iteration at n=20000, m=s=200).
Outside these regions BLAS keeps its usual threads.

The thread count defaults to the environment variable ``SPARSECERT_NUM_THREADS``
or else the cores this process may run on; set it with :func:`set_n_threads`
or for a block of code with ``with n_threads(k):``. (The sweep's process
executor sets the variable to 1 in its workers: the processes take the cores.)
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

from .validation import check_int

__all__ = [
    "available_cores", "get_n_threads", "requested_n_threads", "set_n_threads", "n_threads", "row_ranges", "map_rows",
    "single_threaded_blas",
]

#: Fewest samples a thread gets: below this the pass runs on the calling thread.
MIN_ROWS_PER_THREAD = 4096

_lock = threading.Lock()
_state: dict[str, Any] = {"n_threads": None, "pool": None, "pool_size": 0, "blas": None, "depth": 0}
_worker = threading.local()


@functools.cache
def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it), read once: every
    pass asks, and the system call was 7 % of a sweep of small fixed-pattern fits."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def requested_n_threads() -> int | None:
    """The threads asked for: :func:`set_n_threads`'s, else ``SPARSECERT_NUM_THREADS``'s; None if neither."""
    k = _state["n_threads"]
    if k is None:
        env = os.environ.get("SPARSECERT_NUM_THREADS", "")
        return max(1, int(env)) if env.isdigit() else None
    return k


def get_n_threads() -> int:
    """Threads the row-chunked passes use (default: :func:`requested_n_threads`, else :func:`available_cores`)."""
    k = requested_n_threads()
    return available_cores() if k is None else k


def set_n_threads(k: int | None) -> None:
    """Set the threads of the row-chunked passes; ``None`` restores the default.

    Parameters
    ----------
    k : int >= 1 or None
    """
    _state["n_threads"] = None if k is None else check_int(k, "n_threads", low=1)


@contextmanager
def n_threads(k: int | None) -> Iterator[None]:
    """``with n_threads(k):`` runs the passes inside on ``k`` threads."""
    old = _state["n_threads"]
    set_n_threads(k)
    try:
        yield
    finally:
        _state["n_threads"] = old


def row_ranges(n: int, parts: int, align: int = 8) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges ``(r0, r1)`` covering ``range(n)``, boundaries multiples of ``align``."""
    parts = max(1, min(parts, -(-n // align)))
    cuts = [min(n, (n * t // parts) // align * align) for t in range(parts)] + [n]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _pool(k):
    with _lock:
        if _state["pool"] is None or _state["pool_size"] < k:
            if _state["pool"] is not None:
                _state["pool"].shutdown(wait=False)
            _state["pool"] = ThreadPoolExecutor(k, thread_name_prefix="sparsecert")
            _state["pool_size"] = k
        return _state["pool"]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """``with single_threaded_blas():`` runs BLAS on one thread inside (re-entrant; threadpoolctl).

    Only the outermost entry changes BLAS (about 13 us); nested entries are free.
    Without threadpoolctl it does nothing.
    """
    with _lock:
        _state["depth"] += 1
        outer = _state["depth"] == 1
    try:
        if outer:
            ctl = _state["blas"]
            if ctl is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # pragma: no cover - threadpoolctl is a dependency
                    ctl = False
                else:
                    ctl = ThreadpoolController()
                _state["blas"] = ctl
            with ctl.limit(limits=1, user_api="blas") if ctl else nullcontext():
                yield
        else:
            yield
    finally:
        with _lock:
            _state["depth"] -= 1


def map_rows(
    fn: Callable[[int, int], Any],
    n: int,
    *,
    min_rows: int = MIN_ROWS_PER_THREAD,
    single_blas: bool = True,
) -> list:
    """``[fn(r0, r1) for (r0, r1) in ranges]`` over disjoint row ranges covering ``range(n)``, on threads.

    Parameters
    ----------
    fn : callable ``fn(r0, r1)``
        Works on samples ``r0:r1`` only (writes to disjoint rows, or returns
        a partial result that the caller adds up).
    n : int
        Number of samples.
    min_rows : int
        Fewest samples per thread; fewer threads are used below ``k * min_rows``.
    single_blas : bool
        Hold BLAS to one thread while the workers run (when ``fn`` calls BLAS).

    Returns
    -------
    list, one result per range, in row order.

    Notes
    -----
    A call from inside a worker runs on that worker alone (no nested pools).
    """
    k = min(get_n_threads(), max(1, n // max(1, min_rows)))
    if k == 1 or getattr(_worker, "busy", False):
        return [fn(0, n)]
    ranges = row_ranges(n, k)

    def run(bounds):
        _worker.busy = True
        try:
            return fn(*bounds)
        finally:
            _worker.busy = False

    with single_threaded_blas() if single_blas else nullcontext():
        return list(_pool(len(ranges)).map(run, ranges))
