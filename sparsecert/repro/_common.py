"""What figure modules share: picking a configuration and naming its outputs (figures are saved by
:func:`sparsecert.io.save_figure`)."""

from __future__ import annotations


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
