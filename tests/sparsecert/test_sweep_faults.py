"""Faults a sweep meets in the field, each through the real command in a subprocess (issue "Reliability
II", items 1-8, 13): Ctrl-C on a process pool, a store that cannot be written (an immutable file, a full
disk as a file-size limit), atomic CSV outputs, an output path that is the store, stores of other
versions, defaults spelled out, result keys that clash, rows that are not cells, too many workers."""

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparsecert.sweep import SweepFormatError, SweepStore, run_sweep

ROOT = Path(__file__).resolve().parents[2]
SLOW = "tests.sparsecert.sweep_cells:slow"


def sweep_cmd(*args):
    return [sys.executable, "-m", "sparsecert.cli", "sweep", *args]


def count(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM cells").fetchone()[0]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead
        return fh.read().split(")")[-1].split()[0] != "Z"


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.slow
def test_ctrl_c_stops_a_process_pool_sweep_within_a_second_and_a_rerun_resumes(tmp_path):
    """SIGINT to the whole process group (a terminal's Ctrl-C): the sweep stops within about a second,
    keeps every finished cell, cancels the queued ones, leaves no worker behind and exits 130 with one
    line; the rerun computes exactly the missing cells."""
    db = tmp_path / "s.sqlite"
    args = ["--grid", "t=0.4", "--seeds", *map(str, range(24)), "--db", str(db), "--workers", "2"]
    # SIGINT at its default in the command, as a terminal starts it: a suite started in the background
    # (``make test &``) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(sweep_cmd(SLOW, *args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not (db.exists() and count(db) >= 2):
        time.sleep(0.1)
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.time()
    out, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 3.0, "the sweep took more than 3 s to stop"
    stored = count(db)
    assert proc.returncode == 130 and 2 <= stored < 24, (proc.returncode, stored, err)
    assert "Traceback" not in err and f"interrupted: {stored} of 24 cells are stored in {db}" in err
    assert "run the same command again to resume" in err
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "pool workers outlived the interrupted sweep"
    rerun = subprocess.run(sweep_cmd(SLOW, *args), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and f"{24 - stored} cells run, {stored} already in" in rerun.stdout
    assert count(db) == 24


def _immutable(path):
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("this filesystem or user cannot make a file immutable (chattr +i)")


def test_an_immutable_store_is_refused_before_any_cell_runs(tmp_path):
    db = tmp_path / "s.sqlite"
    run_sweep(SLOW, {"t": [0.0]}, [0], db, executor="serial", progress=False)
    before = db.read_bytes()
    _immutable(db)
    try:
        res = subprocess.run(sweep_cmd(SLOW, "--grid", "t=0.0", "--seeds", "0", "1", "2", "--db", str(db),
                                       "--executor", "serial"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["chattr", "-i", str(db)])
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"cannot write the sweep store {db}" in res.stderr and "nothing was computed" in res.stderr
    assert db.read_bytes() == before


def _file_size_limit(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_mid_sweep_stops_at_once_and_keeps_the_stored_cells(tmp_path):
    """A file-size limit stands for a full disk: the store grows until a write fails; the sweep stops
    there with exit 2 and one line, and every cell stored before is still there and readable."""
    db = tmp_path / "s.sqlite"
    args = ["tests.sparsecert.sweep_cells:wide", "--grid", "width=3000", "--seeds", *map(str, range(40)),
            "--db", str(db), "--executor", "serial"]
    res = subprocess.run(sweep_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=120,
                         preexec_fn=_file_size_limit(48 * 1024))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "cannot write the sweep store" in res.stderr and "the sweep stopped there" in res.stderr
    stored = count(db)
    assert 0 < stored < 40
    with SweepStore(db) as store:  # the cells before the failure are whole
        assert len(store.rows()) == stored and all(len(r["text"]) == 3000 for r in store.rows())


def test_a_figure_csv_that_cannot_be_written_leaves_the_previous_one_intact(tmp_path):
    """The planted command's CSV and PNG under a file-size limit below their size: exit 2 naming the
    file, the previous CSV byte for byte, no temporary file left."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "planted_mlp_L1.csv").write_text("the previous good file\n")
    res = subprocess.run([sys.executable, "-m", "sparsecert.cli", "planted", "--m", "1", "3", "--s", "2", "5", "--n",
                          "300", "--d", "8", "--iters", "3", "--out", str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, preexec_fn=_file_size_limit(200))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"cannot write {out / 'planted_mlp_L1.csv'}" in res.stderr
    assert (out / "planted_mlp_L1.csv").read_text() == "the previous good file\n"
    assert sorted(p.name for p in out.iterdir()) == ["planted_mlp_L1.csv"]


@pytest.mark.parametrize("alias", ["same", "symlink"])
def test_an_output_path_that_is_the_store_is_refused(tmp_path, alias):
    db = tmp_path / "s.sqlite"
    run_sweep(SLOW, {"t": [0.0]}, [0], db, executor="serial", progress=False)
    csv = db if alias == "same" else tmp_path / "rows.csv"
    if alias == "symlink":
        csv.symlink_to(db)
    res = subprocess.run(sweep_cmd(SLOW, "--grid", "t=0.0", "--seeds", "0", "--db", str(db), "--csv", str(csv)),
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "is the sweep store" in res.stderr
    assert count(db) == 1  # still a store, untouched


def test_cells_of_other_versions_are_named_and_can_be_dropped(tmp_path):
    db = tmp_path / "s.sqlite"
    run_sweep(SLOW, {"t": [0.0]}, [0, 1], db, executor="serial", progress=False)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE cells SET version='0.3.4'")
    res = subprocess.run(sweep_cmd(SLOW, "--grid", "t=0.0", "--seeds", "0", "1", "--db", str(db), "--executor",
                                   "serial"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "2 cells run, 0 already" in res.stdout
    assert "holds 2 cells of" in res.stderr and "0.3.4: 2" in res.stderr and "--drop-other-versions" in res.stderr
    assert run_sweep(SLOW, {"t": [0.0]}, [0], db, executor="serial", progress=False).stale == {"0.3.4": 2}
    res = subprocess.run(sweep_cmd(SLOW, "--grid", "t=0.0", "--seeds", "0", "--db", str(db), "--executor", "serial",
                                   "--drop-other-versions"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "dropped 2 cells of other versions" in res.stdout and count(db) == 2


def test_a_default_spelled_out_is_the_same_cell(tmp_path):
    """Cells are keyed by their parameters with the declared defaults filled in."""
    db = tmp_path / "s.sqlite"
    grid = {"n": [30], "N": [60], "s": [2], "method": ["niht"]}
    first = run_sweep("gaussian_recovery", grid, [0], db, executor="serial", progress=False)
    again = run_sweep("gaussian_recovery", {**grid, "max_iter": [500]}, [0], db, executor="serial", progress=False)
    assert (first.ran, again.ran, again.skipped) == (1, 0, 1) and count(db) == 1
    assert again.rows == first.rows and first.rows[0]["max_iter"] == 500


def test_a_result_key_that_clashes_is_refused_at_the_first_cell(tmp_path):
    from sparsecert.sweep import SweepCellError

    with pytest.raises(SweepCellError, match=r"result keys \['t'\] are also parameter or sweep column names"):
        run_sweep("tests.sparsecert.sweep_cells:clashing", {"t": [0.0]}, [0, 1], tmp_path / "s.sqlite",
                  executor="serial", progress=False)


def test_an_experiments_own_seconds_are_kept_beside_the_wall_time(tmp_path):
    """The pruning cell reports its own ``seconds``; the sweep's wall time goes to ``cell_seconds``."""
    res = run_sweep("pruning", {"method": ["magnitude"], "keep": [0.5], "epochs": [1], "widths": ["8"]}, [0],
                    tmp_path / "s.sqlite", executor="serial", progress=False)
    row = res.rows[0]
    assert 0 < row["seconds"] <= row["cell_seconds"]


def test_rows_that_are_not_cells_are_named_before_anything_runs(tmp_path):
    db = tmp_path / "s.sqlite"
    run_sweep(SLOW, {"t": [0.0]}, [0, 1], db, executor="serial", progress=False)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE cells SET result=? WHERE seed=1", (json.dumps([1, 2]),))
    with pytest.raises(SweepFormatError, match=r"holds 1 row\(s\) of .* that are not sweep cells .*result is a list"):
        run_sweep(SLOW, {"t": [0.0]}, [0, 1, 2], db, executor="serial", progress=False)
    assert count(db) == 2  # nothing computed, nothing dropped


def test_workers_are_capped_at_the_cores_and_said(tmp_path, caplog):
    from sparsecert.parallel import available_cores
    from sparsecert.sweep import pool_size

    with caplog.at_level("WARNING", logger="sparsecert.sweep"):
        assert pool_size(100_000, 50) <= available_cores()
    assert "workers capped at" in caplog.text
    assert pool_size(None, 1) == 1 and pool_size(1, 10) == 1


def test_a_redirected_log_gets_a_progress_line_a_minute_and_one_at_the_end(capsys):
    """``progress=None`` with stderr not a terminal (a log file, a batch job): plain lines, at most one
    per interval, and the last one at the end (a run of hours no longer writes nothing)."""
    from sparsecert.progress import LineProgress, progress_bar

    bar = progress_bar(10, "cells")
    assert isinstance(bar, LineProgress)  # pytest's captured stderr is no terminal
    with LineProgress(4, "cells", interval=3600) as slow:
        for _ in range(4):
            slow.update()
    assert capsys.readouterr().err.splitlines() == ["cells: 4/4 done, 0 s elapsed, about 0 s left"]
    with LineProgress(3, "cells", initial=1, interval=0.0) as fast:
        fast.update()
        fast.update()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["cells: 2/3 done", "cells: 3/3 done"]  # the last one once
