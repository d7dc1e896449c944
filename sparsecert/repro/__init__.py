"""Reproduction modules: one per figure, each with ``run(out, quick=True, seed=0, executor=..., progress=...)``
returning the PNG paths it wrote (the numbers go beside them as CSV).

``sparsecert repro NAME|all [--quick|--full]`` runs them; ``REGISTRY`` maps
names to modules.
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
