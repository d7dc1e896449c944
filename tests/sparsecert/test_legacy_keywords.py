"""0.4's keywords, folded into the configuration objects that replace them (issue "One way to fit a
sparse network"): each still gives the run the new call gives, bit for bit, with one FutureWarning
naming the new call; a keyword no configuration has is a TypeError, as Python's own; a configuration
field the function cannot honour is refused, not ignored."""

import numpy as np
import pytest

import sparsecert as sc
from sparsecert import linear_theory as lt
from sparsecert.nn import ReLUNet, Training, train
from sparsecert.planted import planted_vector
from sparsecert.plot import Panel, grid_heatmap
from sparsecert.prune.dynamic import Regrowth, sparse_train


@pytest.fixture
def labelled():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    return X, (X[:, 0] > X[:, 1]).astype(int), ReLUNet.init([5, 7, 2], rng)


def _weights(net):
    return [w.copy() for w in net.Ws + net.bs]


def test_train_takes_its_options_as_one_training(labelled):
    X, y, net0 = labelled
    a, b = net0.copy(), net0.copy()
    train(a, X, y, training=Training(lr=1e-2, epochs=3, batch_size=16, loss="ce"), rng=1)
    with pytest.warns(FutureWarning, match=r"train\(lr=..., epochs=..., batch_size=..., loss=...\).*training="):
        train(b, X, y, lr=1e-2, epochs=3, batch_size=16, loss="ce", rng=1)
    assert all(np.array_equal(u, v) for u, v in zip(_weights(a), _weights(b)))
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rate'"):
        train(net0.copy(), X, y, learning_rate=0.1)
    with pytest.raises(ValueError, match="does not take Training's iterations"):  # the torch loop's, not ignored
        train(net0.copy(), X, y, training=Training(iterations=5))


@pytest.mark.parametrize("bad, message", [(dict(lr=0.0), "lr must be"), (dict(optimizer="rmsprop"), "optimizer must be"),
                                          (dict(batch_size=0), "batch_size must be"), (dict(loss="hinge"), "loss must be"),
                                          (dict(augment=3), "augment must be callable")])
def test_a_training_is_checked_when_made(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Training(**bad)
    assert Training(optimizer="gd", loss="ce") == Training(optimizer="sgd", momentum=0.0, loss="cross-entropy")


def test_iht_takes_its_options_as_one_IHT():
    p = sc.planted_gaussian(80, 240, 6, rng=2)
    new = sc.iht(p.A, p.y, 6, solver=sc.IHT("htp", max_iter=500, tol=1e-12), splice=1)
    with pytest.warns(FutureWarning, match=r"sparsecert.iht\(method=..., tol=...\)"):
        old = sc.iht(p.A, p.y, 6, method="htp", tol=1e-12, splice=1)  # on iht's default: 500 iterations
    assert np.array_equal(new.w.to_dense(), old.w.to_dense()) and new.n_iter == old.n_iter
    with pytest.raises(ValueError, match="does not take IHT's block"):
        sc.iht(p.A, p.y, 6, solver=sc.IHT(block=8))
    with pytest.raises(ValueError, match="step must be"):
        sc.IHT(step=-1.0)


def test_sparse_train_takes_a_regrowth_and_a_training(labelled):
    X, y, net0 = labelled
    a, b = net0.copy(), net0.copy()
    ra = sparse_train(a, X, y, regrowth=Regrowth("set", density=0.5, update_every=2),
                      training=Training(epochs=4, batch_size=20, loss="ce"), rng=3)
    with pytest.warns(FutureWarning, match="regrowth=sparsecert.Regrowth"):
        rb = sparse_train(b, X, y, method="set", density=0.5, update_every=2, epochs=4, batch_size=20, loss="ce", rng=3)
    assert all(np.array_equal(u, v) for u, v in zip(_weights(a) + ra["masks"], _weights(b) + rb["masks"]))


def test_imp_path_rewinds_to_a_time_given_as_a_float():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 8))
    y = X @ rng.standard_normal(8)
    new = lt.imp_path(X, y, 3, rate=0.3, rewind=0.5, w0=np.ones(8))
    with pytest.warns(FutureWarning, match=r"rewind=t"):
        old = lt.imp_path(X, y, 3, rate=0.3, rewind="iterate", rewind_time=0.5, w0=np.ones(8))
    assert all(np.array_equal(u, v) for u, v in zip(new.weights, old.weights))
    at_zero, init = (lt.imp_path(X, y, 3, rate=0.3, rewind=r, w0=np.ones(8)) for r in (0.0, "init"))  # w(0) = w0
    assert all(np.allclose(u, v, rtol=0, atol=1e-12) for u, v in zip(at_zero.weights, init.weights))
    with pytest.raises(ValueError, match="rewind must be"):
        lt.imp_path(X, y, 3, rate=0.3, rewind=-1.0)


def test_planted_vector_takes_its_schedule_as_a_minibatch():
    new = planted_vector(4, 10, 0, n=300, d=6, k=2, batches=sc.Minibatch(100, 2), minibatch=True)
    with pytest.warns(FutureWarning, match="batches=sparsecert.Minibatch"):
        old = planted_vector(4, 10, 0, n=300, d=6, k=2, epochs=2, batch_size=100, minibatch=True)
    assert {k: v for k, v in new.items() if k != "time"} == {k: v for k, v in old.items() if k != "time"}


def test_grid_heatmap_takes_its_panels():
    pytest.importorskip("matplotlib")
    rows = [{"m": m, "s": s, "psnr": 10.0 * m + s, "acc": 0.1 * s} for m in (1, 2) for s in (1, 3)]
    new = grid_heatmap(rows, [Panel("psnr", "IHT"), Panel("acc", "acc", 0, 1, "{:.2f}", "accuracy")])
    with pytest.warns(FutureWarning, match="Panel"):
        old = grid_heatmap(rows, ["psnr", "acc"], title=["IHT", "acc"], vmin=[-20, 0], vmax=[50, 1],
                           fmt=["{:.0f}", "{:.2f}"], label=[None, "accuracy"])

    def drawn(fig):
        return [(ax.get_title(), [t.get_text() for t in ax.texts], [im.get_array().tolist() for im in ax.images],
                 [im.get_clim() for im in ax.images]) for ax in fig.axes]

    assert drawn(new) == drawn(old) and drawn(new)[1][1] == ["0.10", "0.30", "0.10", "0.30"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        grid_heatmap(rows, "psnr", colour="red")
    with pytest.raises(KeyError, match="ssim"):
        grid_heatmap(rows, Panel("ssim"))
    with pytest.raises(ValueError, match="vmin must be below vmax"):
        Panel("psnr", vmin=50, vmax=-20)


def test_the_relu_estimators_take_the_configuration_objects():
    from sparsecert.estimators import SparseReLUClassifier, SparseReLURegressor

    p = sc.planted_relu(n=400, d=6, m=3, s=8, rng=5)
    new = SparseReLURegressor(m=3, s=8, solver=sc.IHT("niht", max_iter=30), rule=None,
                              batches=sc.Minibatch(100, 30), random_state=0).fit(p.X, p.y)
    with pytest.warns(FutureWarning, match="solver=sparsecert.IHT"):
        old = SparseReLURegressor(m=3, s=8, method="niht", max_iter=30, sequential=False, batch_size=100,
                                  random_state=0).fit(p.X, p.y)
    assert np.array_equal(new.predict(p.X), old.predict(p.X)) and new.n_iter_ == old.n_iter_
    X, y = p.X, (p.y > np.median(p.y)).astype(int)
    clf = SparseReLUClassifier(m=4, s=30, solver=sc.IHT(max_iter=40), random_state=0).fit(X, y)
    with pytest.warns(FutureWarning, match="solver=sparsecert.IHT"):
        legacy = SparseReLUClassifier(m=4, s=30, max_iter=40, random_state=0).fit(X, y)
    assert np.array_equal(clf.predict_proba(X), legacy.predict_proba(X))
    with pytest.raises(ValueError, match="loss="):
        SparseReLUClassifier(solver=sc.IHT(loss="cross-entropy")).fit(X, y)


REFUSED = [  # (a call, the fields named): a field set away from its default that the call cannot honour
    (lambda X, y, Y: sc.iht(X, y, 3, solver=sc.IHT(block=8, loss="cross-entropy")), "IHT's block, loss"),
    (lambda X, y, Y: sc.fit(X, Y, m=3, s=6, solver=sc.IHT(method="niht", inner_iter=7)), "IHT's method, inner_iter"),
    (lambda X, y, Y: _classifier()(3, 6, solver=sc.IHT(loss="cross-entropy")).fit(X, y > 0), "IHT's loss"),
    (lambda X, y, Y: train(ReLUNet.init([4, 3, 1], 0), X, y, training=Training(weight_decay=1e-3, augment=abs)),
     "Training's weight_decay, augment"),
]


def _classifier():
    pytest.importorskip("sklearn")
    from sparsecert.estimators import SparseReLUClassifier

    return SparseReLUClassifier


@pytest.mark.parametrize("call, named", REFUSED)
def test_a_field_a_call_cannot_honour_is_refused_by_name_and_nothing_runs(call, named):
    """Each refusal names every offending field of the object (not only the first), and says to leave
    it at the default: the same sentence from every function (validation.refuse_fields)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = X[:, 0] - X[:, 1]
    with pytest.raises(ValueError, match=f"does not take {named}.*leave (it|them) at the default"):
        call(X, y, np.eye(3)[rng.integers(0, 3, 30)])
