"""Files written safely (layer 0): :func:`atomic_write` (a temporary file beside the target, renamed over
it: a failure leaves the previous file intact and names it), and the one saved format of networks and
results, :func:`save_arrays` / :func:`load_arrays` (an ``.npz`` of numbers and a JSON description; read
without unpickling)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._version import __version__

__all__ = ["OutputError", "atomic_write", "save_arrays", "load_arrays", "META"]


class OutputError(OSError):
    """An output file could not be written; the file that was there before is intact."""


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing (``mode`` ``"w"`` text or ``"wb"``); on a
    clean exit flush it to disk and rename it over ``path``; on any error remove it and leave ``path``
    as it was.

    Raises
    ------
    OutputError
        The folder cannot take the file (full disk, no permission, a file-size limit): the message
        names ``path`` and the reason.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, newline=None if "b" in mode else "") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(exc.errno, f"cannot write {path}: {exc.strerror or exc}; the previous file is "
                              "intact") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The entry of a saved ``.npz`` that holds its JSON description (what it is, the version, scalars).
META = "meta.json"


def save_arrays(path: str | Path, kind: str, arrays: dict, meta: dict | None = None) -> Path:
    """Save named arrays and a JSON description as one ``.npz`` (atomically), readable without
    unpickling: numbers only, and the description as text. ``kind`` says what the file holds
    (:func:`load_arrays` checks it). Returns the path."""
    text = json.dumps({"kind": kind, "sparsecert": __version__, **(meta or {})}, allow_nan=True)
    with atomic_write(path, "wb") as fh:
        payload: dict[str, Any] = {**{k: np.asarray(v) for k, v in arrays.items()}, META: np.array(text)}
        np.savez(fh, **payload)
    return Path(path)


def load_arrays(path: str | Path, kind: str, older: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a file :func:`save_arrays` wrote with ``kind`` (or one of the ``older``
    kinds it replaces: ``meta["kind"]`` says which); anything else (another kind, a pickled or foreign
    file) is a ValueError naming the file. Nothing is unpickled."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop(META)))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: not a sparsecert {kind} file ({type(exc).__name__}: {exc})") from None
    if meta.get("kind") not in (kind, *older):
        raise ValueError(f"{path}: holds a {meta.get('kind')!r}, not a {kind!r}")
    return arrays, meta
