"""Reproduction modules: one per figure, each with ``run(out, quick=True, seed=0, executor=..., progress=...)``
returning the PNG paths it wrote (the numbers go beside them as CSV).

``sparsecert repro NAME|all [--quick|--full]`` runs them; ``REGISTRY`` maps
names to modules.
"""

from . import (
    certify_phase, classify, convergence, gaussian_phase, inr, linear_imp, lottery, planted, planted_vector, pruning,
    relu_phase, sequential_check, transfer,
)

REGISTRY = {
    "certify": certify_phase,
    "classify": classify,
    "convergence": convergence,
    "gaussian-phase": gaussian_phase,
    "planted": planted,
    "planted-vector": planted_vector,
    "relu-phase": relu_phase,
    "inr": inr,
    "linear-imp": linear_imp,
    "pruning": pruning,
    "lottery": lottery,
    "transfer": transfer,
    "sequential-check": sequential_check,
}
