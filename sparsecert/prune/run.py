"""One vocabulary for pruning runs (Wang et al., "Emerging Paradigms of Neural Network Pruning").

A run is

* **when**: ``"init"`` (score the initialisation, prune, then train: SNIP,
  GraSP, SynFlow, random), ``"after"`` (train, score, prune: magnitude
  pruning, IMP, BINGO) or ``"during"`` (gradual pruning while training);
* **score**: a name in :data:`sparsecert.prune.SCORES` (or ``"bingo"``) or a
  callable ``score(net, masks, ctx) -> list of arrays`` (keep the largest);
* **schedule**: ``"one-shot"`` (straight to the target), ``"iterative"``
  (``rate`` of the survivors per round) or ``"gradual"`` (``rounds`` prunes
  spread over training on a cubic density schedule, Zhu & Gupta 2017);
* **scope**: ``"layer"`` (per-layer ``rates``; by default the output layer at
  half rate, Frankle & Carbin) or ``"global"``;
* **after**: what the next training starts from -- ``"rewind"`` (to the
  weights after ``rewind_step`` steps of the first run; 0 = init, the lottery
  ticket), ``"finetune"`` (keep the trained weights), ``"reinit"`` (a fresh
  initialisation) or ``"scratch"`` (the original initialisation, trained
  from scratch with the mask, as in pruning at init).

Counting: weights only (biases are never pruned); each round removes
``ceil(rate * active)`` per layer or globally, never going below the target
(layer scope keeps at least one weight per layer and stops exactly at the
target by returning the strongest of the last round's removals).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from tqdm.auto import tqdm

from ..validation import check_array, check_int, check_option, check_rng, fold_options, progress_enabled, warn_deprecated
from ..nn import ReLUNet, Training, train
from .engine import PruneResult, PruningPlan, gradual_goals, prune_during, prune_rounds
from .engine import check_progress, prune_step, prune_to  # noqa: F401  (their home before 0.3.1)
from .plan import Plan
from .scores import SCORES, synflow_prune

# prune_step, prune_to, check_progress and the axes' names live in .engine (still importable from here)
__all__ = ["prune_numpy", "prune_run", "check_prunable"]

def check_prunable(prunable, L):
    """Validated ``prunable`` flags (L of them, at least one True; default all)."""
    prunable = [True] * L if prunable is None else [bool(p) for p in prunable]
    if len(prunable) != L or not any(prunable):
        raise ValueError(f"no prunable layer: prunable must hold {L} flags, at least one True; got {prunable}")
    return prunable


def _score_fn(score):
    if callable(score):
        return score
    name = check_option(score, "score", set(SCORES) | {"bingo"})
    if name == "bingo":
        return lambda net, masks, ctx: ctx["bingo"]
    fn = SCORES[name]
    return lambda net, masks, ctx: fn(net, X=ctx["X"], y=ctx["y"], loss=ctx["loss"], rng=ctx["rng"], masks=masks)


def prune_numpy(net0, X, y, plan, *, evaluate=None, score_batch=None, bingo=None, prunable=None, progress=None,
                rng=None, **train_kwargs):
    """Run ``plan`` on a NumPy net: the backend :func:`sparsecert.prune.prune` chooses for a
    :class:`~sparsecert.nn.ReLUNet` (call that).

    Parameters
    ----------
    net0 : ReLUNet
        Initialisation (not modified).
    X, y
        Training data (``y`` integer labels with ``loss="cross-entropy"``).
    plan : Plan
        The five axes, rates, target or rounds and rewind step (see the module docstring); here
        ``plan.score`` may also be a callable ``score(net, masks, ctx) -> list of arrays``.
    evaluate : callable, optional
        ``evaluate(net) -> dict`` added to each round's metrics.
    score_batch : int, optional
        Samples used by data-dependent scores (default all).
    bingo : dict, optional
        Options of :func:`sparsecert.prune.bingo.bingo_train` for ``score="bingo"``.
    prunable : list of bool, optional
        Layers that may be pruned (default all); the others stay dense.
    train_kwargs
        ``training=`` (a :class:`sparsecert.Training`) for :func:`sparsecert.nn.train`, or its fields as
        keywords (``optimizer``, ``lr``, ``epochs``, ``batch_size``, ``loss``, ``tol``).

    Returns
    -------
    PruneResult
        Masks, trained nets (``states``/``nets``) and metrics (``histories``/``metrics``) per round.
    """
    t0 = time.perf_counter()
    configs, rest = fold_options(train_kwargs, training=train_kwargs.pop("training", Training()))
    if rest:
        raise TypeError(f"prune() got an unexpected keyword argument {next(iter(rest))!r}")
    training = configs["training"]
    X = check_array(X, "X", ndim=2, shape=(None, net0.Ws[0].shape[1]))  # the net's input width
    if not X.shape[0]:
        raise ValueError("X must hold at least one sample, got shape (0, d)")
    if np.shape(y)[:1] != X.shape[:1]:
        raise ValueError(f"y must have one row per sample of X ({X.shape[0]}), got shape {np.shape(y)}")
    when, schedule, scope, score = plan.when, plan.schedule, plan.scope, plan.score
    if not callable(score):  # one spelling from here on ("SynFlow" is "synflow" everywhere below)
        score = check_option(score, "score", set(SCORES) | {"bingo"})
    rate, prunable = plan.rate, check_prunable(prunable, len(net0.Ws))
    output_rate = rate / 2 if plan.output_rate is None else plan.output_rate
    total = net0.n_weights
    target, rounds = _check_plan(when, schedule, plan.target, plan.rounds, total, training.epochs)
    L = len(net0.Ws)
    rng = check_rng(rng)
    score_fn = _score_fn(score)
    rates = [rate] * L if scope == "global" else [rate] * (L - 1) + [output_rate]
    nb = X.shape[0] if score_batch is None else min(check_int(score_batch, "score_batch", low=1), X.shape[0])
    ctx = {"X": X[:nb], "y": np.asarray(y)[:nb], "loss": training.loss, "rng": rng, "init": net0}
    masks = [np.ones(W.shape, bool) for W in net0.Ws]
    bar = tqdm(desc="pruning rounds", disable=not progress_enabled(progress), leave=False)
    backend = _NumpyBackend(net0, X, y, rng, bar, lambda net, masks: score_fn(net, masks, ctx),
                            lambda net, masks, rec: _train_maybe_bingo(net, X, y, masks, rng, rec, score, bingo, ctx,
                                                                       training),
                            training, evaluate)
    result = backend.result
    steps = PruningPlan(when, schedule, scope, plan.after, tuple(rates), tuple(prunable), target, rounds, plan.rewind_step)
    if when == "during":
        prune_during(steps, backend, masks,
                     gradual_goals(target, total, check_int(rounds if rounds is not None else 10, "rounds", low=1)))
    else:
        own = (lambda ms: synflow_prune(lambda m: SCORES["synflow"](net0, m), ms, target / total, scope=scope,
                                        prunable=prunable)) if when == "init" and score == "synflow" else None
        prune_rounds(steps, backend, masks, own)  # SynFlow prunes itself at init
    bar.close()
    result.time = time.perf_counter() - t0
    result.info = {"when": when, "score": score if isinstance(score, str) else getattr(score, "__name__", "custom"),
                   "schedule": schedule, "scope": scope, "after": plan.after, "rate": rate, "output_rate": output_rate,
                   "rewind_step": plan.rewind_step, "probe_seconds": ctx.get("probe_seconds", 0.0)}
    return result


def prune_run(net0, X, y, *, when="after", score="magnitude", schedule="iterative", rate=0.2, output_rate=None,
              scope="layer", after="rewind", rewind_step=0, target=None, rounds=None, **options):
    """Deprecated (goes in 0.6): ``sparsecert.prune.prune(net0, X, y, Plan(when, score, schedule, scope, after,
    rate, output_rate, target, rounds, rewind_step), **options)``, the same run (:func:`prune_numpy`)."""
    warn_deprecated("sparsecert.prune.run.prune_run", "sparsecert.prune.prune(net0, X, y, sparsecert.prune.Plan("
                    "when, score, schedule, scope, after, rate, output_rate, target, rounds, rewind_step), **training)")
    plan = Plan(when=when, score=score, schedule=schedule, scope=scope, after=after, rate=rate, output_rate=output_rate,
                target=target, rounds=rounds, rewind_step=rewind_step)
    return prune_numpy(net0, X, y, plan, **options)


def _check_plan(when, schedule, target, rounds, total, epochs):
    """What a :class:`Plan` cannot check alone, for :func:`prune_numpy`: its target against the net's
    weights, and how it combines with this backend and the training; returns ``(target, rounds)``."""
    if target is not None:
        target = check_int(target, "target", low=1, high=total)
    if when == "init" and schedule == "iterative" and target is None:
        raise ValueError("when='init' with schedule='iterative' scores and prunes until a target: give target= "
                         "(weights to keep), not rounds=")
    if when == "during" and check_int(epochs, "epochs", low=0) < 1:
        raise ValueError("when='during' prunes between epochs of training: epochs must be >= 1")
    return target, rounds


class _NumpyBackend:
    """:func:`~sparsecert.prune.engine.prune_rounds`' backend for :class:`~sparsecert.nn.ReLUNet`:
    one ``rng`` feeds training, random scores and fresh initialisations, in the order the rounds
    ask for them. ``scores(net, masks)``; ``train(net, masks, record)`` trains a round (with
    BINGO's probes where asked); every round's net is recorded in ``result``."""

    def __init__(self, net0, X, y, rng, bar, scores, train, training, evaluate):
        self.net0, self.X, self.y, self.rng, self.bar = net0, X, y, rng, bar
        self.scores, self.train, self.training, self.evaluate = scores, train, training, evaluate
        self.result, self.total = PruneResult(), net0.n_weights

    def initial(self):
        return self.net0

    def start(self, after, r, trained, rewind):
        if after == "reinit":
            return self.fresh()
        return {"rewind": rewind, "finetune": trained, "scratch": self.net0}[after].copy()

    def fresh(self):
        net0 = self.net0
        return ReLUNet.init([net0.Ws[0].shape[1]] + [W.shape[0] for W in net0.Ws], self.rng, bias=net0.bs is not None)

    def record(self, net, masks, out, r):
        """Add round ``r``'s net, masks and row (kept, density, last loss, ``evaluate``'s entries)."""
        kept = int(sum(m.sum() for m in masks))
        row = {"round": r, "kept": kept, "density": kept / self.total,
               "loss": float(out["losses"][-1]) if out is not None and out["losses"].size else np.nan}
        if self.evaluate is not None:
            row.update(self.evaluate(net))
        self.result.add(masks, net, row, kept, self.total, net)
        batch = self.training.batch_size or self.X.shape[0]
        self.result.peak_memory = max(self.result.peak_memory, 4 * net.nbytes + sum(m.size for m in masks)
                                      + batch * sum(W.shape[0] for W in net.Ws) * 16)

    def train_round(self, net, masks, r, rec=()):
        out = self.train(net, masks, rec)
        self.record(net, masks, out, r)
        if r:
            self.bar.update(1)
        return net, out.get("iterates", {})

    def train_part(self, net, masks, k, parts):
        part = dataclasses.replace(self.training, epochs=max(1, self.training.epochs // parts))
        out = train(net, self.X, self.y, training=part, masks=masks, rng=self.rng)
        self.bar.update(1)
        return out


def _train_maybe_bingo(net, X, y, masks, rng, record, score, bingo, ctx, training):
    if score == "bingo":
        from .bingo import bingo_train

        out = bingo_train(net, X, y, training=training, masks=masks, rng=rng, record=record, **(bingo or {}))
        ctx["bingo"] = out["significance"]
        ctx["probe_seconds"] = ctx.get("probe_seconds", 0.0) + out["probe_seconds"]
        return out
    return train(net, X, y, training=training, masks=masks, rng=rng, record=record)
