"""The papers behind sparsecert, reproduced: one sub-package per paper, one module per figure.

Each figure module declares its configurations (``CONFIGS``), ``compute(cfg, run) -> tables`` and
``draw(tables, cfg) -> figures``; :func:`paper_repro.runner.run` (``run`` here) picks the
configuration and writes every file (CSV, PNG, ``.config.json``) into ``<out>/<paper>/``.

* ``recovery``: A Recovery Guarantee for Sparse Neural Networks (planted MLPs, classification, INR,
  phase diagrams, certificates);
* ``lottery``: Lottery Tickets in Linear Models and the Lottery Ticket Hypothesis;
* ``transfer``: Sparse Transfer Learning via Winning Lottery Tickets;
* ``survey``: the pruning survey's taxonomy, with BINGO's and NEq's methods (``bingo`` and ``neq``
  hold their pages).

``python -m paper_repro NAME|all [--quick|--full|--config KEY] [--redraw]`` (or ``sparsecert repro``)
runs them; ``REGISTRY`` maps names to modules, each imported on first use. This package uses only
public ``sparsecert`` names, and ``sparsecert`` never imports it.
"""

import ast
import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from sparsecert.backend import TORCH_HINT  # noqa: F401  (the figures that need torch say how to get it)

#: Figure name -> ``"<paper>.<module>"`` inside this package.
MODULES = {
    "certify": "recovery.certify_phase",
    "classify": "recovery.classify",
    "constants": "recovery.constants",
    "convergence": "recovery.convergence",
    "gaussian-phase": "recovery.gaussian_phase",
    "planted": "recovery.planted",
    "planted-vector": "recovery.planted_vector",
    "relu-phase": "recovery.relu_phase",
    "inr": "recovery.inr",
    "linear-imp": "lottery.linear_imp",
    "pruning": "survey.pruning",
    "lottery": "lottery.lottery",
    "transfer": "transfer.transfer",
    "sequential-check": "recovery.sequential_check",
}


def paper(name: str) -> str:
    """The paper (sub-package, and folder of its files under a run's ``out``) of figure ``name``."""
    return MODULES[name].split(".")[0]


class _Registry(Mapping):
    """Figure name -> module, each imported on first use (listing the names imports none of them)."""

    def __getitem__(self, name: str) -> ModuleType:
        return importlib.import_module(f"{__name__}.{MODULES[name]}")

    def __iter__(self):
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


REGISTRY = _Registry()


def summary(name: str) -> str:
    """The first sentence of a figure module's docstring, read from its source without importing it."""
    source = (Path(__file__).parent / f"{MODULES[name].replace('.', '/')}.py").read_text()
    return (ast.get_docstring(ast.parse(source)) or "").strip().split("\n\n")[0].replace("\n", " ")


def run(name: str, out="figures", **kwargs) -> list:
    """Make the figure ``name``: see :func:`paper_repro.runner.run` (imported on first call,
    so that listing the figures imports none of their code)."""
    from .runner import run as run_figure

    return run_figure(name, out, **kwargs)
