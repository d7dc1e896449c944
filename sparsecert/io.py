"""Where results go: rows to CSV, records to JSON, figures to PNG (one format, one resolution).

Every file is written atomically (:func:`sparsecert.files.atomic_write`): to a temporary file in the
same folder, then renamed over the target, so a full disk or an interrupt never leaves a truncated file
where a good one was; the error names the file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .files import atomic_write

__all__ = ["DPI", "write_csv", "read_csv", "write_json", "save_figure"]

#: Resolution of every saved figure (dots per inch).
DPI = 110


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """Write a list of dicts as CSV (columns: the union of keys in first-seen order; missing
    values are empty), atomically; returns the path."""
    path = Path(path)
    if not rows:
        raise ValueError("rows is empty: nothing to write")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(path) as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a CSV written by :func:`write_csv`, values typed back: empty -> None, True/False ->
    bool, then int, float (``inf``, ``nan`` included), else the text."""

    def typed(v: str | None) -> Any:
        if v is None or v == "":  # None: a row shorter than the header
            return None
        if v in ("True", "False"):
            return v == "True"
        for kind in (int, float):
            try:
                return kind(v)
            except ValueError:
                pass
        return v

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the figure once before redrawing it")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        if None in row:  # DictReader files a longer row's surplus fields under None
            raise ValueError(f"{path}: row {i + 2} has more fields than the header")
    return [{k: typed(v) for k, v in row.items()} for row in rows]


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON (NumPy scalars and arrays as numbers and lists); returns the path."""
    path = Path(path)

    def plain(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)

    text = json.dumps(obj, indent=2, default=plain) + "\n"
    with atomic_write(path) as fh:
        fh.write(text)
    return path


def save_figure(fig: Any, path: str | Path, rows: list[dict] | None = None, *, tight: bool = True) -> Path:
    """Save a Matplotlib figure as PNG at :data:`DPI` with a tight bounding box and close it; with
    ``rows``, also write them beside it as CSV (same stem). ``tight``: lay the axes out first
    (``fig.tight_layout()``; off for colorbars shared across axes). Returns the PNG's path."""
    import matplotlib.pyplot as plt  # a figure exists, so its backend is chosen

    path = Path(path)
    if tight:
        fig.tight_layout()
    png = io.BytesIO()  # drawn in memory first: a figure that fails to draw leaves the old PNG alone
    try:
        fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(png.getvalue())
    if rows is not None:
        write_csv(rows, path.with_suffix(".csv"))
    return path
