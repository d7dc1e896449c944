"""Progress of long work (layer 0): a bar on a terminal, a line a minute in a log.

:func:`progress_bar` gives a ``tqdm`` bar where stderr is a terminal (or ``progress=True``), nothing
with ``progress=False``, and with the default ``progress=None`` on a redirected stderr a plain line at
most once a minute (``desc: done/total, elapsed, ETA``) and one at the end, so that a log written by
``make demo > log`` or a batch job says where a run of hours stands.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "LineProgress"]


class LineProgress:
    """A progress report for a non-terminal: ``update`` counts, a line goes to stderr at most every
    ``interval`` seconds and at ``close`` (the ``tqdm`` calls the package uses: update, close, context)."""

    def __init__(self, total: int, desc: str = "", initial: int = 0, interval: float = 60.0) -> None:
        self.total, self.desc, self.n, self.interval = int(total), desc, int(initial), float(interval)
        self.t0 = self.last = time.monotonic()
        self.start = self.shown = self.n

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        done = self.n - self.start
        eta = elapsed / done * (self.total - self.n) if done and self.total > self.n else 0.0
        return f"{self.desc}: {self.n}/{self.total} done, {elapsed:.0f} s elapsed, about {eta:.0f} s left"

    def update(self, k: int = 1) -> None:
        self.n += k
        if time.monotonic() - self.last >= self.interval:
            self._show()

    def _show(self) -> None:
        self.last, self.shown = time.monotonic(), self.n
        print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.n != self.shown:  # the last state, once
            self._show()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: int, desc: str = "", progress: bool | None = None, *, initial: int = 0,
                 leave: bool = True) -> Any:
    """A ``tqdm`` bar (terminal, or ``progress=True``), a disabled one (``progress=False``), or a
    :class:`LineProgress` (``progress=None`` and stderr not a terminal)."""
    if progress is None and not sys.stderr.isatty():
        return LineProgress(total, desc, initial)
    return tqdm(total=total, initial=initial, desc=desc, disable=progress is False, leave=leave)
