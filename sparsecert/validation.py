"""Argument validation shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` naming the argument, what
was given and what is allowed, so an error reads like a sentence of the docs.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def progress_enabled(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` as given, or (None, the default everywhere)
    when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def check_rng(rng: Any) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from ``rng`` (None, int or Generator)."""
    if rng is None or isinstance(rng, (numbers.Integral, np.integer)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng must be a non-negative integer seed, got {rng}")
        return np.random.default_rng(None if rng is None else int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"rng must be None, a non-negative int or a numpy.random.Generator, got {type(rng).__name__}"
    )


def warn_deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """The ``FutureWarning`` of a deprecated name: ``old`` goes in 0.6, ``new`` is the call to write."""
    import warnings

    warnings.warn(f"{old} is deprecated and goes in 0.6: use {new}", FutureWarning, stacklevel=stacklevel)


def fold_options(options: dict, **configs: Any) -> tuple[dict, dict]:
    """``(configs, rest)``: each keyword of ``options`` that names a field of one of the configuration
    objects ``configs`` (parameter name -> frozen dataclass) replaces that field
    (``dataclasses.replace``, so it is checked as when the object is made); ``rest``: the others."""
    import dataclasses

    out, rest = dict(configs), dict(options)
    for name, config in configs.items():
        mine = {f.name: rest.pop(f.name) for f in dataclasses.fields(config) if f.name in rest}
        if mine:
            out[name] = dataclasses.replace(config, **mine)
    return out, rest


def refuse_fields(config: Any, names: tuple[str, ...], where: str, why: str = "") -> None:
    """ValueError naming each field of ``names`` that the frozen dataclass ``config`` sets away from its
    default: ``where`` does not take them (``why`` says what it does instead), rather than ignore them."""
    import dataclasses

    off = [f.name for f in dataclasses.fields(config) if f.name in names and getattr(config, f.name) != f.default]
    if off:
        fields = ", ".join(off)
        raise ValueError(f"{where} does not take {type(config).__name__}'s {fields}{f' ({why})' if why else ''}: "
                         f"leave {'it' if len(off) == 1 else 'them'} at the default")


def legacy_options(func: str, legacy: dict, **configs: Any) -> dict:
    """0.4's keywords ``legacy`` of ``func`` folded into the configuration objects that replace them
    (:func:`fold_options`), with one ``FutureWarning`` naming the call to write; a keyword no
    configuration has is a ``TypeError``, as Python's own. Returns ``configs`` updated."""
    out, rest = fold_options(legacy, **configs)
    if rest:
        raise TypeError(f"{func}() got an unexpected keyword argument {next(iter(rest))!r}")
    if legacy:
        new = ", ".join(f"{name}=sparsecert.{type(c).__name__}(...)" for name, c in out.items() if c is not configs[name])
        warn_deprecated(f"{func}({', '.join(f'{k}=...' for k in legacy)})", f"{func}(..., {new})", stacklevel=4)
    return out


def integer_seed(rng: Any, seed: Any = None) -> int:
    """An integer seed for code seeded by integers (torch) under the package's ``rng`` convention:
    a non-negative int is itself, a Generator gives a draw, None a fresh one. ``seed``: the old
    name of the argument on the torch side, accepted with a FutureWarning (one name, ``rng``, on
    both backends)."""
    if seed is not None:
        import warnings

        warnings.warn("seed= is called rng= now (the same name as on the NumPy side)", FutureWarning, stacklevel=3)
        rng = seed
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        check_rng(rng)  # non-negative
        return int(rng)
    return seed_from_rng(rng)


def seed_from_rng(rng: Any) -> int:
    """Draw one 63-bit integer key from ``rng``: the root of a counter-based stream."""
    return int(check_rng(rng).integers(0, 2**63 - 1))


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as int, checking ``low <= value <= high`` (bounds inclusive, optional)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_float(
    value: Any, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """Return ``value`` as a finite float within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as float64 or float32; anything else is an error."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float64 or float32, got {dtype!r}") from exc
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be float64 or float32, got {dt}")
    return dt


def check_array(
    a: Any, name: str, *, ndim: int | None = None, shape: tuple | None = None, dtype: Any = None, copy: bool = False,
    fortran: bool = False,
) -> np.ndarray:
    """Convert ``a`` to a finite floating C-contiguous array and check its shape.

    Parameters
    ----------
    a : array_like
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries are free.
    dtype : dtype, optional
        Target float dtype. By default float32 input stays float32 and every
        other input becomes float64.
    copy : bool
        Always a new array.
    fortran : bool
        Keep a 2-d F-contiguous ``a`` as it is (no copy where its dtype is the target): data read
        feature by feature, whose transpose is then a C-contiguous view.
    """
    if a is None:
        raise ValueError(f"{name} must be an array, got None")
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if dtype is None:
        dtype = np.float32 if arr.dtype == np.float32 else np.float64
    if copy:
        arr = np.array(arr, dtype=dtype, order="C", copy=True)
    elif fortran and arr.ndim == 2 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
        arr = np.asfortranarray(arr, dtype=dtype)
    else:
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            want is not None and want != got for want, got in zip(shape, arr.shape)
        ):
            want = ", ".join("*" if s is None else str(s) for s in shape)
            want = f"({want},)" if len(shape) == 1 else f"({want})"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.size and not _all_finite(arr):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite entries (NaN or inf)")
    return arr


#: Entries checked at a time when the cheap test is inconclusive.
_FINITE_BLOCK = 2**16


def _all_finite(arr) -> bool:
    """Whether every entry is finite, with O(1) extra memory in the common case.

    The sum ``arr.sum()`` is finite when every entry is (NaN and inf propagate); it
    can also overflow to inf from finite entries, and only then are blocks of
    ``_FINITE_BLOCK`` entries checked one by one (no n x N boolean temporary).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(arr.sum()):
            return True
    flat = arr.reshape(-1)
    return all(np.isfinite(flat[i : i + _FINITE_BLOCK]).all() for i in range(0, flat.size, _FINITE_BLOCK))


def is_integral(a: Any) -> bool:
    """Whether every entry of ``a`` is a whole number: a bool or integer array, or a float one whose
    entries are finite and integer-valued (labels and indices given as 3.0 are fine, 2.7 and NaN not)."""
    a = np.asarray(a)
    if a.dtype.kind in "biu":
        return True
    return a.dtype.kind == "f" and bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def check_bool(value: Any, name: str) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (a NumPy bool too); ``TypeError`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_option(value: Any, name: str, allowed: Any) -> Any:
    """Check that ``value`` is one of ``allowed`` (strings compared case-insensitively)."""
    key = value.lower() if isinstance(value, str) else value
    if key not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return key
