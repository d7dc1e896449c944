"""Networks to and from plain torch.nn models (issue 20, item 3)."""

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.nn import ReLUNet

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from torch.nn.utils import prune  # noqa: E402


def test_import_sparsecert_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sparsecert, sparsecert.models, sparsecert.imp, sparsecert.deep; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_recovered_two_layer_net_in_torch_gives_the_numpy_outputs():
    """A recovered net evaluated in torch (float64) gives its NumPy outputs to 1e-12; the zero
    weights are seen as pruned by torch's own tooling; from_torch reads the same net back."""
    from sparsecert.relu import fit_two_layer  # (sparsecert.relu is a submodule, not imported by sparsecert)

    p = sc.planted_relu(400, 6, 5, 9, rng=0)
    net, _ = fit_two_layer(p.X, p.y, 5, 9, solver=sc.IHT(max_iter=20), rng=1)
    model = net.to_torch(masks="nonzero")
    out = model(torch.as_tensor(p.X)).detach().numpy()[:, 0]
    np.testing.assert_allclose(out, net.forward(p.X), rtol=1e-12, atol=1e-12)
    assert prune.is_pruned(model)
    assert int(model[0].weight_mask.sum()) == np.count_nonzero(net.U)
    back = type(net).from_torch(model)
    np.testing.assert_array_equal(back.U, net.U)
    np.testing.assert_array_equal(back.v, net.v)
    prune.remove(model[0], "weight")  # torch's tooling makes the pruning permanent: the zeros stay
    assert not prune.is_pruned(model[0]) and np.count_nonzero(model[0].weight.detach().numpy()) == np.count_nonzero(net.U)


def test_densenet_with_the_pruning_engines_masks():
    """prune_numpy's masks go to custom_from_mask; the torch model computes the masked net, with
    biases, to 1e-12; and from_torch gives the masked weights back."""
    from sparsecert.prune import Plan
    from sparsecert.prune.run import prune_numpy

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    y = (X[:, 0] > 0).astype(int)
    net0 = ReLUNet.init([5, 8, 2], rng)
    res = prune_numpy(net0, X, y, Plan(rounds=2), epochs=3, loss="ce", progress=False, rng=0)
    net, masks = res.nets[-1], res.masks[-1]
    model = net.to_torch(masks=masks)
    assert all(prune.is_pruned(model[i]) for i in (0, 2))
    want = ReLUNet([W * m for W, m in zip(net.Ws, masks)], net.bs).forward(X)
    np.testing.assert_allclose(model(torch.as_tensor(X)).detach().numpy(), want, rtol=1e-12, atol=1e-12)
    back = ReLUNet.from_torch(model)
    for W, m, B in zip(net.Ws, masks, back.Ws):
        np.testing.assert_array_equal(B, W * m)


def test_deep_mlp_round_trip_and_bad_models():
    rng = np.random.default_rng(1)
    net = ReLUNet([rng.standard_normal((4, 3)), rng.standard_normal((5, 4)), rng.standard_normal((2, 5))])
    X = rng.standard_normal((30, 3))
    model = net.to_torch()
    np.testing.assert_allclose(model(torch.as_tensor(X)).detach().numpy(), net.forward(X), rtol=1e-12, atol=1e-12)
    back = ReLUNet.from_torch(model)
    assert all(np.array_equal(a, b) for a, b in zip(back.Ws, net.Ws)) and back.bs is None
    with pytest.raises(TypeError, match="Linear layers with ReLUs"):
        ReLUNet.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="one array per layer"):
        net.to_torch(masks=[np.ones((4, 3), bool)])
    with pytest.raises(ValueError, match="masks\\[0\\] must have shape"):
        ReLUNet(net.Ws[:2]).to_torch(masks=[np.ones((2, 2), bool), np.ones((5, 4), bool)])


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.9), ("sgd", 0.0), ("gd", 0.9), ("adam", 0.9)])
def test_numpy_and_torch_optimisers_take_the_same_steps(optimizer, momentum):
    """One optimiser vocabulary: ``nn.train`` and ``torch_bridge.fit`` with the same name, momentum,
    masks and full batches take the same steps from the same net (torch trains in float32, hence
    the 1e-4); "gd" is "sgd" without momentum on both; momentum changes the path."""
    from sparsecert.nn import Training, train
    from sparsecert.torch_bridge import fit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    net0 = ReLUNet.init([5, 7, 2], rng)
    masks = [rng.random(W.shape) < 0.7 for W in net0.Ws]
    net = net0.copy()
    training = Training(optimizer, lr=0.1, epochs=6, loss="cross-entropy", momentum=momentum)  # one for both loops
    train(net, X, y, training=training, masks=masks)
    model = net0.to_torch(dtype=torch.float32)
    fit(model, X.astype(np.float32), y, training=training, masks=masks)
    back = ReLUNet.from_torch(model)
    for A, B in zip(net.Ws + net.bs, back.Ws + back.bs):
        np.testing.assert_allclose(B, A, atol=1e-4)
    if optimizer == "sgd" and momentum:
        plain = net0.copy()
        train(plain, X, y, training=Training("gd", lr=0.1, epochs=6, loss="cross-entropy"), masks=masks)
        assert max(np.abs(a - b).max() for a, b in zip(plain.Ws, net.Ws)) > 1e-3


def test_from_torch_reads_the_weights_after_an_optimiser_step():
    """Under torch's pruning reparametrisation ``weight`` is refreshed only by a forward pass; after a
    step, ``from_torch`` must give ``weight_orig * weight_mask`` (the weights the next forward uses)."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 4)) * (rng.random((5, 4)) < 0.5)
    model = ReLUNet.two_layer(W, rng.standard_normal(5)).to_torch(masks="nonzero", dtype=torch.float64)
    X = torch.as_tensor(rng.standard_normal((16, 4)))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model(X).pow(2).mean()
    loss.backward()
    opt.step()
    back = ReLUNet.from_torch(model)
    with torch.no_grad():
        assert np.allclose(back.forward(X.numpy()), model(X).numpy().ravel())
        first = model[0]
        assert np.allclose(back.Ws[0], (first.weight_orig * first.weight_mask).numpy())
        assert not np.allclose(back.Ws[0], W)  # the step moved the kept weights
        assert np.array_equal(back.Ws[0] != 0, W != 0)  # and the pruned ones stay zero
