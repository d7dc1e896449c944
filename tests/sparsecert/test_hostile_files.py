"""Hostile inputs (issue "Reliability II", items 8 and 10): dataset files whose headers lie, truncated
or inflating gzip streams, and sweeps interrupted anywhere. Property: a reader either returns exactly
the array its header declares or raises ValueError naming the file, never reading (or holding) more
than the header declares; a sweep interrupted after any cell resumes to every cell exactly once."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sparsecert.data import read_idx, read_norb_matrix, write_idx, write_norb_matrix
from sparsecert.sweep import SweepInterrupted, register, run_sweep

READERS = {"idx": read_idx, "norb": read_norb_matrix}


def _idx_header(code, dims):
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def _norb_header(dims):
    padded = list(dims) + [1] * max(0, 3 - len(dims))
    return struct.pack("<II", 0x1E3D4C55, len(dims)) + struct.pack(f"<{len(padded)}i", *padded)


def _check(reader, path, header_dims):
    """The reader's contract on one file."""
    try:
        a = reader(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return None
    assert a.shape == tuple(header_dims)
    return a


@settings(max_examples=60, deadline=None)
@given(dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), min_size=0, max_size=5),
       payload=st.integers(0, 300), gz=st.booleans())
@example(dims=[65536] * 4, payload=0, gz=False)  # 2^64 elements: a product that wraps to 0 in int64
def test_idx_headers_that_lie_give_a_named_error_or_the_declared_array(tmp_path_factory, dims, payload, gz):
    path = tmp_path_factory.mktemp("idx") / ("f.idx.gz" if gz else "f.idx")
    body = _idx_header(0x08, dims) + bytes(range(256)) * 2
    body = body[: 4 + 4 * len(dims) + payload]
    path.write_bytes(gzip.compress(body) if gz else body)
    _check(read_idx, path, dims)


@settings(max_examples=60, deadline=None)
@given(dims=st.lists(st.integers(-2**31, 2**31 - 1) | st.integers(-2, 6), min_size=0, max_size=4),
       payload=st.integers(0, 300), gz=st.booleans())
def test_norb_headers_that_lie_give_a_named_error_or_the_declared_array(tmp_path_factory, dims, payload, gz):
    path = tmp_path_factory.mktemp("norb") / ("f.mat.gz" if gz else "f.mat")
    head = _norb_header(dims)
    body = (head + bytes(range(256)) * 2)[: len(head) + payload]
    path.write_bytes(gzip.compress(body) if gz else body)
    _check(read_norb_matrix, path, dims)


@settings(max_examples=40, deadline=None)
@given(cut=st.floats(0.0, 0.999), gz=st.booleans(), kind=st.sampled_from(sorted(READERS)))
def test_truncated_files_give_a_named_error(tmp_path_factory, cut, gz, kind):
    path = tmp_path_factory.mktemp("cut") / ("f.gz" if gz else "f.bin")
    a = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7)
    (write_idx if kind == "idx" else write_norb_matrix)(path, a, compress=gz)
    whole = path.read_bytes()
    path.write_bytes(whole[: int(cut * len(whole))])
    with pytest.raises(ValueError, match=str(path)):
        READERS[kind](path)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_gzip_that_inflates_past_its_header_is_refused_without_inflating_it(tmp_path, kind):
    """A 50 KB gzip whose header declares one byte but which holds 50 MB of zeros: refused, and the
    reader never holds more than a few KiB of it (it used to grow the process by the whole stream)."""
    header = _idx_header(0x08, [1]) if kind == "idx" else _norb_header([1])
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(header + bytes(50 << 20), compresslevel=9))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"{path}.*header says \\(1,\\)"):
            READERS[kind](path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


CALLS = {"left": None}


@register("interruptible")
def _interruptible(params, seed):
    """A cell that is a pure function of its parameters, and raises KeyboardInterrupt (a Ctrl-C)
    when the countdown in CALLS reaches zero."""
    if CALLS["left"] is not None:
        CALLS["left"] -= 1
        if CALLS["left"] < 0:
            raise KeyboardInterrupt
    return {"value": params["a"] * 1000 + params.get("b", 0) * 10 + seed}


@settings(max_examples=25, deadline=None)
@given(a=st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
       b=st.lists(st.integers(0, 9), min_size=0, max_size=2, unique=True),
       seeds=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True), stops=st.lists(st.integers(0, 12), max_size=3))
def test_a_store_interrupted_anywhere_resumes_to_every_cell_exactly_once(tmp_path_factory, a, b, seeds, stops):
    path = tmp_path_factory.mktemp("store") / "s.sqlite"
    grid = {"a": a, **({"b": b} if b else {})}
    total = len(a) * max(1, len(b)) * len(seeds)
    for stop in stops:  # interrupted after `stop` more cells, as often as drawn
        CALLS["left"] = stop
        try:
            res = run_sweep("interruptible", grid, seeds, path, executor="serial", progress=False)
        except SweepInterrupted as exc:
            assert exc.total == total and exc.stored <= total
        else:
            assert len(res.rows) == total
    CALLS["left"] = None
    res = run_sweep("interruptible", grid, seeds, path, executor="serial", progress=False)
    keys = [(r["a"], r.get("b"), r["seed"]) for r in res.rows]
    assert len(keys) == len(set(keys)) == total
    assert all(r["value"] == r["a"] * 1000 + (r.get("b") or 0) * 10 + r["seed"] for r in res.rows)
    assert res.ran + res.skipped == total
