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

from .validation import check_array, check_int, check_rng, warn_deprecated
from .recovery import FactoredIHTSolver
from .relu import fit_two_layer
from .nn import ReLUNet

__all__ = ["fit_factored", "fit_layerwise", "recover_relu_vector", "recover_mlp"]


def fit_factored(X, Y, m, s, *, max_iter=100, tol=1e-10, block=256, rng=None, progress=None, init_scale=None,
                 backend="numpy", device=None, loss="squared", precondition=None, momentum=None,
                 batch_size=None):
    """Fit ``F(X) = relu(X U^T) V`` (U: m x d, V: m x k) with at most ``s`` nonzeros in (U, V).

    IHT on the factored loss, ``0.5 ||Y - F(X)||_F^2`` or the softmax
    cross-entropy (:class:`sparsecert.recovery.FactoredIHTSolver`): a gradient step on
    ``theta = [vec(U); vec(V)]``, one shared top-s over both layers, and a
    backtracking step size, so the loss never increases. Non-convex: no
    recovery guarantee, unlike the scalar convex reformulation.

    Parameters
    ----------
    X, Y, m, s, block, rng, init_scale, backend, device, loss, precondition, momentum
        As for :class:`~sparsecert.recovery.FactoredIHTSolver` (``X`` (n, d),
        ``Y`` (n, k) or (n,), width ``m``, ``s`` nonzeros over both layers).
    max_iter : int
        Full-batch steps; with ``batch_size``, epochs.
    tol : float
        Stop when ``||Y - F(X)||_F <= tol ||Y||_F`` (squared loss; under
        cross-entropy when ``loss <= tol^2 loss(F = 0)``); full batch only.
    progress : bool, optional
    batch_size : int, optional
        ``max_iter`` epochs of one step per shuffled batch of this many samples
        (:meth:`~sparsecert.recovery.FactoredIHTSolver.run_epochs`; the published code's schedule,
        ``n / batch_size`` times cheaper a step than a full-batch one).

    Returns
    -------
    net : ReLUNet
        One hidden layer; the output layer ``net.Ws[-1]`` of shape (k, m) (k = 1 for a 1-d ``Y``).
    result : RecoveryResult
        ``w`` is the sparse ``theta``.
    """
    solver = FactoredIHTSolver(X, Y, m, s, block=block, rng=rng, init_scale=init_scale, backend=backend, device=device,
                               loss=loss, precondition=precondition, momentum=momentum)
    if batch_size is None:  # xtol 0: the fit stops as stationary only when no step decreases the loss
        result = solver.solve(max_iter=max_iter, tol=tol, xtol=0.0, progress=progress)
    else:
        result = solver.run_epochs(max_iter, batch_size, progress=progress).finalize(batch_size=int(batch_size))
    return ReLUNet([solver.U, solver.V.T], copy=False), result


def fit_layerwise(X, y, widths, s, *, method="aiht", sequential=True, max_iter=30, rng=None, progress=None, **kwargs):
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
    method, sequential, max_iter, rng, progress
        Passed to the per-layer fits (scalar output); ``**kwargs`` too.

    Returns
    -------
    net : ReLUNet
    results : list of RecoveryResult, one per layer
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
    for m_l, s_l in zip(widths, budgets):
        s_l = min(s_l, m_l * H.shape[1])
        if y.ndim == 1:
            net, res = fit_two_layer(
                H, y, m_l, s_l, method=method, sequential=sequential, max_iter=max_iter, rng=rng,
                progress=progress, **kwargs,
            )
            W, V = net.U * np.abs(net.v)[:, None], np.sign(net.v)[None, :]
        else:
            where = {k: kwargs[k] for k in ("backend", "device") if k in kwargs}
            net, res = fit_factored(H, y, m_l, s_l, max_iter=max_iter, rng=rng, progress=progress, **where)
            W, V = net.Ws
        Ws.append(W)
        results.append(res)
        # the next layer's data, feature-major as X is: its operator reads H.T as a view, no copy
        H = np.matmul(H, W.T, out=np.empty((H.shape[0], W.shape[0]), H.dtype, order="F"))
        np.maximum(H, 0.0, out=H)
    return ReLUNet([*Ws, V], copy=False), results


def recover_relu_vector(X, Y, m, s, **options):
    """Deprecated (goes in 0.6): :func:`sparsecert.fit` with a 2-d ``y``; the same fit as
    :func:`fit_factored` (``options`` are its keywords)."""
    warn_deprecated("sparsecert.deep.recover_relu_vector", "sparsecert.fit(X, Y, m=m, s=s, solver=sparsecert.IHT("
                    "max_iter, tol, block, loss), batches=sparsecert.Minibatch(batch_size, epochs))")
    return fit_factored(X, Y, m, s, **options)


def recover_mlp(X, y, widths, s, **options):
    """Deprecated (goes in 0.6): :func:`sparsecert.fit` with ``layers``; the same fit as
    :func:`fit_layerwise` (``options`` are its keywords)."""
    warn_deprecated("sparsecert.deep.recover_mlp", "sparsecert.fit(X, y, m=m, s=s, layers=len(widths), ...)")
    return fit_layerwise(X, y, widths, s, **options)
