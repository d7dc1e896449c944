import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import sparsecert as sc


@given(
    n=st.integers(1, 200),
    d=st.integers(1, 12),
    m=st.integers(1, 10),
    s_frac=st.floats(0, 1),
    sign=st.sampled_from(["positive", "mixed"]),
    seed=st.integers(0, 2**31),
)
def test_fused_identity(n, d, m, s_frac, sign, seed):
    """With the true generators h_j = u_j, A w = f(X): D_j X u_j v_j = relu(X u_j) v_j."""
    s = max(1, int(s_frac * m * d))
    p = sc.planted_relu(n, d, m, s, rng=seed, output_sign=sign)
    assert p.w.nnz == s == p.model.fused_weights().nnz
    f = p.model.forward(p.X)
    np.testing.assert_allclose(p.A.matvec(p.w), f, rtol=0, atol=1e-10 * (1 + np.abs(f).max()))
    np.testing.assert_allclose(p.y, f)


@given(m=st.integers(1, 6), d=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_from_fused_roundtrip(m, d, seed):
    """from_fused builds u_j = w_j/||w_j||, v_j = ||w_j||; its output equals A w with h_j = w_j."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, d)) * (rng.random((m, d)) < 0.6)
    w = sc.SparseVector.from_dense(W.ravel())
    net = sc.ReLUNet.from_fused(w, m, d)
    np.testing.assert_allclose(net.fused_weights().to_dense(), W.ravel(), atol=1e-12)
    X = rng.standard_normal((30, d))
    H = np.where(W.any(axis=1, keepdims=True), W, 1.0)  # generator of an empty block is irrelevant
    np.testing.assert_allclose(net.forward(X), sc.ReluPatternOperator(X, H).matvec(w), atol=1e-10)
    dense_net = sc.ReLUNet.from_fused(W.ravel(), m, d)
    np.testing.assert_allclose(dense_net.U, net.U)


def test_planted_relu_reproducible_and_noisy():
    a = sc.planted_relu(50, 5, 4, 6, rng=7)
    b = sc.planted_relu(50, 5, 4, 6, rng=7)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    c = sc.planted_relu(50, 5, 4, 6, rng=7, noise=0.1)
    assert 0 < np.linalg.norm(c.y - a.y) < 0.1 * np.sqrt(50) * 3


def test_planted_gaussian_shapes():
    p = sc.planted_gaussian(30, 90, 7, rng=1)
    assert p.A.shape == (30, 90) and p.y.shape == (30,) and p.w.nnz == 7
    np.testing.assert_allclose(p.A.matvec(p.w), p.y)
