"""Reproduction modules: one per figure, each with ``run(out, quick=True)``.

``sparsecert repro NAME [--quick|--full]`` runs one; ``REGISTRY`` maps names
to modules.
"""

from . import linear_imp

REGISTRY = {"linear-imp": linear_imp}
