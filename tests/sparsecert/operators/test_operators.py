"""Implicit operators: adjointness, agreement with the explicit matrix, reproducibility."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sparsecert as sc
from sparsecert import kernels
from sparsecert.random import counter_normals


def relu_dense(X, H):
    """Reference A = [D_1 X, ..., D_m X] built explicitly from the definition."""
    return np.hstack([(X @ h >= 0)[:, None] * X for h in H])


def make_operator(kind, n, d_or_N, m, seed, block):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return sc.GaussianOperator(n, d_or_N * m, rng=seed, block=block)
    X = rng.standard_normal((n, d_or_N))
    if kind == "relu-seeded":
        return sc.ReluPatternOperator(X, m, rng=seed, block=block, row_block=max(1, n // 3))
    if kind == "relu-explicit":
        return sc.ReluPatternOperator(X, rng.standard_normal((m, d_or_N)), block=block)
    return sc.DenseOperator(rng.standard_normal((n, d_or_N * m)), block=block)


kinds = st.sampled_from(["gaussian", "relu-seeded", "relu-explicit", "dense"])


@given(kind=kinds, n=st.integers(1, 40), d=st.integers(1, 7), m=st.integers(1, 9), block=st.integers(1, 10), seed=st.integers(0, 10**6))
def test_adjoint_identity(kind, n, d, m, block, seed):
    """<A w, r> = <w, A^T r> for random w, r (matvec and rmatvec are adjoint)."""
    A = make_operator(kind, n, d, m, seed, block)
    rng = np.random.default_rng(seed + 1)
    w = rng.standard_normal(A.shape[1])
    r = rng.standard_normal(A.shape[0])
    lhs = float((A.matvec(w)) @ r)
    rhs = float(w @ A.rmatvec(r))
    assert abs(lhs - rhs) <= 1e-10 * (1 + np.linalg.norm(w) * np.linalg.norm(r) * np.sqrt(A.shape[0]))


@given(kind=kinds, n=st.integers(1, 30), d=st.integers(1, 6), m=st.integers(1, 8), seed=st.integers(0, 10**6), data=st.data())
def test_sparse_products_match_dense(kind, n, d, m, seed, data):
    """A_S (restricted operator) is the column submatrix: products and columns agree with A."""
    A = make_operator(kind, n, d, m, seed, 3)
    N = A.shape[1]
    S = np.array(sorted(data.draw(st.sets(st.integers(0, N - 1), max_size=N))), np.int64)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(S.size)
    full = A.matmat(np.eye(N)) if N <= 80 else None
    dense_w = np.zeros(N)
    dense_w[S] = v
    np.testing.assert_allclose(A.matvec(sc.SparseVector(S, v, N)), A.matvec(dense_w), atol=1e-10)
    cols = A.columns(S)
    assert cols.shape == (n, S.size)
    if full is not None:
        np.testing.assert_allclose(cols, full[:, S], atol=1e-12)
    R = A.restrict(S)
    r = rng.standard_normal(n)
    np.testing.assert_allclose(R.rmatvec(r), cols.T @ r, atol=1e-10)
    np.testing.assert_allclose(R.matvec(v), cols @ v, atol=1e-10)


@given(n=st.integers(1, 25), d=st.integers(1, 6), m=st.integers(1, 8), seed=st.integers(0, 10**6))
def test_relu_operator_is_the_pattern_matrix(n, d, m, seed):
    """Column j*d + k of A is D_j X[:, k] with D_j = diag(1[X h_j >= 0])."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    H = rng.standard_normal((m, d))
    A = sc.ReluPatternOperator(X, H, block=2, row_block=5)
    ref = relu_dense(X, H)
    np.testing.assert_allclose(A.columns(np.arange(m * d)), ref, atol=0)
    r = rng.standard_normal(n)
    np.testing.assert_allclose(A.rmatvec(r), ref.T @ r, atol=1e-12)
    Aseed = sc.ReluPatternOperator(X, m, rng=seed)
    np.testing.assert_allclose(Aseed.columns(np.arange(m * d)), relu_dense(X, Aseed.generators()), atol=0)


def test_relu_pattern_boundary_counts_as_active():
    """1[x . h >= 0]: a sample exactly on the hyperplane is active."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    A = sc.ReluPatternOperator(X, np.array([[0.0, 1.0]]))  # X h = (0, 1, 0)
    np.testing.assert_array_equal(A.columns([0, 1]), X)


def test_gaussian_operator_reproducible_and_blocksize_free():
    a = sc.GaussianOperator(30, 70, rng=5, block=1).to_dense()
    b = sc.GaussianOperator(30, 70, rng=5, block=64).to_dense()
    c = sc.GaussianOperator(30, 70, rng=6).to_dense()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    f32 = sc.GaussianOperator(30, 70, rng=5, dtype=np.float32).to_dense()
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, a.astype(np.float32))


def test_gaussian_entries_are_n01_over_n():
    """Entries are i.i.d. N(0, 1/n): sample mean ~ 0, n * variance ~ 1, columns independent."""
    n, N = 200, 1000
    A = sc.GaussianOperator(n, N, rng=0).to_dense()
    se_var = np.sqrt(2.0 / A.size)  # standard error of the variance estimate
    assert abs(A.mean()) < 5 / np.sqrt(A.size) / np.sqrt(n)
    assert abs(n * A.var() - 1.0) < 5 * se_var
    corr = np.corrcoef(A[:, :50].T)[np.triu_indices(50, 1)]
    assert np.abs(corr).max() < 5 / np.sqrt(n)


def test_counter_normals_rows_are_position_independent():
    a = counter_normals(9, 0, 12, 10)
    for start in range(12):
        np.testing.assert_array_equal(counter_normals(9, start, 1, 10)[0], a[start])


def test_seeded_generators_block_size_free(rng):
    X = rng.standard_normal((50, 4))
    A1 = sc.ReluPatternOperator(X, 23, rng=3, block=1)
    A2 = sc.ReluPatternOperator(X, 23, rng=3, block=10, row_block=7)
    np.testing.assert_array_equal(A1.generators(), A2.generators())
    r = rng.standard_normal(50)
    np.testing.assert_allclose(A1.rmatvec(r), A2.rmatvec(r), atol=1e-12)


def test_following_and_mask_cache(rng):
    """Masks kept in a PatternCache are reused while the generators stay, and dropped when they change."""
    X = rng.standard_normal((40, 5))
    A = sc.ReluPatternOperator(X, 6, rng=1)
    cache = A.make_cache()
    S = np.array([0, 3, 12, 27])
    R1 = A.restrict(S, cache=cache)
    assert R1.n_new_blocks == 3
    S2 = np.array([3, 12, 13, 20, 29])  # blocks 0, 2, 2, 4, 5: only block 4 is new
    R2 = A.restrict(S2, cache=cache)
    assert R2.n_new_blocks == 1
    np.testing.assert_array_equal(R2.to_dense(), A.restrict(S2).to_dense())
    H = rng.standard_normal((1, 5))
    H[0, 1] = 0.0
    w = sc.SparseVector.from_dense(np.concatenate([np.zeros(10), H[0], np.zeros(15)]))
    A = A.following(w)  # block 2 follows its weights; the others keep their draw
    np.testing.assert_array_equal(A.generators(2, 3), H)
    np.testing.assert_array_equal(A.generators(0, 2), counter_normals(A.key, 0, 2, 5))
    R3 = A.restrict(np.array([12, 27]), cache=cache)  # the cache's stale masks must not be reused:
    assert R3.n_new_blocks == 1  # block 5 again by GEMM; the followed block's mask comes from w
    np.testing.assert_array_equal(R3.to_dense(), relu_dense(X, A.generators())[:, [12, 27]])
    np.testing.assert_array_equal(R3.to_dense()[:, 0], (X @ H[0] >= 0) * X[:, 2])
    A = A.following(None)  # back to the seeded draw
    np.testing.assert_array_equal(A.generators(), counter_normals(A.key, 0, 6, 5))
    B = A.with_data(X[:7])
    np.testing.assert_array_equal(B.columns(np.arange(30)), A.columns(np.arange(30))[:7])


def test_hstack_sign_split(rng):
    """[A, -B] has the columns of A then minus those of B, in every product."""
    X = rng.standard_normal((20, 3))
    A, B = sc.ReluPatternOperator(X, 4, rng=1), sc.ReluPatternOperator(X, 2, rng=2)
    C = sc.HStackOperator([A, B], signs=[1, -1])
    dense = np.hstack([A.columns(np.arange(12)), -B.columns(np.arange(6))])
    np.testing.assert_array_equal(C.columns(np.arange(18)), dense)
    r = rng.standard_normal(20)
    np.testing.assert_allclose(C.rmatvec(r), dense.T @ r, atol=1e-12)
    S = np.array([1, 7, 12, 17])
    cache = C.make_cache()
    C.restrict(np.array([7, 13]), cache=cache)
    R = C.restrict(S, cache=cache)
    v = rng.standard_normal(4)
    np.testing.assert_allclose(R.matvec(v), dense[:, S] @ v, atol=1e-12)
    gS, cidx, _ = C.gradient_split(r, S, 3, cache=cache)
    np.testing.assert_allclose(gS, (dense.T @ r)[S], atol=1e-12)
    np.testing.assert_array_equal(C.restrict(np.union1d(S, cidx), cache=cache).to_dense(), dense[:, np.union1d(S, cidx)])
    with pytest.raises(ValueError, match="signs must be"):
        sc.HStackOperator([A, B], signs=[1, 2])


@given(kind=kinds, seed=st.integers(0, 10**6), k=st.integers(0, 12), data=st.data())
def test_gradient_split(kind, seed, k, data):
    """One pass returns g on S and the top-k of |g| outside S, g = A^T r."""
    A = make_operator(kind, 15, 4, 5, seed, 2)
    N = A.shape[1]
    S = np.array(sorted(data.draw(st.sets(st.integers(0, N - 1), max_size=8))), np.int64)
    r = np.random.default_rng(seed).standard_normal(15)
    g = A.rmatvec(r)
    gS, cidx, cval = A.gradient_split(r, S, k)
    np.testing.assert_allclose(gS, g[S], atol=1e-12)
    out = np.setdiff1d(np.arange(N), S)
    want = out[kernels.topk_abs_numpy(g[out], out, k)]
    np.testing.assert_array_equal(cidx, want)
    np.testing.assert_allclose(cval, g[want], atol=1e-12)


@pytest.mark.parametrize("kind", ["gaussian", "relu"])
def test_float32_end_to_end(kind, rng):
    if kind == "gaussian":
        A = sc.GaussianOperator(20, 30, rng=1, dtype=np.float32)
    else:
        A = sc.ReluPatternOperator(rng.standard_normal((20, 3)).astype(np.float32), 10, rng=1)
    assert A.dtype == np.float32
    r = rng.standard_normal(20)
    assert A.rmatvec(r).dtype == np.float32
    assert A.matvec(np.ones(30)).dtype == np.float32
    assert A.restrict(np.array([1, 5])).matvec(np.ones(2)).dtype == np.float32


@given(seed=st.integers(0, 10**6), k=st.integers(1, 10), block=st.integers(1, 7), data=st.data())
def test_masks_captured_by_the_pass_are_the_patterns(seed, k, block, data):
    """After gradient_split, restricting to support + candidates reuses the masks the
    pass kept; the submatrix must still be the definition's D_j X[:, k]."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 3))
    A = sc.ReluPatternOperator(X, 12, rng=seed, block=block)
    S = np.array(sorted(data.draw(st.sets(st.integers(0, 35), max_size=6))), np.int64)
    cache = A.make_cache()
    _, cidx, _ = A.gradient_split(rng.standard_normal(30), S, k, cache=cache)
    U = np.union1d(S, cidx)
    R = A.restrict(U, cache=cache)
    assert R.n_new_blocks == 0  # every mask came from the pass
    np.testing.assert_array_equal(R.to_dense(), relu_dense(X, A.generators())[:, U])
    A = A.following(sc.SparseVector(U[:1], np.ones(1), 36))  # new generators: the cache is stale
    known = A.known_masks(np.unique(U // 3), cache)
    assert [t for t, _, _ in known] == [0]  # only the followed block's mask is known
    _, arr, row = known[0]
    np.testing.assert_array_equal(arr[row], X[:, U[0] % 3] >= 0)


@given(seed=st.integers(0, 10**6), block=st.integers(1, 7), row_block=st.integers(1, 40), data=st.data())
def test_pass_with_followed_generators_is_the_definition(seed, block, row_block, data):
    """With some generators following sparse weights (h_j = w_j, masks from the O(n nnz)
    kernel, GEMM for the others), A^T r, the pass's top-k and A_S still equal the
    dense definition [D_1 X, ..., D_m X] built from A.generators() -- also on other data."""
    rng = np.random.default_rng(seed)
    n, d, m = 30, 4, 9
    X = rng.standard_normal((n, d))
    A = sc.ReluPatternOperator(X, m, rng=seed, block=block, row_block=row_block)
    idx = np.array(sorted(data.draw(st.sets(st.integers(0, m * d - 1), min_size=1, max_size=12))), np.int64)
    A = A.following(sc.SparseVector(idx, rng.standard_normal(idx.size), m * d))
    D = relu_dense(X, A.generators())
    r = rng.standard_normal(n)
    np.testing.assert_allclose(A.rmatvec(r), D.T @ r, atol=1e-12)
    cache = A.make_cache()
    gS, cidx, cval = A.gradient_split(r, idx, 3, cache=cache)
    np.testing.assert_allclose(gS, (D.T @ r)[idx], atol=1e-12)
    np.testing.assert_allclose(cval, (D.T @ r)[cidx], atol=1e-12)
    U = np.union1d(idx, cidx)
    np.testing.assert_array_equal(A.restrict(U, cache=cache).to_dense(), D[:, U])
    np.testing.assert_array_equal(A.restrict(U).to_dense(), D[:, U])
    B = A.with_data(X[:11])
    np.testing.assert_allclose(B.rmatvec(r[:11]), D[:11].T @ r[:11], atol=1e-12)


@pytest.mark.parametrize("kind", ["gaussian", "relu-seeded", "relu-explicit", "dense", "hstack", "relu-followed"])
def test_check_operator_on_every_operator(kind):
    """sparsecert.testing.check_operator passes on every operator kind, the mixed-sign stack and a
    ReLU operator whose generators follow sparse weights included."""
    from sparsecert.testing import check_operator

    if kind == "hstack":
        X = np.random.default_rng(0).standard_normal((30, 4))
        A = sc.HStackOperator([sc.ReluPatternOperator(X, 5, rng=1), sc.ReluPatternOperator(X, 3, rng=2)], signs=[1, -1])
    elif kind == "relu-followed":
        A = make_operator("relu-seeded", 30, 4, 6, 3, 2)
        A = A.following(sc.SparseVector(np.array([1, 2, 9, 20]), np.array([1.0, -2.0, 0.5, 1.5]), 24))
    else:
        A = make_operator(kind, 30, 4, 6, 3, 2)
    errors = check_operator(A, rng=1)
    assert max(errors.values()) <= 1e-10


def test_check_operator_catches_a_wrong_adjoint():
    """An operator whose rmatvec is not the adjoint of its matvec fails the check."""
    from sparsecert.testing import check_operator

    class Broken(sc.DenseOperator):
        def _blocks_rmatvec(self, r, cache=None):
            for j0, g in super()._blocks_rmatvec(r, cache):
                yield j0, 1.01 * g

    with pytest.raises(AssertionError, match="adjoint"):
        check_operator(Broken(np.random.default_rng(0).standard_normal((10, 7))))


def test_hstack_refuses_parts_without_the_contract():
    """HStackOperator names the missing methods instead of failing later with AttributeError."""
    from scipy.sparse.linalg import aslinearoperator

    with pytest.raises(TypeError, match=r"ops\[1\] must be a SparseSensingOperator"):
        sc.HStackOperator([sc.DenseOperator(np.eye(3)), aslinearoperator(np.eye(3))])
    with pytest.raises(TypeError, match="non-empty"):
        sc.HStackOperator([])


def test_hstack_refuses_methods_a_part_lacks():
    G = sc.GaussianOperator(6, 4, rng=0)
    C = sc.HStackOperator([sc.ReluPatternOperator(np.ones((6, 2)), 2, rng=1), G])
    with pytest.raises(TypeError, match=r"following.*ops\[1\] \(GaussianOperator\)"):
        C.following(None)
    with pytest.raises(TypeError, match=r"with_data.*ops\[1\]"):
        C.with_data(np.ones((3, 2)))
    with pytest.raises(TypeError, match="following"):
        sc.SequentialIHTSolver(G, np.ones(6), 2)


@pytest.mark.parametrize("fill", [0.0, 2.0])
def test_restricted_products_gemm_and_entry_modes_agree(fill, monkeypatch, rng):
    """A_S v and A_S^T r are the column submatrix's products whichever way they are computed:
    GEMMs over the active blocks (fill 0: always) or the per-entry kernels (fill 2: never)."""
    from sparsecert.operators import restricted_pattern

    monkeypatch.setattr(restricted_pattern, "GEMM_FILL", fill)
    X = rng.standard_normal((5000, 6))
    A = sc.ReluPatternOperator(X, 7, rng=2)
    S = np.sort(rng.choice(42, 20, replace=False))
    R = A.restrict(S)
    assert R.mode == ("gemm" if fill == 0.0 else "entries")
    D = relu_dense(X, A.generators())[:, S]
    v, r = rng.standard_normal(20), rng.standard_normal(5000)
    np.testing.assert_allclose(R.matvec(v), D @ v, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(R.rmatvec(r), D.T @ r, rtol=1e-12, atol=1e-10)


def test_thread_count_does_not_change_products(rng):
    """Row ranges on 1 or 3 threads: the pass, A_S products and seeded generators agree
    (matvec rows exactly; sums of partial rmatvecs to round-off)."""
    from sparsecert.parallel import n_threads

    X = rng.standard_normal((3 * 4096 + 5, 5))
    A = sc.ReluPatternOperator(X, 9, rng=4)
    S = np.array([1, 7, 8, 22, 40])
    v, r = rng.standard_normal(5), rng.standard_normal(X.shape[0])
    out = {}
    for k in (1, 3):
        with n_threads(k):
            R = A.restrict(S)
            out[k] = (R.matvec(v), R.rmatvec(r), A.rmatvec(r), A.generators())
    np.testing.assert_array_equal(out[1][0], out[3][0])
    np.testing.assert_allclose(out[1][1], out[3][1], rtol=1e-12)
    np.testing.assert_allclose(out[1][2], out[3][2], rtol=1e-12)
    np.testing.assert_array_equal(out[1][3], out[3][3])


@given(seed=st.integers(0, 10**6), data=st.data())
def test_followed_output_is_the_network(seed, data):
    """With generators following w (h_j = w_j on blocks with weights), A w is the network output
    sum_j relu(X w_j): followed_output equals both A_S w_S and the forward pass."""
    rng = np.random.default_rng(seed)
    n, d, m = 25, 3, 6
    X = rng.standard_normal((n, d))
    A = sc.ReluPatternOperator(X, m, rng=seed)
    idx = np.array(sorted(data.draw(st.sets(st.integers(0, m * d - 1), min_size=1, max_size=10))), np.int64)
    w = sc.SparseVector(idx, rng.standard_normal(idx.size), m * d)
    A = A.following(w)
    W = w.to_dense().reshape(m, d)
    np.testing.assert_allclose(A.followed_output(), np.maximum(X @ W.T, 0).sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(A.followed_output(A.make_cache()), A.matvec(w), atol=1e-12)


def test_thread_count_setting(monkeypatch):
    """n_threads: set, scoped, from SPARSECERT_NUM_THREADS (the sweep workers' 1), validated."""
    from sparsecert import parallel

    monkeypatch.setenv("SPARSECERT_NUM_THREADS", "1")
    assert parallel.get_n_threads() == 1
    with parallel.n_threads(3):
        assert parallel.get_n_threads() == 3
    monkeypatch.delenv("SPARSECERT_NUM_THREADS")
    assert parallel.get_n_threads() == parallel.available_cores()
    with pytest.raises(ValueError, match="n_threads"):
        parallel.set_n_threads(0)
    ranges = parallel.row_ranges(10_001, 3)
    assert ranges[0][0] == 0 and ranges[-1][1] == 10_001
    assert all(a == b for (_, a), (b, _) in zip(ranges, ranges[1:]))  # contiguous, disjoint
    assert all(a % 8 == 0 for a, _ in ranges)


def test_restricted_normal_product(rng):
    """R.normal(p) = (A_S p, A_S^T A_S p) for every restricted operator kind (fused or not)."""
    X = rng.standard_normal((9000, 5))
    for A in (sc.ReluPatternOperator(X, 6, rng=1), sc.GaussianOperator(300, 40, rng=2),
              sc.HStackOperator([sc.ReluPatternOperator(X, 3, rng=3), sc.ReluPatternOperator(X, 2, rng=4)], signs=[1, -1])):
        S = np.sort(rng.choice(A.shape[1], 9, replace=False))
        R = A.restrict(S)
        D = R.to_dense()
        p = rng.standard_normal(9)
        q, AtAp = R.normal(p)
        np.testing.assert_allclose(q, D @ p, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(AtAp, D.T @ (D @ p), rtol=1e-10, atol=1e-8)


def test_column_norms_are_those_of_the_dense_columns(rng):
    """column_norms(idx) equals the norms of A[:, idx] for every kind of operator, any block size."""
    X = rng.standard_normal((40, 5))
    for A in (sc.GaussianOperator(30, 70, rng=2), sc.ReluPatternOperator(X, 6, rng=1),
              sc.DenseOperator(rng.standard_normal((20, 33)))):
        dense = A.to_dense() if hasattr(A, "to_dense") else A.restrict(np.arange(A.shape[1])).to_dense()
        np.testing.assert_allclose(A.column_norms(block=7), np.linalg.norm(dense, axis=0), rtol=1e-12)
        idx = np.array([0, 3, 4, A.shape[1] - 1])
        np.testing.assert_allclose(A.column_norms(idx, block=2), np.linalg.norm(dense[:, idx], axis=0), rtol=1e-12)
        assert A.column_norms(np.empty(0, np.int64)).shape == (0,)


def test_proposed_generators_apply_to_idle_blocks_only(rng):
    """proposing(h) is the operator with h_j on blocks without followed weights; followed weights take
    precedence; None goes back to the draw; the columns are the definition's for those generators.
    Each is a new view: the operator it came from keeps its generators."""
    X = rng.standard_normal((30, 4))
    A = sc.ReluPatternOperator(X, 5, rng=3)
    draw = A.generators()
    h = sc.SparseVector(np.array([1, 6, 10]), np.array([1.0, -1.0, 2.0]), 20)  # blocks 0, 1, 2
    w = sc.SparseVector(np.array([9]), np.array([0.5]), 20)  # block 2 has weights
    B = A.proposing(h).following(w)
    assert A.proposed_generators is None and A.followed_weights is None
    np.testing.assert_array_equal(A.generators(), draw)
    A = B
    cache = A.make_cache()
    followed = A._followed_masks(cache)
    A.restrict(np.array([2, 13]), cache=cache)  # keeps the masks of blocks 0 and 3
    A = A.proposing(h)  # the followed masks stay valid (they depend on w only), the kept ones not
    assert cache.bind(A).followed is followed and not cache.masks
    H = A.generators()
    np.testing.assert_array_equal(H[0], [0, 1, 0, 0])
    np.testing.assert_array_equal(H[1], [0, 0, -1, 0])
    np.testing.assert_array_equal(H[2], [0, 0.5, 0, 0])  # followed, not proposed
    np.testing.assert_array_equal(H[3:], draw[3:])
    np.testing.assert_array_equal(A.columns(np.arange(20)), relu_dense(X, H))
    A = A.proposing(None)
    np.testing.assert_array_equal(A.generators()[[0, 1, 3, 4]], draw[[0, 1, 3, 4]])
    with pytest.raises(ValueError, match="SparseVector of length 20"):
        A = A.proposing(sc.SparseVector(np.array([1]), np.array([1.0]), 19))


def test_halfspace_scores_are_one_weight_fits(rng):
    """Score of +-e_k is sigma <a, r> / ||a|| with a = 1[sigma x_k >= 0] x_k (the definition), and its
    square is the drop of ||r||^2 at the best one weight on a of sign sigma; one-signed features
    (all samples in one half-space: a linear unit, one pattern for all of them) keep only the best
    score; a stack's part of sign -1 scores -relu, i.e. -r."""
    X = rng.standard_normal((50, 4))
    X[:, 2] = np.abs(X[:, 2])  # two one-signed features: the same all-ones pattern for +e_2, +e_3
    X[:, 3] = np.abs(X[:, 3]) + 0.1
    r = rng.standard_normal(50)

    def want(r):
        out = np.zeros((2, 4))
        for k in range(4):
            for t, sigma in enumerate((1.0, -1.0)):
                a = (sigma * X[:, k] >= 0) * X[:, k]
                if a.any():
                    out[t, k] = sigma * (a @ r) / np.linalg.norm(a)
                    drop = r @ r - min(np.sum((r - b * a) ** 2) for b in np.linspace(-5, 5, 20001) if b * sigma >= 0)
                    assert drop == pytest.approx(max(out[t, k], 0.0) ** 2, abs=1e-3)
        worse = min([(0, 2), (0, 3)], key=lambda tk: out[tk])  # the all-ones pattern twice: keep the better
        out[worse] = 0.0
        return out

    A = sc.ReluPatternOperator(X, 2, rng=0)
    got = A.halfspace_scores(r)
    assert got.shape == (1, 2, 4)
    np.testing.assert_allclose(got[0], want(r), atol=1e-12)
    C = sc.HStackOperator([A, sc.ReluPatternOperator(X, 3, rng=1)], signs=[1, -1])
    np.testing.assert_allclose(C.halfspace_scores(r), np.stack([want(r), want(-r)]), atol=1e-12)


def test_a_minibatch_held_once_transposed_is_the_same_operator(rng):
    """with_data(gather_transposed(X, rows), transposed=True) holds only X[rows].T (C-contiguous, no
    row-major copy) and is the operator of X[rows]: the same products (every mode of rmatvec, a
    restricted operator) as with_data(X[rows]), also with followed generators; mixed signs share it."""
    from sparsecert.operators.relu_pattern import gather_transposed

    X = rng.standard_normal((700, 9))
    rows = np.sort(rng.choice(700, 300, replace=False))
    XT = gather_transposed(X, rows, chunk=64)
    assert XT.flags.c_contiguous and np.array_equal(XT, X[rows].T)
    A = sc.ReluPatternOperator(X, 6, rng=3, block=4)
    A = A.following(sc.SparseVector(np.array([3, 11, 40]), np.array([1.0, -2.0, 0.5]), 54))
    B, C = A.with_data(X[rows]), A.with_data(XT, transposed=True)
    assert C.XT is XT and C.shape == B.shape == (300, 54)
    w, r = rng.standard_normal(54), rng.standard_normal(300)
    np.testing.assert_allclose(C.matvec(w), B.matvec(w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(C.rmatvec(r), B.rmatvec(r), rtol=1e-12, atol=1e-12)
    S = np.array([2, 11, 30, 40])
    np.testing.assert_array_equal(C.restrict(S).to_dense(), B.restrict(S).to_dense())
    H = sc.HStackOperator([A, sc.ReluPatternOperator(X, 6, rng=4)], signs=[1, -1]).with_data(XT, transposed=True)
    assert all(op.XT is XT for op in H.ops)
    with pytest.raises(ValueError, match=r"X.T must have shape \(9, \*\)"):
        A.with_data(XT.T, transposed=True)


def test_a_minibatch_read_in_place_is_the_operator_of_its_rows(rng):
    """with_rows(rows) on a feature-major X holds no copy of the rows and is the operator of
    X[rows]: per-entry restricted products, followed masks and outputs, block masks and half-space
    scores equal with_data(X[rows])'s bit for bit; the passes' GEMMs (tiles of another size) to
    rounding. Rows of rows compose; a row-major X, an empty or out-of-range rows are refused."""
    X = np.asfortranarray(rng.standard_normal((2000, 300)))
    rows = np.sort(rng.choice(2000, 900, replace=False))
    A = sc.ReluPatternOperator(X, 12, rng=3, block=4)
    A = A.following(sc.SparseVector(np.array([3, 311, 640, 2000]), np.array([1.0, -2.0, 0.5, 0.3]), 3600))
    B, C = A.with_data(X[rows]), A.with_rows(rows)
    assert C.shape == B.shape == (900, 3600) and np.shares_memory(C.XT, X)
    assert C.row_block < 900  # tiles of the rows are gathered (GATHER_BYTES), not the whole batch
    w, r = rng.standard_normal(3600), rng.standard_normal(900)
    np.testing.assert_allclose(C.matvec(w), B.matvec(w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(C.rmatvec(r), B.rmatvec(r), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(C.followed_output(), B.followed_output())
    np.testing.assert_array_equal(C.block_masks(np.arange(12)), B.block_masks(np.arange(12)))
    np.testing.assert_array_equal(C.halfspace_scores(r), B.halfspace_scores(r))
    for S in (np.array([2, 11, 330, 640, 3599]), np.arange(600, 1200)):  # per-entry kernels, then GEMMs
        RB, RC = B.restrict(S), C.restrict(S)
        assert RB.mode == RC.mode
        v = rng.standard_normal(S.size)
        np.testing.assert_array_equal(RC.to_dense(), RB.to_dense())
        np.testing.assert_allclose(RC.matvec(v), RB.matvec(v), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(RC.rmatvec(r), RB.rmatvec(r), rtol=1e-12, atol=1e-12)
        if RB.mode == "entries":
            np.testing.assert_array_equal(RC.matvec(v), RB.matvec(v))
            np.testing.assert_array_equal(RC.normal(v)[1], RB.normal(v)[1])
    sub = np.array([0, 5, 899])
    np.testing.assert_allclose(C.with_rows(sub).matvec(w), A.with_data(X[rows[sub]]).matvec(w), rtol=1e-12)
    H = sc.HStackOperator([A, sc.ReluPatternOperator(X, 12, rng=4)], signs=[1, -1])
    np.testing.assert_allclose(H.with_rows(rows).matvec(np.r_[w, w]), H.with_data(X[rows]).matvec(np.r_[w, w]),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="feature-major"):
        sc.ReluPatternOperator(np.ascontiguousarray(X), 12).with_rows(rows)
    with pytest.raises(ValueError, match=r"rows must be 1 or more sample indices in \[0, 2000\)"):
        A.with_rows([0, 2000])
    with pytest.raises(ValueError, match="rows must be 1 or more"):
        A.with_rows(np.empty(0, np.int64))


def test_follow_weights_is_a_deprecated_in_place_following(rng):
    """follow_weights / propose_generators (0.4's mutators) warn, naming following / proposing, and leave
    the operator as the views would be; a cache made before does not serve the old masks."""
    X = rng.standard_normal((30, 4))
    A = sc.ReluPatternOperator(X, 5, rng=3)
    w = sc.SparseVector(np.array([1, 9]), np.array([0.5, -1.0]), 20)
    h = sc.SparseVector(np.array([13]), np.array([2.0]), 20)
    want = A.proposing(h).following(w).columns(np.arange(20))
    cache = A.make_cache()
    A.restrict(np.arange(20), cache=cache)
    with pytest.warns(FutureWarning, match=r"follow_weights\(w\) is deprecated.*A = A\.following\(w\)"):
        A.follow_weights(w)
    with pytest.warns(FutureWarning, match=r"propose_generators\(h\) is deprecated.*A = A\.proposing\(h\)"):
        A.propose_generators(h)
    np.testing.assert_array_equal(A.columns(np.arange(20)), want)
    np.testing.assert_array_equal(A.restrict(np.arange(20), cache=cache).to_dense(), want)


def test_a_cache_never_serves_a_view_the_masks_of_other_samples(rng):
    """A PatternCache filled by A and passed to A's view on other samples (with_data, with_rows) gives
    that view the products it gives without a cache: views over other data have a source of their own."""
    X = np.asfortranarray(rng.standard_normal((40, 5)))
    A = sc.ReluPatternOperator(X, 6, rng=1)
    S = np.array([0, 7, 13, 27])
    for view in (A.with_data(rng.standard_normal((40, 5))), A.with_rows(np.arange(3, 40, 2))):
        cache = A.make_cache()
        A.restrict(S, cache=cache)
        np.testing.assert_array_equal(view.restrict(S, cache=cache).to_dense(), view.restrict(S).to_dense())
