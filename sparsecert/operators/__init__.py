"""Implicit sensing operators: A is applied block by block and never stored.

One operator per module, all on the contract of :mod:`.base`
(:class:`SparseSensingOperator`, a ``scipy.sparse.linalg.LinearOperator``):

* :class:`GaussianOperator` -- i.i.d. N(0, 1/n) entries regenerated on the
  fly from a counter-based (Philox) stream, so any column block is
  reproducible from the seed alone.
* :class:`ReluPatternOperator` -- the convex reformulation of a two-layer
  ReLU network, ``A = [D_1 X, ..., D_m X]`` with
  ``D_j = diag(1[X h_j >= 0])``; column ``j * d + k`` is ``D_j X[:, k]``.
  Its masks are kept between products in a :class:`PatternCache`.
* :class:`TorchReluPatternOperator`, :class:`TorchGaussianOperator` -- the
  same columns with products on torch tensors, CPU or CUDA (torch is
  imported only when one is made).
* :class:`DenseOperator` (an explicit matrix) and :class:`HStackOperator`
  (operators side by side with signs).

Beyond ``matvec``/``rmatvec`` each operator offers what IHT needs to stay
memory-linear: ``gradient_split`` (one streaming pass of ``A^T r`` that keeps
only the values on the current support and the top-k outside it) and
``restrict`` (the n x ``|S|`` submatrix ``A_S`` as an operator).
:func:`sparsecert.testing.check_operator` checks the contract on any operator.
"""

from .base import RestrictedOperator, SparseSensingOperator
from .dense import DenseOperator
from .gaussian import GaussianOperator
from .gaussian_torch import TorchGaussianOperator
from .pattern_cache import PatternCache
from .relu_pattern import ReluPatternOperator
from .relu_pattern_torch import TorchReluPatternOperator
from .stack import HStackOperator

__all__ = [
    "SparseSensingOperator",
    "RestrictedOperator",
    "DenseOperator",
    "GaussianOperator",
    "HStackOperator",
    "PatternCache",
    "ReluPatternOperator",
    "TorchGaussianOperator",
    "TorchReluPatternOperator",
]
