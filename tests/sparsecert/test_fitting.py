"""sparsecert.fit: one function, its options checked once as frozen objects, the same fits as the
functions it chooses between."""

import dataclasses

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.deep import fit_layerwise, fit_factored
from sparsecert.relu import fit_two_layer


@pytest.fixture(scope="module")
def planted():
    return sc.planted_relu(600, 6, 3, 8, rng=2)


def _same(a, b):
    (net_a, res_a), (net_b, res_b) = a, b
    for ra, rb in zip(res_a if isinstance(res_a, list) else [res_a], res_b if isinstance(res_b, list) else [res_b]):
        np.testing.assert_array_equal(ra.w.indices, rb.w.indices)
        np.testing.assert_array_equal(ra.w.values, rb.w.values)
        np.testing.assert_array_equal(ra.residuals, rb.residuals)
        assert ra.status == rb.status


@pytest.mark.parametrize("make, match", [
    (lambda: sc.IHT(method="lasso"), "method must be one of"),
    (lambda: sc.IHT(inner_iter=-1), "inner_iter must be in"),
    (lambda: sc.IHT(max_iter=0), "max_iter must be in"),
    (lambda: sc.IHT(tol=-1.0), "tol must be >= 0"),
    (lambda: sc.IHT(block=0), "block must be in"),
    (lambda: sc.IHT(loss="hinge"), "loss must be one of"),
    (lambda: sc.Sequential(period=0), "period must be in"),
    (lambda: sc.Sequential(admission="some"), "admission must be one of"),
    (lambda: sc.Sequential(idle="zero"), "idle must be one of"),
    (lambda: sc.Minibatch(0), "batch_size must be in"),
    (lambda: sc.Minibatch(10, epochs=0), "epochs must be in"),
    (lambda: sc.Restarts(tries=0), "tries must be in"),
    (lambda: sc.Restarts(slack=0.5), "slack must be >= 1"),
])
def test_options_are_checked_when_made(make, match):
    """A wrong option is named where it is written, before any data is read."""
    with pytest.raises(ValueError, match=match):
        make()


def test_options_are_frozen_and_compare_by_value():
    with pytest.raises(TypeError, match="unit_moves must be True or False"):
        sc.Sequential(unit_moves=1)
    opts = sc.IHT(max_iter=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.max_iter = 6
    assert sc.IHT(max_iter=5) == opts and sc.Minibatch(100, 2) == sc.Minibatch(100, epochs=2)
    pub = sc.Sequential.published()
    assert (pub.admission, pub.idle, pub.unit_moves, pub.merge_twins) == ("all", "random", False, False)


def test_scalar_fits_are_the_two_layer_fit(planted):
    """fit on a 1-d y is fit_two_layer with the same options, step for step: full batch with the
    default rule, the published rule, fixed given generators, and minibatch epochs."""
    X, y, H = planted.X, planted.y, planted.A.generators()
    _same(sc.fit(X, y, m=3, s=8, solver=sc.IHT(max_iter=20, inner_iter=5), rng=1),
          fit_two_layer(X, y, 3, 8, solver=sc.IHT(inner_iter=5, max_iter=20), rng=1))
    _same(sc.fit(X, y, m=3, s=8, solver=sc.IHT(max_iter=10), rule=sc.Sequential.published(), rng=1),
          fit_two_layer(X, y, 3, 8, solver=sc.IHT(max_iter=10), rule=sc.Sequential(admission="all", idle="random", unit_moves=False), rng=1))
    _same(sc.fit(X, y, m=3, s=8, solver=sc.IHT(method="htp"), rule=None, generators=H),
          fit_two_layer(X, y, 3, 8, solver=sc.IHT(method="htp"), rule=None, generators=H))
    _same(sc.fit(X, y, m=3, s=8, batches=sc.Minibatch(200, epochs=3), rng=4),
          fit_two_layer(X, y, 3, 8, batches=sc.Minibatch(200, 3), rng=4))


def test_deeper_and_vector_fits_are_the_functions_they_choose(planted):
    """layers > 1 is fit_layerwise (the budget split evenly); a 2-d y is the factored fit, full batch
    or in minibatch epochs, in squared error or cross-entropy."""
    X, y = planted.X, planted.y
    net, results = sc.fit(X, y, m=3, s=8, layers=2, solver=sc.IHT(max_iter=5), rng=0)
    assert isinstance(net, sc.ReLUNet) and len(net.Ws) == 3 and len(results) == 2
    _same((net, results), fit_layerwise(X, y, [3, 3], 8, solver=sc.IHT(max_iter=5), rng=0))
    Y = np.eye(3)[np.random.default_rng(0).integers(0, 3, X.shape[0])]
    _same(sc.fit(X, Y, m=4, s=20, solver=sc.IHT(max_iter=8, loss="cross-entropy"), rng=0),
          fit_factored(X, Y, 4, 20, solver=sc.IHT(max_iter=8, loss="cross-entropy"), rng=0))
    _same(sc.fit(X, Y, m=4, s=20, batches=sc.Minibatch(150, epochs=2), rng=0),
          fit_factored(X, Y, 4, 20, batches=sc.Minibatch(150, 2), rng=0))


def test_options_that_do_not_apply_are_refused(planted):
    X, y = planted.X, planted.y
    Y = np.c_[y, y]
    with pytest.raises(TypeError, match="solver must be a sparsecert.IHT, got dict"):
        sc.fit(X, y, m=3, s=8, solver={"max_iter": 3})
    with pytest.raises(TypeError, match="rule must be a sparsecert.Sequential"):
        sc.fit(X, y, m=3, s=8, rule="published")
    with pytest.raises(ValueError, match="scalar output is fitted in squared error"):
        sc.fit(X, y, m=3, s=8, solver=sc.IHT(loss="cross-entropy"))
    with pytest.raises(ValueError, match="one hidden layer"):
        sc.fit(X, Y, m=3, s=8, layers=2)
    with pytest.raises(ValueError, match="takes no rule"):
        sc.fit(X, Y, m=3, s=8, rule=sc.Sequential.published())
    with pytest.raises(ValueError, match="output_sign applies to a 1-d y"):
        sc.fit(X, Y, m=3, s=8, output_sign="mixed")
    with pytest.raises(ValueError, match="does not take IHT's method"):
        sc.fit(X, Y, m=3, s=8, solver=sc.IHT(method="htp"))
    with pytest.raises(ValueError, match="generators are the first layer's of a one-layer fit"):
        sc.fit(X, y, m=3, s=8, layers=2, generators=planted.A.generators())
    with pytest.raises(TypeError, match="restarts must be a sparsecert.Restarts"):
        sc.fit(X, y, m=3, s=8, restarts=4)
    with pytest.raises(ValueError, match="restarts apply to a 1-d y"):
        sc.fit(X, Y, m=3, s=8, restarts=sc.Restarts())
    for bad in (dict(layers=2), dict(batches=sc.Minibatch(100)), dict(generators=planted.A.generators())):
        with pytest.raises(ValueError, match="restarts apply to a one-layer full-batch fit"):
            sc.fit(X, y, m=3, s=8, restarts=sc.Restarts(), **bad)


def test_restarts_recover_planted_nets_the_plain_fit_misses():
    """Mixed-sign planted nets (n = 50 s) on which one sequential fit ends short of exact: with
    Restarts every one is recovered, outputs on fresh samples within 1e-6 relative, with at most s
    nonzeros, and ``result.residual`` is the returned network's own residual, recomputed here."""
    for seed in (1, 7):
        p = sc.planted_relu(1000, 10, 5, 20, rng=seed, output_sign="mixed")
        Xt = np.random.default_rng(seed).standard_normal((500, 10))
        yt = p.model.forward(Xt)
        net, res = sc.fit(p.X, p.y, m=5, s=20, rng=seed, output_sign="mixed", progress=False)
        assert np.linalg.norm(net.forward(Xt) - yt) > 1e-3 * np.linalg.norm(yt)
        net, res = sc.fit(p.X, p.y, m=5, s=20, rng=seed, output_sign="mixed", progress=False,
                          restarts=sc.Restarts())
        assert np.linalg.norm(net.forward(Xt) - yt) <= 1e-6 * np.linalg.norm(yt)
        assert net.fused_weights().nnz <= 20 and res.status == "residual" and 1 <= res.info["tries"] <= 16
        assert res.residual == pytest.approx(np.linalg.norm(p.y - net.forward(p.X)) / np.linalg.norm(p.y), abs=1e-15)
        np.testing.assert_array_equal(res.w.to_dense(), (net.U * net.v[:, None]).ravel())


@pytest.mark.torch
def test_a_device_runs_the_same_fit_on_torch(planted):
    """device="cpu" runs the products through the torch backend: the NumPy fit's iterates to 1e-10
    in float64."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    X, y = planted.X, planted.y
    (_, a), (_, b) = (sc.fit(X, y, m=3, s=8, solver=sc.IHT(max_iter=10), rng=1, device=dev) for dev in (None, "cpu"))
    np.testing.assert_array_equal(a.w.indices, b.w.indices)
    np.testing.assert_allclose(a.w.values, b.w.values, rtol=1e-10, atol=1e-10)


def test_the_names_of_0_4_warn_and_run_the_same_fits(planted):
    """recover_relu, recover_relu_vector and recover_mlp warn (naming sparsecert.fit) and return what the
    fits they became return with 0.4's keywords as configuration objects (recover_mlp's 30 iterations
    by default), bit for bit."""
    from sparsecert.deep import fit_factored, fit_layerwise, recover_mlp, recover_relu_vector
    from sparsecert.relu import fit_two_layer, recover_relu

    X, y = planted.X, planted.y
    Y = np.stack([y, -y], axis=1)
    cases = [(recover_relu, fit_two_layer, (X, y, 3, 8), {"max_iter": 5, "sequential": False, "rng": 0},
              {"solver": sc.IHT(max_iter=5), "rule": None, "rng": 0}),
             (recover_relu_vector, fit_factored, (X, Y, 3, 8), {"max_iter": 5, "batch_size": 200, "rng": 0},
              {"batches": sc.Minibatch(200, 5), "rng": 0}),
             (recover_mlp, fit_layerwise, (X, y, [3, 3], 8), {"admission": "all", "rng": 0},
              {"solver": sc.IHT(max_iter=30), "rule": sc.Sequential(admission="all"), "rng": 0})]
    for old, new, args, old_kw, new_kw in cases:
        with pytest.warns(FutureWarning, match=rf"{old.__name__} is deprecated.*use sparsecert\.fit\("):
            net_old, _ = old(*args, **old_kw)
        net_new, _ = new(*args, **new_kw)
        assert all(np.array_equal(a, b) for a, b in zip(net_old.Ws, net_new.Ws))
