"""IMP for NumPy models: kernels, gradients, pruning rules, and agreement with the
linear closed form."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecert import imp as I
from sparsecert import kernels, nn
from sparsecert import linear_theory as lt
from sparsecert.prune import Plan, prune


def exact_ceil(rate, active):
    """ceil(rate * active) in exact decimal arithmetic (the rate as written, not its float)."""
    return math.ceil(Fraction(repr(rate)) * active)


def test_adam_and_relu_kernels_match_twins(rng):
    w = rng.standard_normal(50)
    g = rng.standard_normal(50)
    mask = (rng.random(50) < 0.7).astype(np.uint8)
    states = [(rng.random(50), rng.random(50)) for _ in range(2)]
    a = kernels.adam_step(w.copy(), g, *[s.copy() for s in states[0]], mask, 1e-2, 0.9, 0.999, 1e-8, 3)
    b = kernels.adam_step_numpy(w.copy(), g, *[s.copy() for s in states[0]], mask, 1e-2, 0.9, 0.999, 1e-8, 3)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    assert np.all(a[mask == 0] == 0)
    G = rng.standard_normal((7, 5))
    Z = rng.standard_normal((7, 5))
    np.testing.assert_array_equal(kernels.relu_backward_inplace(G.copy(), Z), kernels.relu_backward_inplace_numpy(G.copy(), Z))


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_backprop_matches_finite_differences(loss, rng):
    """The analytic gradient of the mean loss equals central finite differences."""
    net = nn.ReLUNet.init([4, 6, 5, 3], rng)
    X = rng.standard_normal((9, 4))
    y = rng.integers(0, 3, 9) if loss == "ce" else rng.standard_normal((9, 3))
    Y = nn.as_targets(y, loss)
    _, gW, gb = nn.loss_and_grad(net, X, Y, loss)
    h = 1e-6
    for l in range(3):
        for idx in [(0, 0), (1, 2), (2, 1)]:
            W = net.Ws[l]
            old = W[idx]
            W[idx] = old + h
            fp = nn.loss_and_grad(net, X, Y, loss)[0]
            W[idx] = old - h
            fm = nn.loss_and_grad(net, X, Y, loss)[0]
            W[idx] = old
            assert abs((fp - fm) / (2 * h) - gW[l][idx]) < 1e-6
        b = net.bs[l]
        b[1] += h
        fp = nn.loss_and_grad(net, X, Y, loss)[0]
        b[1] -= 2 * h
        fm = nn.loss_and_grad(net, X, Y, loss)[0]
        b[1] += h
        assert abs((fp - fm) / (2 * h) - gb[l][1]) < 1e-6


@settings(max_examples=10)
@given(n=st.integers(15, 40), d=st.integers(3, 8), seed=st.integers(0, 2**31), rate=st.floats(0.1, 0.6))
def test_numpy_imp_reproduces_the_linear_closed_form(n, d, seed, rate):
    """A linear model trained by GD to convergence is the masked gradient-flow limit, so
    NumPy IMP (global scope, rewind to init) gives the masks of linear_theory.imp_path
    exactly and the weights to 1e-8."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    w0 = rng.standard_normal(d)
    k = max(1, d // 3)
    lam = np.linalg.eigvalsh(X.T @ X / n)
    net0 = nn.ReLUNet([w0[None, :]])
    res = prune(net0, X, y, Plan.imp(target=k, rate=rate, scope="global"), optimizer="gd", lr=1.0 / lam[-1],
                epochs=200_000, tol=1e-13)
    path = lt.imp_path(X, y, k, rate=rate, w0=w0)
    assert len(res.masks) == len(path.masks)
    for masks, mask, net, w in zip(res.masks, path.masks, res.nets, path.weights):
        np.testing.assert_array_equal(masks[0][0], mask)
        np.testing.assert_allclose(net.Ws[0][0], w, atol=1e-8)


def test_layerwise_rates_output_half_rate_and_biases_kept(rng):
    """Layer-wise pruning: hidden layers lose ceil(rate * active), the output layer
    ceil(rate/2 * active); biases are never pruned; masks are nested."""
    X = rng.standard_normal((64, 10))
    y = rng.integers(0, 3, 64)
    net0 = nn.ReLUNet.init([10, 20, 3], rng)
    res = prune(net0, X, y, Plan.imp(rounds=3, rate=0.2), loss="ce", epochs=2, lr=1e-2, batch_size=16, rng=0)
    sizes = [[int(mk.sum()) for mk in masks] for masks in res.masks]
    assert sizes[0] == [200, 60]
    for a, b in zip(sizes, sizes[1:]):
        assert b[0] == a[0] - exact_ceil(0.2, a[0]) and b[1] == a[1] - exact_ceil(0.1, a[1])
    for masks, nxt in zip(res.masks, res.masks[1:]):
        assert all(np.all(n <= m) for m, n in zip(masks, nxt))
    for net, masks in zip(res.nets, res.masks):
        assert all(np.all(W[~mk] == 0) for W, mk in zip(net.Ws, masks))
        assert np.all(net.bs[0] != 0)
    assert [m["round"] for m in res.metrics] == [0, 1, 2, 3]
    assert res.peak_memory > net0.nbytes


def test_global_target_and_late_rewinding(rng):
    X = rng.standard_normal((40, 6))
    y = X @ rng.standard_normal(6)
    net0 = nn.ReLUNet.init([6, 8, 1], rng)
    res = prune(net0, X, y, Plan.imp(target=20, rate=0.3, scope="global", rewind_step=5), epochs=3, lr=1e-2, rng=0)
    assert res.metrics[-1]["kept"] == 20
    assert res.metrics[-2]["kept"] > 20
    cont = Plan(target=20, rate=0.3, scope="global", after="finetune")
    res_cont = prune(net0, X, y, cont, epochs=3, lr=1e-2, rng=0)
    assert res_cont.metrics[-1]["kept"] == 20
    with pytest.warns(FutureWarning, match="sparsecert.imp.imp is deprecated"):  # the old name, the same run
        old = I.imp(net0, X, y, target=20, rate=0.3, scope="global", rewind="continue", epochs=3, lr=1e-2, rng=0)
    assert old.kept == res_cont.kept and all(np.array_equal(a, b) for a, b in zip(old.masks[-1], res_cont.masks[-1]))


def test_imp_bad_input(rng):
    X = rng.standard_normal((10, 3))
    y = rng.standard_normal(10)
    net0 = nn.ReLUNet.init([3, 4, 1], rng)
    with pytest.raises(ValueError, match="rate must be in \\(0, 1\\)"):
        Plan.imp(target=5, rate=1.5)
    with pytest.raises(ValueError, match="exactly one of target"):
        Plan.imp(rate=0.2)
    with pytest.raises(ValueError, match="cannot reach the target"):
        prune(net0, X, y, Plan.imp(target=1, rate=0.5), epochs=1)  # layer-wise keeps >= 1 weight per layer
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="rewind must be one of"):
        I.imp(net0, X, y, target=5, rewind="late")
    with pytest.raises(ValueError, match="Ws\\[1\\] must have 4 columns"):
        nn.ReLUNet([np.ones((4, 3)), np.ones((1, 5))])


def test_conversions_keep_the_function(rng):
    import sparsecert as sc

    p = sc.planted_relu(50, 4, 3, 6, rng=1, output_sign="mixed")
    np.testing.assert_allclose(nn.ReLUNet.copy(p.model)(p.X), p.model.forward(p.X))
    w = rng.standard_normal(4)
    np.testing.assert_allclose(nn.ReLUNet.linear(w, 0.5)(p.X), p.X @ w + 0.5)


@pytest.mark.parametrize("labels, message", [
    ([0, 1, -1, 2], "integers >= 0"),  # -1 would index the last class
    ([0, 1, 2.7, 2], "integers >= 0"),  # 2.7 would be truncated to 2
    ([0, 1, np.nan, 2], "with NaN"),
    ([0, 1, 3, 2], "< 3"),  # out of range for 3 outputs (was a raw IndexError)
    ([["a"], ["b"], ["c"], ["d"]], "1-d array of class indices"),
])
def test_cross_entropy_labels_are_class_indices(labels, message):
    """Training with cross-entropy takes integer labels in [0, k) only (issue 18, defect 8)."""
    rng = np.random.default_rng(0)
    net = nn.ReLUNet.init([2, 4, 3], rng)
    with pytest.raises(ValueError, match=message):
        nn.train(net, rng.standard_normal((4, 2)), np.array(labels, dtype=object if isinstance(labels[0], list) else None),
                 training=nn.Training(loss="ce", epochs=1))
