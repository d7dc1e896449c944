"""Sparse two-layer ReLU networks recovered by IHT on the convex reformulation.

``y ~ f(X) = sum_j relu(X u_j) v_j`` is the linear sensing problem
``y = A w`` with ``A = [D_1 X, ..., D_m X]``, ``D_j = diag(1[X h_j >= 0])`` and
fused weights ``w_j = u_j v_j`` (Fridovich-Keil & Pilanci, "A Recovery
Guarantee for Sparse Neural Networks"). :func:`fit_two_layer` solves it with
the IHT family of :mod:`sparsecert.recovery`:

* fixed patterns (``sequential=False``): the generators ``h_j`` stay as given
  or as their seeded random draw -- the setting of the theorem;
* sequential convex (``sequential=True``, the paper's experiments): every
  ``period`` steps the generators of the blocks with nonzero weights become
  those weights, ``h_j = w_j``, so each block's pattern is its neuron's own;
* output signs: ``"positive"`` (``v_j > 0``: the fused form is exact) or
  ``"mixed"`` via ``[A_+, -A_-]`` with separate generators for the two parts;
* minibatches: ``batch_size`` > 0 runs epochs of one IHT step per batch,
  reusing the generators (and followed weights) on each batch.

:func:`sparsecert.fit` runs it (its options as configuration objects, checked when made): call
that. ``recover_relu``, the name of 0.4, still works with a ``FutureWarning``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .validation import check_array, check_int, check_option, check_rng, seed_from_rng, warn_deprecated
from .backend import resolve, to_numpy
from .configs import IHT, Minibatch, Sequential, from_keywords
from .metrics import psnr  # its home is sparsecert.metrics; kept importable from here
from .nn import ReLUNet
from .operators import HStackOperator, ReluPatternOperator, TorchReluPatternOperator
from .recovery import IHTSolver, MinibatchIHTSolver, SequentialIHTSolver
from .sparse import SparseVector

if TYPE_CHECKING:
    from .recovery.result import RecoveryResult
    from .typing import ArrayLike, RngLike
    from scipy.sparse.linalg import LinearOperator

__all__ = ["relu_operator", "recover_relu", "refine_relu", "psnr", "model_from_weights", "match_neurons"]


def relu_operator(
    X: ArrayLike,
    m: int,
    *,
    generators: ArrayLike | int | None = None,
    output_sign: str = "positive",
    rng: RngLike = None,
    block: int | None = None,
    backend: str = "numpy",
    device: str | None = None,
) -> LinearOperator:
    """The sensing operator of a width-``m`` two-layer ReLU net on data ``X``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    m : int
        Number of generators (hidden units) per sign.
    generators : array_like, shape (m, d), optional
        Given generators; default: seeded Gaussian draws keyed by ``rng``.
        With ``output_sign="mixed"`` both parts start from them.
    output_sign : {"positive", "mixed"}
    rng : None, int or Generator
    block : int, optional
        Generators per streaming block.
    backend : {"numpy", "torch"}
        NumPy/Numba (default, the reference) or torch (:class:`TorchReluPatternOperator`).
    device : str, optional
        torch device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:K"``.

    Returns
    -------
    ReluPatternOperator (n, m*d) or HStackOperator (n, 2*m*d) = ``[A_+, -A_-]``
    (their torch twins with ``backend="torch"``).
    """
    be = resolve(backend, device)
    m = check_int(m, "m", low=1)
    output_sign = check_option(output_sign, "output_sign", {"positive", "mixed"})
    rng = check_rng(rng)
    X = check_array(to_numpy(X), "X", ndim=2, fortran=True)  # F-contiguous X: the operator's X.T is a view
    if generators is not None:
        generators = check_array(to_numpy(generators), "generators", shape=(m, X.shape[1]), dtype=X.dtype)
    parts = []
    for _ in range(1 if output_sign == "positive" else 2):
        gen = m if generators is None else generators
        if be.name == "torch":
            parts.append(TorchReluPatternOperator(np.ascontiguousarray(X), gen, device=be.device, rng=seed_from_rng(rng),
                                                  block=block))
        else:
            parts.append(ReluPatternOperator(X, gen, rng=seed_from_rng(rng), block=block))
    return parts[0] if output_sign == "positive" else HStackOperator(parts, signs=[1, -1])


def model_from_weights(w: SparseVector | ArrayLike, m: int, d: int, output_sign: str = "positive") -> ReLUNet:
    """The two-layer :class:`~sparsecert.nn.ReLUNet` of fused weights ``w`` (length m*d, or 2*m*d for mixed signs).

    Block ``j`` becomes ``u_j = w_j / ||w_j||``, ``v_j = +-||w_j||`` (minus
    for the second half of a mixed-sign ``w``). Its output equals ``A w``
    exactly when each nonzero block's generator is its own weight vector.
    """
    if output_sign == "mixed":
        signs = np.concatenate([np.ones(m), -np.ones(m)])
        return ReLUNet.from_fused(w, 2 * m, d, signs=signs)
    return ReLUNet.from_fused(w, m, d)


def match_neurons(net_hat: ReLUNet, net: ReLUNet) -> dict:
    """Match hidden units of two networks (they are defined up to permutation).

    Compares the fused weight rows ``u_j v_j`` of the nonzero units by the
    Hungarian algorithm on squared distances.

    Returns
    -------
    dict with ``rel_error`` (``||W_hat[perm] - W||_F / ||W||_F`` over matched
    units, unmatched ones counted in full), ``support_recovered`` (the sets of
    nonzero positions of every unit agree after matching, and so do the
    numbers of nonzero units) and ``perm``.
    """
    from scipy.optimize import linear_sum_assignment

    def rows(n):
        W = n.U * n.v[:, None]
        return W[np.any(W != 0, axis=1)]

    A, B = rows(net_hat), rows(net)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"networks have input dims {A.shape[1]} and {B.shape[1]}")
    total = float(np.linalg.norm(B))
    if A.shape[0] == 0 or B.shape[0] == 0:
        err = float(np.linalg.norm(A) + np.linalg.norm(B))
        return {"rel_error": err / total if total else err, "support_recovered": A.shape[0] == B.shape[0], "perm": []}
    cost = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    ia, ib = linear_sum_assignment(cost)
    sq = cost[ia, ib].sum()
    sq += (np.delete(A, ia, axis=0) ** 2).sum() + (np.delete(B, ib, axis=0) ** 2).sum()
    same_support = A.shape[0] == B.shape[0] and all(
        np.array_equal(A[i] != 0, B[j] != 0) for i, j in zip(ia, ib)
    )
    return {"rel_error": float(np.sqrt(sq)) / total, "support_recovered": bool(same_support), "perm": list(zip(ia, ib))}


def fit_two_layer(
    X: ArrayLike,
    y: ArrayLike,
    m: int,
    s: int,
    *,
    solver: IHT = IHT(),
    rule: Sequential | None = Sequential(),
    batches: Minibatch | None = None,
    generators: ArrayLike | int | None = None,
    output_sign: str = "auto",
    rng: RngLike = None,
    progress: bool | None = None,
    callback: Callable | None = None,
    device: str | None = None,
) -> tuple[ReLUNet, RecoveryResult]:
    """Fit a sparse two-layer ReLU net ``f(x) = sum_j relu(x . u_j) v_j`` to ``(X, y)`` by IHT: the fit
    :func:`sparsecert.fit` runs for a 1-d ``y`` and one hidden layer (call that).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs (finite).
    y : array_like, shape (n,)
        Targets (finite).
    m : int
        Hidden width (number of generators per output sign), ``m >= 1``.
    s : int
        Nonzeros allowed in the fused weights, ``1 <= s <= m * d`` (``2 m d``
        for mixed signs).
    solver : sparsecert.IHT
        The step (``method``, AIHT's ``inner_iter`` conjugate-gradient steps: with the sequential
        rule on wide nets and few samples, fewer steps fit the random patterns less exactly and
        survive the generator update better, paper_repro/recovery/README.md), the stopping rule
        (``max_iter`` full-batch iterations, ``tol``, ``xtol`` as in :func:`sparsecert.iht`) and
        the streaming ``block`` (generators per block).
    rule : sparsecert.Sequential or None
        Sequential-convex IHT (default, the paper's method): generators follow the weights
        (:class:`sparsecert.Sequential`: ``period``, how units enter the support, idle units'
        generators, unit moves and twin merges). The sequence is not monotone (the operator
        changes), so the iterate whose network fits best is returned (``info["best_iter"]``); the
        residuals record the whole run. ``None``: fixed patterns (the recovery theorem's setting;
        the ``generators`` given, else seeded Gaussian ones), which fit a planted net at about
        15-20 dB where the sequential rule recovers it (paper_repro/recovery/README.md).
    batches : sparsecert.Minibatch, optional
        Epochs of one IHT step per minibatch (rows shuffled with ``rng`` each epoch); None, or a
        batch of at least n rows: full batch.
    generators : array_like, shape (m, d), optional
        Given generators (fixed, or the first ones with a rule); default: seeded Gaussian draws
        keyed by ``rng``.
    output_sign : {"auto", "positive", "mixed"}
        Output weights all +1 (``"positive"``, the paper's model: ``m d``
        columns) or +-1 (``"mixed"``: a positive and a negative unit per
        generator, ``2 m d`` columns). ``"auto"`` (default) takes
        ``"positive"`` where every target is ``>= 0`` (the only targets a
        positive net can produce; there it recovers planted nets exactly
        where ``"mixed"`` stops near 35-45 dB) and ``"mixed"`` otherwise;
        the choice made is ``info["output_sign"]``.
    rng : None, int or Generator
        Seeds the generators and the minibatch order.
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    callback : callable, optional
        ``callback(it, w, rel_residual)`` after each step.
    device : str, optional
        None (default): NumPy and Numba, the reference. A torch device (``"cpu"``, ``"cuda"``,
        ``"cuda:K"``): the operator's data and products live there as torch tensors (the same
        iterates to ~1e-12 in float64).

    Returns
    -------
    net : ReLUNet
        Width ``m`` (``2 m`` for mixed signs; zero units where blocks are empty).
    result : RecoveryResult
        With ``info["operator"]`` the final operator (its generators included).

    Notes
    -----
    ``net.forward(X)`` equals the convex model ``A w`` exactly for the blocks
    whose generator is their own weight (sequential mode, or the true
    generators of a planted net); with fixed random generators it is the
    natural network read off ``w``.
    """
    t_start = time.perf_counter()
    backend = "numpy" if device is None else "torch"
    resolve(backend, device)  # fail early on an unavailable backend
    X = check_array(to_numpy(X), "X", ndim=2, fortran=True)  # F-contiguous X: the operator's X.T is a view
    n, d = X.shape
    if n < 1 or d < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    y = check_array(to_numpy(y), "y", shape=(n,), dtype=X.dtype)
    m = check_int(m, "m", low=1)
    output_sign = check_option(output_sign, "output_sign", {"auto", "positive", "mixed"})
    if output_sign == "auto":
        output_sign = "positive" if float(y.min()) >= 0 else "mixed"
    s = check_int(s, "s", low=1, high=m * d * (2 if output_sign == "mixed" else 1))
    rng = check_rng(rng)
    A = relu_operator(X, m, generators=generators, output_sign=output_sign, rng=rng, block=solver.block,
                      backend=backend, device=device)
    steps: dict[str, Any] = solver.step_options()
    if batches is not None and batches.batch_size < n:
        run: IHTSolver = MinibatchIHTSolver(A, X, y, s, batch_size=batches.batch_size, epochs=batches.epochs,
                                            rng=rng, sequential=rule is not None,
                                            period=1 if rule is None else rule.period,
                                            admission="all" if rule is None or rule.admission == "all" else "halving",
                                            **steps)
        result = run.solve(progress=progress, callback=callback)
    else:
        if rule is not None:
            run = SequentialIHTSolver(A, y, s, period=rule.period, admission=rule.admission, idle=rule.idle,
                                      unit_moves=rule.unit_moves, merge_twins=rule.merge_twins, **steps)
        else:
            run = IHTSolver(A, y, s, **steps)
        result = run.solve(max_iter=solver.max_iter, tol=solver.tol, xtol=solver.xtol, progress=progress,
                           callback=callback)
    net = _describe_returned(result, X, y, m, d, output_sign, rule is not None)
    result.time = time.perf_counter() - t_start
    result.info["operator"] = run.A  # the generators of the network returned
    result.info["output_sign"] = output_sign
    return net, result


def recover_relu(X: ArrayLike, y: ArrayLike, m: int, s: int, **options: Any) -> tuple[ReLUNet, RecoveryResult]:
    """Deprecated (goes in 0.6): :func:`sparsecert.fit`, whose ``solver``, ``rule`` and ``batches``
    hold these options; the same fit as :func:`fit_two_layer` (``options``: 0.4's keywords, read by
    :func:`sparsecert.configs.from_keywords`)."""
    warn_deprecated("sparsecert.relu.recover_relu", "sparsecert.fit(X, y, m=m, s=s, solver=sparsecert.IHT(method, "
                    "inner_iter, max_iter, tol, xtol, block), rule=sparsecert.Sequential(...) or None, "
                    "batches=sparsecert.Minibatch(batch_size, epochs), output_sign=..., generators=...)")
    return fit_two_layer(X, y, m, s, **from_keywords(options))


def _describe_returned(result, X, y, m, d, output_sign, sequential):
    """The network read off ``result.w``, with ``result`` made to describe it: ``residual`` is the
    network's own (the solver's last entry is the last iterate's, and with fixed patterns the
    convex model ``A w``'s); where fixed patterns make the network another function than ``A w``
    the status says so (``"network_differs"``, the model's residual in ``info["linear_residual"]``),
    and a network worse than the zero one is replaced by it (``w = 0``, ``best_iter`` 0)."""
    net = model_from_weights(result.w, m, d, output_sign)
    ny = float(np.linalg.norm(y))
    scale = ny if ny > 0 else 1.0
    fitted = float(np.linalg.norm(net.forward(X) - y)) / scale
    linear = result.residual
    if not sequential and abs(fitted - linear) > 1e-9 * max(1.0, linear):
        result.status, result.converged = "network_differs", False
        result.info["linear_residual"] = linear
    if fitted > (1.0 if ny > 0 else 0.0) and result.w.nnz:
        result.w = SparseVector.zeros(result.w.size, dtype=result.w.values.dtype)
        result.support = result.w.indices
        result.info["best_iter"] = 0
        net, fitted = model_from_weights(result.w, m, d, output_sign), (1.0 if ny > 0 else 0.0)
    result.final_residual = fitted
    return net


def refine_relu(net: ReLUNet, X: ArrayLike, y: ArrayLike, *, s: int | None = None, max_iter: int = 100,
                tol: float = 1e-10) -> tuple[ReLUNet, dict]:
    """Gauss-Newton on the nonzero hidden weights of a two-layer ReLU net, output weights fixed.

    With the activation patterns ``D_j = diag(1[X u_j >= 0])`` of the current ``U`` held fixed the net
    is linear in its nonzero weights, ``f(X) = sum_j v_j D_j X_{T_j} u_{j, T_j}`` (``T_j`` the support
    of ``u_j``): each step solves that least-squares problem (an n x nnz matrix) and moves towards its
    solution, halving the step until the net's own relative residual (patterns recomputed) falls. Near
    a network that fits exactly the patterns are right on all but a few samples and a few steps reach
    it to round-off, where IHT's steps on the reformulation converge slowly. Weights below
    ``1e-12 max |u|`` are dropped after the steps; if more than ``s`` remain, the ``s`` largest
    ``|v_j u_jk|`` are kept and the steps run again on them.

    Parameters
    ----------
    net : ReLUNet
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    s : int, optional
        Nonzero hidden weights the result may keep (default: those of ``net``).
    max_iter : int
        Steps at most (per support).
    tol : float
        Relative residual ``||y - f(X)|| / ||y||`` at which the steps stop.

    Returns
    -------
    net : ReLUNet
        The refined network (a new object; ``net`` is unchanged).
    info : dict
        ``residual`` (relative, of the returned net), ``steps`` taken, ``start`` (the given net's
        relative residual).
    """
    X = check_array(X, "X", ndim=2)
    y = check_array(y, "y", shape=(X.shape[0],), dtype=X.dtype)
    max_iter = check_int(max_iter, "max_iter", low=0)
    U, v = np.array(net.U, dtype=np.float64), np.asarray(net.v, dtype=np.float64)
    if U.shape[1] != X.shape[1]:
        raise ValueError(f"net has {U.shape[1]} inputs, X has {X.shape[1]} features")
    ynorm = float(np.linalg.norm(y)) or 1.0

    def forward(U):
        """The relative residual of the net with hidden weights ``U``, and its pre-activations ``X U^T``."""
        Z = X @ U.T
        return float(np.linalg.norm(y - np.maximum(Z, 0.0) @ v)) / ynorm, Z

    def steps(U, rel, Z, budget):
        J, K = np.nonzero(U)
        taken = 0
        while taken < budget and rel > tol and J.size:
            C = (Z >= 0)[:, J] * X[:, K] * v[J]
            D = np.zeros_like(U)
            D[J, K] = np.linalg.lstsq(C, y, rcond=None)[0] - U[J, K]
            t = 1.0
            while t >= 1e-3:
                new_rel, new_Z = forward(U + t * D)
                if new_rel < rel:
                    break
                t /= 2
            else:  # no step lowers the residual: the patterns are not close enough
                break
            U, rel, Z, taken = U + t * D, new_rel, new_Z, taken + 1
        return U, rel, taken

    start, Z = forward(U)
    U, rel, taken = steps(U, start, Z, max_iter)
    U[np.abs(U) <= 1e-12 * (np.abs(U).max() if U.size else 0.0)] = 0.0
    s = int(np.count_nonzero(U)) if s is None else check_int(s, "s", low=1)
    if np.count_nonzero(U) > s:
        keep = np.argsort(-np.abs(U * v[:, None]), axis=None, kind="stable")[:s]
        pruned = np.zeros_like(U)
        pruned.flat[keep] = U.flat[keep]
        rel, Z = forward(pruned)
        U, rel, more = steps(pruned, rel, Z, max_iter)
        taken += more
    else:
        rel, _ = forward(U)
    return ReLUNet.two_layer(U.astype(net.U.dtype, copy=False), net.v.copy()), {"residual": rel, "steps": taken, "start": start}
