"""sparsecert: provable recovery of sparse neural networks, pruning baselines and certificates.

The NumPy/SciPy/Numba core never imports torch.
"""

from ._version import __version__  # noqa: F401  (sparsecert.__version__)
from .configs import IHT, Minibatch, Restarts, Sequential
from .fitting import fit
from .models import PlantedProblem, planted_gaussian, planted_relu
from .nn import ReLUNet, Training
from .operators import DenseOperator, GaussianOperator, HStackOperator, PatternCache, ReluPatternOperator, SparseSensingOperator
from .recovery import METHODS, STATUSES, IHTSolver, MinibatchIHTSolver, RecoveryResult, SequentialIHTSolver, iht
from .sparse import SparseVector, StreamingTopK


__all__ = [
    "DenseOperator",
    "GaussianOperator",
    "HStackOperator",
    "IHT",
    "IHTSolver",
    "METHODS",
    "Minibatch",
    "MinibatchIHTSolver",
    "PatternCache",
    "PlantedProblem",
    "ReLUNet",
    "RecoveryResult",
    "Restarts",
    "ReluPatternOperator",
    "STATUSES",
    "Sequential",
    "SequentialIHTSolver",
    "SparseSensingOperator",
    "SparseVector",
    "StreamingTopK",
    "Training",
    "fit",
    "iht",
    "planted_gaussian",
    "planted_relu",
]


def __getattr__(name: str):
    if name == "TwoLayerReLU":  # deprecated: sparsecert.nn gives it with its FutureWarning
        from . import nn

        return nn.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
