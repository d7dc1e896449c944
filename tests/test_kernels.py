"""Every Numba kernel agrees with its NumPy twin; top-k follows the stated order."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecert import kernels

finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)
# Few distinct magnitudes so that ties are common.
tied = st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0, 0.5])


def _reference_topk(values, indices, k):
    """Brute force: sort by (|value| desc, index asc), keep k, return positions by index."""
    order = np.lexsort((indices, -np.abs(values)))[:k]
    return order[np.argsort(indices[order])]


@given(
    values=arrays(np.float64, st.integers(0, 60), elements=st.one_of(finite, tied)),
    k=st.integers(0, 70),
    seed=st.integers(0, 2**16),
)
def test_topk_matches_brute_force_and_twin(values, k, seed):
    """topk_abs returns exactly the first k entries of the order (|v| desc, index asc)."""
    indices = np.random.default_rng(seed).permutation(10 * values.size + 1)[: values.size].astype(np.int64)
    got = kernels.topk_abs(values, indices, k)
    twin = kernels.topk_abs_numpy(values, indices, k)
    want = _reference_topk(values, indices, k)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(twin, want)


@given(
    values=arrays(np.float64, st.integers(0, 50), elements=st.one_of(finite, tied)),
    offset=st.integers(0, 100),
    tau=st.floats(0, 3),
    data=st.data(),
)
def test_threshold_candidates_twin(values, offset, tau, data):
    """Kept positions: |v| >= tau and offset + p not excluded."""
    universe = list(range(offset, offset + values.size + 5))
    exclude = np.array(sorted(data.draw(st.sets(st.sampled_from(universe)) if universe else st.just(set()))), np.int64)
    got = kernels.threshold_candidates(values, offset, tau, exclude)
    twin = kernels.threshold_candidates_numpy(values, offset, tau, exclude)
    want = [p for p in range(values.size) if abs(values[p]) >= tau and offset + p not in set(exclude)]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(twin, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mask_scale_twin(dtype, rng):
    Z = rng.standard_normal((37, 11)).astype(dtype)
    Z[3, 4] = 0.0  # the boundary counts as active: 1[z >= 0]
    r = rng.standard_normal(37).astype(dtype)
    a = kernels.mask_scale_inplace(Z.copy(), r)
    b = kernels.mask_scale_inplace_numpy(Z.copy(), r)
    np.testing.assert_array_equal(a, b)
    assert a[3, 4] == r[3]


def _pattern_case(rng, n, d, nb, nnz_per_block, dtype):
    XT = rng.standard_normal((d, n)).astype(dtype)
    masks = (rng.random((nb, n)) < 0.5).astype(np.uint8)
    counts = rng.integers(1, nnz_per_block + 1, nb)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    feat = np.concatenate([np.sort(rng.choice(d, c, replace=False)) for c in counts] + [np.zeros(0)]).astype(np.int64)
    return XT, masks, ptr, feat


@given(n=st.integers(1, 40), d=st.integers(1, 6), nb=st.integers(0, 5), seed=st.integers(0, 1000))
def test_pattern_kernels_twins_and_definition(n, d, nb, seed):
    """A_S v and A_S^T r from the kernels equal the twins and the dense definition."""
    rng = np.random.default_rng(seed)
    XT, masks, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    v = rng.standard_normal(feat.size)
    r = rng.standard_normal(n)
    blk = np.repeat(np.arange(nb), np.diff(ptr))
    dense = np.stack([masks[b] * XT[f] for b, f in zip(blk, feat)], axis=1) if feat.size else np.zeros((n, 0))
    for mv in (kernels.pattern_matvec, kernels.pattern_matvec_numpy):
        np.testing.assert_allclose(mv(XT, masks, ptr, feat, v, np.empty(n)), dense @ v, rtol=1e-12, atol=1e-12)
    for rmv in (kernels.pattern_rmatvec, kernels.pattern_rmatvec_numpy):
        np.testing.assert_allclose(
            rmv(XT, masks, ptr, feat, r, np.empty(feat.size)), dense.T @ r, rtol=1e-12, atol=1e-12
        )


def test_pattern_kernels_float32(rng):
    XT, masks, ptr, feat = _pattern_case(rng, 300, 9, 7, 3, np.float32)
    v = rng.standard_normal(feat.size).astype(np.float32)
    a = kernels.pattern_matvec(XT, masks, ptr, feat, v, np.empty(300, np.float32))
    b = kernels.pattern_matvec_numpy(XT, masks, ptr, feat, v, np.empty(300, np.float32))
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_box_muller_twin_and_moments():
    """Box-Muller normals: twin agrees; mean 0, variance 1, N(0,1) tail mass."""
    raw = np.random.default_rng(0).integers(0, 2**63, 200_000, dtype=np.uint64) * np.uint64(2)
    raw += np.random.default_rng(1).integers(0, 2, raw.size, dtype=np.uint64)
    a = kernels.box_muller(raw, np.empty(raw.size))
    b = kernels.box_muller_numpy(raw, np.empty(raw.size))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert abs(a.mean()) < 5 / np.sqrt(a.size)
    assert abs(a.var() - 1) < 5 * np.sqrt(2 / a.size)
    # P(|Z| > 2) = 0.0455
    assert abs(np.mean(np.abs(a) > 2) - 0.0455) < 5 * np.sqrt(0.0455 * 0.9545 / a.size)


@given(n=st.integers(1, 30), d=st.integers(1, 6), nb=st.integers(0, 4), seed=st.integers(0, 1000))
def test_sparse_masks_twin_and_definition(n, d, nb, seed):
    """Masks of sparse generators equal 1[X h >= 0] with h built densely."""
    rng = np.random.default_rng(seed)
    XT, _, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    vals = rng.standard_normal(feat.size)
    rows = rng.permutation(nb + 2)[:nb].astype(np.int64)
    a = kernels.sparse_masks(XT, ptr, feat, vals, np.full((nb + 2, n), 7, np.uint8), rows)
    b = kernels.sparse_masks_numpy(XT, ptr, feat, vals, np.full((nb + 2, n), 7, np.uint8), rows)
    np.testing.assert_array_equal(a, b)
    for t in range(nb):
        h = np.zeros(d)
        h[feat[ptr[t] : ptr[t + 1]]] = vals[ptr[t] : ptr[t + 1]]
        np.testing.assert_array_equal(a[rows[t]], (XT.T @ h >= 0).astype(np.uint8))


def test_mask_scale_followed_twin(rng):
    """Masks assembled from GEMM pre-activations (dense generators) and precomputed rows
    (followed generators) at their positions, then Z = M * r: both twins, and the definition."""
    rows, B, n, r0 = 33, 8, 60, 17
    fpos = np.array([1, 4, 5], np.int64)
    dpos = np.setdiff1d(np.arange(B), fpos)
    Zd = rng.standard_normal((rows, dpos.size))
    Zd[3, 0] = 0.0  # ties count as active
    Mf = (rng.random((fpos.size, n)) < 0.5).astype(np.uint8)
    r = rng.standard_normal(rows)
    outs = []
    for f in (kernels.mask_scale_followed, kernels.mask_scale_followed_numpy):
        Z, M = np.full((rows, B), np.nan), np.full((rows, B + 2), 9, np.uint8)
        outs.append((f(Zd, dpos, fpos, Mf, r0, r, Z, M), M))
    (a, Ma), (b, Mb) = outs
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Ma, Mb)
    expect = np.empty((rows, B), bool)
    expect[:, dpos] = Zd >= 0
    expect[:, fpos] = Mf[:, r0 : r0 + rows].T == 1
    np.testing.assert_array_equal(Ma[:, :B], expect)
    assert (Ma[:, B:] == 9).all()
    np.testing.assert_array_equal(a, expect * r[:, None])


def test_mask_scale_capture_twin(rng):
    Z = rng.standard_normal((70, 9))
    Z[5, 2] = 0.0
    r = rng.standard_normal(70)
    M1 = np.full((100, 12), 9, np.uint8)
    M2 = M1.copy()
    a = kernels.mask_scale_capture(Z.copy(), r, M1, 20)
    b = kernels.mask_scale_capture_numpy(Z.copy(), r, M2, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, kernels.mask_scale_inplace_numpy(Z.copy(), r))
    np.testing.assert_array_equal(M1, M2)
    np.testing.assert_array_equal(M1[20:90, :9], Z >= 0)
    assert (M1[:20] == 9).all() and (M1[:, 9:] == 9).all()
