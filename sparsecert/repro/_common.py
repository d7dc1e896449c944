"""What every figure module does last: lay out, save the PNG, close it, write the rows beside it."""

from __future__ import annotations

from ..experiments import write_csv
from ..plot import _pyplot


def save_figure(fig, rows, out, stem):
    """Save ``fig`` as ``out/stem.png`` (dpi 110, tight layout) and ``rows`` as ``out/stem.csv``; return the PNG path."""
    fig.tight_layout()
    path = out / f"{stem}.png"
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    write_csv(rows, out / f"{stem}.csv")
    return path
