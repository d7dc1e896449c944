"""Resumable sweeps: crash safety, executor equivalence, store validation."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from sparsecert.sweep import (
    SweepCellError, SweepFormatError, SweepParameterError, SweepStore, normalise_cell, run_sweep,
)

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
import os, sys, time
import sparsecert.cells as E
from sparsecert.sweep import EXPERIMENTS, register, run_sweep

@register("slow_gaussian", E.gaussian_recovery.params)
def slow(params, seed):
    open(os.path.join(sys.argv[3], str(os.getpid())), "w").close()  # who computes cells
    time.sleep(0.15)
    return E.gaussian_recovery(params, seed)

if __name__ == "__main__":  # (a spawned pool worker imports this file too)
    run_sweep("slow_gaussian", {GRID}, {SEEDS}, sys.argv[1], executor=sys.argv[2], workers=2, progress=False)
"""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


#: a pool of spawned workers costs seconds to start: those cases run in make test only
PROCESS = pytest.param("process", marks=pytest.mark.slow)


@pytest.mark.parametrize("executor", ["serial", PROCESS, "dask"])
def test_sweep_killed_mid_run_resumes_to_the_same_result(tmp_path, executor):
    """SIGKILL a sweep in the middle: its pool workers end with it (no orphans); the store keeps
    only whole cells; a rerun computes exactly the missing ones and ends with the same numbers as
    an uninterrupted run. (Dask: a local in-process cluster in the killed child.)"""
    if executor == "dask":
        pytest.importorskip("distributed")
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.replace("{GRID}", repr(GRID)).replace("{SEEDS}", repr(SEEDS)))
    path, pids = tmp_path / "killed.sqlite", tmp_path / "pids"
    pids.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(path), executor, str(pids)])
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
    workers = {int(p.name) for p in pids.iterdir()} - {proc.pid}
    assert len(workers) == (2 if executor == "process" else 0)
    deadline = time.time() + 10
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "pool workers outlived the killed sweep"
    with sqlite3.connect(path) as c:
        stored = c.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    # resume with the same experiment registered in this process (serially for the pool: its spawned
    # workers would not know an experiment registered here)
    import sparsecert.cells as E
    from sparsecert.sweep import register

    register("slow_gaussian", E.gaussian_recovery.params)(lambda params, seed: E.gaussian_recovery(params, seed))
    resumed = run_sweep("slow_gaussian", GRID, SEEDS, path, executor="serial" if executor == "process" else executor,
                        progress=False)
    assert resumed.skipped == stored and resumed.ran == 18 - stored  # exactly the missing cells ran
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


# ----------------------------------------------------------------------------- issue 18, defects 1-3
PRUNE_OK = {"method": "dense", "keep": 1.0, "epochs": 1, "n_train": 100, "widths": "8"}


def _failing_cell(tmp_path):
    """A pruning cell that passes every parameter check but fails when it runs (no CIFAR files)."""
    return {**PRUNE_OK, "dataset": "cifar10", "root": str(tmp_path / "no-data")}


@pytest.mark.parametrize("executor", ["serial", PROCESS])
def test_a_failing_cell_is_skipped_and_every_good_cell_stored(tmp_path, executor):
    """on_error='skip': the good cells are stored as they finish, the bad one is listed with its
    parameters and not stored (a rerun retries exactly it). Before: the process pool computed
    every cell, stored none after the failure and raised at the end."""
    grid = [_failing_cell(tmp_path)] + [{**PRUNE_OK, "epochs": e} for e in (1, 2)]
    path = tmp_path / "s.sqlite"
    res = run_sweep("pruning", grid, [0, 1], path, executor=executor, workers=2, progress=False, on_error="skip")
    assert len(res.rows) == res.ran == 4 and {r["epochs"] for r in res.rows} == {1, 2}
    assert sorted((f["params"]["dataset"], f["seed"]) for f in res.failed) == [("cifar10", 0), ("cifar10", 1)]
    assert all("DataNotFound" in f["error"] for f in res.failed)
    again = run_sweep("pruning", grid, [0, 1], path, executor="serial", progress=False, on_error="skip")
    assert again.skipped == 4 and again.ran == 0 and len(again.failed) == 2


@pytest.mark.parametrize("executor", ["serial", PROCESS])
def test_stop_on_a_failing_cell_names_it_and_keeps_the_finished_cells(tmp_path, executor):
    """on_error='stop' (the default): cells that finished (and those running) are stored, no new
    cell starts, and the error names the failing cell and its parameters."""
    grid = [{**PRUNE_OK, "epochs": e} for e in (1, 2)] + [_failing_cell(tmp_path)]  # the bad cell last
    path = tmp_path / "s.sqlite"
    with pytest.raises(SweepCellError, match=r"dataset='cifar10'.*seed=0\) failed: DataNotFound.*2 finished cells"):
        run_sweep("pruning", grid, [0], path, executor=executor, workers=2, progress=False)
    with SweepStore(path) as store:
        assert len(store.rows("pruning")) == 2


def test_two_sweeps_creating_one_store_at_once(tmp_path):
    """Creating the store is atomic and idempotent: eight connections opening a new file at the
    same moment all succeed (before: 'table meta already exists' or 'not a sparsecert sweep store')."""
    path = tmp_path / "race.sqlite"
    for trial in range(5):
        target = path.with_name(f"race{trial}.sqlite")
        barrier, errors = threading.Barrier(8), []

        def open_store():
            barrier.wait()
            try:
                SweepStore(target).close()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(repr(exc))

        threads = [threading.Thread(target=open_store) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


@pytest.mark.parametrize("grid, message", [
    ({"n": [40], "N": [80], "s": [2], "methd": ["htp"]}, "unknown parameter\\(s\\) methd; gaussian_recovery takes"),
    ({"n": [40], "N": [80], "s": [5.7]}, "s must be an integer, got 5.7"),
    ({"n": [40], "s": [2]}, "missing required parameter\\(s\\) N"),
    ({"n": [40], "N": [80], "s": [2], "method": ["newton"]}, "method must be one of"),
    ({"n": [40], "N": [80], "s": [0]}, "s must lie in"),
    ({"n": [40], "N": [10], "s": [20]}, "s = 20 exceeds N = 10"),
    ({"n": [40], "N": [80], "s": [True]}, "s must be a finite int"),
])
def test_sweep_parameters_are_checked_before_anything_runs(tmp_path, grid, message):
    """Declared parameters: unknown names, wrong types, missing values and impossible combinations
    are errors naming the cell, raised before the store is even created."""
    path = tmp_path / "x.sqlite"
    with pytest.raises(SweepParameterError, match=message):
        run_sweep("gaussian_recovery", grid, [0], path, executor="serial", progress=False)
    assert not path.exists()


def test_sweep_values_are_normalised_before_keying(tmp_path):
    """n=1e2 and n=100 are one cell (stored once, as the int 100); a bool from the command line's
    'true' is True."""
    path = tmp_path / "x.sqlite"
    a = run_sweep("gaussian_recovery", {"n": [100], "N": [120], "s": [3]}, [0], path, executor="serial", progress=False)
    b = run_sweep("gaussian_recovery", {"n": [1e2], "N": [120.0], "s": [3]}, [0], path, executor="serial", progress=False)
    assert a.ran == 1 and b.ran == 0 and b.skipped == 1 and b.rows[0]["n"] == 100 and isinstance(b.rows[0]["n"], int)
    assert normalise_cell("planted_mlp", {"m": 2, "s": 3, "imp_baseline": "True"})["imp_baseline"] is True


def test_cli_sweep_errors_exit_with_a_reason(tmp_path, capsys):
    from sparsecert.cli import main

    db = str(tmp_path / "c.sqlite")
    assert main(["sweep", "gaussian_recovery", "--grid", "n=40", "N=80", "s=5.7", "--db", db]) == 2
    assert "s must be an integer, got 5.7" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "gaussian_recovery", "--grid", "n=40", "N=80", "s=2", "--db", db, "--csv",
              str(tmp_path / "missing" / "rows.csv")])
    assert exc.value.code == 2 and "--csv: cannot write" in capsys.readouterr().err
    assert not (tmp_path / "c.sqlite").exists()  # refused before the store was made
    bad = ["--grid", "method=dense", "keep=1.0", "epochs=1", "n_train=100", "widths=8", "dataset=cifar10",
           f"root={tmp_path}", "--db", db, "--executor", "serial"]
    assert main(["sweep", "pruning", *bad, "--on-error", "skip"]) == 1
    err = capsys.readouterr().err
    assert "dataset='cifar10'" in err and "1 cells failed and were skipped" in err and "Traceback" not in err
    assert main(["sweep", "pruning", *bad]) == 1
    assert "failed: DataNotFound" in capsys.readouterr().err


@pytest.mark.slow
def test_an_unreachable_dask_scheduler_is_named(tmp_path, capsys):
    """Issue 18, defect 10: a scheduler nobody listens at is exit 2 with its address (after the
    10 s connect timeout), not a traceback."""
    pytest.importorskip("distributed")
    from sparsecert.cli import main

    code = main(["sweep", "gaussian_recovery", "--grid", "n=20", "N=40", "s=2", "--db", str(tmp_path / "d.sqlite"),
                 "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the dask scheduler at 'tcp://127.0.0.1:9'" in err and "Traceback" not in err


def test_sweep_imports_no_experiment_module():
    """The registry names the built-in experiments as "module:function" strings, imported on first use."""
    code = ("import sys, sparsecert.sweep as S; print(any(m in sys.modules for m in ('sparsecert.cells', 'sparsecert.planted')), "
            "S.EXPERIMENTS['planted_mlp'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "sparsecert.cells:planted_mlp_cell"]


def test_an_experiment_of_your_own_runs_on_spawned_workers(tmp_path, monkeypatch):
    """Given as "module:function" (or as the function), a module-level experiment that was never
    registered runs on a spawn-context pool: workers import it by that name. Cells are stored under it."""
    (tmp_path / "my_cells.py").write_text(
        "def square(params, seed):\n    return {'y': params['x'] ** 2 + seed}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    grid = {"x": [1, 2, 3]}
    res = run_sweep("my_cells:square", grid, [0, 10], tmp_path / "a.sqlite", executor="process", workers=2,
                    progress=False)
    assert sorted((r["x"], r["seed"], r["y"]) for r in res.rows) == [(x, s, x * x + s) for x in (1, 2, 3) for s in (0, 10)]
    assert {r["experiment"] for r in res.rows} == {"my_cells:square"}
    import my_cells

    again = run_sweep(my_cells.square, grid, [0, 10], tmp_path / "a.sqlite", executor="serial", progress=False)
    assert again.ran == 0 and again.skipped == 6  # the callable is the same experiment: nothing reruns
    with pytest.raises(ValueError, match="cannot import"):
        run_sweep("my_cells:cube", grid, [0], tmp_path / "b.sqlite", progress=False)
    with pytest.raises(ValueError, match="'module:function' string or a callable"):
        run_sweep("no_such_experiment", grid, [0], tmp_path / "b.sqlite", progress=False)
