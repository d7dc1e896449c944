"""Pruning scores for :class:`~sparsecert.nn.ReLUNet` (one array per weight matrix; keep the largest).

==================  =======================================================  ================================
score               formula                                                  reference
==================  =======================================================  ================================
magnitude           ``|w|``                                                  Han et al. 2015; Frankle & Carbin
random              i.i.d. uniform                                           baseline
SNIP                ``|g * w|``, ``g = dL/dw`` on a batch at init            Lee, Ajanthan & Torr 2019
GraSP               ``-w * (H g)``, Hessian-gradient product by central       Wang, Zhang & Grosse 2020
                    differences of the gradient
SynFlow             ``|w * dR/dw|``, ``R = 1^T (prod_l |W_l|) 1`` with         Tanaka et al. 2020
                    all-ones input and no biases, iterated with an
                    exponential schedule (:func:`synflow`)
Zhou criteria       functions of initial ``w_i`` and final ``w_f`` weights:  Zhou, Lan, Liu & Yosinski 2019
                    large_final ``|w_f|``, small_final, large_init,
                    small_init, magnitude_increase ``|w_f| - |w_i|``,
                    movement ``|w_f - w_i|``, large_init_large_final
                    ``min(rank |w_i|, rank |w_f|)``, ...
==================  =======================================================  ================================
"""

from __future__ import annotations

import numpy as np

from ..validation import check_float, check_int, check_option, check_rng
from ..nn import as_targets, loss_and_grad
from .select import select_masks

__all__ = ["SCORES", "magnitude", "random_scores", "snip", "grasp", "synflow", "synflow_prune", "zhou_criterion",
           "ZHOU"]


def magnitude(net, **_):
    """``|w|`` per weight."""
    return [np.abs(W) for W in net.Ws]


def random_scores(net, rng=None, **_):
    """Uniform random scores (the random-pruning baseline)."""
    rng = check_rng(rng)
    return [rng.random(W.shape) for W in net.Ws]


def _grad(net, X, y, loss, masks=None):
    Y = as_targets(y, loss, k=net.Ws[-1].shape[0])
    _, gW, _ = loss_and_grad(net, np.asarray(X, float), Y, loss)
    return gW if masks is None else [g * m for g, m in zip(gW, masks)]


def snip(net, X, y, loss="mse", **_):
    """Connection sensitivity ``|g * w|`` with ``g`` the gradient of the mean loss on ``(X, y)``."""
    return [np.abs(g * W) for g, W in zip(_grad(net, X, y, loss), net.Ws)]


def grasp(net, X, y, loss="mse", eps=1e-4, **_):
    """GraSP keep-scores ``w * (H g)`` (Wang, Zhang & Grosse, ICLR 2020).

    GraSP scores ``S = -w * (H g)`` and removes the weights with the largest
    ``S`` (those whose removal reduces the gradient norm least, or raises it);
    as every score here means "keep the largest", this returns ``-S``.
    ``H g ~ (grad(w + t g) - grad(w - t g)) / (2 t)`` with ``t = eps / ||g||``.
    """
    g = _grad(net, X, y, loss)
    norm = np.sqrt(sum(float(np.sum(a * a)) for a in g)) or 1.0
    t = check_float(eps, "eps", low=0.0, low_open=True) / norm
    plus, minus = net.copy(), net.copy()
    for Wp, Wm, a in zip(plus.Ws, minus.Ws, g):
        Wp += t * a
        Wm -= t * a
    Hg = [(a - b) / (2 * t) for a, b in zip(_grad(plus, X, y, loss), _grad(minus, X, y, loss))]
    return [W * h for W, h in zip(net.Ws, Hg)]


def _synflow_once(net, masks):
    """``|w * dR/dw|`` for R = 1^T prod |W_l| 1 (masked, biases dropped)."""
    Ws = [np.abs(W) * m for W, m in zip(net.Ws, masks)]
    # forward: a_l = |W_l| a_{l-1}, a_0 = 1 ; backward: b_l = 1^T |W_L| ... |W_{l+1}|
    acts = [np.ones(Ws[0].shape[1])]
    for W in Ws:
        acts.append(W @ acts[-1])
    back = [np.ones(Ws[-1].shape[0])]
    for W in reversed(Ws[1:]):
        back.append(back[-1] @ W)
    back = back[::-1]
    return [np.outer(b, a) * W for W, a, b in zip(Ws, acts[:-1], back)]


def synflow(net, masks=None, *, keep_fraction=None, rounds=100, scope="global", prunable=None, **_):
    """SynFlow scores; with ``keep_fraction`` also the iterative data-free pruning.

    One evaluation: ``|w * dR/dw|`` with ``R = 1^T (prod_l |W_l|) 1`` (all-ones
    input, biases removed); by the conservation law of Tanaka et al. the
    scores of every layer sum to ``R``. With ``keep_fraction`` the weights are
    pruned over ``rounds`` rounds, round k keeping ``keep_fraction^(k/rounds)``
    of the weights (exponential schedule), re-scoring after each round;
    ``prunable`` (bool per layer) restricts pruning to those layers.

    Returns
    -------
    scores : list of ndarray
        The last round's scores.
    masks : list of ndarray of bool
        Only when ``keep_fraction`` is given: the pruned masks.
    """
    masks = [np.ones(W.shape, bool) for W in net.Ws] if masks is None else masks
    if keep_fraction is None:
        return _synflow_once(net, masks)
    masks = synflow_prune(lambda ms: _synflow_once(net, ms), masks, keep_fraction, rounds=rounds, scope=scope,
                          prunable=prunable)
    return _synflow_once(net, masks), masks


def synflow_prune(score_once, masks, keep_fraction, *, rounds=100, scope="global", prunable=None):
    """SynFlow's iterative data-free pruning for any model kind: ``rounds`` rounds, round k keeping
    ``keep_fraction^(k / rounds)`` of the weights (exponential schedule), re-scored each round by
    ``score_once(masks) -> list of arrays``; returns the masks."""
    keep_fraction = check_float(keep_fraction, "keep_fraction", low=0.0, high=1.0, low_open=True)
    rounds = check_int(rounds, "rounds", low=1)
    total = sum(int(m.sum()) for m in masks)
    for k in range(1, rounds + 1):
        scores = score_once(masks)
        target = keep_fraction ** (k / rounds) * total
        active = sum(int(m.sum()) for m in masks)
        free = sum(int(m.sum()) for m, p in zip(masks, prunable or [True] * len(masks)) if p)
        frac = max(0.0, (active - target) / free) if free else 0.0
        masks = select_masks(scores, masks, min(frac, 1 - 1e-12), scope=scope, rounding="floor", prunable=prunable)
    return masks


ZHOU = ("large_final", "small_final", "large_init", "small_init", "large_init_large_final",
        "small_init_small_final", "magnitude_increase", "movement")


def _rank(a):
    """Ranks 0..size-1 of a flattened array (ties by index), reshaped."""
    flat = a.reshape(-1)
    r = np.empty(flat.size)
    r[np.lexsort((np.arange(flat.size), flat))] = np.arange(flat.size)
    return r.reshape(a.shape)


def zhou_criterion(name, init, final):
    """The mask criteria of Zhou et al. (2019) from initial and final nets (keep the largest).

    ``large_init_large_final`` keeps weights large at both ends: score
    ``min(rank |w_i|, rank |w_f|)`` per layer (a single-threshold version of
    their percentile-intersection rule); ``small_init_small_final`` the reverse.
    """
    name = check_option(name, "criterion", set(ZHOU))
    out = []
    for Wi, Wf in zip(init.Ws, final.Ws):
        ai, af = np.abs(Wi), np.abs(Wf)
        out.append({
            "large_final": af, "small_final": -af, "large_init": ai, "small_init": -ai,
            "large_init_large_final": np.minimum(_rank(ai), _rank(af)),
            "small_init_small_final": np.minimum(_rank(-ai), _rank(-af)),
            "magnitude_increase": af - ai, "movement": np.abs(Wf - Wi),
        }[name])
    return out


SCORES = {"magnitude": magnitude, "random": random_scores, "snip": snip, "grasp": grasp, "synflow": synflow}
