"""Sparse training by prune-and-regrow: SET and RigL for NumPy MLPs.

The network is sparse from the first step and stays at a fixed density.
Every ``update_every`` steps, in each layer, a fraction ``alpha_t`` of the
active weights with the smallest magnitude is dropped and as many inactive
weights are grown:

* **SET** (Mocanu et al., Nat. Commun. 2018): grow uniformly at random;
  new weights start at 0 (``grow_init="zero"``) or from the layer's init
  distribution (``"init"``, as in the original paper).
* **RigL** (Evci et al., ICML 2020): grow the inactive weights with the
  largest dense gradient magnitude ``|dL/dW|`` on the current batch; new
  weights start at 0.

``alpha_t = alpha / 2 * (1 + cos(pi t / T_end))`` (RigL's cosine decay;
``decay="constant"`` keeps ``alpha``) and no update happens after ``T_end``
(default: 3/4 of the training steps). The initial masks are random with the
per-layer densities of the Erdos-Renyi rule (``distribution="er"``: density
of layer l proportional to ``(m_l + m_{l+1}) / (m_l m_{l+1})``, scaled to the
global target, capped at 1) or uniform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_float, check_int, check_option, check_rng, legacy_options
from ..nn import Training, as_targets, loss_and_grad, train

__all__ = ["Regrowth", "sparse_train", "layer_densities"]


@dataclass(frozen=True)
class Regrowth:
    """How :func:`sparse_train` prunes and regrows (the module docstring), checked when made.

    Parameters
    ----------
    method : {"set", "rigl"}
    density : float in (0, 1]
        Fraction of weights active (biases are always dense).
    distribution : {"er", "uniform"}
        How the density is spread over layers.
    update_every : int, >= 1
        Steps between mask updates (Delta T).
    alpha : float in [0, 1]
        Initial drop fraction.
    decay : {"cosine", "constant"}
    t_end : int, optional
        Last step with a mask update (default 3/4 of all steps).
    grow_init : {"zero", "init"}
        Value of regrown weights (SET only; RigL always starts them at 0).
    """

    method: str = "rigl"
    density: float = 0.1
    distribution: str = "er"
    update_every: int = 100
    alpha: float = 0.3
    decay: str = "cosine"
    t_end: int | None = None
    grow_init: str = "zero"

    def __post_init__(self) -> None:
        check_option(self.method, "method", {"set", "rigl"})
        check_float(self.density, "density", low=0.0, high=1.0, low_open=True)
        check_option(self.distribution, "distribution", {"er", "uniform"})
        check_int(self.update_every, "update_every", low=1)
        check_float(self.alpha, "alpha", low=0.0, high=1.0)
        check_option(self.decay, "decay", {"cosine", "constant"})
        if self.t_end is not None:
            check_int(self.t_end, "t_end", low=0)
        check_option(self.grow_init, "grow_init", {"zero", "init"})


def layer_densities(shapes, density, distribution="er"):
    """Per-layer densities whose weighted mean is ``density`` (uniform or Erdos-Renyi)."""
    density = check_float(density, "density", low=0.0, high=1.0, low_open=True)
    distribution = check_option(distribution, "distribution", {"er", "uniform"})
    sizes = np.array([a * b for a, b in shapes], float)
    if distribution == "uniform":
        return np.full(len(shapes), density)
    raw = np.array([(a + b) / (a * b) for a, b in shapes], float)
    dense = np.zeros(len(shapes), bool)
    while True:  # scale the free layers; layers that would exceed 1 are made dense
        budget = density * sizes.sum() - sizes[dense].sum()
        eps = budget / (raw[~dense] * sizes[~dense]).sum()
        over = ~dense & (eps * raw > 1.0)
        if not over.any():
            return np.where(dense, 1.0, eps * raw)
        dense |= over


def sparse_train(net, X, y, *, regrowth=Regrowth(), training=Training(), rng=None, **legacy):
    """Train ``net`` in place at fixed density with SET or RigL prune-and-regrow.

    Parameters
    ----------
    net : ReLUNet
    X, y
        Training data (see :func:`sparsecert.nn.train`).
    regrowth : Regrowth
        The method, density and its spread over layers, and the update schedule.
    training : sparsecert.Training
        Passed to :func:`sparsecert.nn.train` (optimizer, lr, epochs, batch_size, loss).
    rng : None, int or Generator
        Draws the initial masks (and SET's regrown weights) and shuffles the batches.
    **legacy
        0.4's flat keywords (``method=``, ``density=``, ``epochs=``, ...), folded into ``regrowth`` and
        ``training`` with a FutureWarning until 0.6.

    Returns
    -------
    dict
        ``train``'s dict plus ``masks`` (final), ``updates`` (number of mask
        updates) and ``turnover`` (weights regrown in total).
    """
    new = legacy_options("sparsecert.prune.dynamic.sparse_train", legacy, regrowth=regrowth, training=training)
    regrowth, training = new["regrowth"], new["training"]
    method, update_every, alpha, decay = regrowth.method, regrowth.update_every, regrowth.alpha, regrowth.decay
    grow_init, loss = regrowth.grow_init, training.loss
    rng = check_rng(rng)
    dens = layer_densities([W.shape for W in net.Ws], regrowth.density, regrowth.distribution)
    masks = []
    for W, p in zip(net.Ws, dens):
        k = max(1, int(round(p * W.size)))
        m = np.zeros(W.size, bool)
        m[rng.choice(W.size, k, replace=False)] = True
        masks.append(m.reshape(W.shape))
    n = np.asarray(X).shape[0]
    bs = training.batch_size or n
    steps_total = training.epochs * math.ceil(n / min(bs, n))
    t_end = int(0.75 * steps_total) if regrowth.t_end is None else regrowth.t_end
    Y = as_targets(y, loss, k=net.Ws[-1].shape[0])
    bounds = [1.0 / math.sqrt(W.shape[1]) for W in net.Ws]
    log = {"updates": 0, "turnover": 0}

    def update(step, net, rows):
        if step % update_every or step > t_end:
            return None
        frac = alpha if decay == "constant" else alpha / 2 * (1 + math.cos(math.pi * step / t_end))
        grads = loss_and_grad(net, np.asarray(X)[rows], Y[rows], loss)[1] if method == "rigl" else None
        new = []
        for l, (W, m) in enumerate(zip(net.Ws, masks)):
            active = np.flatnonzero(m.ravel())
            k = min(int(frac * active.size), W.size - active.size)
            if k == 0:
                new.append(m)
                continue
            w = W.ravel()
            drop = active[np.lexsort((active, np.abs(w[active])))[:k]]
            flat = m.ravel().copy()
            flat[drop] = False
            inactive = np.flatnonzero(~m.ravel())  # candidates exclude the weights just dropped
            if method == "rigl":
                g = np.abs(grads[l].ravel()[inactive])
                grow = inactive[np.lexsort((inactive, -g))[:k]]
                w[grow] = 0.0
            else:
                grow = rng.choice(inactive, k, replace=False)
                w[grow] = 0.0 if grow_init == "zero" else rng.uniform(-bounds[l], bounds[l], k)
            flat[grow] = True
            new.append(flat.reshape(m.shape))
            log["turnover"] += k
        masks[:] = new
        log["updates"] += 1
        return new

    out = train(net, X, y, training=training, masks=masks, rng=rng, callback=update)
    out.update(log)
    return out
