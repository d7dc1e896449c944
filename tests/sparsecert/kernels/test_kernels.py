"""Every Numba kernel agrees with its NumPy twin; top-k follows the stated order."""

import os

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


def _pattern_case(rng, n, d, nb, nnz_per_block, dtype):
    XT = rng.standard_normal((d, n)).astype(dtype)
    masks = (rng.random((nb, n)) < 0.5).astype(np.uint8)
    counts = rng.integers(1, nnz_per_block + 1, nb)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    feat = np.concatenate([np.sort(rng.choice(d, c, replace=False)) for c in counts] + [np.zeros(0)]).astype(np.int64)
    return XT, masks, ptr, feat


@given(n=st.integers(1, 40), d=st.integers(1, 6), nb=st.integers(0, 5), seed=st.integers(0, 1000), data=st.data())
def test_pattern_kernels_twins_and_definition(n, d, nb, seed, data):
    """Rows r0:r1 of A_S v, and the rows-r0:r1 part of A_S^T r, from the kernels equal the
    twins and the dense definition (column q of A_S is masks[blk[q]] * X[:, feat[q]]); zero
    coefficients are skipped without changing the result."""
    rng = np.random.default_rng(seed)
    XT, masks, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    v = rng.standard_normal(feat.size)
    v[rng.random(feat.size) < 0.3] = 0.0
    r = rng.standard_normal(n)
    r0 = data.draw(st.integers(0, n))
    r1 = data.draw(st.integers(r0, n))
    blk = np.repeat(np.arange(nb), np.diff(ptr)).astype(np.int64)
    dense = np.stack([masks[b] * XT[f] for b, f in zip(blk, feat)], axis=1) if feat.size else np.zeros((n, 0))
    for mv in (kernels.pattern_matvec, kernels.pattern_matvec_numpy):
        out = mv(XT, masks, blk, feat, v, np.full(n, 7.0), r0, r1)
        np.testing.assert_allclose(out[r0:r1], (dense @ v)[r0:r1], rtol=1e-12, atol=1e-12)
        assert (out[:r0] == 7).all() and (out[r1:] == 7).all()
    for rmv in (kernels.pattern_rmatvec, kernels.pattern_rmatvec_numpy):
        np.testing.assert_allclose(
            rmv(XT, masks, blk, feat, r, np.empty(feat.size), r0, r1), dense[r0:r1].T @ r[r0:r1], rtol=1e-12, atol=1e-12
        )


def test_pattern_kernels_long_rows_and_float32(rng):
    """Across several row tiles (n > ROW_TILE) and in float32 the kernels match their twins."""
    n = 2 * kernels.ROW_TILE + 77
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        XT, masks, ptr, feat = _pattern_case(rng, n, 9, 7, 3, dtype)
        blk = np.repeat(np.arange(7), np.diff(ptr)).astype(np.int64)
        v = rng.standard_normal(feat.size).astype(dtype)
        r = rng.standard_normal(n).astype(dtype)
        a = kernels.pattern_matvec(XT, masks, blk, feat, v, np.empty(n, dtype), 0, n)
        b = kernels.pattern_matvec_numpy(XT, masks, blk, feat, v, np.empty(n, dtype), 0, n)
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        g = kernels.pattern_rmatvec(XT, masks, blk, feat, r, np.empty(feat.size, dtype), 5, n - 3)
        h = kernels.pattern_rmatvec_numpy(XT, masks, blk, feat, r, np.empty(feat.size, dtype), 5, n - 3)
        np.testing.assert_allclose(g, h, rtol=tol, atol=tol * n)


# Random123's tests/kat_vectors, the three "philox4x32 10" lines: counter (4 words), key (2 words), output (4 words).
PHILOX_KAT = [
    ("00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    ("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    ("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


@pytest.mark.parametrize("impl", [kernels.philox4x32, kernels.philox4x32_numpy])
def test_philox4x32_known_answers(impl):
    """Philox4x32-10 gives the published known-answer vectors."""
    words = lambda s: [int(x, 16) for x in s.split()]  # noqa: E731
    ctr = np.array([words(c) for c, _, _ in PHILOX_KAT], dtype=np.uint64)
    for row, (_, key, expected) in zip(ctr, PHILOX_KAT):
        assert impl(row[None, :], np.array(words(key), np.uint64))[0].tolist() == words(expected)


def test_philox_normals_twin_box_muller_and_moments():
    """The twin gives the same bits; the values are Box-Muller of the Philox words (libm to 1e-14); N(0, 1) moments."""
    key, first, L = 2**62 + 12345, 2**40 - 3, 400_000
    a = kernels.philox_normals(key, first, np.empty(L))
    np.testing.assert_array_equal(a, kernels.philox_normals_numpy(key, first, np.empty(L)))
    ctr = np.uint64(first) + np.arange(L // 4, dtype=np.uint64)
    lo = np.uint64(2**32 - 1)
    zero = np.zeros(ctr.size, np.uint64)
    w = kernels.philox4x32(np.stack([ctr & lo, ctr >> np.uint64(32), zero, zero], 1), np.array([key & 2**32 - 1, key >> 32], np.uint64))
    u = (w.astype(np.float64) + 0.5) / 2**32  # Box-Muller with libm on the same uniforms
    rad = np.sqrt(-2 * np.log(u[:, 0::2]))
    ref = np.stack([rad[:, 0] * np.cos(2 * np.pi * u[:, 1]), rad[:, 0] * np.sin(2 * np.pi * u[:, 1]),
                    rad[:, 1] * np.cos(2 * np.pi * u[:, 3]), rad[:, 1] * np.sin(2 * np.pi * u[:, 3])], 1).ravel()
    np.testing.assert_allclose(a, ref, rtol=1e-13, atol=1e-14)
    assert abs(a.mean()) < 5 / np.sqrt(L)
    assert abs(a.var() - 1) < 5 * np.sqrt(2 / L)
    # P(|Z| > 2) = 0.0455; P(|Z| > 3) = 0.0027
    for t, p in ((2, 0.0455), (3, 0.0027)):
        assert abs(np.mean(np.abs(a) > t) - p) < 5 * np.sqrt(p * (1 - p) / L)
    assert np.abs(a).max() <= np.sqrt(-2 * np.log(0.5 / 2**32))  # 32-bit uniforms bound |z| by 6.66


@given(n=st.integers(1, 30), d=st.integers(1, 6), nb=st.integers(0, 4), seed=st.integers(0, 1000))
def test_sparse_masks_twin_and_definition(n, d, nb, seed):
    """Masks of sparse generators equal 1[X h >= 0] with h built densely."""
    rng = np.random.default_rng(seed)
    XT, _, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    vals = rng.standard_normal(feat.size)
    rows = rng.permutation(nb + 2)[:nb].astype(np.int64)
    sums = [np.full(n, 7.0), np.full(n, 7.0)]
    a = kernels.sparse_masks(XT, ptr, feat, vals, np.full((nb + 2, n), 7, np.uint8), rows, 0, n, sums[0])
    b = kernels.sparse_masks_numpy(XT, ptr, feat, vals, np.full((nb + 2, n), 7, np.uint8), rows, 0, n, sums[1])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(sums[0], sums[1], rtol=1e-12, atol=1e-12)
    none = np.empty(0)
    part = kernels.sparse_masks(XT, ptr, feat, vals, np.full((nb + 2, n), 7, np.uint8), rows, n // 2, n, none)
    np.testing.assert_array_equal(part[:, n // 2 :], a[:, n // 2 :])
    assert (part[:, : n // 2] == 7).all()
    for t in range(nb):
        h = np.zeros(d)
        h[feat[ptr[t] : ptr[t + 1]]] = vals[ptr[t] : ptr[t + 1]]
        np.testing.assert_array_equal(a[rows[t]], (XT.T @ h >= 0).astype(np.uint8))
    # the network output sum_b relu(X h_b), the identity that lets sequential IHT skip a product
    H = np.zeros((nb, d))
    for t in range(nb):
        H[t, feat[ptr[t] : ptr[t + 1]]] = vals[ptr[t] : ptr[t + 1]]
    np.testing.assert_allclose(sums[0], np.maximum(XT.T @ H.T, 0).sum(axis=1), rtol=1e-12, atol=1e-12)


def test_mask_scale_followed_twin(rng):
    """Block-major masks assembled from GEMM pre-activations (dense generators) and precomputed
    rows (followed generators) at their positions, then Z = M * r: both twins, and the definition."""
    L, B, n, r0 = 33, 8, 60, 17
    fpos = np.array([1, 4, 5], np.int64)
    dpos = np.setdiff1d(np.arange(B), fpos)
    Zd = rng.standard_normal((dpos.size, L))
    Zd[0, 3] = 0.0  # ties count as active
    Mf = (rng.random((fpos.size, n)) < 0.5).astype(np.uint8)
    r = rng.standard_normal(L)
    outs = []
    for f in (kernels.mask_scale_followed, kernels.mask_scale_followed_numpy):
        Z, M = np.full((B, L), np.nan), np.full((B + 2, n), 9, np.uint8)
        outs.append((f(Zd, dpos, fpos, Mf, r0, r, Z, M), M))
    (a, Ma), (b, Mb) = outs
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Ma, Mb)
    expect = np.empty((B, L), bool)
    expect[dpos] = Zd >= 0
    expect[fpos] = Mf[:, r0 : r0 + L] == 1
    np.testing.assert_array_equal(Ma[:B, r0 : r0 + L], expect)
    assert (Ma[B:] == 9).all() and (Ma[:, :r0] == 9).all() and (Ma[:, r0 + L :] == 9).all()
    np.testing.assert_array_equal(a, expect * r[None, :])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mask_scale_capture_twin(dtype, rng):
    """M[b, r0 + i] = 1[Z[b, i] >= 0] (the boundary counts as active) and Z <- M * r, both twins."""
    Z = rng.standard_normal((9, 70)).astype(dtype)
    Z[2, 5] = 0.0
    r = rng.standard_normal(70).astype(dtype)
    M1 = np.full((12, 100), 9, np.uint8)
    M2 = M1.copy()
    a = kernels.mask_scale_capture(Z.copy(), r, M1, 20)
    b = kernels.mask_scale_capture_numpy(Z.copy(), r, M2, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, (Z >= 0) * r[None, :])
    assert a[2, 5] == r[5]
    np.testing.assert_array_equal(M1, M2)
    np.testing.assert_array_equal(M1[:9, 20:90], Z >= 0)
    assert (M1[:, :20] == 9).all() and (M1[9:] == 9).all()


@given(n=st.integers(1, 40), d=st.integers(1, 6), nb=st.integers(0, 5), seed=st.integers(0, 1000), data=st.data())
def test_pattern_normal_is_the_two_products(n, d, nb, seed, data):
    """pattern_normal gives q = A_S p on rows r0:r1 and that range's share of A_S^T q (so A_S^T A_S p
    over all rows), equal to its twin and to the dense definition."""
    rng = np.random.default_rng(seed)
    XT, masks, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    blk = np.repeat(np.arange(nb), np.diff(ptr)).astype(np.int64)
    p = rng.standard_normal(feat.size)
    r0 = data.draw(st.integers(0, n))
    r1 = data.draw(st.integers(r0, n))
    dense = np.stack([masks[b] * XT[f] for b, f in zip(blk, feat)], axis=1) if feat.size else np.zeros((n, 0))
    for f in (kernels.pattern_normal, kernels.pattern_normal_numpy):
        q = np.full(n, 7.0)
        out = f(XT, masks, blk, feat, p, q, np.empty(feat.size), r0, r1)
        np.testing.assert_allclose(q[r0:r1], (dense @ p)[r0:r1], rtol=1e-12, atol=1e-12)
        assert (q[:r0] == 7).all() and (q[r1:] == 7).all()
        np.testing.assert_allclose(out, dense[r0:r1].T @ (dense[r0:r1] @ p), rtol=1e-10, atol=1e-10)



@given(n=st.integers(1, 60), d=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_halfspace_sums_twin_and_definition(n, d, seed):
    """Per feature: <max(x, 0), r>, <min(x, 0), r>, their squared norms, the counts of negative and
    positive entries; only the columns k0:k1 are written (zeros in x count on neither side)."""
    rng = np.random.default_rng(seed)
    XT = rng.standard_normal((d, n)) * (rng.random((d, n)) < 0.8)  # exact zeros too
    r = rng.standard_normal(n)
    k0, k1 = sorted(rng.integers(0, d + 1, 2))
    a, b = np.full((6, d), 7.0), np.full((6, d), 7.0)
    kernels.halfspace_sums(XT, r, a, k0, k1)
    kernels.halfspace_sums_numpy(XT, r, b, k0, k1)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert (a[:, :k0] == 7).all() and (a[:, k1:] == 7).all()
    P, N = np.maximum(XT, 0), np.minimum(XT, 0)
    want = np.stack([P @ r, N @ r, (P**2).sum(1), (N**2).sum(1), (XT < 0).sum(1), (XT > 0).sum(1)])
    np.testing.assert_allclose(a[:, k0:k1], want[:, k0:k1], rtol=1e-12, atol=1e-12)


PURSUIT_CASES = [(40, 300, 8, 0), (25, 200, 10, 1), (120, 400, 30, 2), (60, 70, 20, 3), (18, 150, 6, 4)]


@pytest.mark.parametrize("n, N, s, seed", PURSUIT_CASES)
def test_omp_kernel_twin_and_operator_loop_take_the_same_steps(n, N, s, seed):
    """OMP on an explicit matrix: the Numba kernel, its NumPy twin and recovery.omp's operator loop
    (on the same matrix as a one-part stack, which the kernel does not take) pick the same columns
    in the same order, with the same least-squares values and residuals (1e-9); the picked columns
    are the greedy ones (each the largest |a_j^T r| off the support, checked from the definition)."""
    from sparsecert.operators import DenseOperator, HStackOperator
    from sparsecert.recovery import omp

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, N))
    y = A[:, rng.choice(N, s, replace=False)] @ rng.standard_normal(s) + 0.01 * rng.standard_normal(n)
    picked, w, res, dep = kernels.omp_dense(A, y, s, 1e-10)
    tpicked, tw, tres, tdep = kernels.omp_dense_numpy(A, y, s, 1e-10)
    np.testing.assert_array_equal(picked, tpicked)
    np.testing.assert_allclose(w, tw, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res, tres, rtol=1e-9, atol=1e-14)
    assert dep == tdep and picked.size == s
    generic = omp(HStackOperator([DenseOperator(A)]), y, s)  # an operator the kernel does not take
    np.testing.assert_array_equal(generic.support, np.sort(picked))
    np.testing.assert_allclose(generic.residuals, res, rtol=1e-9, atol=1e-14)
    for k in range(s):  # the greedy choice, from the definition
        S = picked[:k]
        r = y - A[:, S] @ np.linalg.lstsq(A[:, S], y, rcond=None)[0] if k else y
        g = np.abs(A.T @ r)
        g[S] = -1
        assert picked[k] == np.argmax(g)


@pytest.mark.parametrize("n, N, s, seed", PURSUIT_CASES)
@pytest.mark.parametrize("splice", [0, 2])
# NIHT from OMP's least-squares point: its first step is a ratio of round-off (g_S ~ 0), a different
# number in each implementation, so it is compared from zero only
@pytest.mark.parametrize("method, start", [("htp", "zero"), ("htp", "omp"), ("niht", "zero")])
def test_iht_kernel_twin_and_solver_take_the_same_steps(n, N, s, seed, start, splice, method):
    """NIHT and HTP with splicing on an explicit matrix: the Numba kernel, its NumPy twin and IHTSolver
    (on the same matrix as a one-part stack, which the kernel does not take) end on the same support
    with the same status, iteration and exchange counts, values and residual history (1e-9; NIHT's
    values 1e-8: 300 slowly contracting steps amplify the round-off of the solver's residual
    recurrence); the residual is y - A_S w_S; and every HTP iterate is the least-squares fit on its support."""
    from sparsecert import IHT, SparseVector, iht
    from sparsecert.operators import DenseOperator, HStackOperator
    from sparsecert.recovery import IHTSolver

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, N))
    y = A[:, rng.choice(N, s, replace=False)] @ rng.standard_normal(s)
    S0, w0 = np.empty(0, np.int64), np.empty(0)
    if start == "omp":
        picked, w, _, _ = kernels.omp_dense(A, y, s, 1e-10)
        S0, w0 = np.sort(picked), w[np.argsort(picked)]
    ls = method == "htp"
    out = kernels.iht_dense(A, y, S0, w0, s, 300, 1e-10, 1e-12, splice, 100, ls)
    twin = kernels.iht_dense_numpy(A, y, S0, w0, s, 300, 1e-10, 1e-12, splice, 100, ls)
    kw = dict(solver=IHT(method, max_iter=300), splice=splice, w0=SparseVector(S0, w0, N) if S0.size else None)
    fast = iht(A, y, s, **kw)
    stack = HStackOperator([DenseOperator(A)])  # the same matrix, as an operator the kernel does not take
    generic = iht(stack, y, s, **kw)
    assert IHTSolver(A, y, s, method=method).dense_kernel() and not IHTSolver(stack, y, s, method=method).dense_kernel()
    S, wS, r, status, n_iter, made, res, steps = out
    codes = ("max_iter", "residual", "stationary", "diverged")
    for other in (twin[:2] + twin[3:6],
                  *((x.support, x.w.values, codes.index(x.status), x.n_iter, x.info.get("exchanges", 0))
                    for x in (fast, generic))):
        np.testing.assert_array_equal(S, other[0])
        np.testing.assert_allclose(wS, other[1], rtol=1e-9 if ls else 1e-8, atol=1e-12)
        assert (status, n_iter, made) == tuple(other[2:5])
    np.testing.assert_allclose(res, twin[6], rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(generic.residuals, res, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(r, y - A[:, S] @ wS, atol=1e-12 * np.linalg.norm(y))
    if ls or made:
        np.testing.assert_allclose(wS, np.linalg.lstsq(A[:, S], y, rcond=None)[0], rtol=1e-8, atol=1e-10)
    assert np.all(np.diff(res[n_iter - made:]) < 0)  # each exchange lowers the residual


def test_pursuit_kernels_on_degenerate_columns():
    """Columns of rank 5: OMP stops (kernel and twin alike) after 5 steps, on a column in the span of
    those chosen; HTP's least squares on a support holding two equal columns falls back to the SVD
    solve and stays finite."""
    rng = np.random.default_rng(5)
    A = np.ascontiguousarray(rng.standard_normal((30, 5)) @ rng.standard_normal((5, 60)))
    y = rng.standard_normal(30)  # not in the span: the residual never vanishes
    for f in (kernels.omp_dense, kernels.omp_dense_numpy):
        picked, w, res, dep = f(A, y, 10, 0.0)
        assert dep and picked.size == 5 and np.all(np.isfinite(w)) and res[-1] > 0.1
    A = rng.standard_normal((30, 60))
    A[:, 7] = A[:, 3]
    y = A[:, [3, 10, 20]] @ np.array([1.0, -2.0, 0.5]) + 0.1 * A[:, 40]
    S = np.array([3, 7, 10, 20], np.int64)
    for f in (kernels.iht_dense, kernels.iht_dense_numpy):
        out = f(A, y, S, np.ones(4), 4, 50, 1e-10, 1e-12, 1, 20, True)
        assert np.all(np.isfinite(out[1])) and out[3] in (1, 2)


def test_htp_kernel_on_columns_scaled_over_six_orders():
    """The kernel's least squares (corrected semi-normal equations) and the twin's SVD agree on
    columns whose norms span 10^-3 .. 10^3 (Cholesky is invariant to column scaling): same support,
    same values, and the final residual is orthogonal to the support's columns."""
    rng = np.random.default_rng(6)
    scale = 10.0 ** rng.uniform(-3, 3, 300)
    A = rng.standard_normal((50, 300)) * scale
    w = np.zeros(300)
    S = rng.choice(300, 8, replace=False)
    w[S] = rng.standard_normal(8) / scale[S]
    y = A @ w
    out = kernels.iht_dense(A, y, np.empty(0, np.int64), np.empty(0), 8, 200, 1e-12, 1e-14, 2, 50, True)
    twin = kernels.iht_dense_numpy(A, y, np.empty(0, np.int64), np.empty(0), 8, 200, 1e-12, 1e-14, 2, 50, True)
    np.testing.assert_array_equal(out[0], twin[0])
    np.testing.assert_allclose(out[1], twin[1], rtol=1e-9)
    C = A[:, out[0]]
    assert np.linalg.norm(C.T @ out[2]) <= 1e-9 * np.linalg.norm(C.T, 2) * np.linalg.norm(y)  # normal equations


_JIT_SCRIPT = """
import json, numpy as np, sparsecert as sc
from sparsecert import kernels
from sparsecert.deep import fit_factored
from sparsecert.relu import fit_two_layer
p = sc.planted_relu(600, 6, 4, 8, rng=0)
fit_two_layer(p.X, p.y, 4, 8, solver=sc.IHT(max_iter=4), rng=0, progress=False)
fit_factored(p.X, np.stack([p.y, p.y], 1), 3, 10, solver=sc.IHT(max_iter=3), rng=0, progress=False)
stats = [getattr(kernels, k).stats for k in dir(kernels) if hasattr(getattr(kernels, k), "stats")]
print(json.dumps({"hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no compilation without the JIT")
def test_a_second_process_loads_the_compiled_kernels_from_the_cache(tmp_path):
    """Every kernel is compiled with cache=True: the first process in a fresh cache compiles (misses),
    a second one loads every kernel it uses from the cache (hits, no miss), so a second `make demo`
    pays no compilation."""
    import json
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _JIT_SCRIPT], env=env, capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1]) for _ in range(2)]
    assert runs[0]["misses"] > 0
    assert runs[1]["misses"] == 0 and runs[1]["hits"] >= runs[0]["misses"]


@given(rows=st.integers(1, 30), d=st.integers(2, 6), k=st.integers(1, 5), seed=st.integers(0, 1000))
def test_move_scores_twin_and_definition(rows, d, k, seed):
    """The score of moving entry q (feature f of unit i) to unit t is ||r - D||^2, D the change of the
    network's output sum_j sg_j relu(X w_j) when w_i[f] moves to w_t[f]; moves within a unit, across
    parts, onto a unit that has f, or off a unit with one weight are inf. Kernel = twin = brute force."""
    rng = np.random.default_rng(seed)
    X, r = rng.standard_normal((rows, d)), rng.standard_normal(rows)
    W = rng.standard_normal((k, d)) * (rng.random((k, d)) < 0.6)
    W[np.arange(k), rng.integers(0, d, k)] = 1.0 + rng.random(k)  # every unit has a weight
    sg = rng.choice([-1.0, 1.0], k)
    part = (sg < 0).astype(np.int64)
    unit, feat = np.nonzero(W)
    wS = W[unit, feat]
    bounds = np.searchsorted(unit, np.arange(k + 1)).astype(np.int64)
    Z = X @ W.T
    O = sg * np.maximum(Z, 0)
    out = O.sum(axis=1)
    want = np.full((feat.size, k), np.inf)
    for q, (i, f) in enumerate(zip(unit, feat)):
        for t in range(k):
            if t != i and part[t] == part[i] and W[t, f] == 0 and np.count_nonzero(W[i]) >= 2:
                W2 = W.copy()
                W2[t, f], W2[i, f] = W[i, f], 0.0
                D = (sg * np.maximum(X @ W2.T, 0)).sum(axis=1) - out
                want[q, t] = np.sum((r - D) ** 2)
    args = (X, r, Z, O, sg, part, feat.astype(np.int64), wS, bounds, W != 0)
    for fn in (kernels.move_scores, kernels.move_scores_numpy):
        np.testing.assert_allclose(fn(*args), want, rtol=1e-10, atol=1e-10)


@given(n=st.integers(1, 40), extra=st.integers(0, 30), d=st.integers(1, 6), nb=st.integers(0, 5),
       seed=st.integers(0, 1000), data=st.data())
def test_pattern_kernels_read_samples_in_place_as_if_gathered(n, extra, d, nb, seed, data):
    """With ``cols`` (sample i is column cols[i] of a larger (d, N) XT: a minibatch read in place)
    every per-entry kernel gives, bit for bit, what it gives on the gathered XT[:, cols], and the
    twins agree: the gathered features enter the same arithmetic in the same order."""
    rng = np.random.default_rng(seed)
    XT, masks, ptr, feat = _pattern_case(rng, n, d, nb, d, np.float64)
    N = n + extra
    cols = np.sort(rng.choice(N, n, replace=False)).astype(np.int64)
    big = rng.standard_normal((d, N))
    big[:, cols] = XT  # the samples are columns cols of the larger array
    blk = np.repeat(np.arange(nb), np.diff(ptr)).astype(np.int64)
    v, r = rng.standard_normal(feat.size), rng.standard_normal(n)
    r0 = data.draw(st.integers(0, n))
    r1 = data.draw(st.integers(r0, n))
    for pair in ((kernels.pattern_matvec, kernels.pattern_matvec_numpy),
                 (kernels.pattern_rmatvec, kernels.pattern_rmatvec_numpy)):
        size = n if pair[0] is kernels.pattern_matvec else feat.size
        x = v if pair[0] is kernels.pattern_matvec else r
        want = pair[0](XT, masks, blk, feat, x, np.full(size, 7.0), r0, r1)
        np.testing.assert_array_equal(pair[0](big, masks, blk, feat, x, np.full(size, 7.0), r0, r1, cols), want)
        np.testing.assert_allclose(pair[1](big, masks, blk, feat, x, np.full(size, 7.0), r0, r1, cols), want,
                                   rtol=1e-12, atol=1e-12)
    q1, q2 = np.full(n, 7.0), np.full(n, 7.0)
    g1 = kernels.pattern_normal(XT, masks, blk, feat, v, q1, np.empty(feat.size), r0, r1)
    g2 = kernels.pattern_normal(big, masks, blk, feat, v, q2, np.empty(feat.size), r0, r1, cols)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(q1, q2)
    rows = np.arange(nb, dtype=np.int64)
    out = [np.full((nb, n), 7, np.uint8) for _ in range(3)]
    sums = [np.full(n, 7.0) for _ in range(3)]
    kernels.sparse_masks(XT, ptr, feat, v, out[0], rows, r0, r1, sums[0])
    kernels.sparse_masks(big, ptr, feat, v, out[1], rows, r0, r1, sums[1], cols)
    kernels.sparse_masks_numpy(big, ptr, feat, v, out[2], rows, r0, r1, sums[2], cols)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(sums[0], sums[1])
    np.testing.assert_allclose(sums[0], sums[2], rtol=1e-12, atol=1e-12)
    gathered = [np.empty((d, n)), np.empty((d, n))]
    kernels.gather_columns(big, cols, gathered[0])
    kernels.gather_columns_numpy(big, cols, gathered[1])
    np.testing.assert_array_equal(gathered[0], XT)
    np.testing.assert_array_equal(gathered[1], XT)


@pytest.mark.parametrize("gamma", [1.5, 3.0, 20.0])
def test_mcp_cd_matches_its_twin_and_ends_at_a_coordinatewise_minimum(gamma):
    """Both kernels make the same updates; at convergence every coordinate minimises the objective
    ``1/2 ||y - C^T w||^2 + sum MCP(w_j)`` in its own direction: ``w_j`` equals the firm threshold of
    ``z_j = w_j + a_j^T r / c_j`` (Breheny & Huang 2011's coordinate-wise minimum), recomputed here
    from the definition of MCP by a fine grid search."""
    rng = np.random.default_rng(int(gamma * 10))
    n, k = 40, 25
    Ct = rng.standard_normal((k, n)) / np.sqrt(n)
    cn = np.einsum("ij,ij->i", Ct, Ct)
    y = Ct[:4].T @ np.array([2.0, -1.5, 1.0, 3.0]) + 0.01 * rng.standard_normal(n)
    lam = 0.1
    outs = []
    for f in (kernels.mcp_cd, kernels.mcp_cd_numpy):
        w, r = np.zeros(k), y.copy()
        epochs = f(Ct, cn, w, r, lam, gamma, 1e-13, 5000)
        outs.append((w, r, epochs))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-10, atol=1e-13)
    assert outs[0][2] == outs[1][2] < 5000
    w, r, _ = outs[0]
    np.testing.assert_allclose(r, y - Ct.T @ w, atol=1e-12)

    def mcp(v):
        v = np.abs(v)
        return np.where(v <= gamma * lam, lam * v - v * v / (2 * gamma), gamma * lam * lam / 2)

    grid = np.linspace(-6, 6, 240001)
    for j in range(k):
        z = w[j] + Ct[j] @ r / cn[j]
        best = grid[np.argmin(cn[j] / 2 * (grid - z) ** 2 + mcp(grid))]
        assert abs(best - w[j]) <= 1e-4
