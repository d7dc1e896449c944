"""Numba kernels, each with a NumPy twin of the same signature.

Every public kernel ``name`` has a twin ``name_numpy``; the tests check that
both return the same thing. With ``NUMBA_DISABLE_JIT=1`` the Numba versions
run as plain Python (slowly) and the package still works.

Modules: ``select`` (top-k, thresholding), ``pattern`` (the ReLU-pattern products),
``philox`` (counter-based normals), ``train`` (Adam, ReLU backward), ``pursuit``
(whole OMP and HTP-with-splicing fits on an explicit float64 matrix), ``coordinate`` (MCP coordinate
descent), ``moves`` (the sequential
rule's feature-move scores).

Conventions
-----------
* Top-k by magnitude breaks ties deterministically: larger ``|value|`` first,
  then the smaller (global) index. Selections are returned as positions into
  the input, ordered by increasing global index.
* Activation masks of a support's blocks are stored as uint8 0/1 rows, one
  per block: ``masks[b, i]`` is ``1[x_i . h_j >= 0]`` for the ``b``-th block
  the support touches (one byte per sample: 1/8 of a float64 column, and
  SIMD-friendly where bit-packing measured 4-8x slower).
* A support of the ReLU-pattern operator is described per entry: ``blk[q]``
  is the row of ``masks`` (the block) and ``feat[q]`` the input feature
  (column of ``X``) of entry ``q``; generators grouped by block are
  CSR-style, the entries of block ``b`` being ``ptr[b]:ptr[b+1]``.
* Kernels release the GIL and take a row range ``r0:r1`` where their work
  splits by samples, so :mod:`sparsecert.parallel` can run them on threads.
"""

from __future__ import annotations

from .philox import philox4x32, philox4x32_numpy, philox_normals, philox_normals_numpy
from .select import topk_abs, topk_abs_numpy, threshold_candidates, threshold_candidates_numpy
from .pattern import (
    ROW_TILE,
    mask_scale_capture,
    mask_scale_capture_numpy,
    mask_scale_followed,
    mask_scale_followed_numpy,
    pattern_matvec,
    pattern_matvec_numpy,
    pattern_rmatvec,
    pattern_rmatvec_numpy,
    pattern_normal,
    pattern_normal_numpy,
    sparse_masks,
    sparse_masks_numpy,
    halfspace_sums,
    halfspace_sums_numpy,
    gather_columns,
    gather_columns_numpy,
)
from .pursuit import omp_dense, omp_dense_numpy, omp_steps, iht_dense, iht_dense_numpy
from .coordinate import mcp_cd, mcp_cd_numpy
from .train import adam_step, adam_step_numpy, relu_backward_inplace, relu_backward_inplace_numpy
from .moves import move_scores, move_scores_numpy

from . import coordinate, moves, pattern, philox, pursuit, select, train

__all__ = (philox.__all__ + select.__all__ + pattern.__all__ + pursuit.__all__ + coordinate.__all__ + train.__all__
           + moves.__all__)
