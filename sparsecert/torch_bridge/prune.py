"""The pruning vocabulary on torch models, and NEq for convolutional nets.

:func:`prune_torch` takes the same axes as :func:`sparsecert.prune.run.prune_run`
(when x score x schedule x scope x after); the masks are chosen by the same
NumPy :func:`~sparsecert.prune.run.prune_step`, so counts and tie rules are
identical for NumPy and torch models. Scores: ``magnitude``, ``random``,
``snip`` (``|w * dL/dw|`` on ``score_batch`` samples) and ``bingo``
(probing during the dense training run, see :mod:`sparsecert.prune.bingo`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .._validation import check_float, check_int, check_option, check_rng
from ..neq import Equilibrium
from ..prune.run import AFTER, SCHEDULES, WHEN, check_progress, check_rate_prunable, prune_step, prune_to
from .models import glorot_normal
from .train import fit, prunable_weights, to_tensor

__all__ = ["prune_torch", "torch_scores", "TorchPruneResult", "neq_fit", "TORCH_SCORES", "reinitialised"]

TORCH_SCORES = ("magnitude", "random", "snip", "bingo")


@dataclass
class TorchPruneResult:
    """Rounds of a pruning run on a torch model.

    ``masks[r]``, ``histories[r]`` (the :func:`fit` history of round r),
    ``kept[r]`` and ``p_m[r]`` (fraction of prunable weights remaining); round 0
    is the dense run for ``when="after"``. ``model`` is the last trained model;
    ``states[r]`` its state dict in each round.
    """

    masks: list
    histories: list
    kept: list
    p_m: list
    states: list
    model: nn.Module
    time: float = 0.0
    info: dict = field(default_factory=dict)


def torch_scores(model, name, *, X=None, y=None, rng=None, masks=None):
    """Scores (NumPy arrays, one per prunable weight; keep the largest) of a torch model."""
    weights = [w for _, w in prunable_weights(model)]
    if name == "magnitude":
        return [w.detach().abs().numpy().astype(np.float64) for w in weights]
    if name == "random":
        rng = check_rng(rng)
        return [rng.random(tuple(w.shape)) for w in weights]
    if name == "snip":
        model.zero_grad()
        Xt, yt = to_tensor(X, y)
        nn.functional.cross_entropy(model(Xt), yt).backward()
        out = [(w.detach() * w.grad).abs().numpy().astype(np.float64) for w in weights]
        model.zero_grad()
        return out
    raise ValueError(f"score must be one of {TORCH_SCORES}, got {name!r}")


class _BingoProbe:
    """BINGO on a torch model: every ``probe_every`` steps, ``n_probes`` random subsets (a
    ``subset_fraction`` of the live weights) are reset to their initial values one at a time and
    the rise of the batch loss (eval mode, no grad) is credited to every weight of the subset."""

    def __init__(self, model, init_state, masks, subset_fraction=0.05, n_probes=2, probe_every=1, rng=None):
        self.weights = [w for _, w in prunable_weights(model)]
        names = [name for name, _ in prunable_weights(model)]
        self.init = [init_state[nm].detach().reshape(-1).clone() for nm in names]
        self.sizes = np.array([w.numel() for w in self.weights])
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.live = np.flatnonzero(np.concatenate([m.ravel() for m in masks]))
        self.credit = np.zeros(self.offsets[-1])
        self.count = np.zeros(self.offsets[-1])
        self.k = max(1, int(round(check_float(subset_fraction, "subset_fraction", low=0.0, high=1.0, low_open=True)
                                  * self.live.size)))
        self.n_probes = check_int(n_probes, "n_probes", low=1)
        self.every = check_int(probe_every, "probe_every", low=1)
        self.rng = check_rng(rng)
        self.seconds = 0.0

    @torch.no_grad()
    def __call__(self, it, model, xb, yb):
        if it % self.every:
            return
        t0 = time.perf_counter()
        was = model.training
        model.eval()
        base = float(nn.functional.cross_entropy(model(xb), yb))
        flats = [w.view(-1) for w in self.weights]
        for _ in range(self.n_probes):
            subset = np.sort(self.rng.choice(self.live, self.k, replace=False))
            cuts = np.searchsorted(subset, self.offsets)
            parts = [torch.as_tensor(subset[cuts[l] : cuts[l + 1]] - self.offsets[l]) for l in range(len(flats))]
            saved = [f[p].clone() for f, p in zip(flats, parts)]
            for f, p, init in zip(flats, parts, self.init):
                f[p] = init[p]
            rise = float(nn.functional.cross_entropy(model(xb), yb)) - base
            for f, p, v in zip(flats, parts, saved):
                f[p] = v
            self.credit[subset] += rise
            self.count[subset] += 1
        model.train(was)
        self.seconds += time.perf_counter() - t0

    def significance(self):
        sig = np.divide(self.credit, self.count, out=np.zeros_like(self.credit), where=self.count > 0)
        return [sig[self.offsets[l] : self.offsets[l + 1]].reshape(tuple(w.shape)) for l, w in enumerate(self.weights)]


def reinitialised(model, seed):
    """A copy of ``model`` with every submodule's parameters drawn afresh (``reset_parameters``,
    torch seed ``seed``): the lottery-ticket "reinit" control."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for mod in fresh.modules():
        if hasattr(mod, "reset_parameters") and mod is not fresh:
            mod.reset_parameters()
    return glorot_normal(fresh)


def prune_torch(model0, X, y, *, when="after", score="magnitude", schedule="iterative", scope="layer",
                after="rewind", rate=0.2, rates=None, output_rate=None, target=None, rounds=None, rewind_step=0,
                prunable=None, score_batch=256, bingo=None, seed=0, progress=None, **fit_kwargs):
    """Run one configuration of the pruning vocabulary on a torch model (``model0`` is not modified).

    Parameters are those of :func:`sparsecert.prune.run.prune_run`; in addition
    ``rates`` (per prunable tensor, layer scope) overrides ``rate`` /
    ``output_rate`` (e.g. conv 20%, fc 0%), ``target`` counts weights of
    prunable tensors only, and ``fit_kwargs`` go to :func:`fit` (``iterations``
    or ``epochs``, ``lr``, ``batch_size``, ``val``, ``test``, ``eval_every``, ...).

    Returns
    -------
    TorchPruneResult
    """
    t0 = time.perf_counter()
    when = check_option(when, "when", set(WHEN) - {"during"})
    schedule = check_option(schedule, "schedule", set(SCHEDULES) - {"gradual"})
    scope = check_option(scope, "scope", {"layer", "global"})
    after = check_option(after, "after", set(AFTER))
    score = check_option(score, "score", set(TORCH_SCORES))
    L = len(prunable_weights(model0))
    rate, prunable = check_rate_prunable(rate, prunable, L)
    if rates is None:
        out_rate = rate / 2 if output_rate is None else output_rate
        rates = [rate] * L if scope == "global" else [rate] * (L - 1) + [out_rate]
    rates = [r if p else 0.0 for r, p in zip(rates, prunable)]
    shapes = [tuple(w.shape) for _, w in prunable_weights(model0)]
    total = int(sum(np.prod(s) for s, p in zip(shapes, prunable) if p))
    frozen_count = int(sum(np.prod(s) for s, p in zip(shapes, prunable) if not p))
    if schedule == "iterative" and (target is None) == (rounds is None):
        raise ValueError("give exactly one of target= (weights to keep) or rounds=")
    if schedule == "one-shot" and target is None:
        raise ValueError("schedule='one-shot' needs target= (weights to keep)")
    goal = None if target is None else frozen_count + check_int(target, "target", low=1, high=total)
    rng = np.random.default_rng(seed)
    nb = min(len(y), check_int(score_batch, "score_batch", low=1))
    state0 = copy.deepcopy(model0.state_dict())
    masks = [np.ones(s, bool) for s in shapes]
    out = TorchPruneResult([], [], [], [], [], model0)

    def kept_of(ms):
        return int(sum(int(m.sum()) for m, p in zip(ms, prunable) if p))

    def scores(model):
        if score == "bingo":
            return probe.significance()
        return torch_scores(model, score, X=X[:nb], y=y[:nb], rng=rng)

    def train_round(model, ms, r, rec=(), cb=None):
        hist = fit(model, X, y, masks=ms, record=rec, callback=cb, seed=seed + r, progress=progress, **fit_kwargs)
        out.masks.append([m.copy() for m in ms])
        out.histories.append(hist)
        out.kept.append(kept_of(ms))
        out.p_m.append(kept_of(ms) / total)
        out.states.append(copy.deepcopy(model.state_dict()))
        out.model = model
        return hist

    def to_goal(model, ms):
        return prune_to(scores(model), ms, goal, scope=scope, prunable=prunable)

    probe = None
    if when == "init":
        model = copy.deepcopy(model0)
        if schedule == "one-shot":
            masks = to_goal(model, masks)
        else:
            while sum(int(m.sum()) for m in masks) > goal:
                masks = check_progress(masks, prune_step(scores(model), masks, rates, scope=scope, target=goal,
                                                      prunable=prunable))
        if after == "reinit":
            model = reinitialised(model0, seed + 1)
        train_round(model, masks, 0)
    else:
        model = copy.deepcopy(model0)
        if score == "bingo":
            probe = _BingoProbe(model, state0, masks, rng=rng, **(bingo or {}))
        rec = (rewind_step,) if after == "rewind" and rewind_step > 0 else ()
        hist = train_round(model, masks, 0, rec, probe)
        rewind_state = hist["states"].get(rewind_step, state0) if rec else state0
        r = 0
        while not ((rounds is not None and r >= rounds) or (goal is not None and sum(map(np.sum, masks)) <= goal)):
            trained = out.model
            new = to_goal(trained, masks) if schedule == "one-shot" else prune_step(
                scores(trained), masks, rates, scope=scope, target=goal, prunable=prunable)
            masks = check_progress(masks, new)
            r += 1
            if after == "reinit":
                model = reinitialised(model0, seed + 100 + r)
            else:
                model = copy.deepcopy(model0)
                model.load_state_dict({"rewind": rewind_state, "scratch": state0,
                                       "finetune": trained.state_dict()}[after])
            train_round(model, masks, r)
            if schedule == "one-shot":
                break
    out.time = time.perf_counter() - t0
    out.info = {"when": when, "score": score, "schedule": schedule, "scope": scope, "after": after, "rates": rates,
                "probe_seconds": probe.seconds if probe is not None else 0.0, "prunable": prunable}
    return out


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
