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
import csv
import itertools
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from ._validation import check_int, check_option

__all__ = ["EXPERIMENTS", "register", "run_sweep", "SweepStore", "SweepResult", "SweepFormatError"]

FORMAT = "sparsecert-sweep-1"
EXPERIMENTS = {}


class SweepFormatError(ValueError):
    """The file is not a sparsecert sweep store (corrupt, foreign or of another format)."""


def register(name):
    """Register ``f(params: dict, seed: int) -> dict`` as experiment ``name`` (decorator)."""

    def deco(fn):
        EXPERIMENTS[name] = fn
        fn.experiment_name = name
        return fn

    return deco


def _canonical(params):
    """Canonical JSON of a parameter dict: sorted keys, plain Python scalars."""
    def plain(v):
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (np.bool_,)):
            return bool(v)
        return v

    return json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True, allow_nan=True)


def _plain_result(result):
    if not isinstance(result, dict):
        raise TypeError(f"an experiment must return a dict of scalars, got {type(result).__name__}")
    out = {}
    for k, v in result.items():
        if isinstance(v, (np.generic,)):
            v = v.item()
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise TypeError(f"experiment result {k!r} must be a scalar (bool, int, float, str or None), got {type(v).__name__}")
        out[k] = v
    return out


class SweepStore:
    """The SQLite file of a sweep: one row per finished cell.

    Parameters
    ----------
    path : str or Path
        Created if missing. An existing file must be a sparsecert sweep
        store; anything else raises :class:`SweepFormatError`.
    """

    def __init__(self, path):
        self.path = Path(path)
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise SweepFormatError(f"{self.path} is not a sparsecert sweep store: {exc}") from exc
        if existed:
            self._check_integrity()
            fmt = None
            if "meta" in tables:
                row = self.conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
                fmt = row[0] if row else None
            if fmt != FORMAT or "cells" not in tables:
                self.conn.close()
                raise SweepFormatError(
                    f"{self.path} is an SQLite file but not a sparsecert sweep store "
                    f"(expected format {FORMAT!r}, found {fmt!r}); use another path"
                )
        else:
            with self._tx():
                self.conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                self.conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
                self.conn.execute(
                    "CREATE TABLE cells (experiment TEXT, params TEXT, seed INTEGER, version TEXT, "
                    "result TEXT, seconds REAL, PRIMARY KEY (experiment, params, seed, version))"
                )

    def _check_integrity(self):
        """``PRAGMA quick_check`` on an existing store (linear in its size, small for sweeps): a
        damaged page is found before any cell runs, not by the query that reads it."""
        try:
            result = [r[0] for r in self.conn.execute("PRAGMA quick_check")]
        except sqlite3.OperationalError:
            raise  # locked or busy: not a verdict on the file
        except sqlite3.DatabaseError as exc:
            result = [str(exc)]
        if result != ["ok"]:
            self.conn.close()
            raise SweepFormatError(
                f"{self.path} is a damaged sweep store ({'; '.join(result[:3])}); move it aside and run the sweep "
                "again into a new file (`sqlite3 FILE .recover` may save the finished cells)")

    @contextlib.contextmanager
    def _tx(self):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def done(self, experiment, version=__version__):
        """Set of ``(params_json, seed)`` already stored."""
        rows = self.conn.execute(
            "SELECT params, seed FROM cells WHERE experiment=? AND version=?", (experiment, version)
        )
        return {(p, s) for p, s in rows}

    def put(self, experiment, params_json, seed, result, seconds, version=__version__):
        """Store one finished cell (its own transaction; a duplicate is ignored)."""
        with self._tx():
            self.conn.execute(
                "INSERT OR IGNORE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                (experiment, params_json, int(seed), version, json.dumps(result, allow_nan=True), float(seconds)),
            )

    def rows(self, experiment=None, version=__version__):
        """All stored cells as dicts: parameters, ``seed``, results, ``seconds``."""
        q = "SELECT experiment, params, seed, result, seconds FROM cells WHERE version=?"
        args = [version]
        if experiment is not None:
            q += " AND experiment=?"
            args.append(experiment)
        out = []
        for exp, p, s, r, sec in self.conn.execute(q + " ORDER BY experiment, params, seed", args):
            out.append({"experiment": exp, **json.loads(p), "seed": s, **json.loads(r), "seconds": sec})
        return out

    def close(self):
        self.conn.close()


@dataclass
class SweepResult:
    """Rows of a finished sweep (one dict per cell), with exports."""

    experiment: str
    rows: list
    path: Path
    ran: int
    skipped: int

    def to_arrays(self):
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

    def to_csv(self, path):
        """Write the rows as CSV; returns the path."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        return Path(path)


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


def _run_cell(experiment, params, seed):
    """Worker entry: compute one cell (looked up by name in the registry)."""
    import sparsecert.experiments  # noqa: F401  (registers the built-in experiments)

    fn = EXPERIMENTS[experiment]
    t0 = time.perf_counter()
    result = _plain_result(fn(dict(params), int(seed)))
    return result, time.perf_counter() - t0


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


def run_sweep(experiment, grid, seeds=(0,), path="sweep.sqlite", *, executor="process", workers=None,
              scheduler=None, progress=None):
    """Run (or resume) a sweep and return all its rows.

    Parameters
    ----------
    experiment : str
        A registered experiment (see ``EXPERIMENTS``; ``sparsecert.experiments``
        registers the built-in ones).
    grid : dict or list of dict
        ``{parameter: list of values}`` (cells are the Cartesian product), or
        an explicit list of parameter dicts.
    seeds : list of int
    path : str or Path
        The SQLite store (one file per sweep).
    executor : {"serial", "process", "dask"}
    workers : int, optional
        Process-pool size (default: all cores).
    scheduler : str, optional
        Dask scheduler address; default a local in-process cluster.
    progress : bool, optional
        Progress bar with cells done/total and ETA (default: on a terminal).

    Returns
    -------
    SweepResult
    """
    import sparsecert.experiments  # noqa: F401  (registers the built-in experiments)

    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {experiment!r}")
    executor = check_option(executor, "executor", {"serial", "process", "dask"})
    cells = _cells(grid, seeds)
    store = SweepStore(path)
    try:
        done = store.done(experiment)
        todo = [(p, s) for p, s in cells if (_canonical(p), s) not in done]
        if progress is None:
            progress = sys.stderr.isatty()
        bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc=experiment, disable=not progress)
        with bar:
            for params, seed, result, seconds in _execute(executor, experiment, todo, workers, scheduler):
                store.put(experiment, _canonical(params), seed, result, seconds)
                bar.update(1)
        wanted = {(_canonical(p), s) for p, s in cells}
        keys = sorted({k for p, _ in cells for k in p})
        rows = [r for r in store.rows(experiment)
                if (_canonical({k: r[k] for k in keys if k in r}), r["seed"]) in wanted]
    finally:
        store.close()
    return SweepResult(experiment=experiment, rows=rows, path=Path(path), ran=len(todo), skipped=len(cells) - len(todo))


def _execute(executor, experiment, todo, workers, scheduler):
    """Yield ``(params, seed, result, seconds)`` as cells finish."""
    if not todo:
        return
    if executor == "serial":
        for params, seed in todo:
            yield (params, seed, *_run_cell(experiment, params, seed))
        return
    if executor == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = (os.cpu_count() or 1) if workers is None else check_int(workers, "workers", low=1)
        with _single_blas_thread(), ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_run_cell, experiment, p, s): (p, s) for p, s in todo}
            for fut in as_completed(futures):
                p, s = futures[fut]
                yield (p, s, *fut.result())
        return
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise ImportError("executor='dask' needs the dask extra: pip install 'sparsecert[dask]'") from exc
    client = Client(scheduler) if scheduler else Client(processes=False, dashboard_address=None)
    try:
        futures = [client.submit(_run_cell, experiment, p, s, pure=False) for p, s in todo]
        index = {f.key: cell for f, cell in zip(futures, todo)}
        for fut in as_completed(futures):
            p, s = index[fut.key]
            yield (p, s, *fut.result())
    finally:
        client.close()
