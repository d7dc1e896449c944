"""NEq: neurons at equilibrium skip their updates (Bragagnolo, Tartaglione & Grangetto, NeurIPS 2022).

After each epoch the outputs ``y_k`` of every hidden unit on a fixed validation
batch are compared with the previous epoch's: ``phi_k(t) = cos(y_k(t), y_k(t-1))``
(two all-zero vectors count as similar). With ``dphi_k(t) = phi_k(t) - phi_k(t-1)``
the velocity is ``v_k(t) = -dphi_k(t) + mu_eq v_k(t-1)``; a unit with
``|v_k(t)| < eps`` is at equilibrium and is frozen for the next epoch (its
incoming weights and bias are not updated and their gradients are not
computed); it is re-evaluated every epoch and re-enters when it moves again.
The output layer is never frozen.
"""

from __future__ import annotations

import numpy as np

from .validation import check_array, check_float, check_int, legacy_options
from .nn import Training, train

__all__ = ["neq_train", "unit_similarity", "Equilibrium"]


def unit_similarity(A, B):
    """Per-unit cosine similarity between the columns of ``A`` and ``B`` (n_val, units).

    Columns that are both all-zero count as identical (1.0); one zero column gives 0.
    """
    na, nb = np.linalg.norm(A, axis=0), np.linalg.norm(B, axis=0)
    dot = (A * B).sum(axis=0)
    out = np.divide(dot, na * nb, out=np.zeros_like(dot), where=(na > 0) & (nb > 0))
    out[(na == 0) & (nb == 0)] = 1.0
    return out


class Equilibrium:
    """The NEq rule, fed one epoch of unit outputs at a time.

    ``update(outs)`` takes the outputs (n_val, units) of each tracked layer and
    returns the per-layer bool arrays of units at equilibrium (``|v| < eps``),
    or None while there is no velocity yet (the first two calls after the
    reference). ``phi`` and ``velocity`` keep the history.
    """

    def __init__(self, reference, mu_eq, eps):
        self.prev, self.mu_eq, self.eps = reference, mu_eq, eps
        self.v = [np.zeros(o.shape[1]) for o in reference]
        self.phi, self.velocity = [], []

    def update(self, outs):
        phi = [unit_similarity(a, b) for a, b in zip(outs, self.prev)]
        self.prev = outs
        frozen = None
        if self.phi:
            self.v = [-(p - q) + self.mu_eq * v for p, q, v in zip(phi, self.phi[-1], self.v)]
            self.velocity.append([v.copy() for v in self.v])
            frozen = [np.abs(v) < self.eps for v in self.v]
        self.phi.append([p.copy() for p in phi])
        return frozen


def neq_train(net, X, y, X_val, *, training=Training(), mu_eq=0.5, eps=1e-3, masks=None, rng=None, record=(), **legacy):
    """Train with NEq freezing; returns ``train``'s dict plus the NEq record.

    Parameters
    ----------
    training, masks, rng, record
        As :func:`sparsecert.nn.train` (``training.epochs >= 1``); 0.4's flat keywords
        (``epochs=``, ``lr=``, ...) still work until 0.6, with a FutureWarning.
    X_val : array_like, shape (n_val, d)
        Fixed batch on which unit outputs are compared.
    mu_eq : float in [0, 1)
        Velocity momentum.
    eps : float
        Equilibrium threshold on ``|v|``.

    Returns
    -------
    dict with the keys of :func:`sparsecert.nn.train` and ``frozen`` (list per
    epoch of per-layer bool arrays used in that epoch), ``velocity`` and ``phi``
    (per epoch, per hidden layer), ``saved_fraction`` (share of the weight-gradient
    rows not computed, over the whole run).
    """
    X_val = check_array(X_val, "X_val", ndim=2, shape=(None, net.Ws[0].shape[1]))
    training = legacy_options("sparsecert.neq.neq_train", legacy, training=training)["training"]
    check_int(training.epochs, "epochs", low=1)
    mu_eq = check_float(mu_eq, "mu_eq", low=0.0, high=1.0)
    eps = check_float(eps, "eps", low=0.0)
    L = len(net.Ws)
    hidden = L - 1
    frozen_now = [np.zeros(W.shape[0], bool) for W in net.Ws]
    log = {"frozen": []}

    def outputs(net):
        _, Zs = net.forward(X_val, keep=True)
        return [np.maximum(Z, 0.0) for Z in Zs[:hidden]]

    eq = Equilibrium(outputs(net), mu_eq, eps)  # epoch 0 reference

    def epoch_callback(epoch, net):
        nonlocal frozen_now
        log["frozen"].append([f.copy() for f in frozen_now])
        at_eq = eq.update(outputs(net))
        if at_eq is not None:
            frozen_now = at_eq + [np.zeros(net.Ws[-1].shape[0], bool)]
        return frozen_now

    out = train(net, X, y, training=training, masks=masks, rng=rng, record=record, frozen=[f.copy() for f in frozen_now],
                epoch_callback=epoch_callback)
    # the frozen sets actually used in epochs 1..E (the callback records the set of the epoch just run)
    used = log["frozen"]
    rows_total = sum(W.shape[0] * W.shape[1] for W in net.Ws) * len(used)
    rows_saved = sum(int(f.sum()) * net.Ws[l].shape[1] for fr in used for l, f in enumerate(fr))
    out.update(log, velocity=eq.velocity, phi=eq.phi)
    out["saved_fraction"] = rows_saved / rows_total if rows_total else 0.0
    return out
