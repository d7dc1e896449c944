"""Working-set checks before large work (layer 0): fail fast with a named error, not a minute later.

:func:`available_bytes` is what a new allocation can get now: the kernel's
``MemAvailable``, lowered to the room left under this process's cgroup limit
when there is one (a container's limit, not the host's memory). Entry points
that can be large estimate their working set and call :func:`check_working_set`
before allocating; an estimate above what is available raises
:class:`WorkingSetError` (a ``MemoryError``) saying how much, of what, and what
to lower. Where the OS says nothing, nothing is checked.
"""

from __future__ import annotations

import os

__all__ = ["WorkingSetError", "available_bytes", "check_working_set", "format_bytes"]


class WorkingSetError(MemoryError):
    """The estimated working set of a call exceeds the memory available now."""


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes():
    """Bytes a new allocation can get now, or None when the OS does not say."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:  # cgroup v2 ("max" when unlimited: not an int)
        avail = min(avail, max(0, limit - used))
    return avail


def format_bytes(nbytes):
    """``nbytes`` as a short human-readable size (``1.5 GiB``)."""
    size = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


#: Working sets below this size are not checked: reading what the OS has free costs about 0.1 ms,
#: more than a whole small fit (N = 1000), and no machine this runs on lacks 16 MiB.
UNCHECKED_BYTES = 16 * 2**20


def check_working_set(nbytes, what, hint=""):
    """Raise :class:`WorkingSetError` if ``nbytes`` (an estimate) exceeds :func:`available_bytes`
    (estimates under :data:`UNCHECKED_BYTES` pass unchecked).

    Parameters
    ----------
    nbytes : int
        Estimated peak bytes the call will allocate.
    what : str
        The call and its sizes, for the message (``"planted_relu(n=..., m=...)"``).
    hint : str
        What to lower, for the message.
    """
    if nbytes < UNCHECKED_BYTES:
        return
    avail = available_bytes()
    if avail is not None and nbytes > avail:
        raise WorkingSetError(
            f"{what} needs about {format_bytes(nbytes)} of memory, more than the {format_bytes(avail)} available"
            + (f"; {hint}" if hint else "")
        )
