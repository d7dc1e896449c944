"""Bad input raises a ValueError/TypeError that names the argument."""

import numpy as np
import pytest

import sparsecert as sc


def test_planted_gaussian_rejects_bad_sizes():
    with pytest.raises(ValueError, match="s must be in \\[1, 50\\]"):
        sc.planted_gaussian(20, 50, 0)
    with pytest.raises(ValueError, match="s must be in \\[1, 50\\]"):
        sc.planted_gaussian(20, 50, 51)
    with pytest.raises(ValueError, match="n must be in"):
        sc.planted_gaussian(0, 50, 3)
    with pytest.raises(TypeError, match="N must be an integer"):
        sc.planted_gaussian(20, 50.5, 3)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        sc.planted_gaussian(20, 50, 3, noise=-1.0)


def test_planted_relu_rejects_unknown_option():
    with pytest.raises(ValueError, match="output_sign must be one of"):
        sc.planted_relu(10, 3, 2, 2, output_sign="negative")
    with pytest.raises(ValueError, match="s must be in \\[1, 6\\]"):
        sc.planted_relu(10, 3, 2, 7)


def test_iht_rejects_bad_arguments():
    p = sc.planted_gaussian(30, 60, 3, rng=0)
    with pytest.raises(ValueError, match="method must be one of"):
        sc.iht(p.A, p.y, 3, solver=sc.IHT(method="omp", max_iter=500))
    with pytest.raises(ValueError, match="s must be in \\[1, 60\\]"):
        sc.iht(p.A, p.y, 61)
    with pytest.raises(ValueError, match="s must be in"):
        sc.iht(p.A, p.y, 0)
    with pytest.raises(ValueError, match="y must have shape \\(30,\\)"):
        sc.iht(p.A, p.y[:-1], 3)
    y = p.y.copy()
    y[4] = np.nan
    with pytest.raises(ValueError, match="y must be finite"):
        sc.iht(p.A, y, 3)
    with pytest.raises(ValueError, match="step must be > 0"):
        sc.iht(p.A, p.y, 3, solver=sc.IHT(method="iht", max_iter=500, step=0.0))
    with pytest.raises(TypeError, match="A must be a SparseSensingOperator"):
        sc.iht("matrix", p.y, 3)


def test_operators_reject_bad_input(rng):
    X = rng.standard_normal((10, 3))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match="X must be finite"):
        sc.ReluPatternOperator(X, 4)
    with pytest.raises(ValueError, match="generators must have shape \\(\\*, 3\\)"):
        sc.ReluPatternOperator(rng.standard_normal((10, 3)), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="generators \\(m\\) must be in"):
        sc.ReluPatternOperator(rng.standard_normal((10, 3)), 0)
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        sc.GaussianOperator(5, 5, dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be"):
        sc.GaussianOperator(5, 5, rng="seed")
    A = sc.GaussianOperator(5, 8, rng=0)
    with pytest.raises(ValueError, match="strictly increasing column indices within \\[0, 8\\)"):
        A.columns([3, 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        A.columns([0, 8])


def test_models_reject_shape_mismatch(rng):
    with pytest.raises(ValueError, match="v must have shape \\(3,\\)"):
        sc.ReLUNet.two_layer(rng.standard_normal((3, 2)), np.ones(2))
    net = sc.ReLUNet.two_layer(rng.standard_normal((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="X must have shape \\(\\*, 2\\)"):
        net.forward(rng.standard_normal((4, 3)))
    with pytest.raises(ValueError, match="w has length 5, expected m\\*d = 6"):
        sc.ReLUNet.from_fused(sc.SparseVector.zeros(5), 3, 2)


def test_finiteness_check_without_a_full_temporary():
    """check_array finds a NaN or inf anywhere, also when the entries' sum overflows from finite
    values (the cheap sum test is then inconclusive and blocks are checked), and accepts finite
    arrays whose sum overflows."""
    from sparsecert.validation import check_array

    big = np.full(300_000, 1e308)
    assert check_array(big, "a") is not None  # sum overflows, every entry finite
    for bad in (np.nan, np.inf, -np.inf):
        a = big.copy()
        a[250_001] = bad
        with pytest.raises(ValueError, match="1 non-finite"):
            check_array(a, "a")
        b = np.zeros((300, 400))
        b[299, 399] = bad
        with pytest.raises(ValueError, match="must be finite"):
            check_array(b, "b")
