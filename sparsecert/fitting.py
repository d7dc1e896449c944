"""One function that fits a sparse ReLU network, and its options as frozen configuration objects.

``fit(X, y, m=..., s=...)`` chooses the fit from ``y`` and ``layers``: a 1-d ``y`` and one hidden
layer is the paper's two-layer fit (:func:`sparsecert.relu.fit_two_layer`), several layers are
fitted one after another with the budget split evenly (:func:`sparsecert.deep.fit_layerwise`), and a
2-d ``y`` (``k`` outputs) is the factored fit over both layers at once
(:func:`sparsecert.deep.fit_factored`). The options of each part are objects checked once,
when they are made, so a wrong value is named where it is written:

* :class:`IHT`: the step (``method``, ``inner_iter``), when the run stops (``max_iter``, ``tol``,
  ``xtol``) and the streaming block;
* :class:`Sequential`: the sequential-convex rule (generators follow the weights; the paper's
  method), or ``rule=None`` for fixed patterns (the recovery theorem's setting);
  ``Sequential.published()`` is the published code's rule;
* :class:`Minibatch`: epochs of one step per shuffled batch (the published code's schedule on
  large data), or ``batches=None`` for full-batch steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .validation import check_bool, check_float, check_int, check_option

__all__ = ["IHT", "Sequential", "Minibatch", "Restarts", "fit"]


@dataclass(frozen=True)
class IHT:
    """How IHT steps and when it stops.

    Parameters
    ----------
    method : {"iht", "niht", "aiht", "htp"}
        The step (:data:`sparsecert.METHODS`); ``"aiht"`` (default) is the paper's.
    inner_iter : int, >= 0
        AIHT's inner conjugate-gradient steps per iteration (the reference code takes 10
        gradient steps; 3 by default).
    max_iter : int, >= 1
        Full-batch iterations (the factored fit's steps).
    tol, xtol : float, >= 0
        Stop when the relative residual is below ``tol``, or the iterate moves less than ``xtol``
        relative (:func:`sparsecert.iht`).
    block : int, optional
        Hidden units per streaming block (default: the operator's).
    loss : {"squared", "cross-entropy"}
        What the steps descend: the squared error (a scalar output is always fitted so), or for a
        2-d ``y`` the softmax cross-entropy (rows of ``y`` are class probabilities).
    """

    method: str = "aiht"
    inner_iter: int = 3
    max_iter: int = 100
    tol: float = 1e-10
    xtol: float = 1e-12
    block: int | None = None
    loss: str = "squared"

    def __post_init__(self) -> None:
        from .recovery import LOSSES, METHODS

        check_option(self.method, "method", set(METHODS))
        check_option(self.loss, "loss", set(LOSSES))
        check_int(self.inner_iter, "inner_iter", low=0)
        check_int(self.max_iter, "max_iter", low=1)
        check_float(self.tol, "tol", low=0.0)
        check_float(self.xtol, "xtol", low=0.0)
        if self.block is not None:
            check_int(self.block, "block", low=1)


@dataclass(frozen=True)
class Sequential:
    """The sequential-convex rule: each unit's generator follows its weights (the paper's method).

    Parameters
    ----------
    period : int, >= 1
        Steps between generator updates.
    admission : {"adaptive", "halving", "all"}
        How units enter the support at an update (full batch; see
        :class:`~sparsecert.recovery.SequentialIHTSolver`); ``"all"`` is the published rule.
    idle : {"residual", "random"}
        Generators of units without weights: the one-feature generator that best fits the
        residual, or the random draw (the published rule). Full batch.
    unit_moves : bool
        Merge or split units when an update brings no better network (full batch).
    merge_twins : bool
        Merge units whose weights are positive multiples of each other (full batch).
    """

    period: int = 1
    admission: str = "adaptive"
    idle: str = "residual"
    unit_moves: bool = True
    merge_twins: bool = False

    def __post_init__(self) -> None:
        from .recovery import ADMISSIONS, IDLE_GENERATORS

        check_int(self.period, "period", low=1)
        check_option(self.admission, "admission", set(ADMISSIONS))
        check_option(self.idle, "idle", set(IDLE_GENERATORS))
        check_bool(self.unit_moves, "unit_moves")
        check_bool(self.merge_twins, "merge_twins")

    @classmethod
    def published(cls) -> Sequential:
        """The published code's rule: every entering unit admitted at each update, idle units
        keep their random generators, no unit moves or merges."""
        return cls(admission="all", idle="random", unit_moves=False, merge_twins=False)


@dataclass(frozen=True)
class Minibatch:
    """Epochs of one step per shuffled batch of ``batch_size`` samples (rows shuffled by ``rng``).

    A feature-major (F-contiguous) ``X`` is read in place: no batch is copied.
    """

    batch_size: int
    epochs: int = 1

    def __post_init__(self) -> None:
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.epochs, "epochs", low=1)


@dataclass(frozen=True)
class Restarts:
    """Several seeded fits with room to spare, each refined, until one fits exactly (scalar output,
    one hidden layer, full batch).

    Try ``k`` fits ``ceil(slack s)`` nonzeros from generators seeded by the ``k``-th child of ``rng``;
    :func:`sparsecert.relu.refine_relu` then takes Gauss-Newton steps on its nonzero weights, drops the
    negligible ones and, if more than ``s`` remain, keeps the ``s`` largest and refines again. The tries
    stop at the first network whose relative residual is at most ``IHT.tol``; the best is returned.
    On planted nets (d = 10-20, m = 5-20, 2-4 weights a unit, n >= 50 s) the spare nonzeros let the
    sequential rule reach the right patterns and the refinement finishes what its slow last steps
    leave (``docs/explanations/sparse_relu.md``).

    Parameters
    ----------
    tries : int, >= 1
        At most this many fits (the ``k``-th seeded by ``rng.spawn``'s ``k``-th child, so a larger
        ``tries`` repeats the smaller's first fits). 16: at (5000, 20, 20, 60) two of three planted
        nets that 8 tries missed were exact at the 12th.
    slack : float, >= 1
        The fits' nonzeros over ``s``.
    """

    tries: int = 16
    slack: float = 1.5

    def __post_init__(self) -> None:
        check_int(self.tries, "tries", low=1)
        check_float(self.slack, "slack", low=1.0)


#: ``rule``'s default: :class:`Sequential` for a scalar output; the factored fit has no rule.
DEFAULT_RULE = Sequential()


def fit(
    X: Any,
    y: Any,
    *,
    m: int,
    s: int,
    solver: IHT | None = None,
    rule: Sequential | None = DEFAULT_RULE,
    batches: Minibatch | None = None,
    restarts: Restarts | None = None,
    layers: int = 1,
    output_sign: str = "auto",
    generators: Any = None,
    rng: Any = None,
    progress: bool | None = None,
    device: str | None = None,
) -> tuple[Any, Any]:
    """Fit a sparse ReLU network with at most ``s`` nonzero weights to ``(X, y)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs (finite). Kept as given when F-contiguous (feature-major: no copy of X is made).
    y : array_like, shape (n,) or (n, k)
        Targets: a 1-d ``y`` fits ``f(x) = sum_j relu(x . u_j) v_j``; a 2-d one ``k`` outputs.
    m : int
        Hidden units per layer.
    s : int
        Nonzero weights allowed (all layers together; split evenly across ``layers``).
    solver : IHT, optional
        The step, the loss and the stopping rule (default ``IHT()``). The factored fit (2-d ``y``)
        uses its ``max_iter``, ``tol``, ``block`` and ``loss``; ``method`` and ``inner_iter`` must
        keep their defaults there.
    rule : Sequential or None
        Generators follow the weights (default) or stay fixed (``None``). Scalar output only:
        the factored fit thresholds both layers at once and takes no rule.
    batches : Minibatch, optional
        Minibatch epochs instead of full-batch steps.
    restarts : Restarts, optional
        Seeded tries with spare nonzeros, each refined by Gauss-Newton steps, until one fits exactly
        (scalar output, one layer, full batch); ``result.info["tries"]`` the tries made.
    layers : int, >= 1
        Hidden layers of width ``m`` (scalar output), fitted one after another.
    output_sign : {"auto", "positive", "mixed"}
        Scalar output: output weights all +1, or +-1 (see :func:`sparsecert.relu.fit_two_layer`).
    generators : array_like, shape (m, d), optional
        The first layer's generators (default: seeded Gaussian draws keyed by ``rng``).
    rng : None, int or Generator
        Seeds the generators, the start and the minibatch order.
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    device : str, optional
        None (default): NumPy and Numba. A torch device (``"cpu"``, ``"cuda"``): the products run
        there through the torch backend (the same iterates to ~1e-12 in float64).

    Returns
    -------
    net : ReLUNet
        The fitted network (``net.forward(X)``).
    result : RecoveryResult, or a list of them (one per layer)
        The run: residuals, status, iterations, peak memory.

    Examples
    --------
    >>> import sparsecert as sc
    >>> p = sc.planted_relu(2000, 10, 5, 12, rng=0)
    >>> net, res = sc.fit(p.X, p.y, m=10, s=30, solver=sc.IHT(max_iter=30), rng=1)
    >>> bool(res.residual < 1e-6)
    True
    """
    from .deep import fit_layerwise, fit_factored
    from .relu import fit_two_layer

    solver = IHT() if solver is None else _check_config(solver, IHT, "solver")
    batches = None if batches is None else _check_config(batches, Minibatch, "batches")
    layers = check_int(layers, "layers", low=1)
    where = {"backend": "numpy"} if device is None else {"backend": "torch", "device": device}
    restarts = None if restarts is None else _check_config(restarts, Restarts, "restarts")
    if np.ndim(y) == 2:
        if restarts is not None:
            raise ValueError("restarts apply to a 1-d y (a scalar output)")
        if output_sign != "auto":
            raise ValueError("output_sign applies to a 1-d y (the factored fit learns its output layer)")
        return _fit_vector(fit_factored, X, y, m, s, solver, rule, batches, layers, generators,
                           dict(rng=rng, progress=progress, **where))
    if solver.loss != "squared":
        raise ValueError(f"a scalar output is fitted in squared error (loss='squared'), got loss={solver.loss!r}")
    rule = None if rule is None else _check_config(rule, Sequential, "rule")
    kw = dict(method=solver.method, inner_iter=solver.inner_iter, max_iter=solver.max_iter, tol=solver.tol,
              xtol=solver.xtol, block=solver.block, output_sign=output_sign, sequential=rule is not None,
              rng=rng, progress=progress, **where)
    if rule is not None:
        kw.update(period=rule.period, admission=rule.admission, idle=rule.idle, unit_moves=rule.unit_moves,
                  merge_twins=rule.merge_twins)
    if batches is not None:
        kw.update(batch_size=batches.batch_size, epochs=batches.epochs)
    if restarts is not None:
        if layers != 1 or batches is not None or generators is not None:
            raise ValueError("restarts apply to a one-layer full-batch fit from seeded generators "
                             "(layers=1, batches=None, generators=None)")
        return _fit_restarts(fit_two_layer, X, y, m, s, restarts, solver.tol, kw)
    if layers == 1:
        return fit_two_layer(X, y, m, s, generators=generators, **kw)
    if generators is not None:
        raise ValueError("generators are the first layer's of a one-layer fit (layers=1)")
    return fit_layerwise(X, y, [m] * layers, s, **kw)


def _fit_restarts(recover, X, y, m, s, restarts, tol, kw):
    """:class:`Restarts`: seeded tries with spare nonzeros, each refined; the first exact or the best."""
    import time
    from dataclasses import replace

    from .relu import refine_relu
    from .validation import check_rng

    t0 = time.perf_counter()
    spare = min(int(np.ceil(restarts.slack * s)), m * np.shape(X)[1])
    best = None
    for k, child in enumerate(check_rng(kw.pop("rng")).spawn(restarts.tries)):
        net, res = recover(X, y, m, spare, rng=child, **kw)
        net, info = refine_relu(net, X, y, s=s, tol=tol)
        if best is None or info["residual"] < best[2]["residual"]:
            best = (net, res, info)
        if info["residual"] <= tol:
            break
    net, res, info = best
    w = net.fused_weights()
    exact = info["residual"] <= tol
    return net, replace(res, w=w, support=w.indices, final_residual=info["residual"],
                        status="residual" if exact else res.status, converged=exact or res.converged,
                        time=time.perf_counter() - t0,
                        info={**res.info, "tries": k + 1, "refine_steps": info["steps"], "refined_from": info["start"]})


def _fit_vector(recover, X, Y, m, s, solver, rule, batches, layers, generators, kw):
    """The factored fit of a 2-d ``Y`` (one hidden layer): what applies of the options, the rest refused."""
    if layers != 1:
        raise ValueError(f"a 2-d y is fitted with one hidden layer (layers=1), got layers={layers}")
    if rule is not DEFAULT_RULE and rule is not None:
        raise ValueError("the factored fit of a 2-d y thresholds both layers at once and takes no rule "
                         "(leave rule at its default or None)")
    if (solver.method, solver.inner_iter) != (IHT.method, IHT.inner_iter):
        raise ValueError("the factored fit of a 2-d y takes its own step: leave solver.method and "
                         "solver.inner_iter at their defaults")
    if generators is not None:
        raise ValueError("generators apply to a 1-d y")
    steps = (dict(max_iter=solver.max_iter, tol=solver.tol) if batches is None
             else dict(max_iter=batches.epochs, batch_size=batches.batch_size))
    return recover(X, Y, m, s, block=solver.block or 256, loss=solver.loss, **steps, **kw)


def _check_config(value, kind, name):
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a sparsecert.{kind.__name__}, got {type(value).__name__}")
    return value
