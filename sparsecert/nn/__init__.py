"""Networks held as NumPy arrays: :class:`ReLUNet` (:mod:`sparsecert.nn.net`), the one network class of
the package, and its training loop (:mod:`sparsecert.nn.training`). ``TwoLayerReLU``, ``MLP`` and
``DenseNet`` still resolve here for one release (:mod:`sparsecert.nn.aliases`), with a
``FutureWarning`` naming the new call."""

from __future__ import annotations

import importlib

from ..validation import warn_deprecated
from .net import FORWARD_ELEMENTS, ReLUNet
from .training import LOSSES, OPTIMIZERS, Training, as_targets, loss_and_grad, loss_name, optimizer_name, train

__all__ = ["ReLUNet", "FORWARD_ELEMENTS", "Training", "train", "loss_and_grad", "as_targets", "LOSSES", "loss_name", "OPTIMIZERS",
           "optimizer_name"]


def __getattr__(name: str):
    aliases = importlib.import_module(f"{__name__}.aliases")
    if name not in aliases.REPLACED_BY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warn_deprecated(f"sparsecert.nn.{name}", f"sparsecert.nn.{aliases.REPLACED_BY[name]}")
    return getattr(aliases, name)
