"""Resumable grid sweeps stored in SQLite.

A sweep runs a registered experiment ``f(params, seed) -> dict of scalars`` on
every cell of ``grid x seeds`` and stores each finished cell in its own
transaction in an SQLite file (WAL mode), keyed by experiment name, canonical
parameters, seed and package version. Rerunning the same sweep skips the
cells already there, so a run interrupted at any point (Ctrl-C, kill -9,
power loss) resumes without losing or duplicating a cell. Only the parent
process writes; workers just compute.

Executors: ``"serial"``, ``"process"`` (a spawn-context process pool, default
all cores, one BLAS thread per worker) and ``"dask"`` (``dask.distributed``;
a scheduler address, or a local in-process cluster). A cell's result depends
only on ``(params, seed)``, so every executor returns the same bits.

Example
-------
>>> from sparsecert.sweep import run_sweep
>>> res = run_sweep("gaussian_recovery", {"n": [40], "N": [100], "s": [2, 5], "method": ["niht"]},
...                 seeds=[0, 1], path="sweep.sqlite", executor="serial", progress=False)
>>> res.to_arrays()["success"]
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .io import write_csv
from .store import FORMAT, SweepFormatError, SweepStore, SweepStoreError, canonical  # noqa: F401  (FORMAT: its home before 0.4)
from .parallel import available_cores
from .progress import progress_bar
from .validation import check_int, check_option
from .registry import (  # noqa: F401  (documented in sparsecert.registry; importable from here as before)
    EXPERIMENTS,
    REQUIRED,
    Param,
    SweepParameterError,
    describe,
    experiment_function,
    name_and_target,
    normalise_cell,
    register,
)

__all__ = ["run_sweep", "SweepStore", "SweepResult", "SweepFormatError", "SweepCellError", "SweepStoreError",
           "SweepInterrupted", "RESERVED"]

#: Columns a sweep adds to every row itself: an experiment's result may not use these names (nor a
#: parameter's). ``seconds`` is the cell's wall time unless the result reports its own ``seconds``,
#: in which case the wall time is ``cell_seconds``.
RESERVED = ("experiment", "seed")

logger = logging.getLogger(__name__)


class SweepCellError(RuntimeError):
    """A cell failed while it ran; the message names the cell, and the finished cells are stored."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a sweep: running and queued cells were cancelled; ``stored`` cells of the
    sweep are in ``path`` and a rerun computes only the rest."""

    def __init__(self, stored: int, total: int, path: Path) -> None:
        super().__init__(f"interrupted: {stored} of {total} cells are stored in {path}; run the same command again "
                         "to resume")
        self.stored, self.total, self.path = stored, total, path


def _plain_result(result, params=()):
    if not isinstance(result, dict):
        raise TypeError(f"an experiment must return a dict of scalars, got {type(result).__name__}")
    clash = sorted(k for k in result if k in RESERVED or (k in params and result[k] != params[k]))
    if clash:
        raise ValueError(f"experiment result keys {clash} are also parameter or sweep column names (with other "
                         f"values); rename them: a row holds the parameters, {', '.join(RESERVED)} and the results "
                         "side by side (a result may repeat a parameter's own value)")
    out = {}
    for k, v in result.items():
        if isinstance(v, (np.generic,)):
            v = v.item()
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise TypeError(f"experiment result {k!r} must be a scalar (bool, int, float, str or None), got {type(v).__name__}")
        out[k] = v
    return out


@dataclass
class SweepResult:
    """Rows of a finished sweep (one dict per cell), with exports.

    ``ran``: cells computed and stored by this call; ``skipped``: cells already
    in the store; ``failed``: ``{"params", "seed", "error"}`` of the cells that
    raised (with ``on_error="skip"``; they are not stored); ``stale``: ``{version:
    cells}`` the store holds for this experiment from other versions (not reused).
    """

    experiment: str
    rows: list
    path: Path
    ran: int
    skipped: int
    failed: list = field(default_factory=list)
    stale: dict = field(default_factory=dict)

    def to_arrays(self) -> dict:
        """Pandas-free columns: ``{key: ndarray}`` over all rows (None -> NaN for numbers)."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        cols = {}
        for k in keys:
            vals = [r.get(k) for r in self.rows]
            if all(isinstance(v, (int, float, bool)) or v is None for v in vals):
                cols[k] = np.array([np.nan if v is None else v for v in vals])
            else:
                cols[k] = np.array(vals, dtype=object)
        return cols

    @property
    def table(self) -> list:
        """The rows without their ``experiment`` entry (one name for the whole sweep): a figure's table."""
        return [{k: v for k, v in r.items() if k != "experiment"} for r in self.rows]

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV, atomically (:func:`sparsecert.io.write_csv`); returns the path."""
        return write_csv(self.rows, path)


def _cells(grid, seeds):
    """Cells ``(params, seed)`` of a grid dict (Cartesian product) or an explicit list of param dicts."""
    seeds = [check_int(s, "seeds[i]", low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if isinstance(grid, (list, tuple)):
        if not grid or not all(isinstance(p, dict) and p for p in grid):
            raise ValueError("grid must be a non-empty dict of value lists or a non-empty list of parameter dicts")
        return [(dict(p), seed) for p in grid for seed in seeds]
    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a non-empty dict {parameter: list of values}")
    names = sorted(grid)
    for k in names:
        if not isinstance(grid[k], (list, tuple, np.ndarray)) or len(grid[k]) == 0:
            raise ValueError(f"grid[{k!r}] must be a non-empty list of values")
    return [(dict(zip(names, combo)), seed) for combo in itertools.product(*(grid[k] for k in names)) for seed in seeds]


def _run_cell(target, params, seed):
    """Worker entry: compute one cell of the experiment ``target`` (see :func:`experiment_function`)."""
    fn = experiment_function(target)
    t0 = time.perf_counter()
    result = _plain_result(fn(dict(params), int(seed)), params)
    return result, time.perf_counter() - t0


def _exit_with_parent(parent_pid):
    """Pool-worker initializer: the worker ends when the sweep's process dies (kill -9 included)
    instead of living on as an orphan that waits for work (each holds a Python, NumPy and Numba); it
    ignores SIGINT, which a terminal's Ctrl-C sends to the whole group: the parent stops the sweep."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="sparsecert-parent-watch").start()


@contextlib.contextmanager
def _single_blas_thread():
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "SPARSECERT_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_sweep(
    experiment: str | Callable,
    grid: dict | list,
    seeds: Any = (0,),
    path: str | Path = "sweep.sqlite",
    *,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    on_error: str = "stop",
) -> SweepResult:
    """Run (or resume) a sweep and return all its rows.

    Parameters
    ----------
    experiment : str or callable
        A registered name (``EXPERIMENTS``: the built-in ones are imported from
        :mod:`sparsecert.cells` on first use), a
        ``"module:function"`` string, or the function ``f(params, seed)``
        itself. Workers receive it as ``"module:function"`` and import it, so
        an experiment of your own runs on process and dask workers when its
        module is importable there (or it lives in the script run as
        ``__main__``). Cells are stored under the registered name, else
        under ``"module:function"``.
    grid : dict or list of dict
        ``{parameter: list of values}`` (cells are the Cartesian product), or
        an explicit list of parameter dicts. Checked against the experiment's
        declared parameters before anything runs (:func:`normalise_cell`).
    seeds : list of int
    path : str or Path
        The SQLite store (one file per sweep).
    executor : {"serial", "process", "dask"}
    workers : int, optional
        Process-pool size (default: all cores).
    scheduler : str, optional
        Dask scheduler address; default a local in-process cluster.
    progress : bool, optional
        Progress with cells done/total and ETA: a bar (default on a terminal), a line a minute
        (default when stderr is redirected), or nothing (``False``).
    on_error : {"stop", "skip"}
        What a cell that raises does. Every executor stores each good cell as
        it finishes. ``"stop"``: no new cell starts, the running ones finish
        and are stored, then :class:`SweepCellError` names the failed cell;
        ``"skip"``: the sweep runs on and the failures are listed in
        ``SweepResult.failed``. Failed cells are not stored: a rerun retries them.

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepInterrupted
        Ctrl-C: running and queued cells cancelled, the finished ones stored (a ``KeyboardInterrupt``).
    SweepStoreError
        The store cannot be written: before any cell runs, or at the first cell that cannot be stored.
    SweepFormatError
        Not a sweep store, a damaged one, or one with rows that are not cells.
    SweepParameterError
        A cell that does not match the experiment's declared parameters (before any cell runs).
    SweepCellError
        A cell raised (``on_error="stop"``).
    """
    name, target = name_and_target(experiment)
    executor = check_option(executor, "executor", {"serial", "process", "dask"})
    on_error = check_option(on_error, "on_error", {"stop", "skip"})
    cells = [(normalise_cell(target, p), s) for p, s in _cells(grid, seeds)]
    store = SweepStore(path)
    failed: list = []
    stored = 0
    try:
        store.check_rows(name)
        store.check_writable()
        stale = store.other_versions(name)
        if stale:
            logger.warning(
                "%s holds %d cells of %s from other versions (%s), not reused: results can differ between "
                "versions. Export them with SweepStore(path).rows(version=...) or drop them with "
                "--drop-other-versions (SweepStore.drop_other_versions)", path, sum(stale.values()), name,
                ", ".join(f"{v}: {n}" for v, n in stale.items()))
        done = store.done(name)
        todo = [(p, s) for p, s in cells if (canonical(p), s) not in done]
        stored = len(cells) - len(todo)
        bar = progress_bar(len(cells), name, progress, initial=stored)
        with bar, contextlib.closing(_execute(executor, target, todo, workers, scheduler, on_error)) as outcomes:
            for params, seed, outcome, seconds in outcomes:
                if isinstance(outcome, BaseException):
                    failed.append({"params": params, "seed": seed, "error": f"{type(outcome).__name__}: {outcome}",
                                   "exception": outcome})
                    continue
                store.put(name, canonical(params), seed, outcome, seconds)
                stored += 1
                bar.update(1)
        wanted = {(canonical(p), s) for p, s in cells}
        keys = sorted({k for p, _ in cells for k in p})
        rows = [r for r in store.rows(name)
                if (canonical({k: r[k] for k in keys if k in r}), r["seed"]) in wanted]
    except KeyboardInterrupt:
        raise SweepInterrupted(stored, len(cells), Path(path)) from None
    except SweepStoreError as exc:
        raise SweepStoreError(f"{exc}; the sweep stopped there: {stored} of {len(cells)} cells are stored in {path} "
                              "and a rerun resumes once the store can be written") from None
    finally:
        store.close()
    if failed and on_error == "stop":
        first = failed[0]
        raise SweepCellError(
            f"{name} cell ({describe(first['params'], first['seed'])}) failed: {first['error']}; "
            f"{len(rows)} finished cells are stored in {path}: fix the cell or the grid and run again to resume"
        ) from first["exception"]
    return SweepResult(experiment=name, rows=rows, path=Path(path), ran=len(todo) - len(failed),
                       skipped=len(cells) - len(todo), failed=[{k: v for k, v in f.items() if k != "exception"} for f in failed],
                       stale=stale)


def pool_size(workers: int | None, cells: int) -> int:
    """Processes a sweep's pool starts for ``cells`` cells: ``workers`` (default: all cores), capped at
    the cores this process may use, at what the available memory holds (about 256 MiB a worker: a
    Python with NumPy and Numba) and at the number of cells; a cap above the request is logged."""
    cores = available_cores()
    asked = cores if workers is None else check_int(workers, "workers", low=1)
    try:
        memory = max(1, os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (256 << 20))
    except (ValueError, OSError, AttributeError):
        memory = asked
    size = max(1, min(asked, cores, memory, cells))
    if workers is not None and size < min(asked, cells):
        logger.warning("workers capped at %d (asked %d): %d core(s) this process may use, memory for about %d",
                       size, asked, cores, memory)
    return size


def _execute(executor, experiment, todo, workers, scheduler, on_error):
    """Yield ``(params, seed, result or exception, seconds)`` as cells finish. On a failure with
    ``on_error="stop"`` no new cell starts; the running ones are still yielded."""
    if not todo:
        return
    if executor == "serial":
        for params, seed in todo:
            try:
                result, seconds = _run_cell(experiment, params, seed)
            except Exception as exc:  # noqa: BLE001 - the caller stores, skips or stops
                yield params, seed, exc, None
                if on_error == "stop":
                    return
                continue
            yield params, seed, result, seconds
        return
    if executor == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(pool_size(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))
        try:
            with _single_blas_thread():  # the workers start at submit and keep this environment
                futures = {pool.submit(_run_cell, experiment, p, s): (p, s) for p, s in todo}
            yield from _drain(as_completed(futures), futures.__getitem__, lambda: [f.cancel() for f in futures],
                              on_error)
        except BaseException:  # Ctrl-C, a store that cannot be written, the caller closing early
            _abandon(pool)
            raise
        pool.shutdown(wait=True)
        return
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise ImportError("executor='dask' needs the dask extra: pip install -e '.[dask]' in the repository") from exc
    try:
        client = Client(scheduler, timeout="10s") if scheduler else Client(processes=False, dashboard_address=None)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the dask scheduler at {scheduler!r}: {exc}") from None
    try:
        futures = [client.submit(_run_cell, experiment, p, s, pure=False) for p, s in todo]
        index = {f.key: cell for f, cell in zip(futures, todo)}
        yield from _drain(as_completed(futures), lambda f: index[f.key],
                          lambda: client.cancel([f for f in futures if not f.done()]), on_error)
    finally:
        client.close()


def _abandon(pool):
    """Stop a process pool now: cancel the queued cells and end the running ones (their results are
    not wanted), without waiting for them to finish."""
    workers = list(getattr(pool, "_processes", None) or {})  # the pids, where this Python exposes them
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in workers:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def _drain(finished, cell_of, cancel_rest, on_error):
    """Results of futures as they finish; the first failure cancels the rest when stopping
    (cancelled futures are passed over)."""
    stopped = False
    for fut in finished:
        if fut.cancelled():
            continue
        p, s = cell_of(fut)
        try:
            result, seconds = fut.result()
        except Exception as exc:  # noqa: BLE001 - the caller stores, skips or stops
            if stopped:
                continue  # a second failure among the cells still running
            yield p, s, exc, None
            if on_error == "stop":
                stopped = True
                cancel_rest()
            continue
        yield p, s, result, seconds
