"""One function that fits a sparse ReLU network: ``fit(X, y, m=..., s=...)``.

It chooses the fit from ``y`` and ``layers``: a 1-d ``y`` and one hidden layer is the paper's
two-layer fit (:func:`sparsecert.relu.fit_two_layer`), several layers are fitted one after another
with the budget split evenly (:func:`sparsecert.deep.fit_layerwise`), and a 2-d ``y`` (``k``
outputs) is the factored fit over both layers at once (:func:`sparsecert.deep.fit_factored`). Its
options are the configuration objects of :mod:`sparsecert.configs` (:class:`IHT`,
:class:`Sequential`, :class:`Minibatch`, :class:`Restarts`; also ``sparsecert.IHT`` and so on),
checked once when made and handed down as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .configs import IHT, Minibatch, Restarts, Sequential, check_config
from .validation import check_int

__all__ = ["fit"]


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
    from .deep import fit_factored, fit_layerwise
    from .relu import fit_two_layer

    solver = IHT() if solver is None else check_config(solver, IHT, "solver")
    batches = None if batches is None else check_config(batches, Minibatch, "batches")
    restarts = None if restarts is None else check_config(restarts, Restarts, "restarts")
    layers = check_int(layers, "layers", low=1)
    if np.ndim(y) == 2:
        _refuse_for_a_vector(rule, restarts, layers, output_sign, generators)
        return fit_factored(X, y, m, s, solver=solver, batches=batches, rng=rng, progress=progress, device=device)
    if solver.loss != "squared":
        raise ValueError(f"a scalar output is fitted in squared error (loss='squared'), got loss={solver.loss!r}")
    rule = None if rule is None else check_config(rule, Sequential, "rule")
    kw = dict(solver=solver, rule=rule, batches=batches, output_sign=output_sign, rng=rng, progress=progress,
              device=device)
    if restarts is not None:
        if layers != 1 or batches is not None or generators is not None:
            raise ValueError("restarts apply to a one-layer full-batch fit from seeded generators "
                             "(layers=1, batches=None, generators=None)")
        return _fit_restarts(fit_two_layer, X, y, m, s, restarts, kw)
    if layers == 1:
        return fit_two_layer(X, y, m, s, generators=generators, **kw)
    if generators is not None:
        raise ValueError("generators are the first layer's of a one-layer fit (layers=1)")
    return fit_layerwise(X, y, [m] * layers, s, **kw)


def _fit_restarts(fit_two_layer, X, y, m, s, restarts, kw):
    """:class:`Restarts`: seeded tries with spare nonzeros, each refined; the first exact or the best."""
    import time
    from dataclasses import replace

    from .relu import refine_relu
    from .validation import check_rng

    t0 = time.perf_counter()
    tol = kw["solver"].tol
    spare = min(int(np.ceil(restarts.slack * s)), m * np.shape(X)[1])
    best = None
    for k, child in enumerate(check_rng(kw.pop("rng")).spawn(restarts.tries)):
        net, res = fit_two_layer(X, y, m, spare, rng=child, **kw)
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


def _refuse_for_a_vector(rule, restarts, layers, output_sign, generators):
    """The options a 2-d ``y`` (the factored fit, one hidden layer) does not take, refused by name."""
    if restarts is not None:
        raise ValueError("restarts apply to a 1-d y (a scalar output)")
    if output_sign != "auto":
        raise ValueError("output_sign applies to a 1-d y (the factored fit learns its output layer)")
    if layers != 1:
        raise ValueError(f"a 2-d y is fitted with one hidden layer (layers=1), got layers={layers}")
    if rule is not DEFAULT_RULE and rule is not None:
        raise ValueError("the factored fit of a 2-d y thresholds both layers at once and takes no rule "
                         "(leave rule at its default or None)")
    if generators is not None:
        raise ValueError("generators apply to a 1-d y")
