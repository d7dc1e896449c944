"""One pruning entry point: ``prune(model, X, y, plan)`` for a NumPy or a torch network.

A :class:`Plan` is the five axes of the pruning vocabulary (:mod:`sparsecert.prune.run`: when, score,
schedule, scope, what training restarts from) with its rates and target, frozen and checked when
made; named presets give the methods of the literature (:meth:`Plan.imp`, :meth:`Plan.one_shot`,
:meth:`Plan.at_init`, :meth:`Plan.gradual`). :func:`prune` runs a plan on a
:class:`~sparsecert.nn.ReLUNet` (NumPy, :func:`~sparsecert.prune.run.prune_numpy`) or on a torch
module (:func:`sparsecert.torch_bridge.prune_module`), chosen from the model's type; training
options (``epochs``, ``lr``, ``batch_size``, ``loss``, ...) are passed through.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

from ..validation import check_float, check_int, check_option
from .engine import AFTER, SCHEDULES, SCOPES, WHEN, check_rate, check_target_or_rounds

__all__ = ["Plan", "prune"]


@dataclass(frozen=True)
class Plan:
    """A pruning run's configuration.

    Parameters
    ----------
    when : {"init", "after", "during"}
        Score the initialisation, the trained net, or prune gradually while training.
    score : str or callable
        A name of :data:`sparsecert.prune.SCORES` (``"magnitude"``, ``"snip"``, ...) or ``"bingo"``;
        on a NumPy net also a callable ``score(net, masks, ctx) -> list of arrays`` (keep the largest).
    schedule : {"one-shot", "iterative", "gradual"}
        ``"gradual"``: ``rounds`` prunes spread over training (with ``when="during"``; a NumPy net
        also takes them after training).
    scope : {"layer", "global"}
    after : {"rewind", "finetune", "reinit", "scratch"}
        What the next training starts from.
    rate : float in (0, 1)
        Fraction of the survivors a round removes (iterative).
    output_rate : float, optional
        The output layer's rate in layer scope (default ``rate / 2``).
    target : int, optional
        Weights to keep at the end (or ``rounds``, iterative only).
    rounds : int, optional
        Iterative rounds (0: train only), or the gradual schedule's prunes.
    rewind_step : int
        With ``after="rewind"``: the training step of the first run to rewind to (0: the init).
    """

    when: str = "after"
    score: str | Callable = "magnitude"
    schedule: str = "iterative"
    scope: str = "layer"
    after: str = "rewind"
    rate: float = 0.2
    output_rate: float | None = None
    target: int | None = None
    rounds: int | None = None
    rewind_step: int = 0

    def __post_init__(self) -> None:
        check_option(self.when, "when", set(WHEN))
        check_option(self.schedule, "schedule", set(SCHEDULES))
        check_option(self.scope, "scope", set(SCOPES))
        check_option(self.after, "after", set(AFTER))
        if not (isinstance(self.score, str) or callable(self.score)):
            raise TypeError(f"score must be the name of a score or a callable, got {type(self.score).__name__}")
        check_rate(self.rate)
        if self.output_rate is not None:
            check_float(self.output_rate, "output_rate", low=0.0, high=1.0)
        if self.target is not None:
            check_int(self.target, "target", low=1)
        if self.rounds is not None:
            check_int(self.rounds, "rounds", low=0)
        check_int(self.rewind_step, "rewind_step", low=0)
        if self.when == "during" and self.schedule != "gradual":
            raise ValueError("when='during' prunes gradually: use schedule='gradual'")
        if isinstance(self.score, str) and self.score.lower() == "bingo" and self.when != "after":
            raise ValueError("score='bingo' ranks weights by probes taken while the dense net trains: use when='after'")
        check_target_or_rounds(self.schedule, self.target, self.rounds)

    @classmethod
    def imp(cls, *, target: int | None = None, rounds: int | None = None, rate: float = 0.2, scope: str = "layer",
            rewind_step: int = 0) -> Plan:
        """Iterative magnitude pruning with rewinding (Frankle & Carbin): train, remove ``rate`` of
        the survivors by magnitude, rewind, repeat."""
        return cls(target=target, rounds=rounds, rate=rate, scope=scope, rewind_step=rewind_step)

    @classmethod
    def one_shot(cls, target: int, *, score: str = "magnitude", scope: str = "layer", after: str = "finetune") -> Plan:
        """Train once, prune to ``target`` in one step, train again from ``after``."""
        return cls(score=score, schedule="one-shot", scope=scope, after=after, target=target)

    @classmethod
    def at_init(cls, target: int, *, score: str = "snip", scope: str = "global") -> Plan:
        """Pruning at initialisation (SNIP, GraSP, SynFlow, random): score the init, prune to
        ``target``, train the sparse net from the same init."""
        return cls(when="init", score=score, schedule="one-shot", scope=scope, after="scratch", target=target)

    @classmethod
    def gradual(cls, target: int, *, rounds: int = 10, score: str = "magnitude", scope: str = "layer") -> Plan:
        """Gradual pruning while training (Zhu & Gupta's cubic density schedule, ``rounds`` prunes)."""
        return cls(when="during", score=score, schedule="gradual", scope=scope, after="finetune", target=target,
                   rounds=rounds)


def prune(model: Any, X: Any, y: Any, plan: Plan, **training: Any) -> Any:
    """Run ``plan`` on ``model`` (not modified) trained on ``(X, y)``.

    Parameters
    ----------
    model : ReLUNet or torch.nn.Module
        The initialisation: a :class:`~sparsecert.nn.ReLUNet` runs on NumPy
        (:func:`~sparsecert.prune.run.prune_numpy`), a torch module on torch
        (:func:`sparsecert.torch_bridge.prune_module`).
    X : array_like, shape (n, d) (or the module's input shape)
    y : array_like, shape (n,)
        Targets (integer labels with a cross-entropy loss).
    plan : Plan
    **training
        Training and run options of the backend's function: ``training`` (a
        :class:`sparsecert.Training`; its fields ``epochs``, ``lr``, ``batch_size``, ``loss``, ... are
        taken as keywords too), torch's ``evaluation``, ``rng``, ``progress``, ``prunable``,
        ``score_batch``, ``bingo``, ...

    Returns
    -------
    PruneResult
        Masks, trained states and metrics per round.
    """
    from ..nn import ReLUNet

    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a sparsecert.prune.Plan, got {type(plan).__name__}")
    if isinstance(model, ReLUNet):
        from .run import prune_numpy

        return prune_numpy(model, X, y, plan, **training)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        from ..torch_bridge import prune_module

        return prune_module(model, X, y, plan, **training)
    raise TypeError(f"model must be a sparsecert.nn.ReLUNet or a torch.nn.Module, got {type(model).__name__}")
