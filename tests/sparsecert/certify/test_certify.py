"""Certificates: each checked against brute force or an instance where the answer is known."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecert as sc
from sparsecert import certify as C


def unit_columns(M):
    return M / np.linalg.norm(M, axis=0)


small = st.tuples(st.integers(3, 8), st.integers(4, 9), st.integers(0, 2**31))


@settings(max_examples=25)
@given(shape=small, k=st.integers(1, 3))
def test_exact_rip_matches_brute_force_and_bounds(shape, k):
    """rip_exact equals max over supports of max |sigma_i(A_S)^2 - 1| (computed here from
    singular values), is at most (k-1) mu for unit-norm columns (Gershgorin), and the
    sampled lower bound never exceeds it."""
    n, N, seed = shape
    k = min(k, N)
    A = unit_columns(np.random.default_rng(seed).standard_normal((n, N)))
    brute = max(np.abs(np.linalg.svd(A[:, list(S)], compute_uv=False) ** 2 - 1).max()
                for S in itertools.combinations(range(N), k))
    exact = C.rip_exact(A, k)
    assert exact.value == pytest.approx(brute, abs=1e-10)
    mu = C.mutual_coherence(A).value
    assert exact.value <= C.rip_from_coherence(mu, k) + 1e-10
    assert C.rip_sampled(A, k, n_random=20, rng=seed).value <= exact.value + 1e-10


@given(shape=small)
def test_coherence_and_babel_match_the_gram_matrix(shape):
    n, N, seed = shape
    A = np.random.default_rng(seed).standard_normal((n, N))
    G = np.abs(unit_columns(A).T @ unit_columns(A))
    np.fill_diagonal(G, 0)
    assert C.mutual_coherence(A, block=2).value == pytest.approx(G.max(), abs=1e-12)
    for k in (1, 2):
        if k < N:
            assert C.babel(A, k, block=3) == pytest.approx(np.sort(G, axis=1)[:, -k:].sum(1).max(), abs=1e-12)


def test_orthonormal_matrix_passes_every_certificate():
    """On an orthonormal A (square, A^T A = I): mu = 0, delta = 0, ERC = 0, the NSP holds,
    IHT/HTP/CoSaMP conditions hold and the recovered vector is certified unique."""
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    assert C.mutual_coherence(Q).value < 1e-12
    for cert in C.algorithm_certificates(Q, 1):
        assert cert.holds, cert
    assert C.exact_recovery_condition(Q, [1, 4]).value < 1e-12
    assert C.null_space_property(Q, [0, 2]).holds
    w = np.zeros(6)
    w[[1, 3]] = [1.0, -2.0]
    certs = C.certify_solution(Q, Q @ w, w, 2)
    assert all(c.holds for c in certs) and certs[1].name.startswith("uniqueness")


def test_two_equal_columns_fail_with_an_explanation():
    rng = np.random.default_rng(1)
    A = unit_columns(rng.standard_normal((5, 7)))
    A[:, 4] = A[:, 2]
    mu = C.mutual_coherence(A)
    assert mu.value == pytest.approx(1.0) and "parallel" in mu.explanation
    assert set(mu.evidence["pair"].tolist()) == {2, 4}
    assert C.rip_exact(A, 2).status == "fails"
    erc = C.exact_recovery_condition(A, [2, 4])
    assert erc.status == "fails" and "linearly dependent" in erc.explanation
    assert C.exact_recovery_condition(A, [2]).status == "fails"  # column 4 equals column 2: ||A_S^+ a_4||_1 = 1
    assert C.null_space_property(A, [2]).status == "fails"
    w = np.zeros(7)
    w[2] = 1.0
    certs = C.certify_solution(A, A @ w, w, 1)
    assert certs[0].holds and certs[1].status == "fails" and "another s-sparse solution" in certs[1].explanation


@settings(max_examples=15)
@given(shape=st.tuples(st.integers(5, 10), st.integers(8, 14), st.integers(0, 2**31)), s=st.integers(1, 2))
def test_erc_and_nsp_imply_basis_pursuit_recovery(shape, s):
    """Tropp: ERC(S) < 1 => BP recovers every vector on S; NSP for (S, sigma) <=> BP recovers
    vectors on S with signs sigma. Checked against SciPy's basis pursuit."""
    from scipy.optimize import linprog

    n, N, seed = shape
    rng = np.random.default_rng(seed)
    A = unit_columns(rng.standard_normal((n, N)))
    S = np.sort(rng.choice(N, s, replace=False))
    w = np.zeros(N)
    w[S] = rng.choice([-1.0, 1.0], s) * (0.5 + rng.random(s))
    I = np.eye(N)
    res = linprog(np.r_[np.zeros(N), np.ones(N)], A_ub=np.block([[I, -I], [-I, -I]]), b_ub=np.zeros(2 * N),
                  A_eq=np.hstack([A, np.zeros((n, N))]), b_eq=A @ w, bounds=[(None, None)] * N + [(0, None)] * N,
                  method="highs")
    bp_ok = np.allclose(res.x[:N], w, atol=1e-6)
    if C.exact_recovery_condition(A, S).holds:
        assert bp_ok
    nsp = C.null_space_property(A, S, signs=np.sign(w[S]))
    assert nsp.holds == bp_ok


def test_relu_structure_on_a_planted_net():
    p = sc.planted_relu(2000, 10, 4, 12, rng=3)
    sep, cov = C.relu_structure(p.X, p.model.U)
    assert 0 < sep.value <= 0.5 and sep.holds
    assert 0.3 < cov.value < 0.7 and cov.holds
    U = np.array([[1.0, 0, 0], [2.0, 0, 0]])  # same direction: identical patterns
    X = np.random.default_rng(0).standard_normal((100, 3))
    sep, _ = C.relu_structure(X, U)
    assert sep.value == 0 and sep.status == "fails"


def test_certificates_on_implicit_operators():
    """Coherence and ERC work blockwise on the implicit ReLU operator."""
    X = np.random.default_rng(0).standard_normal((50, 3))
    A = sc.ReluPatternOperator(X, 4, rng=1)
    dense = A.columns(np.arange(12))
    assert C.mutual_coherence(A, block=5).value == pytest.approx(C.mutual_coherence(dense).value, abs=1e-12)
    assert C.exact_recovery_condition(A, [0, 7]).value == pytest.approx(
        C.exact_recovery_condition(dense, [0, 7]).value, abs=1e-10)


def test_certificate_inputs_are_validated():
    A = np.eye(4)
    with pytest.raises(ValueError, match="support must be a non-empty 1-d sequence"):
        C.exact_recovery_condition(A, [])


@pytest.mark.parametrize("support, message", [
    ([1.7, 3.2], "integer column indices"),  # was certified as {1, 3}
    ("13", "the string"),
    ([[1, 3]], "1-d"),
    ([3, 3], "column 3 more than once"),  # was reduced to {3}
    ([1, 9], "within \\[0, 6\\)"),
])
def test_a_support_is_certified_as_given_or_refused(support, message):
    """Certificates answer for the support asked about: a non-integer, string, 2-d or repeated
    support is an error, never rounded or deduplicated into another one (issue 18, defect 9)."""
    A = np.random.default_rng(0).standard_normal((5, 6))
    for check in (C.exact_recovery_condition, C.null_space_property):
        with pytest.raises(ValueError, match=message):
            check(A, support)


def test_nsp_signs_are_signs_and_follow_the_support_order():
    """A sign of 0 is refused; signs go with the columns as listed, so listing the support in
    another order with the signs permuted alike gives the same certificate."""
    A = np.random.default_rng(1).standard_normal((4, 6))
    with pytest.raises(ValueError, match="signs must be \\+1 or -1"):
        C.null_space_property(A, [0, 2], signs=[1, 0])
    a = C.null_space_property(A, [0, 2, 4], signs=[1, -1, 1])
    b = C.null_space_property(A, [4, 0, 2], signs=[1, 1, -1])  # the same signs per column
    c = C.null_space_property(A, [4, 0, 2], signs=[1, -1, 1])  # others (not a global flip)
    assert a.value == pytest.approx(b.value, abs=1e-9)
    assert a.value != pytest.approx(c.value, abs=1e-6)


def test_complex_matrix_is_refused():
    with pytest.raises(ValueError, match="A must be real"):
        C.exact_recovery_condition(np.eye(3) * (1 + 1j), [0])


def test_certificate_budget_and_degenerate_inputs():
    A = np.eye(4)
    with pytest.raises(ValueError, match="budget"):
        C.rip_exact(np.ones((3, 40)), 10, budget=100)
    with pytest.raises(ValueError, match="zero columns"):
        C.mutual_coherence(np.zeros((3, 3)))
    assert C.rip_exact(A, 2).to_dict()["status"] == "holds"


# ----------------------------------------------------------------------------- restricted eigenvalues (issue 19)
@settings(max_examples=25)
@given(n=st.integers(3, 12), N=st.integers(3, 9), k=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_restricted_eigenvalue_bounds_bracket_the_exact_values(n, N, k, seed):
    """Cauchy interlacing and Gershgorin: alpha_lower <= alpha_k <= alpha_upper and
    beta_lower <= beta_k <= beta_upper, alpha_k and beta_k the extreme eigenvalues of A_S^T A_S over
    all |S| = k (computed here directly); the attained sides are eigenvalues of the supports given."""
    k = min(k, N)
    A = np.random.default_rng(seed).standard_normal((n, N))
    eigs = [np.linalg.eigvalsh(A[:, S].T @ A[:, S]) for S in itertools.combinations(range(N), k)]
    alpha, beta = min(e[0] for e in eigs), max(e[-1] for e in eigs)
    exact = C.restricted_eigenvalues(A, k)
    assert exact.method == "exact"
    assert exact.alpha_lower == pytest.approx(alpha, abs=1e-10) and exact.beta_upper == pytest.approx(beta, rel=1e-10)
    b = C.restricted_eigenvalues(A, k, budget=0, n_random=10, rng=seed)
    tol = 1e-9 * max(1.0, beta)
    assert b.alpha_lower - tol <= alpha <= b.alpha_upper + tol and b.beta_lower - tol <= beta <= b.beta_upper + tol
    Sa, Sb = list(b.supports["alpha"]), list(b.supports["beta"])
    assert np.linalg.eigvalsh(A[:, Sa].T @ A[:, Sa])[0] == pytest.approx(b.alpha_upper, abs=tol)
    assert np.linalg.eigvalsh(A[:, Sb].T @ A[:, Sb])[-1] == pytest.approx(b.beta_lower, abs=tol)


def test_restricted_eigenvalues_of_the_implicit_relu_operator():
    """The implicit ReLU-pattern operator gives the brackets of its dense matrix."""
    p = sc.planted_relu(200, 3, 3, 3, rng=0)
    a = C.restricted_eigenvalues(p.A, 2)
    b = C.restricted_eigenvalues(p.A.restrict(np.arange(9)).to_dense(), 2)
    assert a.alpha_lower == pytest.approx(b.alpha_lower) and a.beta_upper == pytest.approx(b.beta_upper)


@settings(max_examples=25)
@given(s_project=st.integers(32, 40), extra=st.integers(0, 40), eps=st.floats(0.0, 0.03), seed=st.integers(0, 2**16))
def test_relaxed_iht_certificate_holds_exactly_where_the_quoted_condition_does(s_project, extra, eps, seed):
    """Jain-Tewari-Kar Theorem 1's condition s~ >= 32 kappa^2 s, kappa = beta_k / alpha_k at
    k = 2 s~ + s: with exact restricted eigenvalues the certificate holds iff the exact kappa meets
    it. (N = k, so the one support is enumerated; near-orthonormal columns put kappa on both sides
    of the limit sqrt(s~ / 32) in [1, 1.12].)"""
    s = 1
    N = 2 * s_project + s
    g = np.random.default_rng(seed)
    A = np.linalg.qr(g.standard_normal((N + extra, N)))[0] + eps * g.standard_normal((N + extra, N)) / np.sqrt(N)
    ev = np.linalg.eigvalsh(A.T @ A)
    kappa = ev[-1] / ev[0]
    cert = C.relaxed_iht(A, s, s_project)
    assert cert.method == "exact" and cert.value == pytest.approx(kappa, rel=1e-9)
    assert cert.holds == (s_project >= 32 * kappa**2 * s)


def test_relaxed_iht_converges_where_the_certificate_holds():
    """An instance where the certificate holds (orthonormal columns plus a small perturbation,
    s~ = 40 s, kappa close to 1): IHT projecting onto s~ nonzeros with the theorem's step 2/(3 beta)
    reaches f(w) - f(w*) <= 1e-12 f(w_0), w* the planted s-sparse minimiser (f(w*) = 0), within a
    small multiple of kappa log(f(w_0) / eps) iterations."""
    g = np.random.default_rng(1)
    n, N, s, s_project = 200, 81, 1, 40  # N = 2 s~ + s: the restricted eigenvalues are exact
    A = np.linalg.qr(g.standard_normal((n, n)))[0][:, :N] + 1e-4 * g.standard_normal((n, N))
    cert = C.relaxed_iht(A, s, s_project)
    assert cert.holds and cert.method == "exact"
    w = np.zeros(N)
    w[7] = 2.0
    y = A @ w
    f0 = 0.5 * float(y @ y)
    res = sc.iht(A, y, s, s_project=s_project, solver=sc.IHT(method="iht", max_iter=500, tol=1e-6, step=float(cert.evidence["step"])))
    fT = 0.5 * float(np.sum((y - A @ res.w.to_dense()) ** 2))
    assert fT <= 1e-12 * f0 and res.info["s_project"] == s_project and res.w.nnz <= s_project
    assert res.n_iter <= 10 * cert.value * np.log(f0 / (1e-12 * f0))


@settings(max_examples=20)
@given(p=st.integers(2, 6), d=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_pattern_separation_tends_to_the_angles_over_pi(p, d, seed):
    """Hyperplane rounding: for Gaussian x, P[sign(x.u) != sign(x.v)] = angle(u, v) / pi, so with
    n = 40000 samples the measured separation is within 4 standard errors (~0.01) of
    min over pairs of min(theta, pi - theta) / pi, and every unit's coverage within 0.01 of 1/2.
    The GEMM form equals the pairwise definition exactly."""
    g = np.random.default_rng(seed)
    U = g.standard_normal((p, d))
    X = g.standard_normal((40000, d))
    stats = C.pattern_statistics(X, U, gamma=0.2)
    assert abs(stats["separation"] - C.population_separation(U)) <= 4 * 0.5 / np.sqrt(40000)
    assert np.all(np.abs(stats["coverages"] - 0.5) <= 0.01)
    P = X[:2000] @ U.T >= 0
    h = [min(np.mean(P[:, a] != P[:, b]), 1 - np.mean(P[:, a] != P[:, b])) for a in range(p) for b in range(a + 1, p)]
    small = C.pattern_statistics(X[:2000], U, gamma=0.2)
    assert small["separation"] == pytest.approx(min(h), abs=1e-12)
    assert small["violating"] == pytest.approx(np.mean(np.array(h) < 0.2), abs=1e-12)


def test_pattern_statistics_counts_distinct_patterns():
    """Generators that are positive multiples of one another have one pattern; a negated one has the
    complement (another pattern, though at separation 0); a zero row is skipped."""
    g = np.random.default_rng(0)
    X = g.standard_normal((500, 4))
    u = g.standard_normal(4)
    U = np.stack([u, 2 * u, -u, g.standard_normal(4), np.zeros(4)])
    stats = C.pattern_statistics(X, U)
    assert stats["distinct"] == 3 and stats["separation"] == 0.0
