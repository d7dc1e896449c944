"""The pruning vocabulary on torch models, and NEq for convolutional nets.

:func:`prune_module` takes the same :class:`~sparsecert.prune.Plan` as :func:`sparsecert.prune.run.prune_numpy`
(when x score x schedule x scope x after) and runs the same round loop
(:func:`sparsecert.prune.engine.prune_rounds`), so counts, schedules and tie
rules are identical for NumPy and torch models. Scores: ``magnitude``, ``random``,
``snip`` (``|w * dL/dw|`` on ``score_batch`` samples), ``grasp`` (``w * (H g)``
by double backward), ``synflow`` (data-free; at init with its own iterative
exponential schedule, :func:`sparsecert.prune.scores.synflow_prune`) and
``bingo`` (probing during the dense training run, see :mod:`sparsecert.prune.bingo`).
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import torch
from torch import nn

from ..validation import check_float, check_int, check_option, check_rng, integer_seed, warn_deprecated
from ..neq import Equilibrium
from ..prune.engine import PruneResult, PruningPlan, check_during, gradual_goals, prune_during, prune_rounds
from ..prune.plan import Plan
from ..prune.bingo import SubsetProbe
from ..prune.scores import synflow_prune
from ..prune.run import check_prunable
from .models import glorot_normal
from .train import fit, fit_configs, model_device, prunable_weights, thread_budget, to_tensor

__all__ = ["prune_module", "prune_torch", "torch_scores", "TorchPruneResult", "neq_fit", "TORCH_SCORES", "reinitialised"]

TORCH_SCORES = ("magnitude", "random", "snip", "grasp", "synflow", "bingo")


#: The pruning engine's result (its torch name before 0.3.1).
TorchPruneResult = PruneResult


def torch_scores(model, name, *, X=None, y=None, rng=None, masks=None):
    """Scores (NumPy arrays, one per prunable weight; keep the largest) of a torch model (on any device)."""
    weights = [w for _, w in prunable_weights(model)]
    device = model_device(model)
    if name == "magnitude":
        return [w.detach().abs().cpu().numpy().astype(np.float64) for w in weights]
    if name == "random":
        rng = check_rng(rng)
        return [rng.random(tuple(w.shape)) for w in weights]
    if name == "snip":
        model.zero_grad()
        Xt, yt = to_tensor(X, y, device=device)
        nn.functional.cross_entropy(model(Xt), yt).backward()
        out = [(w.detach() * w.grad).abs().cpu().numpy().astype(np.float64) for w in weights]
        model.zero_grad()
        return out
    if name == "grasp":  # keep-scores w * (H g) of the cross-entropy, by double backward
        Xt, yt = to_tensor(X, y, device=device)
        g = torch.autograd.grad(nn.functional.cross_entropy(model(Xt), yt), weights, create_graph=True)
        Hg = torch.autograd.grad(sum((a * a.detach()).sum() for a in g), weights)
        return [(w.detach() * h).cpu().numpy().astype(np.float64) for w, h in zip(weights, Hg)]
    if name == "synflow":
        return _synflow_once(model, masks, tuple(np.shape(X)[1:]))
    raise ValueError(f"score must be one of {TORCH_SCORES}, got {name!r}")


def _synflow_once(model, masks, input_shape):
    """SynFlow's ``|w * dR/dw|``, ``R`` the sum of the outputs on an all-ones input of the net with
    every weight replaced by its magnitude (masked), biases zero, in float64 and eval mode."""
    m = copy.deepcopy(model).double().eval()
    weights = [w for _, w in prunable_weights(m)]
    with torch.no_grad():
        for w, mk in zip(weights, masks or [None] * len(weights)):
            w.abs_()
            if mk is not None:
                w.mul_(torch.as_tensor(mk, dtype=w.dtype, device=w.device))
        for mod in m.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)) and mod.bias is not None:
                mod.bias.zero_()
    m(torch.ones((1,) + input_shape, dtype=torch.float64, device=model_device(m))).sum().backward()
    return [(w.detach() * w.grad).abs().cpu().numpy() for w in weights]


class _BingoProbe:
    """BINGO on a torch model (:class:`sparsecert.prune.bingo.SubsetProbe` on its prunable
    tensors): the batch loss is cross-entropy in eval mode, without gradients."""

    def __init__(self, model, init_state, masks, subset_fraction=0.05, n_probes=2, probe_every=1, rng=None):
        self.weights = [w for _, w in prunable_weights(model)]
        self.init = [init_state[name].detach().reshape(-1).clone() for name, _ in prunable_weights(model)]
        self.probes = SubsetProbe([w.numel() for w in self.weights], np.flatnonzero(np.concatenate([m.ravel() for m in masks])),
                                  subset_fraction=subset_fraction, n_probes=n_probes, probe_every=probe_every, rng=rng,
                                  index=torch.as_tensor)

    @property
    def seconds(self):
        return self.probes.seconds

    @torch.no_grad()
    def __call__(self, it, model, xb, yb):
        if not self.probes.due(it):
            return
        was = model.training
        model.eval()
        self.probes.probe([w.view(-1) for w in self.weights], self.init,
                          lambda: float(nn.functional.cross_entropy(model(xb), yb)))
        model.train(was)

    def significance(self):
        return self.probes.significance([tuple(w.shape) for w in self.weights])


def reinitialised(model, seed):
    """A copy of ``model`` with every submodule's parameters drawn afresh (``reset_parameters``,
    torch seed ``seed``): the lottery-ticket "reinit" control."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for mod in fresh.modules():
        if hasattr(mod, "reset_parameters") and mod is not fresh:
            mod.reset_parameters()
    return glorot_normal(fresh)


@thread_budget
def prune_module(model0, X, y, plan, *, rates=None, prunable=None, score_batch=256, bingo=None, rng=0, progress=None,
                 seed=None, **fit_kwargs):
    """Run ``plan`` on a torch model (``model0`` is not modified): the backend
    :func:`sparsecert.prune.prune` chooses for a ``torch.nn.Module`` (call that).

    Options are those of :func:`sparsecert.prune.run.prune_numpy`; in addition ``rates`` (per
    prunable tensor, layer scope) overrides the plan's ``rate`` / ``output_rate`` (e.g. conv 20%, fc
    0%), the plan's ``target`` counts weights of prunable tensors only, and ``fit_kwargs`` go to
    :func:`fit` (``training``, ``evaluation``, ``params``; or the fields of those two as keywords:
    ``iterations`` or ``epochs``, ``lr``, ``batch_size``, ``val``, ``test``, ``eval_every``, ...). The score is a name of :data:`TORCH_SCORES`, and the gradual schedule runs
    while training (``when="during"``).

    It runs where ``model0`` is (a CUDA module trains on the GPU: ``X`` and ``y`` are moved to its
    device once a round, masks and scores are NumPy arrays on the host).

    Returns
    -------
    PruneResult
        ``states`` are the rounds' ``state_dict``s (on the module's device), ``histories``
        :func:`fit`'s histories, ``model`` the last trained module.
    """
    t0 = time.perf_counter()
    when, schedule, scope, after, target, rounds = plan.when, plan.schedule, plan.scope, plan.after, plan.target, plan.rounds
    check_during(when, schedule)
    score = check_option(plan.score, "score", set(TORCH_SCORES))
    L = len(prunable_weights(model0))
    rate, prunable = plan.rate, check_prunable(prunable, L)
    if rates is None:
        out_rate = rate / 2 if plan.output_rate is None else plan.output_rate
        rates = [rate] * L if scope == "global" else [rate] * (L - 1) + [out_rate]
    rates = [r if p else 0.0 for r, p in zip(rates, prunable)]
    shapes = [tuple(w.shape) for _, w in prunable_weights(model0)]
    total = int(sum(np.prod(s) for s, p in zip(shapes, prunable) if p))
    frozen_count = int(sum(np.prod(s) for s, p in zip(shapes, prunable) if not p))
    goal = None if target is None else frozen_count + check_int(target, "target", low=1, high=total)
    seed = integer_seed(rng, seed)
    rng = np.random.default_rng(seed)
    nb = min(len(y), check_int(score_batch, "score_batch", low=1))
    state0 = copy.deepcopy(model0.state_dict())
    masks = [np.ones(s, bool) for s in shapes]
    out = PruneResult(model=model0)
    backend = _ModuleBackend(model0, state0, X, y, nb, score, bingo, rng, seed, progress, fit_configs(fit_kwargs), out, total,
                             prunable)
    steps = PruningPlan(when, schedule, scope, after, tuple(rates), tuple(prunable), goal, rounds, plan.rewind_step)
    if when == "during":
        prune_during(steps, backend, masks, [frozen_count + g for g in gradual_goals(
            target, total, check_int(rounds if rounds is not None else 10, "rounds", low=1))])
    else:
        own = (lambda ms: synflow_prune(lambda m: backend.scores(model0, m), ms, goal / (total + frozen_count),
                                        scope=scope, prunable=prunable)) if when == "init" and score == "synflow" else None
        prune_rounds(steps, backend, masks, own)  # SynFlow prunes itself at init
    probe = backend.probe
    out.time = time.perf_counter() - t0
    out.info = {"when": when, "score": score, "schedule": schedule, "scope": scope, "after": after, "rates": rates,
                "probe_seconds": probe.seconds if probe is not None else 0.0, "prunable": prunable}
    return out


def prune_torch(model0, X, y, *, when="after", score="magnitude", schedule="iterative", scope="layer",
                after="rewind", rate=0.2, output_rate=None, target=None, rounds=None, rewind_step=0, **options):
    """Deprecated (goes in 0.6): ``sparsecert.prune.prune(model0, X, y, Plan(when, score, schedule, scope,
    after, rate, output_rate, target, rounds, rewind_step), **options)``, the same run (:func:`prune_module`)."""
    warn_deprecated("sparsecert.torch_bridge.prune_torch", "sparsecert.prune.prune(model0, X, y, sparsecert.prune.Plan("
                    "when, score, schedule, scope, after, rate, output_rate, target, rounds, rewind_step), **training)")
    plan = Plan(when=when, score=score, schedule=schedule, scope=scope, after=after, rate=rate, output_rate=output_rate,
                target=target, rounds=rounds, rewind_step=rewind_step)
    return prune_module(model0, X, y, plan, **options)


class _ModuleBackend:
    """:func:`~sparsecert.prune.engine.prune_rounds`' backend for torch modules: states are modules,
    round ``r`` trains with seed ``seed + r``, and records into ``out``."""

    def __init__(self, model0, state0, X, y, nb, score, bingo, rng, seed, progress, fit_kwargs, out, total, prunable):
        self.model0, self.state0, self.X, self.y, self.nb = model0, state0, X, y, nb
        self.score, self.bingo, self.rng, self.seed, self.progress = score, bingo, rng, seed, progress
        self.fit_kwargs, self.out, self.total, self.prunable = fit_kwargs, out, total, prunable
        self.probe = None

    def initial(self):
        return self.model0

    def scores(self, model, masks):
        if self.score == "bingo":
            return self.probe.significance()
        if model is self.model0:  # scoring runs backward passes: leave the caller's model untouched
            model = copy.deepcopy(model)
        return torch_scores(model, self.score, X=self.X[: self.nb], y=self.y[: self.nb], rng=self.rng, masks=masks)

    def train_round(self, model, masks, r, record=()):
        if r == 0 and self.score == "bingo":
            self.probe = _BingoProbe(model, self.state0, masks, rng=self.rng, **(self.bingo or {}))
        hist = fit(model, self.X, self.y, masks=masks, record=record, callback=self.probe if r == 0 else None,
                   rng=self.seed + r, progress=self.progress, **self.fit_kwargs)
        self.record(model, masks, hist, r)
        return model, hist.get("states", {})

    def train_part(self, model, masks, k, parts):
        kw = dict(self.fit_kwargs)  # the budget (iterations or epochs) in equal parts
        t = kw["training"]
        key = "iterations" if t.iterations is not None else "epochs"
        kw["training"] = dataclasses.replace(t, **{key: max(1, getattr(t, key) // parts)})
        return fit(model, self.X, self.y, masks=masks, rng=self.seed + k, progress=self.progress, **kw)

    def record(self, model, masks, hist, r):
        k = sum(int(m.sum()) for m, p in zip(masks, self.prunable) if p)
        self.out.add(masks, copy.deepcopy(model.state_dict()), hist, k, self.total, model)

    def start(self, after, r, trained, rewind):
        if after == "reinit":  # a fresh draw: seed + 1 for pruning at init, seed + 100 + r for round r
            return reinitialised(self.model0, self.seed + (1 if r == 0 else 100 + r))
        model = copy.deepcopy(self.model0)
        if after == "rewind" and rewind is not self.model0:
            model.load_state_dict(rewind)  # a state dict recorded in round 0
        elif after == "finetune":
            model.load_state_dict(trained.state_dict())
        return model


def _units(model):
    """Layers whose output units NEq tracks: every Linear/Conv2d but the last layer."""
    mods = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return mods[:-1]


def neq_fit(model, X, y, X_val, *, eps=1e-3, mu_eq=0.5, **fit_kwargs):
    """:func:`fit` with NEq (Bragagnolo et al. 2022) on Linear/Conv2d units (neurons, channels).

    After every epoch each unit's outputs on ``X_val`` (channels: the whole
    feature map) are compared with the previous epoch's by cosine similarity
    ``phi``; the velocity ``v = -(phi_t - phi_{t-1}) + mu_eq v`` decides: units
    with ``|v| < eps`` are frozen for the next epoch (their weights and bias do
    not change). Returns the history plus ``saved_fraction``: the share of
    weight-gradient rows NEq skips (torch computes them and they are discarded;
    the count is the work a NEq-aware backward avoids, as in the paper).
    """
    eps = check_float(eps, "eps", low=0.0)
    mu_eq = check_float(mu_eq, "mu_eq", low=0.0, high=1.0)
    units = _units(model)
    Xv = to_tensor(X_val)
    grabbed = {}
    hooks = [m.register_forward_hook(lambda mod, inp, o, i=i: grabbed.__setitem__(i, o.detach()))
             for i, m in enumerate(units)]
    state = {"frozen": [torch.zeros(m.weight.shape[0], dtype=torch.bool) for m in units], "keep": None}
    log = {"frozen_per_epoch": [], "rows": 0, "rows_total": 0}
    rows_per_step = sum(w.shape[0] * w[0].numel() for _, w in prunable_weights(model))

    @torch.no_grad()
    def outputs():
        was = model.training
        model.eval()
        model(Xv)
        model.train(was)
        return [grabbed[i].reshape(grabbed[i].shape[0], grabbed[i].shape[1], -1).transpose(1, 2)
                .reshape(-1, grabbed[i].shape[1]).numpy() for i in range(len(units))]

    def snapshot():
        state["keep"] = [(m.weight.detach().clone(), None if m.bias is None else m.bias.detach().clone()) for m in units]

    def epoch_end(epoch, model_):
        at_eq = eq.update(outputs())
        if at_eq is not None:
            state["frozen"] = [torch.as_tensor(f) for f in at_eq]
        log["frozen_per_epoch"].append([int(f.sum()) for f in state["frozen"]])
        snapshot()

    @torch.no_grad()
    def after_step(it, model_, xb, yb):
        log["rows_total"] += rows_per_step
        for m, f, (w0, b0) in zip(units, state["frozen"], state["keep"]):
            if f.any():
                m.weight[f] = w0[f]
                if m.bias is not None:
                    m.bias[f] = b0[f]
                log["rows"] += int(f.sum()) * m.weight[0].numel()

    eq = Equilibrium(outputs(), mu_eq, eps)  # epoch 0 reference
    snapshot()
    try:
        hist = fit(model, X, y, callback=after_step, epoch_callback=epoch_end, **fit_kwargs)
    finally:
        for h in hooks:
            h.remove()
    hist["frozen_per_epoch"] = log["frozen_per_epoch"]
    hist["saved_fraction"] = log["rows"] / log["rows_total"] if log["rows_total"] else 0.0
    return hist
