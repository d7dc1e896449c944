"""sparsecert.prune.prune: one entry point for a NumPy or a torch network, its plan checked when made."""

import dataclasses

import numpy as np
import pytest

from sparsecert.nn import ReLUNet
from sparsecert.prune import Plan, prune
from sparsecert.prune.run import prune_run


def data(seed=0, n=60, d=6, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)
    return X, y, ReLUNet.init([d, 10, 8, k], rng)


def _same_runs(a, b):
    assert a.kept == b.kept
    for ma, mb in zip(a.masks, b.masks):
        for x, z in zip(ma, mb):
            np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("make, match", [
    (lambda: Plan(when="never", target=3), "when must be one of"),
    (lambda: Plan(schedule="cyclic", target=3), "schedule must be one of"),
    (lambda: Plan(rate=1.0, target=3), r"rate must be in \(0, 1\)"),
    (lambda: Plan(target=0), "target must be in"),
    (lambda: Plan(), "exactly one of target"),
    (lambda: Plan(target=3, rounds=2), "exactly one of target"),
    (lambda: Plan(schedule="one-shot"), "needs target"),
    (lambda: Plan(when="during", schedule="iterative", target=3), "when='during'"),
])
def test_a_plan_is_checked_when_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_presets_are_the_methods_they_name():
    """IMP rewinds to the init after magnitude pruning of the survivors; pruning at init scores the
    init once and trains from it; gradual pruning runs while training. Plans are frozen values."""
    assert Plan.imp(target=40) == Plan(target=40)
    shot = Plan.at_init(40, score="synflow")
    assert (shot.when, shot.schedule, shot.after, shot.scope) == ("init", "one-shot", "scratch", "global")
    g = Plan.gradual(40, rounds=4)
    assert (g.when, g.schedule, g.rounds) == ("during", "gradual", 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shot.target = 10


@pytest.mark.parametrize("plan", [Plan.imp(target=40, rate=0.4), Plan.one_shot(40), Plan.at_init(40),
                                  Plan.gradual(40, rounds=3)])
def test_prune_on_numpy_is_the_deprecated_prune_run(plan):
    """On a ReLUNet, prune(model, X, y, plan) is what prune_run (0.4's name, now warning) ran with the
    plan's axes: the same masks."""
    X, y, net0 = data()
    kw = dict(epochs=3, lr=1e-2, loss="ce", rng=1)
    got = prune(net0, X, y, plan, **kw)
    with pytest.warns(FutureWarning, match=r"prune_run is deprecated.*sparsecert\.prune\.prune\(net0, X, y"):
        want = prune_run(net0, X, y, when=plan.when, score=plan.score, schedule=plan.schedule, scope=plan.scope,
                         after=plan.after, rate=plan.rate, target=plan.target, rounds=plan.rounds, **kw)
    _same_runs(got, want)
    assert got.kept[-1] == 40


@pytest.mark.torch
def test_prune_on_torch_is_the_deprecated_prune_torch():
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    from sparsecert.torch_bridge import mlp, prune_torch

    X, y, _ = data()
    model = mlp([6, 10, 3], rng=0)
    plan = Plan.imp(rounds=2)
    got = prune(model, X.astype(np.float32), y, plan, iterations=5, batch_size=20)
    with pytest.warns(FutureWarning, match=r"prune_torch is deprecated.*sparsecert\.prune\.prune\(model0, X, y"):
        want = prune_torch(model, X.astype(np.float32), y, rounds=2, iterations=5, batch_size=20)
    _same_runs(got, want)
    assert isinstance(model, torch.nn.Module)


def test_prune_refuses_what_it_cannot_run():
    X, y, net0 = data()
    with pytest.raises(TypeError, match="plan must be a sparsecert.prune.Plan"):
        prune(net0, X, y, {"target": 40})
    with pytest.raises(TypeError, match="model must be a sparsecert.nn.ReLUNet or a torch.nn.Module"):
        prune([np.ones((6, 3))], X, y, Plan.imp(target=4))
