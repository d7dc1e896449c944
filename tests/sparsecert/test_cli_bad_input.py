"""Every CLI command, driven with generated bad arguments and files (issue 18).

Property: whatever is wrong (a missing, foreign or malformed file, a value of
the wrong type or out of range, an impossible combination, an output path that
cannot be written), the command exits with code 2, its last line on stderr is
the reason (``... error: ...``), and no traceback is printed. Each example has
at least one bad argument; the others are drawn from valid values, so the check
is that a bad one is found wherever it is, before any long work starts.
"""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from sparsecert.cli import main

ROOT = Path(tempfile.mkdtemp(prefix="sparsecert-cli-"))


def _files():
    rng = np.random.default_rng(0)
    good = {"y": rng.standard_normal(12), "A": rng.standard_normal((12, 20)), "X": rng.standard_normal((12, 3))}
    bad = {
        "strings": np.array(["a", "b", "c"]), "strings2d": np.array([["a", "b"], ["c", "d"]]),
        "nan": np.array([[np.nan, 1.0], [1.0, 2.0]]), "empty": np.zeros((0, 3)), "cube": np.zeros((2, 2, 2)),
        "complex": np.ones((12, 20), complex), "wrong_rows": rng.standard_normal((5, 20)),
    }
    paths = {}
    for name, arr in {**good, **bad}.items():
        np.save(ROOT / f"{name}.npy", arr)
        paths[name] = str(ROOT / f"{name}.npy")
    (ROOT / "garbage.npy").write_bytes(b"this is not a NumPy file")
    (ROOT / "pickled.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
                                       + b" " * 53 + b"\n" + b"\x80\x04N.")
    (ROOT / "a_file").write_text("")
    (ROOT / "folder.npz").mkdir()
    paths.update(garbage=str(ROOT / "garbage.npy"), pickled=str(ROOT / "pickled.npy"), missing=str(ROOT / "nope.npy"))
    return {k: v for k, v in paths.items() if k in good}, [v for k, v in paths.items() if k not in good]


GOOD, BAD_FILES = _files()
BAD_OUT = [str(ROOT / "a_file"), str(ROOT / "a_file" / "below"), str(ROOT / "no" / "such" / "dir" / "r.npz")]
BAD_NPZ = BAD_OUT[1:] + [str(ROOT / "folder.npz")]  # (recover --out a_file writes a_file.npz: not bad)
NOT_INT = ["0", "-3", "x", "2.5", ""]


def run(argv):
    """(exit code, stderr) of ``sparsecert argv`` run in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def assert_refused(argv):
    code, err = run(argv)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    last = err.strip().splitlines()[-1]
    assert "error: " in last and len(last.split("error: ", 1)[1]) > 5, (argv, err)


def option(draw, name, good, bad):
    """``(argv part, is_bad)`` for one option: a good value or one of the bad ones."""
    is_bad = draw(st.booleans())
    value = draw(st.sampled_from(bad)) if is_bad else good
    return ([] if value is None else [name, value]), is_bad


@given(st.data())
def test_recover_refuses_bad_input(data):
    draw = data.draw
    parts = [option(draw, "--y", GOOD["y"], BAD_FILES), option(draw, "--s", "2", NOT_INT + ["999"]),
             option(draw, "--out", str(ROOT / "r.npz"), BAD_NPZ)]
    model = draw(st.sampled_from(["A", "X", "both", "neither"]))
    if model in ("A", "X"):
        parts.append(option(draw, f"--{model}", GOOD[model], BAD_FILES))
        if model == "X":
            parts.append(option(draw, "--m", "2", NOT_INT[:4]))
    elif model == "both":
        parts.append((["--A", GOOD["A"], "--X", GOOD["X"], "--m", "2"], True))
    else:
        parts.append(([], True))
    assume(any(bad for _, bad in parts))
    assert_refused(["recover", *[a for p, _ in parts for a in p], "--iters", "5"])


@given(st.data())
def test_certify_refuses_bad_input(data):
    draw = data.draw
    bad_matrices = [f for f in BAD_FILES if not f.endswith("wrong_rows.npy")]  # (a fine matrix without a y)
    parts = [option(draw, "--A", GOOD["A"], bad_matrices), option(draw, "--s", "1", NOT_INT + ["21"]),
             option(draw, "--support", None, ["a,b", "1.5", "3,3", "-1", "20", "1,,2", "[1]"])]
    assume(any(bad for _, bad in parts))
    assert_refused(["certify", *[a for p, _ in parts for a in p], "--budget", "50"])


@given(st.data())
def test_planted_refuses_bad_input(data):
    draw = data.draw
    parts = [option(draw, "--m", "2", NOT_INT), option(draw, "--s", "2", NOT_INT + ["100000"]),
             option(draw, "--n", "60", NOT_INT), option(draw, "--d", "5", NOT_INT),
             option(draw, "--device", None, ["cuda:9", "tpu", "numpy"]), option(draw, "--out", str(ROOT / "p"), BAD_OUT[:2])]
    assume(any(bad for _, bad in parts))
    assert_refused(["planted", *[a for p, _ in parts for a in p], "--iters", "2"])


GOOD_GRID = ["n=20", "N=40", "s=2"]
BAD_GRIDS = [["n=20", "N=40", "s=5.7"], ["n=20", "N=40", "s=2", "methd=htp"], ["n=20", "s=2"], ["foo"], ["s="],
             ["n=20", "N=10", "s=20"], ["n=20", "N=40", "s=2", "method=newton"], ["n=0", "N=40", "s=2"]]


@given(st.data())
def test_sweep_refuses_bad_input(data):
    draw = data.draw
    experiment, bad_exp = option(draw, "x", "gaussian_recovery", ["nope", "planted-mlp"])
    grid_bad = draw(st.booleans())
    grid = draw(st.sampled_from(BAD_GRIDS)) if grid_bad else GOOD_GRID
    parts = [(experiment[1:], bad_exp), (["--grid", *grid], grid_bad),
             option(draw, "--db", str(ROOT / "s.sqlite"), [str(ROOT / "garbage.npy"), str(ROOT / "a_file" / "x.sqlite")]),
             option(draw, "--seeds", "0", ["-1", "x"]), option(draw, "--csv", None, BAD_NPZ),
             option(draw, "--workers", None, ["0", "-2", "x"])]
    assume(any(bad for _, bad in parts))
    assert_refused(["sweep", *[a for p, _ in parts for a in p], "--executor", "serial"])


@given(st.data())
def test_repro_refuses_bad_input(data):
    draw = data.draw
    name_bad = draw(st.booleans())
    name = draw(st.sampled_from(["nope", "Planted"])) if name_bad else "planted"
    parts = [option(draw, "--out", str(ROOT / "f"), BAD_OUT[:2]), option(draw, "--seed", "0", ["-1", "x"]),
             option(draw, "--config", None, ["nope"]), option(draw, "--device", None, ["cuda:9", "tpu"])]
    assume(name_bad or any(bad for _, bad in parts))
    assert_refused(["repro", name, *[a for p, _ in parts for a in p], "--executor", "serial"])


def test_damaged_npz_files_and_an_oversized_grid_exit_2_without_a_traceback(tmp_path):
    """An object-array .npz (nothing is unpickled), a .npz whose member fails its CRC, and a planted
    grid whose working set the machine cannot hold: exit 2, one line, no traceback (issue "Reliability
    II", item 11)."""
    import subprocess
    import sys
    import zipfile

    y = tmp_path / "y.npy"
    np.save(y, np.ones(10))
    obj = tmp_path / "obj.npz"
    np.savez(obj, a=np.array([{"x": 1}, None], dtype=object))
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(100.0).reshape(10, 10))
    crc = tmp_path / "crc.npz"
    with zipfile.ZipFile(good) as z:
        assert z.infolist()[0].compress_type == zipfile.ZIP_STORED  # the array's bytes lie in the file as they are
    raw = bytearray(good.read_bytes())
    at = raw.find(np.arange(100.0).tobytes()[-8:])  # the last element: flip a byte, the stored CRC no longer matches
    raw[at + 7] ^= 0xFF
    crc.write_bytes(bytes(raw))
    for A in (obj, crc):
        res = subprocess.run([sys.executable, "-m", "sparsecert.cli", "recover", "--A", str(A), "--y", str(y), "--s",
                              "2", "--out", str(tmp_path / "w.npz")], capture_output=True, text=True)
        assert res.returncode == 2 and "Traceback" not in res.stderr and f"cannot read {A}" in res.stderr, res.stderr
    res = subprocess.run([sys.executable, "-m", "sparsecert.cli", "planted", "--m", "10000", "--s", "5", "--n",
                          "10000000", "--out", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "needs about" in res.stderr, res.stderr
