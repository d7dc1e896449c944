"""Library versions of the paper's experiments: planted MLPs and the memory claim.

* :func:`planted_mlp` / :func:`planted_mlp_grid`: plant a sparse ReLU MLP
  (Gaussian inputs, input dim 100, scalar output, ``s / layers`` N(0, 1)
  weights per layer, output = sum of the last hidden layer's ReLUs), fit it
  by IHT and report PSNR (``20 log10 max|y| - 10 log10 MSE``, on the
  training data: a fitting experiment), exact-support recovery, relative
  weight error, time and peak working memory.
* :func:`planted_vector`: the same with ``k`` outputs (the paper's Fig. 2):
  ``s / 2`` N(0, 1) weights in each of the hidden and output layers, fitted
  by vector IHT on both layers.
* :func:`working_set`: the solver's peak working set for given (n, d, m, s,
  block), estimated and measured (tracemalloc), against the O(n d + n block
  + s) model.
"""

from __future__ import annotations

from ..io import write_csv  # noqa: F401  (its home before 0.3.0)
from .cells import RELU_VARIANTS, SUCCESS_TOL, gaussian_recovery, l1_recovery, relu_recovery
from .memory import working_set
from .planted import capacity, imp_relu_baseline, planted_deep, planted_mlp, planted_mlp_grid, planted_vector

__all__ = [
    "capacity",
    "planted_deep",
    "planted_mlp",
    "planted_mlp_grid",
    "planted_vector",
    "imp_relu_baseline",
    "working_set",
    "gaussian_recovery",
    "l1_recovery",
    "relu_recovery",
    "SUCCESS_TOL",
    "RELU_VARIANTS",
]
