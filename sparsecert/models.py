"""Models and planted problems.

Notation: data ``X`` (n, d); two-layer scalar-output ReLU net
``f(x) = sum_j relu(x . u_j) v_j`` with hidden width ``m``; fused weights
``w_j = u_j v_j`` and ``w = concat(w_1, ..., w_m)`` of length ``m * d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ._memory import check_working_set
from .validation import check_float, check_int, check_option, check_rng, check_dtype
from .operators import GaussianOperator, ReluPatternOperator, SparseSensingOperator
from .sparse import SparseVector
from .nn import ReLUNet

if TYPE_CHECKING:
    from .typing import DTypeLike, RngLike

__all__ = ["PlantedProblem", "planted_gaussian", "planted_relu"]


@dataclass
class PlantedProblem:
    """A planted sparse recovery instance ``y = A w (+ noise)``.

    Attributes
    ----------
    A : SparseSensingOperator
        The sensing operator (for ReLU problems: built from the true
        generators ``h_j = u_j``, so ``A w`` equals the network output).
    y : ndarray, shape (n,)
    w : SparseVector
        The true sparse signal (fused weights for ReLU problems).
    X : ndarray, shape (n, d), or None
        Data (ReLU problems only).
    model : ReLUNet or None
        The planted network (ReLU problems only).
    """

    A: SparseSensingOperator
    y: np.ndarray
    w: SparseVector
    X: np.ndarray | None = None
    model: ReLUNet | None = None
    info: dict = field(default_factory=dict)


def _support(rng, N, s):
    return np.sort(rng.choice(N, size=s, replace=False)).astype(np.int64)


def planted_gaussian(
    n: int,
    N: int,
    s: int,
    rng: RngLike = None,
    *,
    noise: float = 0.0,
    dtype: DTypeLike = np.float64,
) -> PlantedProblem:
    """An s-sparse ``w`` (N(0,1) nonzeros on a uniform support) seen through a Gaussian A.

    Parameters
    ----------
    n, N, s : int
        Measurements, unknowns and nonzeros (``1 <= s <= N``).
    rng : None, int or Generator
    noise : float
        Standard deviation of additive Gaussian noise on ``y``.
    dtype : float64 or float32

    Returns
    -------
    PlantedProblem
        with ``A`` a :class:`GaussianOperator` of shape (n, N).
    """
    n = check_int(n, "n", low=1)
    N = check_int(N, "N", low=1)
    s = check_int(s, "s", low=1, high=N)
    noise = check_float(noise, "noise", low=0.0)
    dtype = check_dtype(dtype)
    rng = check_rng(rng)
    A = GaussianOperator(n, N, rng, dtype=dtype)
    w = SparseVector(_support(rng, N, s), rng.standard_normal(s).astype(dtype), N)
    y = A.matvec(w)
    if noise:
        y = y + noise * rng.standard_normal(n).astype(dtype)
    return PlantedProblem(A=A, y=y, w=w, info={"n": n, "N": N, "s": s, "noise": noise})


def planted_relu(
    n: int,
    d: int,
    m: int,
    s: int,
    rng: RngLike = None,
    *,
    output_sign: str = "positive",
    noise: float = 0.0,
    dtype: DTypeLike = np.float64,
) -> PlantedProblem:
    """A planted sparse two-layer ReLU net and its data (the paper's planted-MLP setting).

    ``X`` has i.i.d. N(0, 1) entries; ``s`` uniformly chosen entries of the
    hidden weights ``U`` (m x d) are N(0, 1), the rest zero; the output
    weights are ``v_j = 1`` (``output_sign="positive"``) or independent
    random signs (``"mixed"``). ``y = f(X)`` (+ noise).

    Returns
    -------
    PlantedProblem
        ``A`` is the :class:`ReluPatternOperator` with the true generators
        ``h_j = u_j`` (random ``h_j`` for neurons without weights); ``A w``
        equals ``model.forward(X)``.
    """
    n = check_int(n, "n", low=1)
    d = check_int(d, "d", low=1)
    m = check_int(m, "m", low=1)
    s = check_int(s, "s", low=1, high=m * d)
    output_sign = check_option(output_sign, "output_sign", {"positive", "mixed"})
    noise = check_float(noise, "noise", low=0.0)
    dtype = check_dtype(dtype)
    rng = check_rng(rng)
    item = np.dtype(dtype).itemsize  # X, the forward pass's two (n, m) temporaries, y: checked before drawing
    check_working_set(item * (n * d + 2 * n * m + 2 * n), f"planted_relu(n={n}, d={d}, m={m})", "lower n or m")
    X = rng.standard_normal((n, d)).astype(dtype, copy=False)  # (float64: no second copy of X)
    U = np.zeros((m, d), dtype=dtype)
    U.flat[_support(rng, m * d, s)] = rng.standard_normal(s)
    v = np.ones(m, dtype=dtype) if output_sign == "positive" else rng.choice([-1.0, 1.0], m).astype(dtype)
    model = ReLUNet.two_layer(U, v)
    y = model.forward(X)
    if noise:
        y = y + noise * rng.standard_normal(n).astype(dtype)
    # True generators h_j = u_j; a neuron without weights gets a random h_j
    # (any h_j is exact there, and a shared h_j = 0 would make those blocks equal).
    H = U.copy()
    idle = ~U.any(axis=1)
    H[idle] = rng.standard_normal((int(idle.sum()), d))
    A = ReluPatternOperator(X, H)
    info = {"n": n, "d": d, "m": m, "s": s, "output_sign": output_sign, "noise": noise}
    return PlantedProblem(A=A, y=y, w=model.fused_weights(), X=X, model=model, info=info)
