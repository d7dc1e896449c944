"""Iterative magnitude pruning (lottery tickets) for NumPy models.

Kept apart, as in open_lth: the model and the training loop
(:mod:`sparsecert.nn`: :class:`~sparsecert.nn.ReLUNet`, :func:`~sparsecert.nn.train`)
and the pruning strategy (:mod:`sparsecert.prune`: scores, mask selection,
schedules).
:func:`imp` ties them together: train, prune, rewind, repeat (Frankle &
Carbin 2019), as one :class:`~sparsecert.prune.Plan` of :func:`sparsecert.prune.prune`.

Rounding convention: a round prunes ``ceil(rate * active)`` weights of a
layer (layer-wise) or of the whole network (global), at least one and never
below the target; among equal magnitudes the smaller flat index goes first.
"""

from __future__ import annotations

import warnings

import numpy as np

from .validation import check_option
from .prune.engine import PruneResult
from .nn import as_targets, loss_and_grad, train  # noqa: F401  (their home before 0.3.0)

__all__ = ["imp", "IMPResult"]


#: IMP's result is the pruning engine's (its name before 0.3.1).
IMPResult = PruneResult


def imp(net0, X, y, *, target=None, rounds=None, rate=0.2, output_rate=None, scope="layer", rewind="init",
        evaluate=None, progress=None, rng=None, **train_kwargs):
    """Iterative magnitude pruning: train, prune, rewind, repeat (Frankle & Carbin 2019).

    Deprecated (0.4.5, removed in 0.5): ``sparsecert.prune.prune(net0, X, y, Plan.imp(...))`` runs the
    same (``Plan(after="finetune")`` or ``"reinit"`` for ``rewind="continue"`` or ``"reinit"``).
    One configuration of the pruning vocabulary:
    ``prune(net0, X, y, Plan(when="after", score="magnitude", schedule="iterative", after=...))``
    (:func:`sparsecert.prune.prune`).

    Parameters
    ----------
    net0 : ReLUNet
        Initialisation (not modified).
    X, y
        Training data.
    target : int, optional
        Stop once this many weights remain (biases excluded).
    rounds : int, optional
        Or a fixed number of pruning rounds.
    rate : float in (0, 1)
        Fraction of the surviving weights pruned per round (per layer, or globally).
    output_rate : float, optional
        Rate of the output layer for layer-wise pruning (default ``rate / 2``).
    scope : {"layer", "global"}
    rewind : "init", "continue", "reinit" or int k
        Start of each round: ``net0``; the last round's trained weights; a fresh
        init of the same shapes; or the weights after ``k`` steps of the dense run.
    evaluate : callable, optional
        ``evaluate(net) -> dict`` of extra metrics per round (e.g. test accuracy).
    train_kwargs
        Passed to :func:`train` (optimizer, lr, epochs, batch_size, loss, tol).

    Returns
    -------
    PruneResult
    """
    from .prune import Plan, prune  # (imp is imported by sparsecert; prune only when a run starts)

    warnings.warn("sparsecert.imp.imp is deprecated and will be removed in 0.5: use sparsecert.prune.prune(net0, "
                  "X, y, sparsecert.prune.Plan.imp(target=..., rate=..., scope=..., rewind_step=...), **training)",
                  FutureWarning, stacklevel=2)

    if isinstance(rewind, (int, np.integer)) and not isinstance(rewind, bool):
        if rewind < 0:
            raise ValueError(f"rewind step must be >= 0, got {rewind}")
        after, step = "rewind", int(rewind)
    else:
        rewind = check_option(rewind, "rewind", {"init", "continue", "reinit"})
        after, step = {"init": ("rewind", 0), "continue": ("finetune", 0), "reinit": ("reinit", 0)}[rewind]
    plan = Plan(when="after", score="magnitude", schedule="iterative", rate=rate, output_rate=output_rate, scope=scope,
                after=after, rewind_step=step, target=target, rounds=rounds)
    return prune(net0, X, y, plan, evaluate=evaluate, progress=progress, rng=rng, **train_kwargs)
