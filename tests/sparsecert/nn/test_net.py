"""ReLUNet, the one network class, and the deprecated names it replaces (issue 36, Deliver 2)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecert as sc
from sparsecert.files import save_arrays
from sparsecert.nn import FORWARD_ELEMENTS, ReLUNet


def reference_forward(Ws, bs, X):
    """The definition, one layer after the other on the whole batch: h_l = relu(h_{l-1} W_l^T + b_l)."""
    H = X
    for l, W in enumerate(Ws):
        Z = H @ W.T + (0.0 if bs is None else bs[l])
        H = np.maximum(Z, 0.0) if l < len(Ws) - 1 else Z
    return H[:, 0] if H.shape[1] == 1 else H


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=0, max_size=3), k=st.integers(1, 3), bias=st.booleans(),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 10**6))
def test_forward_is_the_layer_recursion_whatever_units_are_dead(widths, k, bias, density, seed):
    """forward skips units that add exact zeros (one hidden layer: no incoming weight nor bias, or no outgoing weight) and
    goes in row blocks; the outputs equal the recursion's on the whole batch (to round-off), for C- and
    F-ordered X, and keep=True returns the recursion's pre-activations."""
    rng = np.random.default_rng(seed)
    sizes = [4, *widths, k]
    Ws = [rng.standard_normal((b, a)) * (rng.random((b, a)) < density) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) * (rng.random(b) < density) for b in sizes[1:]] if bias else None
    net = ReLUNet(Ws, bs)
    X = rng.standard_normal((37, 4))
    want = reference_forward(Ws, bs, X)
    np.testing.assert_allclose(net.forward(X), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net(np.asfortranarray(X)), want, rtol=1e-12, atol=1e-12)
    out, Zs = net.forward(X, keep=True)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    assert len(Zs) == len(Ws) and Zs[-1].shape == (37, k)
    assert net.nnz == sum(np.count_nonzero(W) for W in Ws) and net.k == k and net.widths == tuple(widths)


def test_forward_goes_in_row_blocks_on_many_samples():
    """More rows than one block holds: the blocked outputs are the whole batch's."""
    rng = np.random.default_rng(0)
    net = ReLUNet.two_layer(rng.standard_normal((64, 3)), rng.standard_normal(64))
    X = rng.standard_normal((FORWARD_ELEMENTS // 64 * 2 + 5, 3))
    np.testing.assert_allclose(net(X), reference_forward(net.Ws, None, X), rtol=1e-12, atol=1e-12)


def test_paper_notation_of_the_two_layer_net():
    """two_layer(U, v) is f(x) = sum_j relu(x . u_j) v_j; U and v read it back (v a view: in-place
    changes act); fused_weights' nnz is the paper's s, nnz counts both layers; U and v of a net they do
    not describe raise, naming Ws."""
    rng = np.random.default_rng(1)
    U = rng.standard_normal((5, 3)) * (rng.random((5, 3)) < 0.5)
    v = np.array([1.0, -2.0, 0.0, 0.5, 3.0])
    net = ReLUNet.two_layer(U, v)
    X = rng.standard_normal((20, 3))
    np.testing.assert_allclose(net(X), sum(np.maximum(X @ U[j], 0) * v[j] for j in range(5)), atol=1e-12)
    assert net.U is net.Ws[0] and net.m == 5 and net.d == 3
    assert net.fused_weights().nnz == np.count_nonzero(U * v[:, None])
    assert net.nnz == np.count_nonzero(U) + 4
    net.v[0] = 0.0
    assert net.Ws[1][0, 0] == 0.0
    with pytest.raises(AttributeError, match="two-layer net with one output and no biases.*use Ws"):
        ReLUNet.init([3, 4, 2], rng=0).U
    with pytest.raises(ValueError, match="bs must hold one bias per layer"):
        ReLUNet([U, v[None, :]], [np.zeros(5)])
    assert repr(net) == f"ReLUNet(3 -> 5 -> 1, nnz={net.nnz})"


def test_copies_are_independent_and_copy_false_keeps_the_arrays():
    """The default copies (training changes weights in place); copy=False holds the caller's arrays."""
    W = np.ones((2, 3))
    assert ReLUNet([W]).Ws[0] is not W and ReLUNet([W], copy=False).Ws[0] is W
    net = ReLUNet.init([3, 4, 1], rng=0)
    twin = net.copy()
    twin.Ws[0][0, 0] += 1.0
    assert net.Ws[0][0, 0] != twin.Ws[0][0, 0]


def test_files_of_the_older_classes_still_load(tmp_path):
    """A TwoLayerReLU file and an MLP file (as 0.4 wrote them) load as the same functions."""
    rng = np.random.default_rng(2)
    U, v = rng.standard_normal((4, 3)), rng.standard_normal(4)
    W1, V = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    X = rng.standard_normal((9, 3))
    old = ReLUNet.load(save_arrays(tmp_path / "two.npz", "TwoLayerReLU", {"U": U, "v": v}))
    np.testing.assert_allclose(old(X), np.maximum(X @ U.T, 0) @ v, atol=1e-12)
    mlp = ReLUNet.load(save_arrays(tmp_path / "mlp.npz", "MLP", {"W0": U, "W1": W1, "V": V}, {"layers": 2}))
    np.testing.assert_allclose(mlp(X), np.maximum(np.maximum(X @ U.T, 0) @ W1.T, 0) @ V, atol=1e-12)


def test_deprecated_names_warn_and_keep_their_meaning():
    """TwoLayerReLU, MLP and DenseNet resolve with a FutureWarning naming the new call; each is a
    ReLUNet computing the same function, and keeps the attributes whose meaning changed."""
    rng = np.random.default_rng(3)
    U, v = rng.standard_normal((4, 3)), np.array([1.0, 0.0, -1.0, 2.0])
    X = rng.standard_normal((8, 3))
    with pytest.warns(FutureWarning, match=r"TwoLayerReLU is deprecated.*ReLUNet\.two_layer\(U, v\)"):
        TwoLayerReLU = sc.TwoLayerReLU
    with pytest.warns(FutureWarning, match=r"sparsecert\.nn\.MLP is deprecated.*ReLUNet\(\[\*Ws, V\.T\]\)"):
        from sparsecert.nn import MLP
    with pytest.warns(FutureWarning, match=r"DenseNet is deprecated.*ReLUNet\(Ws, bs\)"):
        from sparsecert.nn import DenseNet
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = TwoLayerReLU(U, v)
        assert isinstance(old, ReLUNet) and old.nnz == 9  # the fused weights' count, as in 0.4
        np.testing.assert_array_equal(old(X), ReLUNet.two_layer(U, v)(X))
        assert TwoLayerReLU.from_fused(old.fused_weights(), 4, 3).nnz == 9
        mlp = MLP([U], rng.standard_normal((4, 2)))
        assert len(mlp.Ws) == 1 and mlp.V.shape == (4, 2)  # hidden layers only, V a column block
        np.testing.assert_allclose(mlp(X), np.maximum(X @ U.T, 0) @ mlp.V, atol=1e-12)
        dense = DenseNet.init([3, 4, 2], rng=0)
        np.testing.assert_array_equal(dense(X), ReLUNet.init([3, 4, 2], rng=0)(X))


@pytest.mark.parametrize("arrays,meta", [({"W0": np.ones((2, 3))}, {"layers": 2, "bias": False}),
                                         ({"W0": np.ones((2, 3)), "W1": np.ones((1, 4))}, {"layers": 2, "bias": False}),
                                         ({"W0": np.ones((2, 3))}, {"bias": False}),
                                         ({"W0": np.ones((2, 3))}, {"layers": "two", "bias": False}),
                                         ({"W0": np.array([[np.nan]])}, {"layers": 1, "bias": False})])
def test_a_file_that_says_it_holds_a_net_and_does_not_is_named(tmp_path, arrays, meta):
    """Missing layers, shapes that do not chain, a missing or wrong description, non-finite weights:
    a ValueError naming the file, not a KeyError from inside."""
    path = save_arrays(tmp_path / "net.npz", "ReLUNet", arrays, meta)
    with pytest.raises(ValueError, match=f"{path}: not a readable ReLUNet"):
        ReLUNet.load(path)
