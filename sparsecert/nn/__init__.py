"""Networks held as NumPy arrays and their training (:mod:`sparsecert.nn.dense`)."""

from .dense import DenseNet, as_targets, loss_and_grad, train

__all__ = ["DenseNet", "train", "loss_and_grad", "as_targets"]
