"""Networks held as NumPy arrays: the ReLU nets of the recovery theory (:mod:`sparsecert.nn.relu`) and
the dense net that pruning trains (:mod:`sparsecert.nn.dense`)."""

from .dense import LOSSES, OPTIMIZERS, DenseNet, as_targets, loss_and_grad, loss_name, optimizer_name, train
from .relu import MLP, TwoLayerReLU

__all__ = ["TwoLayerReLU", "MLP", "DenseNet", "train", "loss_and_grad", "as_targets", "LOSSES", "loss_name", "OPTIMIZERS",
           "optimizer_name"]
