"""Pruning scores and mask selection against direct computations on tiny MLPs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecert.nn import ReLUNet, as_targets, loss_and_grad
from sparsecert.prune import ROUNDINGS, grasp, magnitude, prune_count, select_masks, snip, synflow, zhou_criterion


def tiny(seed, bias=True, sizes=(4, 5, 3, 2)):
    rng = np.random.default_rng(seed)
    net = ReLUNet.init(list(sizes), rng, bias=bias)
    X = rng.standard_normal((7, sizes[0]))
    y = rng.standard_normal((7, sizes[-1]))
    return net, X, y


def loss_of(net, X, y):
    return loss_and_grad(net, X, as_targets(y, "mse"), "mse")[0]


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31))
def test_snip_equals_finite_difference_sensitivity(seed):
    """SNIP |g * w| with g from backprop equals |w dL/dw| with dL/dw by central differences."""
    net, X, y = tiny(seed)
    scores = snip(net, X, y)
    h = 1e-6
    for l, W in enumerate(net.Ws):
        i, j = 1 % W.shape[0], 2 % W.shape[1]
        old = W[i, j]
        W[i, j] = old + h
        fp = loss_of(net, X, y)
        W[i, j] = old - h
        fm = loss_of(net, X, y)
        W[i, j] = old
        assert scores[l][i, j] == pytest.approx(abs(old * (fp - fm) / (2 * h)), rel=1e-5, abs=1e-9)


def test_grasp_hessian_gradient_product_matches_the_exact_hessian():
    """GraSP's keep-score w * Hg (the negative of its S = -w * Hg, whose largest entries it
    removes): H g from differences of gradients equals the product with the Hessian assembled
    column by column (finite differences of the gradient along each coordinate)."""
    net, X, y = tiny(3, bias=False, sizes=(3, 4, 1))
    Y = as_targets(y[:, 0], "mse")
    shapes = [W.shape for W in net.Ws]
    sizes = [W.size for W in net.Ws]

    def flat_grad(vec):
        trial = net.copy()
        o = 0
        for W, sz, sh in zip(trial.Ws, sizes, shapes):
            W[...] = vec[o : o + sz].reshape(sh)
            o += sz
        return np.concatenate([g.ravel() for g in loss_and_grad(trial, X, Y, "mse")[1]])

    w = np.concatenate([W.ravel() for W in net.Ws])
    P = w.size
    H = np.empty((P, P))
    for k in range(P):
        e = np.zeros(P)
        e[k] = 1e-5
        H[:, k] = (flat_grad(w + e) - flat_grad(w - e)) / 2e-5
    g = flat_grad(w)
    want = w * (H @ g)
    got = np.concatenate([s.ravel() for s in grasp(net, X, y[:, 0])])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-8)


@given(seed=st.integers(0, 2**31))
def test_synflow_scores_are_conserved_across_layers(seed):
    """Tanaka et al.: with all-ones input and no biases, the synaptic saliencies of every
    layer sum to the same value R = 1^T prod |W_l| 1."""
    net, _, _ = tiny(seed, bias=False, sizes=(5, 6, 4, 3))
    scores = synflow(net)
    R = np.ones(3) @ np.abs(net.Ws[2]) @ np.abs(net.Ws[1]) @ np.abs(net.Ws[0]) @ np.ones(5)
    for s in scores:
        assert s.sum() == pytest.approx(R, rel=1e-10)


def test_synflow_iterative_reaches_the_target_density():
    net, _, _ = tiny(0, bias=False, sizes=(20, 30, 10))
    _, masks = synflow(net, keep_fraction=0.1, rounds=20)
    kept = sum(int(m.sum()) for m in masks)
    total = sum(m.size for m in masks)
    assert abs(kept - 0.1 * total) <= 1
    assert all(m.any() for m in masks)  # no layer collapse


@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4), frac=st.floats(0, 0.99),
       rounding=st.sampled_from(["floor", "round", "ceil"]), scope=st.sampled_from(["layer", "global"]),
       seed=st.integers(0, 1000))
def test_masks_have_exactly_the_requested_sparsity(sizes, frac, rounding, scope, seed):
    """The number pruned is floor / round-half-up / ceil of fraction * active (per layer or
    in total; a product within 1e-9 of an integer counts as that integer), and the pruned
    weights are the lowest-scored ones."""
    rng = np.random.default_rng(seed)
    scores = [rng.random((s, 3)) for s in sizes]
    masks = [rng.random((s, 3)) < 0.8 for s in sizes]
    new = select_masks(scores, masks, frac, scope=scope, rounding=rounding)
    rule = {"floor": np.floor, "ceil": np.ceil, "round": lambda v: np.floor(v + 0.5)}[rounding]

    def count(x):
        return np.round(x) if abs(x - np.round(x)) <= 1e-9 * max(1.0, x) else rule(x)
    groups = [(m, n, s) for m, n, s in zip(masks, new, scores)] if scope == "layer" else [
        (np.concatenate([m.ravel() for m in masks]), np.concatenate([n.ravel() for n in new]),
         np.concatenate([s.ravel() for s in scores]))]
    for m, n, s in groups:
        assert np.all(n <= m)
        assert int(m.sum() - n.sum()) == min(int(count(frac * m.sum())), int(m.sum()))
        gone, kept = s[m & ~n], s[n]
        if gone.size and kept.size:
            assert gone.max() <= kept.min()


def test_zhou_criteria_and_magnitude():
    init, _, _ = tiny(1)
    final = init.copy()
    final.Ws[0] *= 2.0
    np.testing.assert_array_equal(zhou_criterion("magnitude_increase", init, final)[0], np.abs(init.Ws[0]))
    np.testing.assert_array_equal(zhou_criterion("movement", init, final)[0], np.abs(init.Ws[0]))
    np.testing.assert_array_equal(zhou_criterion("large_final", init, final)[1], magnitude(final)[1])
    with pytest.raises(ValueError, match="criterion must be one of"):
        zhou_criterion("huge", init, final)


def test_counts_are_exact_for_decimal_rates():
    """ceil(0.1 * 30) is 3 although 0.1 * 30 == 3.0000000000000004 in floating point, and a
    fraction k / t of t weights is k for every k < t <= 300."""
    assert prune_count(0.1, 30) == 3 and prune_count(0.7, 10, "floor") == 7
    assert all(prune_count(k / t, t, r) == k for t in range(1, 301) for k in range(t) for r in ROUNDINGS)


def test_bad_selection_arguments():
    s = [np.ones((2, 2))]
    m = [np.ones((2, 2), bool)]
    with pytest.raises(ValueError, match="fraction must be in \\[0, 1\\)"):
        select_masks(s, m, 1.0)
    with pytest.raises(ValueError, match="no prunable layer"):
        select_masks(s, m, 0.5, prunable=[False])
    with pytest.raises(ValueError, match="rounding must be one of"):
        select_masks(s, m, 0.5, rounding="up")
