"""The registry of sweep experiments: their names, declared parameters and lazy imports.

An experiment is ``f(params: dict, seed: int) -> dict of scalars``. :func:`register` names one and
declares its parameters (:class:`Param`); :data:`EXPERIMENTS` names the built-in ones as
``"module:function"`` strings imported on first use; :func:`experiment_function` resolves a name, such
a string or the function itself. :mod:`sparsecert.sweep` runs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "EXPERIMENTS", "experiment_function", "name_and_target", "register", "Param", "REQUIRED", "normalise_cell",
    "describe", "parameters", "SweepParameterError",
]

#: Registered experiments: name -> the function (once its module is imported) or, for the built-in
#: ones, a ``"module:function"`` string imported on first use (so this module imports none of them).
EXPERIMENTS: dict[str, Any] = {
    name: f"sparsecert.cells:{fn}"
    for name, fn in (("gaussian_recovery", "gaussian_recovery"), ("l1_recovery", "l1_recovery"),
                     ("relu_recovery", "relu_recovery"), ("planted_mlp", "planted_mlp_cell"),
                     ("planted_vector", "planted_vector_cell"), ("pruning", "pruning_cell"),
                     ("planted_constants", "planted_constants"))
}


def experiment_function(experiment: str | Callable) -> Callable:
    """The function ``f(params, seed) -> dict`` of an experiment given as a registered name, a
    ``"module:function"`` string (imported here) or the callable itself."""
    target = experiment if callable(experiment) else EXPERIMENTS.get(experiment, experiment)
    if callable(target):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, a 'module:function' string or a callable, "
                         f"got {experiment!r}")
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"experiment {experiment!r}: cannot import {target} ({exc})") from None
    if not callable(fn):
        raise ValueError(f"experiment {experiment!r}: {target} is not callable")
    return fn


def name_and_target(experiment: str | Callable) -> tuple[str, Any]:
    """``(name, target)``: the name cells are stored under (the registered name, else
    ``"module:function"``) and what a worker resolves (a ``"module:function"`` string, or the function
    itself when no import reaches it: in ``__main__``, which pickling carries to spawned workers, or a
    lambda or local function, which only the serial executor runs)."""
    fn = experiment_function(experiment)
    where = f"{fn.__module__}:{fn.__qualname__}"
    name = getattr(fn, "experiment_name", None) or (experiment if isinstance(experiment, str) else where)
    try:
        importable = fn.__module__ != "__main__" and experiment_function(where) is fn
    except ValueError:
        importable = False  # a lambda or a local function: only the serial executor can run it
    return name, (where if importable else fn)


class SweepParameterError(ValueError):
    """A cell's parameters do not match what its experiment declares (raised before any cell runs)."""


#: Marks a declared parameter without a default (the cell must give it).
REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """A declared parameter of a registered experiment.

    Parameters
    ----------
    kind : {int, float, str, bool}
        Values are normalised to this type before a cell is keyed: ``1e2``
        given for an ``int`` is ``100``; ``5.7`` is refused, never truncated;
        an ``int`` given for a ``str`` is its decimal text; a ``bool`` takes
        true/false (any case) or 0/1.
    default : optional
        The value the experiment uses when a cell omits it (``REQUIRED``: no
        default; ``None``: the parameter may be ``None``).
    low, high : float, optional
        Inclusive bounds of numeric values.
    choices : tuple, optional
        The admissible values of a ``str`` parameter.
    """

    kind: type
    default: object = REQUIRED
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    def normalise(self, name: str, v: Any) -> Any:
        """``v`` as this parameter's type, or ValueError saying why not."""
        if v is None and self.default is None:
            return None
        if isinstance(v, np.generic):
            v = v.item()
        if self.kind is bool:
            if isinstance(v, str) and v.lower() in ("true", "false"):
                return v.lower() == "true"
            if isinstance(v, (bool, int)) and v in (0, 1):
                return bool(v)
            raise ValueError(f"{name} must be true or false, got {v!r}")
        if self.kind is str:
            if isinstance(v, int) and not isinstance(v, bool):  # a command line's "128" arrives as an int
                v = str(v)
            if not isinstance(v, str):
                raise ValueError(f"{name} must be a string, got {v!r}")
            if self.choices is not None and v not in self.choices:
                raise ValueError(f"{name} must be one of {', '.join(self.choices)}, got {v!r}")
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise ValueError(f"{name} must be a finite {self.kind.__name__}, got {v!r}")
        if self.kind is int:
            if v != int(v):
                raise ValueError(f"{name} must be an integer, got {v!r}")
            v = int(v)
        else:
            v = float(v)
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise ValueError(f"{name} must lie in [{self.low}, {self.high}], got {v!r}")
        return v


def register(name: str, params: dict | None = None, check: Callable | None = None) -> Callable:
    """Register ``f(params: dict, seed: int) -> dict`` as experiment ``name`` (decorator).

    Parameters
    ----------
    name : str
    params : dict of str -> Param, optional
        The experiment's parameters. When given, every cell is checked against
        them before a sweep runs (unknown names, missing required values, wrong
        types and out-of-range values are :class:`SweepParameterError`) and
        its values are normalised before keying. Without it cells pass as given.
    check : callable, optional
        ``check(params)`` with the defaults filled in: raises ValueError for
        combinations the single parameters cannot express (e.g. ``s <= N``).
    """

    def deco(fn):
        EXPERIMENTS[name] = fn
        fn.experiment_name = name
        fn.params, fn.check = params, check
        return fn

    return deco


def normalise_cell(experiment: str | Callable, params: dict) -> dict:
    """A cell's parameters checked and normalised against the experiment's declaration.

    Returns every declared parameter, each value of its declared type, with the
    defaults filled in for those the cell omits: a cell keyed by these is the
    same cell whether a default is spelled out or left out (``max_iter=500``
    where 500 is the default). Raises :class:`SweepParameterError` naming the
    cell and the reason.
    """
    fn = experiment_function(experiment)
    label = getattr(fn, "experiment_name", None) or experiment
    declared = getattr(fn, "params", None)
    if declared is None:
        return dict(params)
    try:
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; {label} takes {', '.join(sorted(declared))}")
        missing = sorted(k for k, p in declared.items() if p.default is REQUIRED and k not in params)
        if missing:
            raise ValueError(f"missing required parameter(s) {', '.join(missing)}")
        out = {k: p.default for k, p in declared.items() if p.default is not REQUIRED}
        out.update({k: declared[k].normalise(k, v) for k, v in params.items()})
        check = getattr(fn, "check", None)
        if check is not None:
            check(dict(out))
    except ValueError as exc:
        raise SweepParameterError(f"{label} cell ({describe(params)}): {exc}") from None
    return out


def describe(params: dict, seed: int | None = None) -> str:
    """``name=value, ...`` of a cell (and its seed), for messages."""
    text = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))
    return text if seed is None else f"{text}, seed={seed}"


def parameters(experiment: str | Callable) -> str:
    """The experiment's declared parameters, one line each: name, type, range or choices, default."""
    fn = experiment_function(experiment)
    declared = getattr(fn, "params", None)
    label = getattr(fn, "experiment_name", None) or experiment
    if not declared:
        return f"{label}: no declared parameters (cells pass as given)"
    lines = [f"{label}: {len(declared)} parameters"]
    for k, p in sorted(declared.items()):
        span = (f"one of {', '.join(p.choices)}" if p.choices else
                f"in [{p.low if p.low is not None else '-inf'}, {p.high if p.high is not None else 'inf'}]"
                if p.kind in (int, float) else "")
        default = "required" if p.default is REQUIRED else f"default {p.default!r}"
        lines.append(f"  {k:14s} {p.kind.__name__:5s} {span:32s} {default}")
    return "\n".join(lines)
