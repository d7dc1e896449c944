"""Reproduction modules: one per figure, each a configuration (``CONFIGS``), ``compute(cfg, run) ->
tables`` and ``draw(tables, cfg) -> figures``; :func:`sparsecert.repro.runner.run` (``run`` here) picks
the configuration and writes every file (CSV, PNG, ``.config.json``).

``sparsecert repro NAME|all [--quick|--full|--config KEY] [--redraw]`` runs them; ``REGISTRY`` maps
names to modules, each imported on first use.
"""

import ast
import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

#: Figure name -> module of this package.
_MODULES = {
    "certify": "certify_phase",
    "classify": "classify",
    "convergence": "convergence",
    "gaussian-phase": "gaussian_phase",
    "planted": "planted",
    "planted-vector": "planted_vector",
    "relu-phase": "relu_phase",
    "inr": "inr",
    "linear-imp": "linear_imp",
    "pruning": "pruning",
    "lottery": "lottery",
    "transfer": "transfer",
    "sequential-check": "sequential_check",
}


class _Registry(Mapping):
    """Figure name -> module, each imported on first use (listing the names imports none of them)."""

    def __getitem__(self, name: str) -> ModuleType:
        return importlib.import_module(f"{__name__}.{_MODULES[name]}")

    def __iter__(self):
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


REGISTRY = _Registry()


def summary(name: str) -> str:
    """The first line of a figure module's docstring, read from its source without importing it."""
    source = (Path(__file__).parent / f"{_MODULES[name]}.py").read_text()
    return (ast.get_docstring(ast.parse(source)) or "").strip().splitlines()[0]


def run(name: str, out="figures", **kwargs) -> list:
    """Make the figure ``name``: see :func:`sparsecert.repro.runner.run` (imported on first call,
    so that listing the figures imports none of their code)."""
    from .runner import run as run_figure

    return run_figure(name, out, **kwargs)
