"""Masked training of torch models with the lottery-ticket bookkeeping.

Masks cover the weights of every ``nn.Linear`` and ``nn.Conv2d`` (never
biases or batch-norm parameters): gradients are masked before the optimizer
step and weights after it, so pruned weights stay exactly 0 and Adam's moments
for them stay 0. Validation and test metrics are taken every ``eval_every``
iterations; the early-stopping iteration is the one of minimum validation loss
(Frankle & Carbin), and the reported test accuracy is the one at that iteration.

Training runs on sparsecert's thread budget (:func:`thread_budget`): torch's intra-op threads are
the ones asked for (:func:`sparsecert.parallel.requested_n_threads`: ``set_n_threads`` or
``SPARSECERT_NUM_THREADS``, 1 in a sweep's process workers), one if none were, and BLAS is held to
one thread meanwhile, so torch, NumPy's BLAS and the operators' pool never compete for the same cores.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..parallel import requested_n_threads, single_threaded_blas
from ..validation import check_int, fold_options, integer_seed, legacy_options, progress_enabled, refuse_fields
from ..nn import Training, loss_name

__all__ = ["prunable_weights", "get_masks", "apply_masks", "fit", "Evaluation", "TORCH_TRAINING", "evaluate",
           "to_tensor", "model_device", "reestimate_batchnorm", "thread_budget"]


def prunable_weights(model):
    """``[(name, weight)]`` of the Linear / Conv2d layers in module order."""
    return [(name + ".weight", mod.weight) for name, mod in model.named_modules()
            if isinstance(mod, (nn.Linear, nn.Conv2d))]


def get_masks(model):
    """All-ones masks (bool NumPy arrays) for :func:`prunable_weights`."""
    return [np.ones(tuple(w.shape), bool) for _, w in prunable_weights(model)]


def apply_masks(model, masks):
    """Zero the weights of ``model`` (in place) where ``masks`` (one per :func:`prunable_weights`) are False."""
    with torch.no_grad():
        for (_, w), m in zip(prunable_weights(model), masks):
            w.mul_(torch.as_tensor(m, dtype=w.dtype, device=w.device))


@torch.no_grad()
def reestimate_batchnorm(model, X, batch_size=500):
    """Replace the running statistics of every BatchNorm layer of ``model`` by those of ``X``.

    The statistics are reset and accumulated as exact averages over the batches of
    ``X`` (forward passes in train mode, no gradient, weights untouched); the model is
    left in eval mode, where it normalises with them. Used before training a head on
    frozen features of another task: the source's statistics describe the source's
    inputs, not the target's.

    Parameters
    ----------
    model : nn.Module
    X : ndarray (n, ...) float
    batch_size : int
    """
    bns = [mod for mod in model.modules() if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
    model.train()
    Xt = to_tensor(X, device=model_device(model))
    for i in range(0, len(Xt), check_int(batch_size, "batch_size", low=1)):
        model(Xt[i : i + batch_size])
    for bn, mom in zip(bns, momenta):
        bn.momentum = mom
    model.eval()
    return model




def to_tensor(X, y=None, loss="cross-entropy", device=None):
    """float32 inputs; integer class labels (cross-entropy) or float32 targets (mse); on ``device``
    (default the CPU)."""
    Xt = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32, device=device)
    if y is None:
        return Xt
    return Xt, torch.as_tensor(np.asarray(y), dtype=torch.int64 if loss == "cross-entropy" else torch.float32,
                               device=device)


def model_device(model):
    """The device of ``model``'s parameters (the CPU for a model without any): where its data goes."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _loss(out, yb, loss, reduction="mean"):
    """Cross-entropy of logits (b, k) against labels (b,), or the squared
    error per sample (averaged over outputs; (b, 1) outputs meet (b,) targets)."""
    if loss == "cross-entropy":
        return nn.functional.cross_entropy(out, yb, reduction=reduction)
    sq = nn.functional.mse_loss(out.reshape(yb.shape), yb, reduction="none").reshape(len(yb), -1).mean(1)
    return sq.sum() if reduction == "sum" else sq.mean()


def _hits(out, yb, loss):
    """Correct predictions: argmax agreement, or for scalar MSE targets the 0.5 threshold (0/1 labels)."""
    if loss == "cross-entropy":
        return int((out.argmax(1) == yb).sum())
    if yb.ndim == 1:
        return int(((out.reshape(len(yb)) >= 0.5) == (yb >= 0.5)).sum())
    return int((out.argmax(1) == yb.argmax(1)).sum())


@torch.no_grad()
def evaluate(model, X, y, batch_size=1000, loss="cross-entropy"):
    """(mean loss, accuracy) on (X, y), in eval mode.

    ``loss="mse"``: the loss is the mean squared error per sample (averaged
    over outputs) and the accuracy is that of :func:`_hits`.
    """
    loss = loss_name(loss)
    was = model.training
    model.eval()
    X, y = to_tensor(X, y, loss, model_device(model))
    total, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        out, yb = model(X[i : i + batch_size]), y[i : i + batch_size]
        total += float(_loss(out, yb, loss, "sum"))
        correct += _hits(out, yb, loss)
    model.train(was)
    return total / len(y), correct / len(y)


def thread_budget(fn):
    """Decorate ``fn`` to run with torch's intra-op threads set to the threads asked of sparsecert
    (:func:`sparsecert.parallel.requested_n_threads`), one where none were asked, and BLAS held to one
    thread; both restored after.

    One by default: the paper's nets are too small for more to pay (the quick lottery and transfer
    figures on 2 cores: 48.3 s on one thread, 49.7 s on two, with 90 s of CPU against 47 s); where
    another process holds a core, torch's threads wait on each other at every operation (a ResNet
    step on 32 8 x 8 digits: 0.6 s on two threads, 20x what it takes on one); and a seeded torch run
    gives the same numbers on every machine (torch's reductions differ with the thread count). Ask
    for more (``SPARSECERT_NUM_THREADS=8``) for large nets on a machine of your own.
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        old, want = torch.get_num_threads(), requested_n_threads() or 1
        if want != old:
            torch.set_num_threads(want)
        try:
            with single_threaded_blas():
                return fn(*args, **kwargs)
        finally:
            if torch.get_num_threads() != old:
                torch.set_num_threads(old)

    return run


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`fit` evaluates while it trains: ``val`` and ``test`` ((X, y) pairs, optional) every
    ``eval_every`` steps and at the end, in the training loss (:func:`evaluate`)."""

    val: tuple | None = None
    test: tuple | None = None
    eval_every: int = 100

    def __post_init__(self) -> None:
        check_int(self.eval_every, "eval_every", low=1)
        for name in ("val", "test"):
            pair = getattr(self, name)
            if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2):
                raise TypeError(f"{name} must be an (X, y) pair, got {type(pair).__name__}")


#: :func:`fit`'s training: the torch loop's defaults (cross-entropy, batches of 60)
TORCH_TRAINING = Training(loss="cross-entropy", batch_size=60)


def fit_configs(options: dict) -> dict:
    """Keywords for :func:`fit` with 0.4's flat ones (``lr=``, ``iterations=``, ``val=``, ``eval_every=``,
    ...) folded into its ``training`` and ``evaluation`` (what :func:`sparsecert.prune.prune` forwards)."""
    options = dict(options)
    configs, rest = fold_options(options, training=options.pop("training", TORCH_TRAINING),
                                 evaluation=options.pop("evaluation", Evaluation()))
    return {**rest, **configs}


@thread_budget
def fit(model, X, y, *, training=TORCH_TRAINING, evaluation=Evaluation(), masks=None, params=None, record=(),
        callback=None, epoch_callback=None, rng=0, progress=None, **legacy):
    """Train ``model`` in place on (X, y) with masks; return the history.

    Parameters
    ----------
    model : nn.Module
    X : ndarray (n, ...) float
    y : ndarray (n,) int (cross-entropy) or (n,) / (n, k) float (mse)
    training : sparsecert.Training
        Optimiser, learning rate, momentum, weight decay, batch size (None: the full batch), loss,
        length (``iterations`` steps if set, else ``epochs`` passes) and ``augment``; default
        :data:`TORCH_TRAINING` (Adam 1e-3, cross-entropy, batches of 60, 10 epochs). The same
        object drives the NumPy :func:`sparsecert.nn.train` (but for ``tol``, which is NumPy's).
    evaluation : Evaluation
        Validation and test pairs and how often they are evaluated.
    masks : list of bool ndarray, optional
        One per :func:`prunable_weights` entry.
    params : iterable of parameters, optional
        Train only these (frozen-feature transfer); default all.
    record : iterable of int
        Iterations after which a copy of the state dict is kept (rewinding).
    callback : callable, optional
        ``callback(it, model, xb, yb)`` after each step (BINGO probes).
    epoch_callback : callable, optional
        ``epoch_callback(epoch, model)`` at the end of each pass over the data (NEq).
    rng : int, Generator or None
        Seeds the batch order and augmentation (an int is the torch seed).
    **legacy
        0.4's keywords (``lr=``, ``iterations=``, ``val=``, ``eval_every=``, ``seed=``, ...), folded
        into ``training`` and ``evaluation`` with a FutureWarning until 0.6.

    Returns
    -------
    dict with ``iters``, ``val_loss``, ``val_acc``, ``test_acc`` (lists at the
    evaluation points), ``early_stop`` (iteration of minimum validation loss),
    ``test_acc_at_early_stop``, ``final_test_acc``, ``train_loss``,
    ``iterations``, ``seconds`` and ``states`` ({iteration: state dict}).
    """
    seed = legacy.pop("seed", None)
    new = legacy_options("sparsecert.torch_bridge.fit", legacy, training=training, evaluation=evaluation)
    training, evaluation = new["training"], new["evaluation"]
    refuse_fields(training, ("tol",), "sparsecert.torch_bridge.fit", "the NumPy loop's")
    lname, augment, val, test = training.loss, training.augment, evaluation.val, evaluation.test
    device = model_device(model)  # the data goes where the model is
    Xt, yt = to_tensor(X, y, lname, device)
    n = len(yt)
    batch_size = n if training.batch_size is None else min(training.batch_size, n)
    per_epoch = -(-n // batch_size)
    iterations = per_epoch * training.epochs if training.iterations is None else training.iterations
    gen = torch.Generator().manual_seed(integer_seed(rng, seed))
    params = list(model.parameters()) if params is None else list(params)
    lr, weight_decay = training.lr, training.weight_decay
    opt = (torch.optim.Adam(params, lr=lr, weight_decay=weight_decay) if training.optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, momentum=training.momentum, weight_decay=weight_decay))
    weights = [w for _, w in prunable_weights(model)]
    mt = None if masks is None else [torch.as_tensor(m, dtype=w.dtype, device=device) for w, m in zip(weights, masks)]
    if mt is not None:
        apply_masks(model, masks)
    record = set(int(r) for r in record)
    hist = {"iters": [], "val_loss": [], "val_acc": [], "test_acc": [], "train_loss": [],
            "states": {0: copy.deepcopy(model.state_dict())} if 0 in record else {}}

    t0 = time.perf_counter()
    model.train()
    it, order, pos, running = 0, torch.randperm(n, generator=gen).to(device), 0, 0.0
    bar = tqdm(total=iterations, desc="training", disable=not progress_enabled(progress),
               leave=False)
    while it < iterations:
        if pos >= n:
            if epoch_callback is not None:
                epoch_callback(it // per_epoch, model)
            order, pos = torch.randperm(n, generator=gen).to(device), 0
        rows = order[pos : pos + batch_size]
        pos += batch_size
        xb, yb = (Xt, yt) if batch_size == n else (Xt[rows], yt[rows])  # full batch: the order does not matter
        if augment is not None:
            xb = augment(xb, gen)
        loss = _masked_step(model, opt, xb, yb, lname, weights, mt)
        it += 1
        running += loss.double()  # on the device: read at the checkpoints only (no sync a step)
        if callback is not None:
            callback(it, model, xb, yb)
        if it in record:
            hist["states"][it] = copy.deepcopy(model.state_dict())
        if it % evaluation.eval_every == 0 or it == iterations:
            _checkpoint(hist, it, model, val, test, lname)
            hist["train_loss"].append(float(running) / (it - (hist["iters"][-2] if len(hist["iters"]) > 1 else 0)))
            running = 0.0
        bar.update(1)
    bar.close()
    if not hist["iters"]:
        _checkpoint(hist, 0, model, val, test, lname)
    return _summary(hist, it, time.perf_counter() - t0)


def _checkpoint(hist, it, model, val, test, lname):
    """Append iteration ``it``'s validation loss and accuracy and test accuracy to ``hist``."""
    hist["iters"].append(it)
    if val is not None:
        vl, va = evaluate(model, *val, loss=lname)
        hist["val_loss"].append(vl)
        hist["val_acc"].append(va)
    if test is not None:
        hist["test_acc"].append(evaluate(model, *test, loss=lname)[1])


def _masked_step(model, opt, xb, yb, lname, weights, mt):
    """One optimiser step on the batch with the pruned weights' gradients and values held at zero
    (``mt``: the masks as tensors, or None); returns the batch loss (a 0-d tensor on the device)."""
    opt.zero_grad(set_to_none=False)
    loss = _loss(model(xb), yb, lname)
    loss.backward()
    if mt is not None:
        for w, m in zip(weights, mt):
            w.grad.mul_(m)
    opt.step()
    if mt is not None:
        with torch.no_grad():
            for w, m in zip(weights, mt):
                w.mul_(m)
    return loss.detach()


def _summary(hist, iterations, seconds):
    """:func:`fit`'s history completed: ``iterations``, ``seconds``, the early-stopping point (the
    least validation loss) and the final test accuracy."""
    hist["iterations"], hist["seconds"] = iterations, seconds
    if hist["val_loss"]:
        k = int(np.argmin(hist["val_loss"]))
        hist["early_stop"] = hist["iters"][k]
        hist["test_acc_at_early_stop"] = hist["test_acc"][k] if hist["test_acc"] else None
    hist["final_test_acc"] = hist["test_acc"][-1] if hist["test_acc"] else None
    return hist
