"""The IHT family recovers planted sparse vectors; results are honest about what they did."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecert as sc
from sparsecert.metrics import relative_error


def rel_err(w_hat, w):
    return np.linalg.norm(w_hat.to_dense() - w.to_dense()) / np.linalg.norm(w.values)


@settings(max_examples=15)
@given(
    method=st.sampled_from(sc.METHODS),
    N=st.integers(32, 512),
    s_frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_recovery_in_the_s_log_regime(method, N, s_frac, seed):
    """Gaussian sensing, exact sparse recovery.

    Regime: A has i.i.d. N(0, 1/n) entries, w is s-sparse with N(0, 1)
    nonzeros on a uniform support, y = A w without noise, 1 <= s <= N / 8 and
    n = ceil(c s ln(N / s)). NIHT, AIHT and HTP (Blumensath & Davies 2010,
    Blumensath 2012, Foucart 2011) return w to relative error 1e-8 with
    c = 4. Fixed-step IHT's guarantee asks for a smaller restricted isometry
    constant (delta_3s < 1/sqrt(32)), i.e. more measurements: measured on 80
    draws each with the step 1/L_2s, it failed 2/80 at c = 4, 1/80 at c = 6
    and 0/80 at c = 8 (and 38/60 at c = 4 with step 1), so it is held to c = 8.
    """
    s = max(1, int(s_frac * N / 8))
    c = 8 if method == "iht" else 4
    n = math.ceil(c * s * math.log(N / s))
    p = sc.planted_gaussian(n, N, s, rng=seed)
    res = sc.iht(p.A, p.y, s, solver=sc.IHT(method=method, max_iter=2000))
    assert res.converged, (res.status, res.n_iter, res.residual)
    assert rel_err(res.w, p.w) <= 1e-8
    np.testing.assert_array_equal(res.support, p.w.indices)


@pytest.mark.parametrize("method", sc.METHODS)
def test_recovery_on_dense_matrix_and_result_fields(method):
    p = sc.planted_gaussian(120, 200, 5, rng=3)
    dense = p.A.to_dense()
    res = sc.iht(dense, p.y, 5, solver=sc.IHT(method=method, max_iter=500))
    res2 = sc.iht(p.A, p.y, 5, solver=sc.IHT(method=method, max_iter=500))
    assert rel_err(res.w, p.w) < 1e-8
    np.testing.assert_allclose(res.w.values, res2.w.values, rtol=1e-9)
    assert res.residuals.shape == (res.n_iter + 1,)
    assert res.steps.shape == (res.n_iter,)
    assert res.residuals[-1] == res.residual <= 1e-10
    assert res.status == "residual" and res.converged
    assert res.peak_memory > 0 and res.time > 0
    d = res.to_dict()
    assert d["w"]["indices"] == res.support.tolist() and d["method"] == method


def test_recovery_is_deterministic():
    p = sc.planted_gaussian(60, 150, 4, rng=11)
    a = sc.iht(p.A, p.y, 4, solver=sc.IHT(method="niht", max_iter=500))
    b = sc.iht(sc.planted_gaussian(60, 150, 4, rng=11).A, p.y, 4, solver=sc.IHT(method="niht", max_iter=500))
    np.testing.assert_array_equal(a.w.values, b.w.values)
    np.testing.assert_array_equal(a.residuals, b.residuals)


def test_zero_measurements_give_zero():
    A = sc.GaussianOperator(10, 20, rng=0)
    res = sc.iht(A, np.zeros(10), 3)
    assert res.status == "zero" and res.w.nnz == 0 and res.converged


def test_fixed_step_too_large_reports_divergence():
    p = sc.planted_gaussian(40, 100, 4, rng=0)
    res = sc.iht(p.A, p.y, 4, solver=sc.IHT(method="iht", max_iter=300, step=50.0))
    assert res.status == "diverged" and not res.converged


def test_max_iter_reported():
    p = sc.planted_gaussian(40, 100, 4, rng=0)
    res = sc.iht(p.A, p.y, 4, solver=sc.IHT(method="iht", max_iter=2, step=0.01))
    assert res.status == "max_iter" and not res.converged and res.n_iter == 2


def test_warm_start_at_solution_stops_at_once():
    p = sc.planted_gaussian(60, 150, 4, rng=2)
    res = sc.iht(p.A, p.y, 4, solver=sc.IHT(method="niht", max_iter=500), w0=p.w)
    assert res.n_iter == 1 and rel_err(res.w, p.w) < 1e-12


@pytest.mark.parametrize("method", ["niht", "aiht", "htp"])
def test_relu_recovery_with_true_generators(method):
    """With h_j = u_j the planted fused weights solve y = A w exactly; when the
    active neurons have several nonzeros (no duplicate columns) IHT recovers them."""
    p = sc.planted_relu(3000, 40, 6, 30, rng=4)
    res = sc.iht(p.A, p.y, 30, solver=sc.IHT(method=method, max_iter=3000))
    assert res.converged
    assert rel_err(res.w, p.w) < 1e-8


def test_float32_recovery():
    p = sc.planted_gaussian(120, 300, 5, rng=8, dtype=np.float32)
    res = sc.iht(p.A, p.y, 5, solver=sc.IHT(method="htp", max_iter=500, tol=1e-6))
    assert res.w.dtype == np.float32
    assert rel_err(res.w, p.w) < 1e-4


def test_peak_memory_does_not_grow_with_m():
    """At fixed n, d, s and block size, the solver's working set does not depend on m
    (it is O(row_block * block + block * d + n * min(s, m) + s) bytes)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 10))
    peaks = []
    for m in (50, 500):
        A = sc.ReluPatternOperator(X, m, rng=1, block=32)
        w = sc.SparseVector(np.array([3, 17, 25]), np.array([1.0, -2.0, 0.5]), m * 10)
        y = A.matvec(w)
        peaks.append(sc.iht(A, y, 3, solver=sc.IHT(method="niht", max_iter=5)).peak_memory)
    assert peaks[1] <= 1.01 * peaks[0]


def test_runs_without_jit(tmp_path):
    """NUMBA_DISABLE_JIT=1: the kernels run as Python and recovery still works."""
    code = (
        "import numpy as np, sparsecert as sc\n"
        "p = sc.planted_relu(400, 20, 3, 15, rng=1)\n"
        "r = sc.iht(p.A, p.y, 15, method='htp')\n"
        "assert r.residual < 1e-8, r.residual\n"
        "from sparsecert.relu import fit_two_layer\n"
        "net, res = fit_two_layer(p.X, p.y, 3, 15, solver=sc.IHT(method='aiht', max_iter=3), rng=0)\n"
        "assert np.allclose(net.forward(p.X), res.info['operator'].matvec(res.w))\n"
        "q = sc.planted_gaussian(40, 80, 3, rng=0)\n"
        "assert np.allclose(sc.iht(q.A, q.y, 3).w.to_dense(), q.w.to_dense())\n"
        "D = q.A.to_dense()\n"  # the dense pursuit kernels, as Python
        "assert np.allclose(sc.iht(D, q.y, 3, method='htp', splice=2).w.to_dense(), q.w.to_dense())\n"
        "assert np.allclose(sc.recovery.omp(D, q.y, 3).w.to_dense(), q.w.to_dense())\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_restricted_norm_sq_bounds():
    """The truncated power estimate is ||A z||^2 for a k-sparse unit z, so it never
    exceeds the exact restricted constant (brute force over supports) nor ||A||_2^2;
    for k = N it is the power method and reaches ||A||_2^2."""
    from itertools import combinations

    rng = np.random.default_rng(0)
    D = rng.standard_normal((12, 9))
    exact = max(np.linalg.norm(D[:, list(S)], 2) ** 2 for S in combinations(range(9), 3))
    est = sc.recovery.restricted_norm_sq(D, 3, n_iter=50)
    assert 0 < est <= exact * (1 + 1e-12)
    hi = np.linalg.norm(D, 2) ** 2
    full = sc.recovery.restricted_norm_sq(D, 9, n_iter=200)
    assert abs(full - hi) <= 1e-6 * hi


def test_solver_template_setup_step_finalize():
    """The template: solve() = run() + finalize(); setup() restarts (same run again, bit for bit);
    every status lies in STATUSES; memory_usage() is an upper estimate of the peak work recorded."""
    q = sc.planted_gaussian(120, 400, 6, rng=3)
    solver = sc.IHTSolver(q.A, q.y, 6, method="niht")
    est = solver.memory_usage()
    first = solver.solve(max_iter=200)
    assert first.status in sc.STATUSES and first.status == "residual"
    assert 0 < first.peak_memory <= est
    again = solver.setup().solve(max_iter=200)
    np.testing.assert_array_equal(first.w.indices, again.w.indices)
    np.testing.assert_array_equal(first.w.values, again.w.values)
    np.testing.assert_array_equal(first.residuals, again.residuals)
    stepped = sc.IHTSolver(q.A, q.y, 6, method="niht")
    for _ in range(3):
        stepped.step()
    np.testing.assert_allclose(stepped.rel_residual, first.residuals[3], rtol=1e-9)
    assert sc.IHTSolver(q.A, np.zeros(120), 6).solve().status in sc.STATUSES


def test_memory_parts_add_up_to_the_peak():
    """``info["memory_parts"]`` is the largest working set a run held, by part: the parts sum to
    ``peak_memory``, for the streamed scalar solver (pass buffers, kept masks, restricted products,
    vectors), the compiled dense loop and the factored fit (whose dense part is the two layers and the
    metric, 3 m (d + k) floats, and whose batch part is the gathered rows of a feature-major X)."""
    from sparsecert.recovery.factored import FactoredIHTSolver

    p = sc.planted_relu(600, 8, 12, 24, rng=1)
    streamed = sc.SequentialIHTSolver(sc.ReluPatternOperator(p.X, 12, rng=2), p.y, 24, method="aiht").solve(max_iter=5)
    A = np.random.default_rng(3).standard_normal((120, 400)) / np.sqrt(120)
    compiled = sc.IHTSolver(sc.DenseOperator(A), A[:, :6] @ np.ones(6), 6, method="niht")
    assert compiled.dense_kernel()
    dense = compiled.solve(max_iter=50)
    rng = np.random.default_rng(0)
    X, Y = np.asfortranarray(rng.standard_normal((400, 30))), np.eye(3)[rng.integers(0, 3, 400)]
    factored = FactoredIHTSolver(X, Y, 5, 40, rng=0, loss="cross-entropy", precondition=True).setup()
    factored.run_epochs(2, 100)
    for res, names in ((streamed, {"pass", "cache", "restricted", "vectors"}), (dense, {"restricted", "vectors"}),
                       (factored.finalize(), {"dense", "residual", "tiles", "batch", "candidates"})):
        parts = res.info["memory_parts"]
        assert set(parts) == names and sum(parts.values()) == res.peak_memory > 0
    assert parts["dense"] == 8 * 3 * 5 * (30 + 3) and parts["batch"] == 8 * 100 * 30


def test_sequential_solver_reports_the_best_network():
    """SequentialIHTSolver: the result is the best network seen (its residual, recomputed
    exactly from the model, is the smallest network residual of the run); memory_usage()
    bounds the peak work recorded."""
    p = sc.planted_relu(600, 8, 12, 24, rng=1)
    A = sc.ReluPatternOperator(p.X, 12, rng=2)
    solver = sc.SequentialIHTSolver(A, p.y, 24, method="aiht")
    est = solver.memory_usage()
    res = solver.solve(max_iter=12, tol=0.0)
    assert res.peak_memory <= est <= 3 * res.peak_memory  # an upper estimate, and not a loose one
    assert res.status == "max_iter" and res.status in sc.STATUSES
    from sparsecert.relu import model_from_weights

    net = model_from_weights(res.w, 12, 8)
    rel = np.linalg.norm(p.y - net.forward(p.X)) / np.linalg.norm(p.y)
    np.testing.assert_allclose(rel, min(solver.best[0], res.residuals[-1]), rtol=1e-8)
    assert 0 <= res.info["best_iter"] <= 12
    with pytest.raises(ValueError, match="period"):
        sc.SequentialIHTSolver(A, p.y, 24, period=0)


@pytest.mark.parametrize("method", ["niht", "aiht", "htp"])
@pytest.mark.parametrize("a, b", [(1e80, 1.0), (1e150, 1.0), (1e-150, 1.0), (1.0, 1e150), (1.0, 1e-170), (1e100, 1e100),
                                  (1e150, 1e150), (1e-150, 1e-150), (1e100, 1e200), (1e-150, 1e-200), (1e150, 1e-100),
                                  (1e-100, 1e-300), (1.0, 1e300)])
def test_recovery_is_scale_invariant(method, a, b):
    """IHT's iterates for (a A, b y) are (b / a) times those for (A, y): recovery works at any
    representable scale (norms and step sizes are computed scaled; products act on unit
    directions; y of extreme norm is scaled by a power of two), instead of stopping "stationary"
    at w = 0, treating y as zero, or overflowing in ||A|| ||y|| (A and y both at 1e150: "diverged")."""
    q = sc.planted_gaussian(120, 400, 6, rng=3)
    res = sc.iht(q.A.to_dense() * a, q.y * b, 6, solver=sc.IHT(method=method, max_iter=200))
    assert res.status == "residual" and res.status in sc.STATUSES, res.status
    w = res.w.to_dense() * (a / b)
    assert np.linalg.norm(w - q.w.to_dense()) <= 1e-8 * np.linalg.norm(q.w.to_dense())


def test_float32_relu_with_large_targets():
    """float32 ReLU problem with y scaled by 1e15: still recovered (was: stationary at w = 0)."""
    p = sc.planted_relu(2000, 6, 5, 10, rng=1, dtype=np.float32)
    res = sc.iht(p.A, p.y * np.float32(1e15), 10, solver=sc.IHT(method="htp", max_iter=100))
    assert res.status in ("residual", "stationary") and res.residual < 1e-3


def test_overflow_is_reported_as_divergence():
    """A product that overflows float64 ends the run as "diverged", never as converged."""
    q = sc.planted_gaussian(60, 200, 4, rng=0)
    res = sc.iht(q.A.to_dense() * 1e300, q.y * 1e300, 4, solver=sc.IHT(method="niht", max_iter=20))
    assert res.status == "diverged" and not res.converged


def test_published_aiht_reference_baseline():
    """The published algorithm as restated: its first step is 1e-14 (empty support), so the first
    network is ~zero; units keep s weights at most; on a well-posed planted net (n >> s, known
    width) it fits; and with zero generators a unit that lost its weights has an empty pattern,
    so every unit of the returned net has weights (the network is sum_j relu(X w_j))."""
    from sparsecert.recovery import published_aiht

    p = sc.planted_relu(3000, 10, 2, 6, rng=0)
    w, res = published_aiht(p.X, p.y, 2, 6, n_iter=40, rng=1)
    assert res.shape == (41,) and res[0] == 1.0
    assert abs(res[1] - 1.0) < 1e-6  # the 1e-14 first step
    assert w.nnz <= 6 and res[-1] < 1e-6
    net = sc.ReLUNet.from_fused(w.to_dense(), 2, 10)
    np.testing.assert_allclose(np.linalg.norm(p.y - net.forward(p.X)) / np.linalg.norm(p.y), res[-1], rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="inactive must be one of"):
        published_aiht(p.X, p.y, 2, 6, inactive="zero")


def test_splicing_never_raises_the_residual_and_recovers_more():
    """Splicing (abess's exchanges after HTP) keeps s nonzeros, never raises ||y - A w||, and on
    Gaussian problems at n = 4 s recovers more planted vectors than HTP alone (measured on these
    30 draws: 8 alone, 17 with exchanges of up to 2 entries)."""
    alone = spliced = 0
    for t in range(30):
        p = sc.planted_gaussian(100, 1000, 25, rng=t)
        A = p.A.to_dense()
        a = sc.iht(A, p.y, 25, solver=sc.IHT(method="htp", max_iter=500))
        b = sc.iht(A, p.y, 25, solver=sc.IHT(method="htp", max_iter=500), splice=2)
        assert b.w.nnz <= 25 and b.residual <= a.residual * (1 + 1e-12)
        assert len(b.residuals) == b.n_iter + 1 and b.n_iter == a.n_iter + b.info["exchanges"]
        assert np.isnan(b.steps[a.n_iter:]).all()
        alone += relative_error(a.w, p.w) <= 1e-4
        spliced += relative_error(b.w, p.w) <= 1e-4
    assert spliced >= alone + 5


def test_splice_is_validated():
    q = sc.planted_gaussian(30, 60, 3, rng=0)
    with pytest.raises(ValueError, match="splice must be in"):
        sc.iht(q.A, q.y, 3, splice=-1)
    with pytest.raises(TypeError, match="splice must be an integer"):
        sc.iht(q.A, q.y, 3, splice=1.5)


def test_omp_stops_on_a_column_in_the_span_of_its_support():
    """The Cholesky update's pivot ||a_j||^2 - ||L^-1 A_S^T a_j||^2 is the squared distance of a_j
    from span(A_S): with every column equal, after the first pick the residual is orthogonal to
    all of them, the next pick has pivot 0, and OMP stops there (flagged) instead of dividing by it;
    the one coefficient is the least-squares one."""
    from sparsecert.recovery import omp

    a = np.random.default_rng(0).standard_normal(30)
    y = np.random.default_rng(1).standard_normal(30)
    res = omp(np.tile(a[:, None], (1, 4)), y, 3, tol=0.0)
    assert res.info["dependent"] and res.support.tolist() == [0] and res.n_iter == 1
    assert res.w.values[0] == pytest.approx(a @ y / (a @ a), rel=1e-12)


def test_omp_matches_scikit_learn_and_the_restart_helps():
    """Our OMP on an operator gives scikit-learn's OrthogonalMatchingPursuit coefficients (1e-12);
    iht_omp keeps the best of the fits it tries, so in either order it never ends above plain IHT
    (unless both reach tol), and at n = 4 s it recovers more planted vectors (measured on these
    draws: 17 with splicing alone, 27 with OMP's help, of 30); OMP first needs no more samples
    than IHT first, since it tries the same fits and OMP's own."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    from sparsecert.recovery import iht_omp, omp

    for t in range(3):
        p = sc.planted_gaussian(60, 300, 10, rng=t)
        A = p.A.to_dense()
        ref = sklearn.OrthogonalMatchingPursuit(n_nonzero_coefs=10, fit_intercept=False).fit(A, p.y).coef_
        np.testing.assert_allclose(omp(A, p.y, 10, tol=0.0).w.to_dense(), ref, atol=1e-12)
    hits = {"splice": 0, "omp": 0, "iht": 0}
    for t in range(30):
        p = sc.planted_gaussian(100, 1000, 25, rng=t)
        A = p.A.to_dense()
        a = sc.iht(A, p.y, 25, solver=sc.IHT(method="htp", max_iter=500), splice=2)
        hits["splice"] += relative_error(a.w, p.w) <= 1e-4
        for first in ("omp", "iht"):
            b = iht_omp(A, p.y, 25, method="htp", splice=2, first=first)
            assert b.residual <= max(a.residual, 1e-10)
            assert b.info["kept"] in b.info["runs"] and b.info["runs"][0] == first
            hits[first] += relative_error(b.w, p.w) <= 1e-4
    assert hits["iht"] >= hits["splice"] + 4 and hits["omp"] >= hits["iht"]


def test_iht_omp_picks_its_order_by_cost():
    """first="auto": OMP first where its s steps cost less than IHT_PASSES IHT passes,
    s (N + s) < IHT_PASSES (N + s^2) (always for s <= IHT_PASSES), IHT first otherwise (here
    s = 30, N = 2000: 60,900 against 58,000); an unknown order is a named error."""
    from sparsecert.recovery import IHT_PASSES, iht_omp

    assert IHT_PASSES == 20  # the numbers in this docstring
    small = sc.planted_gaussian(60, 300, 5, rng=0)
    assert iht_omp(small.A.to_dense(), small.y, 5).info["runs"][0] == "omp"
    wide = sc.planted_gaussian(150, 2000, 30, rng=0)
    assert iht_omp(wide.A.to_dense(), wide.y, 30).info["runs"][0] == "iht"
    with pytest.raises(ValueError, match="first"):
        iht_omp(small.A.to_dense(), small.y, 5, first="lasso")