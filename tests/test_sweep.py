"""Resumable sweeps: crash safety, executor equivalence, store validation."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from sparsecert.sweep import SweepFormatError, SweepStore, run_sweep

GRID = {"n": [30], "N": [80], "s": [2, 4, 8], "method": ["niht", "htp"]}
SEEDS = [0, 1, 2]
TIMING = {"time", "seconds"}


def numbers(result):
    """Rows without wall-clock fields, in a canonical order."""
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in result.rows]
    return sorted(rows, key=lambda r: (r["s"], r["method"], r["seed"]))


def test_serial_and_process_pool_give_identical_numbers(tmp_path):
    a = run_sweep("gaussian_recovery", GRID, SEEDS, tmp_path / "a.sqlite", executor="serial", progress=False)
    b = run_sweep("gaussian_recovery", GRID, SEEDS, tmp_path / "b.sqlite", executor="process", workers=2, progress=False)
    assert a.ran == b.ran == 18
    assert numbers(a) == numbers(b)  # bit-identical floats (JSON round-trips exactly)
    cols = a.to_arrays()
    assert cols["rel_error"].shape == (18,) and cols["rel_error"].dtype == float and cols["success"].sum() >= 12
    text = a.to_csv(tmp_path / "a.csv").read_text()
    assert text.count("\n") == 19


def test_dask_in_process_cluster_matches_serial(tmp_path):
    pytest.importorskip("distributed")
    a = run_sweep("gaussian_recovery", GRID, SEEDS[:1], tmp_path / "a.sqlite", executor="serial", progress=False)
    b = run_sweep("gaussian_recovery", GRID, SEEDS[:1], tmp_path / "b.sqlite", executor="dask", progress=False)
    assert numbers(a) == numbers(b)


KILL_SCRIPT = """
import sys, time
import sparsecert.experiments as E
from sparsecert.sweep import EXPERIMENTS, register, run_sweep

@register("slow_gaussian")
def slow(params, seed):
    time.sleep(0.15)
    return E.gaussian_recovery(params, seed)

run_sweep("slow_gaussian", {GRID}, {SEEDS}, sys.argv[1], executor=sys.argv[2], progress=False)
"""


@pytest.mark.parametrize("executor", ["serial", "dask"])
def test_sweep_killed_mid_run_resumes_to_the_same_result(tmp_path, executor):
    """SIGKILL a child in the middle of a sweep: the store keeps only whole cells; a rerun
    completes exactly the missing ones and ends with the same numbers as an
    uninterrupted run. (Dask: a local in-process cluster in the killed child.)"""
    if executor == "dask":
        pytest.importorskip("distributed")
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.replace("{GRID}", repr(GRID)).replace("{SEEDS}", repr(SEEDS)))
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen([sys.executable, str(script), str(path), executor])
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if path.exists():
            try:
                with sqlite3.connect(path) as c:
                    done = c.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
            except sqlite3.Error:
                continue
            if done >= 5:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= done < 18
    # resume with the same experiment registered in this process
    import sparsecert.experiments as E
    from sparsecert.sweep import register

    register("slow_gaussian")(lambda params, seed: E.gaussian_recovery(params, seed))
    resumed = run_sweep("slow_gaussian", GRID, SEEDS, path, executor=executor, progress=False)
    assert resumed.skipped >= 5 and resumed.ran + resumed.skipped == 18
    assert len(resumed.rows) == 18
    full = run_sweep("gaussian_recovery", GRID, SEEDS, tmp_path / "full.sqlite", executor="serial", progress=False)
    strip = lambda rows: sorted(({k: v for k, v in r.items() if k not in TIMING | {"experiment"}} for r in rows),
                                key=lambda r: (r["s"], r["method"], r["seed"]))
    assert strip(resumed.rows) == strip(full.rows)
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 18  # no duplicates


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(SweepFormatError, match="not a sparsecert sweep store"):
        SweepStore(junk)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(SweepFormatError, match="SQLite file but not a sparsecert sweep store"):
        run_sweep("gaussian_recovery", GRID, [0], foreign, executor="serial", progress=False)


def test_a_damaged_store_is_refused_before_anything_runs(tmp_path, capsys):
    """A store with a corrupted page gave a raw sqlite3.DatabaseError when a query reached the
    page; now it is refused when opened, naming the file and what to do, and the CLI exits 2
    (issue 18, defect 5)."""
    path = tmp_path / "s.sqlite"
    grid = {"n": [40], "N": [80], "s": [2, 3, 4, 5], "method": ["niht"]}
    run_sweep("gaussian_recovery", grid, range(30), path, executor="serial", progress=False)
    with sqlite3.connect(path) as c:  # move everything out of the WAL into the main file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = c.execute("PRAGMA page_size").fetchone()[0]
        root = c.execute("SELECT rootpage FROM sqlite_master WHERE name='cells'").fetchone()[0]
    blob = bytearray(path.read_bytes())
    blob[(root - 1) * page : (root - 1) * page + 12] = b"\xff" * 12  # the header of the cells table's root page
    path.write_bytes(bytes(blob))
    with sqlite3.connect(path) as c, pytest.raises(sqlite3.DatabaseError):
        c.execute("SELECT * FROM cells").fetchall()  # what a sweep met before: a raw error mid-run
    with pytest.raises(SweepFormatError, match="damaged sweep store"):
        SweepStore(path)
    from sparsecert.cli import main

    code = main(["sweep", "gaussian_recovery", "--grid", "n=40", "N=80", "s=2", "method=niht", "--seeds", "0",
                 "--db", str(path)])
    assert code == 2 and "damaged sweep store" in capsys.readouterr().err


def test_bad_sweep_arguments(tmp_path):
    with pytest.raises(ValueError, match="experiment must be one of"):
        run_sweep("nope", GRID, [0], tmp_path / "x.sqlite")
    with pytest.raises(ValueError, match="executor must be one of"):
        run_sweep("gaussian_recovery", GRID, [0], tmp_path / "x.sqlite", executor="threads")
    with pytest.raises(ValueError, match="grid\\['s'\\] must be a non-empty list"):
        run_sweep("gaussian_recovery", {"s": []}, [0], tmp_path / "x.sqlite")
    with pytest.raises(ValueError, match="seeds\\[i\\] must be in"):
        run_sweep("gaussian_recovery", GRID, [-1], tmp_path / "x.sqlite")
