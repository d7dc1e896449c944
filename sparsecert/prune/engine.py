"""One round loop for every pruning run, on any model kind (Wang et al.'s when x score x schedule x
scope x after; see :mod:`sparsecert.prune.run` for the vocabulary).

:class:`PruningPlan` is a validated configuration; :func:`prune_rounds` runs
it on a :class:`PruneBackend`, the small protocol a model kind implements:
its initialisation, scores of a trained state, training a start under masks
(recording the round) and the starts a round may take (the initialisation, a
rewind point, the last trained state, a fresh initialisation).
:func:`sparsecert.prune.run.prune_numpy` (NumPy :class:`~sparsecert.nn.ReLUNet`)
and :func:`sparsecert.torch_bridge.prune_module` (torch modules) are its two
backends, so counts, schedules, stopping rules and tie rules are the same for
both by construction; every run returns a :class:`PruneResult`. Pruning while
training (``when="during"``) is :func:`prune_during` with the goals of
:func:`gradual_goals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..validation import check_float
from .select import prune_count, select_masks

__all__ = ["check_rate", "check_target_or_rounds", "check_during", "PruningPlan", "PruneBackend", "PruneResult", "prune_rounds", "prune_during", "gradual_goals", "prune_step", "prune_to", "check_progress", "kept",
           "WHEN", "SCHEDULES", "AFTER", "SCOPES"]

WHEN = ("init", "after", "during")
SCHEDULES = ("one-shot", "iterative", "gradual")
AFTER = ("rewind", "finetune", "reinit", "scratch")
SCOPES = ("layer", "global")


@dataclass(frozen=True)
class PruningPlan:
    """A validated pruning configuration (built by the public entry points after their checks).

    Attributes
    ----------
    when : {"init", "after", "during"}
    schedule : {"one-shot", "iterative", "gradual"}
    scope : {"layer", "global"}
    after : {"rewind", "finetune", "reinit", "scratch"}
    rates : tuple of float
        Per weight tensor: the fraction of its survivors a round removes (layer
        scope; 0 for tensors left dense), or ``rates[0]`` for all (global scope).
    prunable : tuple of bool
        Tensors that may be pruned.
    goal : int or None
        Weights (of every tensor) to keep at the end; or ``rounds``.
    rounds : int or None
        Rounds of an iterative schedule without a goal.
    rewind_step : int
        For ``after="rewind"``: the training step of round 0 to rewind to (0: the initialisation).
    """

    when: str
    schedule: str
    scope: str
    after: str
    rates: tuple
    prunable: tuple
    goal: int | None = None
    rounds: int | None = None
    rewind_step: int = 0

    @property
    def record(self) -> tuple:
        """Training steps of round 0 whose state later rounds start from."""
        return (self.rewind_step,) if self.after == "rewind" and self.rewind_step > 0 else ()

    def done(self, masks, r) -> bool:
        """Whether the rounds stop after round ``r`` with ``masks``."""
        return (self.rounds is not None and r >= self.rounds) or (self.goal is not None and kept(masks) <= self.goal)

    def prune(self, scores, masks):
        """One round's masks: straight to the goal (one-shot) or one step of the rates."""
        if self.schedule == "one-shot":
            return prune_to(scores, masks, self.goal, scope=self.scope, prunable=self.prunable)
        return prune_step(scores, masks, self.rates, scope=self.scope, target=self.goal, prunable=self.prunable)


@dataclass
class PruneResult:
    """The rounds of a pruning run, on either backend (round 0 is the dense run for ``when="after"``;
    for ``"init"`` and ``"during"`` the single round is the pruned net).

    Attributes
    ----------
    masks : list of list of ndarray of bool
        Masks of each round, one per weight tensor.
    states : list
        The trained model of each round, in the backend's form: a
        :class:`~sparsecert.nn.ReLUNet` (NumPy) or a torch ``state_dict``.
    histories : list of dict
        Each round's record: NumPy: ``kept``, ``density``, ``loss`` (final
        training loss) and what ``evaluate(net)`` returned; torch:
        :func:`~sparsecert.torch_bridge.fit`'s history.
    kept : list of int
        Weights kept in each round (NumPy: of every layer; torch: of the prunable tensors).
    p_m : list of float
        ``kept`` over the (prunable) weights of the dense model.
    model : object
        The last trained model (a ReLUNet, or the torch module).
    time : float
        Seconds.
    peak_memory : int
        Bytes of the dense training state (NumPy runs; 0 for torch).
    info : dict
        The configuration (axes, rates) and BINGO's probing seconds.

    ``nets`` and ``metrics`` (the NumPy names) are ``states`` and ``histories``; ``net`` is ``model``.
    """

    masks: list = field(default_factory=list)
    states: list = field(default_factory=list)
    histories: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    p_m: list = field(default_factory=list)
    model: Any = None
    time: float = 0.0
    peak_memory: int = 0
    info: dict = field(default_factory=dict)

    @property
    def nets(self) -> list:
        return self.states

    @property
    def metrics(self) -> list:
        return self.histories

    @property
    def net(self) -> Any:
        return self.model

    def add(self, masks, state, history, kept, total, model) -> None:
        """Record one round."""
        self.masks.append([m.copy() for m in masks])
        self.states.append(state)
        self.histories.append(history)
        self.kept.append(int(kept))
        self.p_m.append(int(kept) / total)
        self.model = model


class PruneBackend(Protocol):
    """What :func:`prune_rounds` needs of a model kind; states are whatever the backend trains."""

    def initial(self) -> Any:
        """The initialisation (round 0's start; ``"scratch"``'s start)."""

    def scores(self, state: Any, masks: list) -> list:
        """One score array per weight tensor (keep the largest)."""

    def train_round(self, start: Any, masks: list, r: int, record: tuple = ()) -> tuple[Any, dict]:
        """Train ``start`` (a model of its own, from :meth:`start`) in place under ``masks`` as round
        ``r``, record the round; returns the trained state and the states at the steps in
        ``record`` (``{step: state}``)."""

    def start(self, after: str, r: int, trained: Any, rewind: Any) -> Any:
        """Round ``r``'s start for ``after`` (``rewind``: the rewind point; ``trained``: the last
        trained state), a model of its own."""

    def train_part(self, model: Any, masks: list, k: int, parts: int) -> dict:
        """Train ``model`` in place under ``masks`` for part ``k`` of ``parts`` equal parts of the
        training budget; returns the part's history."""

    def record(self, model: Any, masks: list, history: dict, r: int) -> None:
        """Record ``model`` as round ``r``."""


def check_rate(rate) -> float:
    """``rate`` (a round's fraction of the survivors) as a float in (0, 1)."""
    rate = check_float(rate, "rate", low=0.0, low_open=True)
    if rate >= 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    return rate


def check_target_or_rounds(schedule: str, target, rounds) -> None:
    """An iterative schedule stops at ``target`` weights or after ``rounds`` (exactly one of them);
    the other schedules prune to ``target``."""
    if schedule == "iterative":
        if (target is None) == (rounds is None):
            raise ValueError("give exactly one of target= (weights to keep) or rounds=")
    elif target is None:
        raise ValueError(f"schedule={schedule!r} needs target= (weights to keep)")


def check_during(when: str, schedule: str) -> None:
    """``when="during"`` and the gradual schedule go together (the torch runs and :class:`~sparsecert.prune.Plan`)."""
    if (when == "during") != (schedule == "gradual"):
        raise ValueError("when='during' prunes gradually while training, and the gradual schedule runs only "
                         "there: use when='during' with schedule='gradual'")


def kept(masks) -> int:
    """Weights kept by ``masks`` (all tensors)."""
    return int(sum(int(m.sum()) for m in masks))


def prune_rounds(plan: PruningPlan, backend: PruneBackend, masks: list, init_pruning=None) -> list:
    """Run ``plan`` (``when`` "init" or "after") from ``masks``; returns the last masks.

    ``"init"``: score the initialisation and prune (one-shot: straight to the
    goal; iterative: repeatedly, without training; or ``init_pruning(masks) ->
    masks``, a method's own schedule such as SynFlow's, finished exactly at the
    goal), then train once (round 0).
    ``"after"``: train (round 0), then prune and train from the start ``after``
    names until the goal or the rounds are reached (once for one-shot).
    """
    init = backend.initial()
    if plan.when == "init":
        goal = plan.goal
        if goal is None:
            raise ValueError("pruning at init prunes to a goal: give target= (weights to keep), not rounds=")
        if init_pruning is not None:
            masks = init_pruning(masks)
            if kept(masks) > goal:  # per-layer rounding left a few: finish exactly
                masks = prune_to(backend.scores(init, masks), masks, goal, scope=plan.scope, prunable=plan.prunable)
        elif plan.schedule == "iterative":
            while kept(masks) > goal:
                masks = check_progress(masks, prune_step(backend.scores(init, masks), masks, plan.rates,
                                                         scope=plan.scope, target=goal, prunable=plan.prunable))
        else:
            masks = prune_to(backend.scores(init, masks), masks, goal, scope=plan.scope, prunable=plan.prunable)
        backend.train_round(backend.start("reinit" if plan.after == "reinit" else "scratch", 0, None, None), masks, 0)
        return masks
    trained, states = backend.train_round(backend.start("scratch", 0, None, None), masks, 0, plan.record)
    rewind = states.get(plan.rewind_step, init) if plan.record else init
    r = 0
    while not plan.done(masks, r):
        masks = check_progress(masks, plan.prune(backend.scores(trained, masks), masks))
        r += 1
        trained, _ = backend.train_round(backend.start(plan.after, r, trained, rewind), masks, r)
        if plan.schedule == "one-shot":
            break
    return masks


def prune_during(plan: PruningPlan, backend: PruneBackend, masks: list, goals: list) -> list:
    """``when="during"``: train the initialisation in ``len(goals) + 1`` equal parts, pruning to the
    next of ``goals`` between them (Zhu & Gupta's gradual pruning); the result is round 0."""
    model = backend.start("scratch", 0, None, None)
    history: dict = {}
    for k in range(len(goals) + 1):
        history = backend.train_part(model, masks, k, len(goals) + 1)
        if k < len(goals):
            masks = prune_to(backend.scores(model, masks), masks, goals[k], scope=plan.scope, prunable=plan.prunable)
    backend.record(model, masks, history, 0)
    return masks


def gradual_goals(target, total, n_prunes):
    """Weights to keep after each of the ``n_prunes`` prunes of the gradual schedule (Zhu & Gupta
    2017): density ``d_k = d_T + (1 - d_T) (1 - k / n)^3`` for ``k = 1..n``, ``d_T = target /
    total``, never below ``target`` (``total``: the dense count of the weights it applies to)."""
    d_T = target / total
    return [max(target, int(round((d_T + (1 - d_T) * (1 - k / n_prunes) ** 3) * total)))
            for k in range(1, n_prunes + 1)]


def prune_step(scores, masks, rates, *, scope="layer", target=None, prunable=None):
    """Remove ``ceil(rate * active)`` lowest-scored weights (per layer or globally) without
    going below ``target`` kept weights in total (and one per layer for layer scope).

    ``prunable`` (bool per layer) leaves the other layers untouched.
    """
    L = len(masks)
    prunable = [True] * L if prunable is None else list(prunable)
    active = [int(m.sum()) for m in masks]
    if scope == "global":
        total = sum(a for a, p in zip(active, prunable) if p)
        k = prune_count(rates[0], total)
        if target is not None:
            k = min(k, max(0, sum(active) - target))
        return select_masks(scores, masks, k / total, scope="global", rounding="floor", prunable=prunable) if k else masks
    layer_rates = [min(prune_count(r, a), max(0, a - 1)) / a if a and p else 0.0
                   for r, a, p in zip(rates, active, prunable)]
    new = select_masks(scores, masks, 0.0, scope="layer", rates=layer_rates, rounding="floor", prunable=prunable)
    if target is not None:
        short = target - kept(new)
        if short > 0:  # give back the strongest removals so that exactly `target` remain
            flat_s = np.concatenate([np.asarray(s, float).ravel() for s in scores])
            was = np.concatenate([m.ravel() for m in masks])
            now = np.concatenate([m.ravel() for m in new])
            dropped = np.flatnonzero(was & ~now)
            now[dropped[np.lexsort((dropped, -flat_s[dropped]))[:short]]] = True
            out, o = [], 0
            for m in masks:
                out.append(now[o : o + m.size].reshape(m.shape))
                o += m.size
            new = out
    return new


def prune_to(scores, masks, goal, *, scope="layer", prunable=None):
    """One prune of the prunable layers straight down to ``goal`` kept weights (in total)."""
    prunable = [True] * len(masks) if prunable is None else prunable
    active = kept(masks)
    free = sum(int(m.sum()) for m, p in zip(masks, prunable) if p)
    frac = min(max(active - goal, 0) / free, 1.0) if free else 0.0
    return prune_step(scores, masks, [frac] * len(masks), scope=scope, target=goal, prunable=prunable)


def check_progress(old, new):
    """``new`` masks, or ValueError when a pruning round removed nothing (the target is unreachable)."""
    if all(np.array_equal(a, b) for a, b in zip(old, new)):
        raise ValueError("the schedule cannot reach the target: a round pruned nothing "
                         "(layer scope keeps at least one weight per layer)")
    return new
