"""ReLU networks to and from plain ``torch.nn`` models (torch imported only when called).

Every network of the package (:class:`~sparsecert.nn.ReLUNet`) is a stack of weight
matrices with ReLUs between them (and biases, for the nets pruning trains). :func:`layers_to_torch` builds ``nn.Sequential(Linear, ReLU,
..., Linear)`` with those weights (float64 by default, so outputs agree with
NumPy to round-off), optionally with pruning masks applied through
``torch.nn.utils.prune.custom_from_mask`` so that torch's own tooling
(``prune.is_pruned``, ``prune.remove``) sees them. :func:`layers_from_torch`
reads the Linear layers of such a model back (masked weights as they act).
The networks' ``to_torch`` / ``from_torch`` methods call these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import TORCH_HINT

__all__ = ["layers_to_torch", "layers_from_torch"]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"to_torch/from_torch need torch: {TORCH_HINT}") from exc
    return torch


def layers_to_torch(Ws: list, bs: list | None = None, masks: str | list | None = None, dtype: Any = None) -> Any:
    """``nn.Sequential`` of Linear layers with weights ``Ws`` (and biases ``bs``), ReLU between them.

    Parameters
    ----------
    Ws : list of ndarray
        ``Ws[l]`` of shape (out_l, in_l).
    bs : list of ndarray, optional
    masks : None, "nonzero" or list of bool arrays
        Pruning masks applied with ``torch.nn.utils.prune.custom_from_mask``:
        ``"nonzero"`` takes the nonzero pattern of each weight matrix.
    dtype : torch dtype, optional
        Default ``torch.float64``.
    """
    torch = _torch()
    from torch import nn
    from torch.nn.utils import prune

    dtype = torch.float64 if dtype is None else dtype
    if masks is not None and not isinstance(masks, str) and len(masks) != len(Ws):
        raise ValueError(f"masks must hold one array per layer ({len(Ws)}), got {len(masks)}")
    if isinstance(masks, str) and masks != "nonzero":
        raise ValueError(f"masks must be None, 'nonzero' or a list of arrays, got {masks!r}")
    layers: list = []
    for l, W in enumerate(Ws):
        W = np.asarray(W, dtype=np.float64)
        lin = nn.Linear(W.shape[1], W.shape[0], bias=bs is not None, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(W))
            if bs is not None:
                lin.bias.copy_(torch.as_tensor(np.asarray(bs[l], dtype=np.float64)))
        if masks is not None:
            mk = W != 0 if isinstance(masks, str) else np.asarray(masks[l], dtype=bool)
            if mk.shape != W.shape:
                raise ValueError(f"masks[{l}] must have shape {W.shape}, got {mk.shape}")
            prune.custom_from_mask(lin, "weight", torch.as_tensor(mk))
        layers += [lin, nn.ReLU()] if l < len(Ws) - 1 else [lin]
    return nn.Sequential(*layers)


def _current_weight(lin: Any) -> Any:
    """A Linear layer's weight as it stands now. Under torch's pruning reparametrisation ``weight`` is
    ``weight_orig * weight_mask`` recomputed only by the next forward pass, so after an optimiser step
    it is stale: compute it from the two here."""
    if hasattr(lin, "weight_orig") and hasattr(lin, "weight_mask"):
        return lin.weight_orig * lin.weight_mask
    return lin.weight


def layers_from_torch(model: Any) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """``(Ws, bs)`` of a model made of Linear layers with ReLUs between them (``bs`` None when
    no layer has a bias); pruned layers give their masked weights."""
    _torch()
    from torch import nn

    mods = [m for m in model.modules() if not isinstance(m, nn.Sequential)] if isinstance(model, nn.Module) else None
    if not mods or not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in mods):
        raise TypeError("model must be an nn.Sequential of Linear layers with ReLUs between them")
    lins = [m for m in mods if isinstance(m, nn.Linear)]
    expected = [nn.Linear if i % 2 == 0 else nn.ReLU for i in range(2 * len(lins) - 1)]
    if [type(m) for m in mods] != expected:
        raise TypeError("model must alternate Linear and ReLU, starting and ending with Linear")
    Ws = [_current_weight(m).detach().cpu().double().numpy().copy() for m in lins]
    has_bias = [m.bias is not None for m in lins]
    if any(has_bias) and not all(has_bias):
        raise ValueError("either every Linear layer has a bias or none does")
    bs = [m.bias.detach().cpu().double().numpy().copy() for m in lins] if all(has_bias) else None
    return Ws, bs
