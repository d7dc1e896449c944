"""What figure modules share: picking a configuration and naming its outputs (figures are saved by
:func:`sparsecert.io.save_figure`)."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping


class FigureConfig(Mapping):
    """Base of the figures' configurations: subclasses are frozen dataclasses whose typed fields
    are checked when a configuration is made (a misspelt or mistyped setting fails there, naming
    it), and which read like the dicts they replaced (``cfg["n"]``, ``cfg.get``, ``{**cfg}``,
    ``dict(cfg)`` for JSON)."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _is(value, hints[f.name]):
                raise TypeError(f"{type(self).__name__}.{f.name} must be {hints[f.name]}, got {value!r}")

    def __getitem__(self, key):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def _names(self):
        return [f.name for f in dataclasses.fields(self)]


def _is(value, hint) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (int, float, str, bool, tuple, dict, unions)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is(value, h) for h in typing.get_args(hint))
    hint = typing.get_origin(hint) or hint
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def pick_config(configs, quick=True, config=None):
    """``configs[config]`` when a name is given, else ``configs["quick"]`` or ``configs["full"]``.

    Modules with configurations beyond quick and full (e.g. ``"mnist5k"``)
    list them in a module-level ``CONFIGS`` dict; ``sparsecert repro NAME
    --config KEY`` selects one.
    """
    if config is None:
        return configs["quick" if quick else "full"]
    if config not in configs:
        raise ValueError(f"no configuration {config!r}; this module has {', '.join(sorted(configs))}")
    return configs[config]


def config_stem(stem, config=None):
    """File stem of a run: ``stem`` for quick/full, ``stem_<config>`` for a named configuration."""
    return f"{stem}_{config}" if config else stem


def store_name(stem, quick=True, config=None):
    """SQLite file of a run's sweep: ``stem_<config>.sqlite`` for a named configuration, else
    ``stem_quick.sqlite`` or ``stem.sqlite``."""
    return f"{config_stem(stem, config or ('quick' if quick else None))}.sqlite"
