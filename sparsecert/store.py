"""The SQLite store of a sweep (:mod:`sparsecert.sweep`): one row per finished cell, keyed by
experiment, canonical parameters, seed and package version; each row its own transaction (WAL)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

__all__ = ["FORMAT", "SweepStore", "SweepFormatError", "SweepStoreError", "canonical"]

FORMAT = "sparsecert-sweep-1"


class SweepFormatError(ValueError):
    """The file is not a sparsecert sweep store (corrupt, foreign or of another format)."""


class SweepStoreError(OSError):
    """The store cannot be written (a read-only or immutable file, a full disk): found before any cell
    runs where possible, else at the first cell that cannot be stored, which stops the sweep at once;
    the cells stored before it stay."""


def canonical(params: dict) -> str:
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


class SweepStore:
    """The SQLite file of a sweep: one row per finished cell.

    Parameters
    ----------
    path : str or Path
        Created if missing. An existing file must be a sparsecert sweep
        store; anything else raises :class:`SweepFormatError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._wal()
            self.conn.execute("PRAGMA synchronous=NORMAL")
            # Decided and done under the write lock, so that sweeps opening a new file together
            # create the schema once: whoever comes first creates it, the others find it.
            with self._tx():
                tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not tables:
                    self.conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
                    self.conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
                    self.conn.execute(
                        "CREATE TABLE cells (experiment TEXT, params TEXT, seed INTEGER, version TEXT, "
                        "result TEXT, seconds REAL, PRIMARY KEY (experiment, params, seed, version))"
                    )
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc):
                raise FileNotFoundError(f"cannot open the sweep store {self.path}: its folder must exist and be "
                                        "writable") from None
            raise  # locked or busy past the timeout: not a verdict on the file
        except sqlite3.DatabaseError as exc:
            raise SweepFormatError(f"{self.path} is not a sparsecert sweep store: {exc}") from exc
        if tables:
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

    def _wal(self, patience=30.0):
        """Switch to WAL. SQLite answers "database is locked" at once, without waiting, when
        another connection holds the file while a new one changes its journal mode (sweeps
        opening one new store together): retry for up to ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

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

    def check_writable(self) -> None:
        """Write (and keep) a small record in the store, so that a file that cannot be written is found
        before any cell runs.

        Raises
        ------
        SweepStoreError
            Read-only or immutable file, folder without write access, full disk.
        """
        try:
            with self._tx():
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('opened_by', ?)", (__version__,))
        except sqlite3.DatabaseError as exc:
            raise SweepStoreError(f"cannot write the sweep store {self.path}: {exc}; checked before running, nothing "
                                  "was computed") from None

    def other_versions(self, experiment: str, version: str = __version__) -> dict:
        """``{version: cells}`` stored for ``experiment`` by other versions of the package (not reused)."""
        rows = self.conn.execute("SELECT version, COUNT(*) FROM cells WHERE experiment=? AND version!=? "
                                 "GROUP BY version ORDER BY version", (experiment, version))
        return dict(rows.fetchall())

    def drop_other_versions(self, experiment: str, version: str = __version__) -> int:
        """Delete the cells of ``experiment`` stored by other versions; returns how many."""
        with self._tx():
            return self.conn.execute("DELETE FROM cells WHERE experiment=? AND version!=?",
                                     (experiment, version)).rowcount

    def check_rows(self, experiment: str, version: str = __version__) -> None:
        """Refuse a store whose rows of ``experiment`` are not cells (parameters and result each a JSON
        object of scalars), naming them, before anything runs.

        Raises
        ------
        SweepFormatError
        """
        bad = []
        for rowid, p, r in self.conn.execute("SELECT rowid, params, result FROM cells WHERE experiment=? AND "
                                             "version=?", (experiment, version)):
            try:
                params, result = json.loads(p), json.loads(r)
                why = next((f"{what} is a {type(v).__name__}, not a mapping" for what, v in
                            (("params", params), ("result", result)) if not isinstance(v, dict)), None)
            except (TypeError, ValueError) as exc:
                why = f"not JSON ({exc})"
            if why:
                bad.append((rowid, why))
        if bad:
            ids = ", ".join(str(i) for i, _ in bad)
            raise SweepFormatError(
                f"{self.path} holds {len(bad)} row(s) of {experiment} that are not sweep cells (rowid {bad[0][0]}: "
                f"{bad[0][1]}); nothing was run. Delete them and run again: sqlite3 {self.path} "
                f"\"DELETE FROM cells WHERE rowid IN ({ids})\"")

    def done(self, experiment: str, version: str = __version__) -> set:
        """Set of ``(params_json, seed)`` already stored."""
        rows = self.conn.execute(
            "SELECT params, seed FROM cells WHERE experiment=? AND version=?", (experiment, version)
        )
        return {(p, s) for p, s in rows}

    def cells(self, experiment: str, version: str = __version__) -> list[tuple[str, int, Any]]:
        """``(params_json, seed, result)`` of every stored cell of ``experiment``."""
        rows = self.conn.execute("SELECT params, seed, result FROM cells WHERE experiment=? AND version=?",
                                 (experiment, version))
        return [(p, s, json.loads(r)) for p, s, r in rows]

    def put(
        self,
        experiment: str,
        params_json: str,
        seed: int,
        result: Any,
        seconds: float,
        version: str = __version__,
    ) -> None:
        """Store one finished cell (its own transaction; a duplicate is ignored).

        Raises
        ------
        SweepStoreError
            The store cannot take the row (full disk, read-only file).
        """
        try:
            with self._tx():
                self.conn.execute(
                    "INSERT OR IGNORE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                    (experiment, params_json, int(seed), version, json.dumps(result, allow_nan=True), float(seconds)),
                )
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise SweepStoreError(f"cannot write the sweep store {self.path}: {exc}") from None

    def rows(self, experiment: str | None = None, version: str = __version__) -> list[dict]:
        """All stored cells as dicts: parameters, ``seed``, results, ``seconds``."""
        q = "SELECT experiment, params, seed, result, seconds FROM cells WHERE version=?"
        args = [version]
        if experiment is not None:
            q += " AND experiment=?"
            args.append(experiment)
        out = []
        for exp, p, s, r, sec in self.conn.execute(q + " ORDER BY experiment, params, seed", args):
            result = json.loads(r)
            out.append({"experiment": exp, **json.loads(p), "seed": s, **result,
                        ("cell_seconds" if "seconds" in result else "seconds"): sec})
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
