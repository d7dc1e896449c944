"""What figure modules share: their configurations (:class:`FigureConfig`), picking one, naming the
files of a run and what a run hands to a module's ``compute`` (:class:`Run`)."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from pathlib import Path


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

    def replace(self, **overrides):
        """A copy with some settings changed, checked like a new configuration.

        Raises
        ------
        ValueError
            A name that is not a setting of this configuration (the known ones are listed).
        TypeError
            A value of the wrong type.
        """
        unknown = sorted(set(overrides) - set(self._names()))
        if unknown:
            raise ValueError(f"unknown {type(self).__module__.rsplit('.', 1)[-1]} settings: {', '.join(unknown)} "
                             f"(known: {', '.join(self._names())})")
        return dataclasses.replace(self, **overrides)


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


@dataclasses.dataclass(frozen=True)
class Run:
    """What one run of a figure gives its module's ``compute(cfg, run)`` besides the configuration.

    Attributes
    ----------
    out : Path
        The run's folder (sweep stores live there; the runner writes the CSVs and figures).
    config : str or None
        The configuration's name as asked (None: quick or full by ``quick``).
    quick : bool
    seed : int
        Base seed of the run.
    executor : str or None
        Sweep executor ("process", "thread", "serial", "dask"); modules without a sweep ignore it.
    progress : bool or None
        Progress bars (None: when stderr is a terminal).
    device : str or None
        Torch device for the modules that declare ``GPU = True``.
    """

    out: Path
    config: str | None = None
    quick: bool = True
    seed: int = 0
    executor: str | None = "process"
    progress: bool | None = None
    device: str | None = None

    @property
    def key(self) -> str:
        """The configuration's key in ``CONFIGS``."""
        return self.config or ("quick" if self.quick else "full")

    def path(self, stem: str, suffix: str) -> Path:
        """``out / <stem>[_<config>]<suffix>``: where this run keeps the file ``stem``."""
        return self.out / f"{config_stem(stem, self.config)}{suffix}"

    def store(self, stem: str) -> Path:
        """SQLite file of the run's sweep: ``stem.sqlite`` (full), else ``stem_<key>.sqlite``."""
        return self.out / f"{stem if self.key == 'full' else f'{stem}_{self.key}'}.sqlite"
