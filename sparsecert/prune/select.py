"""From scores to masks: exact counts, layer-wise or global, with a named rounding rule."""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_float, check_option

ROUNDINGS = ("floor", "round", "ceil")


def prune_count(fraction, active, rounding="ceil"):
    """Number of weights ``fraction`` of ``active`` stands for, under ``rounding``.

    ``fraction * active`` is taken within 1e-9 of an integer as that integer,
    so that ``ceil(0.1 * 30)`` is 3 (not 4) and ``floor((k / t) * t)`` is ``k``.
    """
    x = fraction * active
    near = round(x)
    if abs(x - near) <= 1e-9 * max(1.0, abs(x)):
        return int(near)
    return {"floor": math.floor, "ceil": math.ceil, "round": lambda v: int(math.floor(v + 0.5))}[rounding](x)


def select_masks(scores, masks, fraction, *, scope="layer", rates=None, rounding="ceil", prunable=None):
    """Prune a fraction of the surviving weights with the lowest scores.

    Parameters
    ----------
    scores : list of ndarray
        One per weight matrix; larger = more important. Entries of pruned
        weights are ignored.
    masks : list of ndarray of bool
        Current masks (same shapes).
    fraction : float in [0, 1)
        Fraction of the surviving prunable weights to remove (global scope),
        or the default per-layer rate (layer scope).
    scope : {"layer", "global"}
    rates : list of float, optional
        Per-layer rates for layer scope (default ``fraction`` everywhere).
    rounding : {"floor", "round", "ceil"}
        How ``rate * active`` becomes a count (``round`` is half-up).
    prunable : list of bool, optional
        Layers that may be pruned (default all). Biases are never in ``scores``.

    Ties are broken by the smaller flat index (within the layer, or across the
    concatenation of layers for global scope), so results are deterministic.

    Returns
    -------
    list of ndarray of bool
    """
    scope = check_option(scope, "scope", {"layer", "global"})
    rounding = check_option(rounding, "rounding", set(ROUNDINGS))
    fraction = check_float(fraction, "fraction", low=0.0)
    if fraction >= 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    L = len(masks)
    if len(scores) != L or any(np.shape(s) != m.shape for s, m in zip(scores, masks)):
        raise ValueError("scores and masks must have one array of the same shape per layer")
    prunable = [True] * L if prunable is None else list(prunable)
    if not any(prunable):
        raise ValueError("no prunable layer: prunable must mark at least one layer True")
    new = [m.copy() for m in masks]
    if scope == "layer":
        rates = [fraction] * L if rates is None else [check_float(r, "rates[i]", low=0.0, high=1.0) for r in rates]
        for l in range(L):
            if not prunable[l]:
                continue
            flat_m = new[l].reshape(-1)
            idx = np.flatnonzero(flat_m)
            k = min(prune_count(rates[l], idx.size, rounding), idx.size)
            order = np.lexsort((idx, np.asarray(scores[l]).reshape(-1)[idx]))
            flat_m[idx[order[:k]]] = False
        return new
    flat_s = np.concatenate([np.asarray(s, float).reshape(-1) for s in scores])
    flat_m = np.concatenate([m.reshape(-1) for m in new])
    owner = np.concatenate([np.full(m.size, l) for l, m in enumerate(masks)])
    idx = np.flatnonzero(flat_m & np.isin(owner, np.flatnonzero(prunable)))
    k = prune_count(fraction, idx.size, rounding)
    order = np.lexsort((idx, flat_s[idx]))
    flat_m[idx[order[:k]]] = False
    out, o = [], 0
    for m in masks:
        out.append(flat_m[o : o + m.size].reshape(m.shape))
        o += m.size
    return out
