"""Vector-output and deeper sparse ReLU networks, fitted by IHT.

* :func:`fit_factored`: a two-layer net ``F(X) = relu(X U^T) V`` with
  k outputs. IHT runs on the factored parameters ``theta = [vec(U); vec(V)]``
  (length ``m d + m k``) with one top-s over both layers, as in the paper's
  vector-output experiments. The gradient is streamed over blocks of hidden
  units and only its top-2s entries are kept (the weights themselves are held
  as dense m x d and m x k arrays here: this fit is not memory-linear). Units
  without weights take their activation pattern from a seeded random
  generator (the sequential-convex rule), so they can enter the support.
* :func:`fit_layerwise`: deeper nets fitted layer by layer: each layer is a
  sparse two-layer fit on the previous layer's ReLU features, the sparsity
  budget split evenly across layers.

:func:`sparsecert.fit` runs them (a 2-d ``y``; ``layers`` > 1): call that. ``recover_relu_vector`` and
``recover_mlp``, their names in 0.4, still work with a ``FutureWarning``.
"""

from __future__ import annotations

import numpy as np

from .validation import check_array, check_int, check_rng, refuse_fields, warn_deprecated
from .recovery import FactoredIHTSolver
from .configs import IHT, Minibatch, Sequential, device_of, from_keywords
from .relu import fit_two_layer
from .nn import ReLUNet

__all__ = ["recover_relu_vector", "recover_mlp"]  # the fits themselves: through sparsecert.fit


def fit_factored(X, Y, m, s, *, solver=IHT(), batches=None, rng=None, progress=None, device=None, init_scale=None,
                 precondition=None, momentum=None):
    """Fit ``F(X) = relu(X U^T) V`` (U: m x d, V: m x k) with at most ``s`` nonzeros in (U, V).

    IHT on the factored loss, ``0.5 ||Y - F(X)||_F^2`` or the softmax
    cross-entropy (:class:`sparsecert.recovery.FactoredIHTSolver`): a gradient step on
    ``theta = [vec(U); vec(V)]``, one shared top-s over both layers, and a
    backtracking step size, so the loss never increases. Non-convex: no
    recovery guarantee, unlike the scalar convex reformulation.

    Parameters
    ----------
    X, Y, m, s, rng, init_scale, precondition, momentum
        As for :class:`~sparsecert.recovery.FactoredIHTSolver` (``X`` (n, d),
        ``Y`` (n, k) or (n,), width ``m``, ``s`` nonzeros over both layers).
    solver : sparsecert.IHT
        ``max_iter`` full-batch steps, ``tol`` (stop when ``||Y - F(X)||_F <= tol ||Y||_F`` under the
        squared loss, when ``loss <= tol^2 loss(F = 0)`` under cross-entropy; full batch only),
        ``block`` (hidden units per streamed block, default 256) and ``loss``; the factored fit takes
        its own step: ``method`` and ``inner_iter`` keep their defaults.
    batches : sparsecert.Minibatch, optional
        Epochs of one step per shuffled batch (:meth:`~sparsecert.recovery.FactoredIHTSolver.run_epochs`;
        the published code's schedule, ``n / batch_size`` times cheaper a step than a full-batch one).
    progress : bool, optional
    device : str, optional
        None: NumPy; a torch device: the torch backend.

    Returns
    -------
    net : ReLUNet
        One hidden layer; the output layer ``net.Ws[-1]`` of shape (k, m) (k = 1 for a 1-d ``Y``).
    result : RecoveryResult
        ``w`` is the sparse ``theta``.
    """
    refuse_fields(solver, ("method", "step", "inner_iter", "ls_iter", "ls_tol"), "the factored fit of a 2-d y",
                  "it takes its own step")
    factored = FactoredIHTSolver(X, Y, m, s, block=solver.block or 256, rng=rng, init_scale=init_scale,
                                 backend="numpy" if device is None else "torch", device=device, loss=solver.loss,
                                 precondition=precondition, momentum=momentum)
    if batches is None:  # xtol 0: the fit stops as stationary only when no step decreases the loss
        result = factored.solve(max_iter=solver.max_iter, tol=solver.tol, xtol=0.0, progress=progress)
    else:
        result = factored.run_epochs(batches.epochs, batches.batch_size, progress=progress).finalize(
            batch_size=batches.batch_size)
    return ReLUNet([factored.U, factored.V.T], copy=False), result


def fit_layerwise(X, y, widths, s, *, solver=IHT(), rule=Sequential(), batches=None, output_sign="auto", rng=None,
                  progress=None, device=None):
    """Fit a deep sparse ReLU net layer by layer, the budget ``s`` split evenly.

    Layer ``l`` is a sparse two-layer fit (:func:`sparsecert.relu.fit_two_layer`
    for a 1-d ``y``, :func:`fit_factored` for a 2-d ``y``) of ``y``
    on the ReLU features of the layers before it; its hidden weights are kept
    and its output weights become the network's output layer if it is last.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, k)
    widths : sequence of int
        Hidden widths ``m_1, ..., m_L``.
    s : int
        Total nonzeros; layer ``l`` gets ``s // L`` (the first gets the rest).
    solver, rule, batches, output_sign, rng, progress, device
        Passed to the per-layer fits (:func:`sparsecert.relu.fit_two_layer`); with a 2-d ``y`` the
        factored fits take ``solver.max_iter``, ``rng``, ``progress`` and ``device``.

    Returns
    -------
    net : ReLUNet
    results : list of RecoveryResult, one per layer; from the second on, ``peak_memory`` counts the
        layer's input features (n x m_{l-1} floats, ``info["memory_parts"]["features"]``)
    """
    widths = [check_int(w, "widths[i]", low=1) for w in widths]
    if not widths:
        raise ValueError("widths must name at least one hidden layer")
    L = len(widths)
    s = check_int(s, "s", low=L)
    budgets = [s // L] * L
    budgets[0] += s - sum(budgets)
    rng = check_rng(rng)
    X = check_array(X, "X", ndim=2, fortran=True)  # feature-major X: no copy (the first layer's operator reads it so)
    y = check_array(y, "y", ndim=(1, 2), dtype=X.dtype)
    H, Ws, results, V = X, [], [], None
    for l, (m_l, s_l) in enumerate(zip(widths, budgets)):
        s_l = min(s_l, m_l * H.shape[1])
        if y.ndim == 1:
            net, res = fit_two_layer(H, y, m_l, s_l, solver=solver, rule=rule, batches=batches, output_sign=output_sign,
                                     rng=rng, progress=progress, device=device)
            W, V = net.U * np.abs(net.v)[:, None], np.sign(net.v)[None, :]
        else:
            net, res = fit_factored(H, y, m_l, s_l, solver=IHT(max_iter=solver.max_iter), rng=rng, progress=progress,
                                    device=device)
            W, V = net.Ws
        if l:  # its input features are this fit's own arrays (X is the caller's): part of the layer's working set
            res.peak_memory += H.nbytes
            res.info["memory_parts"] = {**res.info.get("memory_parts", {}), "features": H.nbytes}
        Ws.append(W)
        results.append(res)
        if l + 1 < L:  # the next layer's data (none after the last), feature-major as X is: its operator reads H.T
            H = np.matmul(H, W.T, out=np.empty((H.shape[0], W.shape[0]), H.dtype, order="F"))
            np.maximum(H, 0.0, out=H)
    return ReLUNet([*Ws, V], copy=False), results


def recover_relu_vector(X, Y, m, s, **options):
    """Deprecated (goes in 0.6): :func:`sparsecert.fit` with a 2-d ``y``; the same fit as
    :func:`fit_factored` (``options``: 0.4's keywords ``max_iter``, ``tol``, ``block``, ``loss``,
    ``batch_size`` (``max_iter`` epochs), ``backend``, ``device`` and the solver's)."""
    warn_deprecated("sparsecert.deep.recover_relu_vector", "sparsecert.fit(X, Y, m=m, s=s, solver=sparsecert.IHT("
                    "max_iter, tol, block, loss), batches=sparsecert.Minibatch(batch_size, epochs))")
    solver = IHT(**{k: options.pop(k) for k in ("max_iter", "tol", "block", "loss") if k in options})
    batch_size = options.pop("batch_size", None)
    batches = None if batch_size is None else Minibatch(batch_size, solver.max_iter)
    device = device_of(options.pop("backend", "numpy"), options.pop("device", None))
    return fit_factored(X, Y, m, s, solver=solver, batches=batches, device=device, **options)


def recover_mlp(X, y, widths, s, **options):
    """Deprecated (goes in 0.6): :func:`sparsecert.fit` with ``layers``; the same fit as
    :func:`fit_layerwise` (``options``: 0.4's keywords, read by :func:`sparsecert.configs.from_keywords`;
    ``max_iter`` 30 by default, as it was)."""
    warn_deprecated("sparsecert.deep.recover_mlp", "sparsecert.fit(X, y, m=m, s=s, layers=len(widths), ...)")
    return fit_layerwise(X, y, widths, s, **from_keywords({"max_iter": 30, **options}))
