"""What figure modules share: picking a configuration, and saving the PNG with the rows beside it."""

from __future__ import annotations

from ..experiments import write_csv
from ..plot import pyplot


def save_figure(fig, rows, out, stem):
    """Save ``fig`` as ``out/stem.png`` (dpi 110, tight layout) and ``rows`` as ``out/stem.csv``; return the PNG path."""
    fig.tight_layout()
    path = out / f"{stem}.png"
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    write_csv(rows, out / f"{stem}.csv")
    return path


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
