"""Optional torch bridge: the papers' real-data experiments on torch models.

Needs the ``torch`` extra (``pip install -e '.[torch]'`` in the repository: torch 2.1 to 2.13.0);
``import sparsecert`` never imports this package.

* :mod:`.models`: MLPs (Lenet-300-100), CIFAR-style ResNets and a Conv-4 style net;
* :mod:`.train`: masked training with validation every ``eval_every``
  iterations and the early-stopping iteration (minimum validation loss);
* :mod:`.prune`: the pruning vocabulary of :mod:`sparsecert.prune.run` on
  torch models (IMP, one-shot, SNIP, random, BINGO; layer-wise or global,
  rewind / fine-tune / reinit) and NEq on convolutional nets. Mask counts
  come from the same NumPy code as the NumPy models.
"""

from ..backend import TORCH_HINT

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(f"sparsecert.torch_bridge needs torch: {TORCH_HINT}") from exc

from .models import convnet, lenet_300_100, mlp, resnet
from .prune import TorchPruneResult, neq_fit, prune_module, prune_torch, torch_scores
from .train import TORCH_TRAINING, Evaluation, evaluate, fit, get_masks, prunable_weights, reestimate_batchnorm

__all__ = ["mlp", "lenet_300_100", "resnet", "convnet", "fit", "Evaluation", "TORCH_TRAINING", "reestimate_batchnorm", "evaluate", "prunable_weights", "get_masks", "prune_module", "prune_torch",
           "torch_scores", "TorchPruneResult", "neq_fit"]
