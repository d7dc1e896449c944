"""The torch backend of the IHT core: the NumPy iterates, to 1e-10 in float64, on CPU torch.

``SPARSECERT_TEST_DEVICE=cuda`` runs the same checks with the torch side on a GPU
(a session lent one runs them there; CI has none).
"""

import os

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.backend import resolve
from sparsecert.relu import fit_two_layer
from sparsecert.testing import check_operator

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from sparsecert.operators import TorchReluPatternOperator  # noqa: E402

DEVICE = os.environ.get("SPARSECERT_TEST_DEVICE", "cpu")


def _rel(a, b):
    if not np.size(b):
        return 0.0 if not np.size(a) else np.inf
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("follow", [False, True])
def test_torch_operator_keeps_the_contract_and_the_columns(follow, rng):
    """check_operator passes, and the columns are those of the NumPy operator (same seeded generators)."""
    X = rng.standard_normal((50, 4))
    A, B = TorchReluPatternOperator(X, 7, rng=3, block=3, device=DEVICE), sc.ReluPatternOperator(X, 7, rng=3, block=3)
    if follow:
        w = sc.SparseVector(np.array([1, 2, 9, 20]), np.array([1.0, -2.0, 0.5, 1.5]), 28)
        A = A.following(w)
        B = B.following(w)
    assert max(check_operator(A, rng=1).values()) <= 1e-12
    np.testing.assert_allclose(A.columns(np.arange(28)), B.columns(np.arange(28)), atol=1e-15)
    r = rng.standard_normal(50)
    np.testing.assert_allclose(A.rmatvec(torch.as_tensor(r, device=DEVICE)), B.rmatvec(r), rtol=1e-12, atol=1e-12)
    assert isinstance(A.matvec(np.ones(28)), torch.Tensor)


IHT8 = sc.IHT(method="aiht", max_iter=8, tol=0.0)
CASES = {
    "fixed": dict(rule=None),
    "sequential": dict(),
    "mixed-sign": dict(output_sign="mixed"),
    "minibatch": dict(batches=sc.Minibatch(400, 2)),
    "htp-fixed": dict(rule=None, solver=sc.IHT(method="htp", max_iter=8, tol=0.0)),
    "halving-admission": dict(rule=sc.Sequential(admission="halving")),
    "mixed-sign-halving": dict(output_sign="mixed", rule=sc.Sequential(admission="halving")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_gives_the_numpy_iterates(case):
    """fit_two_layer(device=...) (the torch backend) follows the NumPy run: same support, weights and residuals
    to 1e-10 relative in float64 (products differ only in summation order). HTP included: its
    step after a least-squares solve is ||w_S||^2 / ||A_S w_S||^2, no longer a ratio of round-off."""
    p = sc.planted_relu(1500, 8, 16, 24, rng=2)
    kw = {"solver": IHT8, "rng": 1, **CASES[case]}
    _, a = fit_two_layer(p.X, p.y, 16, 24, **kw)
    _, b = fit_two_layer(torch.as_tensor(p.X), p.y, 16, 24, device=DEVICE, **kw)
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    assert _rel(b.w.values, a.w.values) <= 1e-10
    assert _rel(b.residuals, a.residuals) <= 1e-10 or np.abs(b.residuals - a.residuals).max() <= 1e-12
    assert b.status == a.status and b.n_iter == a.n_iter


def test_a_cache_never_serves_the_torch_operators_data_view_the_masks_of_other_samples(rng):
    """A cache filled by the torch operator and passed to its with_data view (other samples) gives the
    view's own products (a data view has a source of its own)."""
    A = TorchReluPatternOperator(rng.standard_normal((40, 5)), 6, rng=1, device=DEVICE)
    B = A.with_data(rng.standard_normal((40, 5)))
    S = np.array([0, 7, 13, 27])
    cache = A.make_cache()
    A.restrict(S, cache=cache)
    np.testing.assert_array_equal(np.asarray(B.restrict(S, cache=cache).to_dense()),
                                  np.asarray(B.restrict(S).to_dense()))


def test_iht_on_a_torch_operator():
    """sc.iht takes a torch operator as it is; y is converted to the device once."""
    p = sc.planted_relu(800, 5, 6, 8, rng=0)
    H = p.A.generators()
    a = sc.iht(p.A, p.y, 8, solver=sc.IHT(method="htp", max_iter=30))
    b = sc.iht(TorchReluPatternOperator(p.X, H, device=DEVICE), p.y, 8, solver=sc.IHT(method="htp", max_iter=30))
    assert a.status == b.status == "residual"
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    assert _rel(b.w.values, a.w.values) <= 1e-10


def test_float32_on_torch_is_float32_accurate():
    """float32 data gives float32 products; the fit agrees with float64 to float32 accuracy (~1e-4)."""
    p = sc.planted_relu(1000, 6, 8, 12, rng=4)
    X32 = p.X.astype(np.float32)
    _, a = fit_two_layer(X32, p.y.astype(np.float32), 8, 12, solver=sc.IHT(max_iter=6, tol=0.0), rng=1, device=DEVICE)
    _, b = fit_two_layer(p.X, p.y, 8, 12, solver=sc.IHT(max_iter=6, tol=0.0), rng=1, device=DEVICE)
    assert a.w.values.dtype == np.float32
    assert np.abs(a.residuals - b.residuals).max() <= 1e-4


def test_bad_backend_and_device():
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve("jax")
    with pytest.raises(ValueError, match="needs backend='torch'"):
        resolve("numpy", "cuda")
    with pytest.raises(ValueError, match="not available"):
        resolve("torch", "cuda:7")
    with pytest.raises(ValueError, match="not available"):
        fit_two_layer(np.ones((5, 2)), np.ones(5), 2, 2, device="cuda:7")


def test_vector_output_and_deep_fits_on_torch():
    """The factored (vector-output) fit and the layer-by-layer deep fit follow NumPy on CPU torch."""
    from sparsecert.deep import fit_layerwise, fit_factored

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6))
    Y = np.maximum(X @ rng.standard_normal((6, 4)), 0) @ rng.standard_normal((4, 3))
    _, a = fit_factored(X, Y, 4, 20, solver=sc.IHT(max_iter=30), rng=1)
    _, b = fit_factored(X, Y, 4, 20, solver=sc.IHT(max_iter=30), rng=1, device=DEVICE)
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    assert _rel(b.w.values, a.w.values) <= 1e-10 and b.n_iter == a.n_iter
    labels = np.eye(3)[np.argmax(Y, axis=1)]  # softmax cross-entropy on one-hot labels
    _, a = fit_factored(X, labels, 4, 20, solver=sc.IHT(max_iter=30, loss="cross-entropy"), rng=1)
    _, b = fit_factored(X, labels, 4, 20, solver=sc.IHT(max_iter=30, loss="cross-entropy"), rng=1, device=DEVICE)
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    assert _rel(b.w.values, a.w.values) <= 1e-10 and np.allclose(a.residuals, b.residuals, rtol=1e-10)
    # (a deep instance whose second-layer features have no duplicated columns: on duplicates the
    # restricted CG is singular and its null-space drift is round-off, different on each backend;
    # so positive outputs: the mixed split starts both signs' units from the same generators)
    kw = dict(solver=sc.IHT(max_iter=5), rng=2, output_sign="positive")
    _, ra = fit_layerwise(X, Y[:, 0], [6, 5], 40, **kw)
    _, rb = fit_layerwise(X, Y[:, 0], [6, 5], 40, device=DEVICE, **kw)
    for x, z in zip(ra, rb):
        np.testing.assert_array_equal(x.w.indices, z.w.indices)
        assert _rel(z.w.values, x.w.values) <= 1e-10


@pytest.mark.slow
def test_gpu_check_script_runs_on_cpu(tmp_path):
    """benchmarks/gpu_check.py (the one script a session with a GPU runs) works, here on CPU at tiny sizes."""
    import json
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    out = subprocess.run([sys.executable, str(script), "--device", "cpu", "--small", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    row = report["instances"][0]
    assert row["iteration_s"] > 0 and row["gradient_pass_s"] > 0 and row["psnr_15"] > 20
    assert row["iteration_f32_s"] > 0
    assert len(report["fig1_cells"]) == report["fig1_cells_projection"]["cells_in_grid"] == 4  # (5|30, 5|30)
    assert len(report["fig2_cells"]) == report["fig2_cells_projection"]["cells_in_grid"] == 4


def test_torch_gaussian_operator_same_columns_and_iterates():
    """TorchGaussianOperator: the NumPy operator's columns, the contract, and HTP's iterates to 1e-10."""
    from sparsecert.operators import TorchGaussianOperator

    G, T = sc.GaussianOperator(150, 500, rng=7), TorchGaussianOperator(150, 500, rng=7, block=64, device=DEVICE)
    np.testing.assert_array_equal(T.to_dense(), G.to_dense())
    assert max(check_operator(T, rng=1).values()) <= 1e-12
    w = sc.SparseVector(np.array([1, 40, 77, 120, 300, 301, 450, 499]), np.random.default_rng(0).standard_normal(8), 500)
    y = G.matvec(w)
    a = sc.iht(G, y, 8, solver=sc.IHT(method="htp", max_iter=50))
    b = sc.iht(T, y, 8, solver=sc.IHT(method="htp", max_iter=50))
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    assert _rel(b.w.values, a.w.values) <= 1e-10 and a.status == b.status == "residual"
    small = TorchGaussianOperator(150, 500, rng=7, cache_bytes=0, device=DEVICE)  # columns regenerated per product
    R = small.restrict(np.array([3, 9, 400]))
    np.testing.assert_allclose(R.rmatvec(torch.ones(150, dtype=torch.float64, device=DEVICE)), G.columns(np.array([3, 9, 400])).sum(0))
