import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecert import SparseVector, StreamingTopK, kernels


@given(
    g=arrays(np.float64, st.integers(1, 200), elements=st.sampled_from([0.0, 1.0, -1.0, 3.0, -0.25]) | st.floats(-5, 5)),
    k=st.integers(0, 30),
    cuts=st.lists(st.integers(0, 200), max_size=8),
    data=st.data(),
)
def test_streaming_topk_equals_one_shot(g, k, cuts, data):
    """Merging blocks one after another keeps exactly the top-k of the whole vector
    (outside the excluded set), whatever the block boundaries."""
    N = g.size
    exclude = np.array(sorted(data.draw(st.sets(st.integers(0, N - 1), max_size=10))), np.int64)
    bounds = sorted({0, N, *[c % (N + 1) for c in cuts]})
    top = StreamingTopK(k, exclude=exclude)
    for a, b in zip(bounds[:-1], bounds[1:]):
        top.push(g[a:b], a)
    allowed = np.setdiff1d(np.arange(N), exclude)
    want = allowed[kernels.topk_abs_numpy(g[allowed], allowed, k)]
    np.testing.assert_array_equal(top.indices, want)
    np.testing.assert_array_equal(top.values, g[want])


def test_sparse_vector_roundtrip(rng):
    w = rng.standard_normal(50) * (rng.random(50) < 0.2)
    sv = SparseVector.from_dense(w)
    assert sv.nnz == np.count_nonzero(w)
    np.testing.assert_array_equal(sv.to_dense(), w)
    assert SparseVector.zeros(7).to_dense().tolist() == [0.0] * 7


def test_sparse_vector_rejects_unsorted():
    import pytest

    with pytest.raises(ValueError, match="strictly increasing"):
        SparseVector(np.array([3, 1]), np.array([1.0, 2.0]), 5)
    with pytest.raises(ValueError, match="strictly increasing"):
        SparseVector(np.array([1, 5]), np.array([1.0, 2.0]), 5)
