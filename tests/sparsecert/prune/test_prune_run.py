"""The pruning vocabulary end to end: prune_numpy's plans, BINGO, NEq, SET/RigL."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecert.imp import imp
from sparsecert.nn import ReLUNet, Training, as_targets, loss_and_grad, train
from sparsecert.neq import neq_train, unit_similarity
from sparsecert.prune.bingo import bingo_train
from sparsecert.prune.dynamic import Regrowth, layer_densities, sparse_train
from sparsecert.prune import Plan
from sparsecert.prune.run import prune_numpy


def data(seed=0, n=60, d=6, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)
    return X, y, ReLUNet.init([d, 10, 8, k], rng)


def kept(masks):
    return sum(int(m.sum()) for m in masks)


@pytest.mark.parametrize("when,score,schedule", [("init", "synflow", "one-shot"), ("after", "bingo", "one-shot")])
def test_score_names_are_case_insensitive_all_the_way(when, score, schedule):
    """"SynFlow" takes SynFlow's iterative path and "BINGO" trains BINGO's significance, exactly as
    the lower-case names do (the name check was case-insensitive but the branches were not:
    "BINGO" raised KeyError, "SynFlow" silently took the one-shot path; issue 18, defect 11)."""
    X, y, net0 = data()
    runs = [prune_numpy(net0, X, y, Plan(when=when, score=name, schedule=schedule, target=40),
                        epochs=2, lr=1e-2, loss="ce", rng=1, bingo={"subset_fraction": 0.1, "n_probes": 2})
            for name in (score, score.upper())]
    for a, b in zip(runs[0].masks[-1], runs[1].masks[-1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("when,score,schedule", [
    ("init", "snip", "one-shot"), ("init", "grasp", "one-shot"), ("init", "synflow", "one-shot"),
    ("init", "random", "one-shot"), ("init", "snip", "iterative"), ("after", "magnitude", "one-shot"),
    ("after", "magnitude", "iterative"), ("after", "bingo", "one-shot"), ("during", "magnitude", "gradual")])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_every_configuration_reaches_the_target_and_respects_its_masks(when, score, schedule, scope):
    """Each (when, score, schedule, scope) ends with exactly `target` weights, masks nested
    round to round, and the trained nets zero outside their masks."""
    X, y, net0 = data()
    target = 40
    res = prune_numpy(net0, X, y, Plan(when=when, score=score, schedule=schedule, scope=scope, target=target, rate=0.4),
                      epochs=4, lr=1e-2, loss="ce", rng=1, bingo={"subset_fraction": 0.1, "n_probes": 2})
    assert res.metrics[-1]["kept"] == kept(res.masks[-1]) == target
    for a, b in zip(res.masks, res.masks[1:]):
        assert all(np.all(mb <= ma) for ma, mb in zip(a, b))
    for net, masks in zip(res.nets, res.masks):
        assert all(np.all(W[~m] == 0) for W, m in zip(net.Ws, masks))
    assert all(m.any() for m in res.masks[-1])


@pytest.mark.parametrize("after", ["rewind", "finetune", "reinit", "scratch"])
def test_after_sets_the_start_of_each_round(after):
    """With no training (epochs=0) each round's net is its start, masked: rewind/scratch ->
    the initialisation; finetune -> the previous round's net; reinit -> a fresh draw."""
    X, y, net0 = data()
    res = prune_numpy(net0, X, y, Plan(score="magnitude", schedule="iterative", rounds=2, after=after), epochs=0, rng=3)
    for r in (1, 2):
        ref = res.nets[r - 1] if after == "finetune" else net0
        same = all(np.array_equal(W, R * m) for W, R, m in zip(res.nets[r].Ws, ref.Ws, res.masks[r]))
        assert same == (after != "reinit")


def test_one_shot_magnitude_after_training_keeps_the_largest_trained_weights():
    """Global one-shot magnitude pruning keeps exactly the `target` largest |w| of the dense trained net."""
    X, y, net0 = data(2)
    res = prune_numpy(net0, X, y, Plan(score="magnitude", schedule="one-shot", scope="global", target=25),
                      epochs=3, lr=1e-2, loss="ce", rng=0)
    w = np.concatenate([np.abs(W).ravel() for W in res.nets[0].Ws])
    m = np.concatenate([mk.ravel() for mk in res.masks[-1]])
    assert m.sum() == 25 and w[m].min() >= w[~m].max()


def test_prunable_layers_stay_dense():
    X, y, net0 = data()
    res = prune_numpy(net0, X, y, Plan(score="magnitude", schedule="one-shot", target=60),
                      prunable=[True, True, False], epochs=1, loss="ce", rng=0)
    assert res.masks[-1][2].all() and kept(res.masks[-1]) == 60


def test_bad_configurations_raise_clear_errors():
    X, y, net0 = data()
    with pytest.raises(ValueError, match="rate must be in \\(0, 1\\)"):
        prune_numpy(net0, X, y, Plan(rate=1.0, rounds=1))
    with pytest.raises(ValueError, match="score must be one of"):
        prune_numpy(net0, X, y, Plan(score="taylor", rounds=1))
    with pytest.raises(ValueError, match="no prunable layer"):
        prune_numpy(net0, X, y, Plan(rounds=1), prunable=[False, False, False])
    with pytest.raises(ValueError, match="when must be one of"):
        prune_numpy(net0, X, y, Plan(when="before", rounds=1))
    with pytest.raises(ValueError, match="use schedule='gradual'"):
        prune_numpy(net0, X, y, Plan(when="during", schedule="one-shot", target=10))
    with pytest.raises(ValueError, match="needs target="):
        prune_numpy(net0, X, y, Plan(schedule="one-shot"))
    with pytest.raises(ValueError, match="target must be"):
        prune_numpy(net0, X, y, Plan(schedule="one-shot", target=10**6))
    with pytest.raises(ValueError, match="cannot reach the target"):
        prune_numpy(net0, X, y, Plan(when="init", score="snip", target=2),
                    epochs=1, loss="ce")  # 3 layers keep >= 1 each


def test_bad_data_for_prune_numpy_is_named_before_any_work():
    """Issue 18, defect 8: X of the wrong width, empty X, y of another length, epochs=0 where pruning
    happens between epochs, and configurations that cannot run are named errors (before: a matmul
    error, 'range() arg 3 must not be zero', a silent extra epoch, TypeError, KeyError); X as a
    nested list is converted once. (epochs=0 after training is legitimate: rounds start untrained.)"""
    X, y, net0 = data()
    with pytest.raises(ValueError, match=f"X must have shape \\(\\*, {X.shape[1]}\\)"):
        prune_numpy(net0, X[:, :-1], y, Plan(rounds=1))
    with pytest.raises(ValueError, match="at least one sample"):
        prune_numpy(net0, X[:0], y[:0], Plan(rounds=1))
    with pytest.raises(ValueError, match="one row per sample"):
        prune_numpy(net0, X, y[:-1], Plan(rounds=1))
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        prune_numpy(net0, X, y, Plan(when="during", schedule="gradual", target=50), epochs=0)
    with pytest.raises(ValueError, match="give target="):  # before: TypeError comparing an int with None
        prune_numpy(net0, X, y, Plan(when="init", schedule="iterative", rounds=2))
    for when, schedule in (("init", "one-shot"), ("during", "gradual")):  # before: KeyError 'bingo'
        with pytest.raises(ValueError, match="score='bingo' ranks weights by probes"):
            prune_numpy(net0, X, y, Plan(when=when, schedule=schedule, score="BINGO", target=50))
    a = prune_numpy(net0, X.tolist(), y, Plan(rounds=1), rng=0, progress=False)
    b = prune_numpy(net0, X, y, Plan(rounds=1), rng=0, progress=False)
    np.testing.assert_array_equal(a.masks[-1][0], b.masks[-1][0])


def test_imp_is_the_iterative_magnitude_configuration():
    """imp (deprecated for prune with Plan.imp: it says so) runs the iterative magnitude configuration."""
    X, y, net0 = data(4)
    with pytest.warns(FutureWarning, match=r"sparsecert.prune.prune\(net0, X, y, sparsecert.prune.Plan.imp"):
        a = imp(net0, X, y, rounds=2, rate=0.3, epochs=2, loss="ce", rng=5)
    b = prune_numpy(net0, X, y, Plan(schedule="iterative", after="rewind", rounds=2, rate=0.3), epochs=2, loss="ce",
                    rng=5)
    for ma, mb in zip(a.masks, b.masks):
        assert all(np.array_equal(x, z) for x, z in zip(ma, mb))


# ---------------------------------------------------------------------------- BINGO
def test_bingo_probing_does_not_change_training():
    """Probes reset a subset and restore it exactly: with full-batch training (no shuffling) the
    trained weights equal plain training's bit for bit."""
    X, y, net0 = data(5)
    a, b = net0.copy(), net0.copy()
    training = Training(epochs=5, lr=1e-2, loss="ce")
    train(a, X, y, training=training, rng=0)
    out = bingo_train(b, X, y, training=training, rng=0, subset_fraction=0.2, n_probes=3)
    assert all(np.array_equal(p, q) for p, q in zip(a.Ws, b.Ws))
    assert 0 < out["probe_seconds"] < out["seconds"]


def test_bingo_single_weight_probes_measure_the_reset_effect():
    """With one-weight subsets and a single probing step (the last, on the trained net), a probed
    weight's significance is exactly loss(w_i reset to init) - loss(trained); weights on an input
    that is always 0 never change the loss and score exactly 0."""
    X, y, net0 = data(6)
    X[:, 2] = 0.0
    net = net0.copy()
    E = 6
    out = bingo_train(net, X, y, training=Training(epochs=E, lr=1e-2, loss="ce"), probe_every=E, rng=0,
                      subset_fraction=1 / net.n_weights, n_probes=40)
    sig = out["significance"]
    assert np.all(sig[0][:, 2] == 0.0)
    Y = as_targets(y, "ce")
    base = loss_and_grad(net, X, Y, "ce")[0]
    checked = 0
    for l, S in enumerate(sig):
        for i, j in zip(*np.nonzero(S)):
            probe = net.copy()
            probe.Ws[l][i, j] = net0.Ws[l][i, j]
            assert S[i, j] == pytest.approx(loss_and_grad(probe, X, Y, "ce")[0] - base, rel=1e-9, abs=1e-15)
            checked += 1
    assert checked > 10


# ------------------------------------------------------------------------------ NEq
@settings(max_examples=8)
@given(seed=st.integers(0, 1000), mu=st.sampled_from([0.0, 0.5, 0.9]), eps=st.sampled_from([1e-4, 1e-3, 1e-2]))
def test_neq_freezes_exactly_the_units_whose_velocity_is_below_eps(seed, mu, eps):
    """NEq (Bragagnolo et al.): v_k(t) = -(phi_k(t) - phi_k(t-1)) + mu_eq v_k(t-1); unit k is frozen in
    epoch t+1 iff |v_k(t)| < eps, so no unit whose similarity still moves by eps or more is frozen;
    a frozen unit's incoming weights and bias do not change during that epoch."""
    X, y, net0 = data(seed)
    net = net0.copy()
    E = 8
    out = neq_train(net, X, y, X[:20], training=Training(epochs=E, lr=1e-2, loss="ce"), mu_eq=mu, eps=eps, rng=0,
                    record=range(E + 1))
    phi, vel, frozen = out["phi"], out["velocity"], out["frozen"]
    v = [np.zeros_like(p) for p in phi[0]]
    for t in range(1, len(phi)):
        v = [-(p - q) + mu * w for p, q, w in zip(phi[t], phi[t - 1], v)]
        for l, vl in enumerate(v):
            np.testing.assert_allclose(vel[t - 1][l], vl, atol=1e-15)
            # phi[t] compares epochs t+1 and t; v from it sets the units frozen in epoch t+2 (= frozen[t+1])
            if t + 1 < len(frozen):
                np.testing.assert_array_equal(frozen[t + 1][l], np.abs(vl) < eps)
    its = out["iterates"]
    for e, fr in enumerate(frozen):  # epoch e+1 runs from step e to e+1 (full batch)
        for l, f in enumerate(fr):
            np.testing.assert_array_equal(its[e + 1].Ws[l][f], its[e].Ws[l][f])
            np.testing.assert_array_equal(its[e + 1].bs[l][f], its[e].bs[l][f])
    rows = sum(int(f.sum()) * net.Ws[l].shape[1] for fr in frozen for l, f in enumerate(fr))
    assert out["saved_fraction"] == pytest.approx(rows / (E * net.n_weights))


def test_neq_skips_the_weight_gradients_of_frozen_units():
    """The gradient rows of frozen units are not computed (zero), the others equal the full gradient."""
    X, y, net = data(7)
    Y = as_targets(y, "ce")
    frozen = [np.array([True, False] * 5), np.zeros(8, bool), np.zeros(3, bool)]
    _, g_full, _ = loss_and_grad(net, X, Y, "ce")
    _, g_fz, _ = loss_and_grad(net, X, Y, "ce", frozen)
    assert np.all(g_fz[0][frozen[0]] == 0)
    np.testing.assert_allclose(g_fz[0][~frozen[0]], g_full[0][~frozen[0]], rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(g_fz[1], g_full[1])


def test_unit_similarity_conventions():
    A = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 1.0]])
    B = np.array([[2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    np.testing.assert_allclose(unit_similarity(A, B), [1.0, 1.0, 0.0])


# ----------------------------------------------------------------------- SET / RigL
@given(shapes=st.lists(st.tuples(st.integers(1, 50), st.integers(1, 50)), min_size=1, max_size=4),
       density=st.floats(0.01, 1.0))
def test_erdos_renyi_densities_average_to_the_target(shapes, density):
    """sum_l p_l |W_l| = density * sum_l |W_l|, every p_l in (0, 1], and p_l proportional to
    (m_l + m_{l+1}) / (m_l m_{l+1}) among the layers that are not dense."""
    p = layer_densities(shapes, density)
    sizes = np.array([a * b for a, b in shapes], float)
    assert p @ sizes == pytest.approx(density * sizes.sum(), rel=1e-9)
    assert np.all((p > 0) & (p <= 1 + 1e-12))
    raw = np.array([(a + b) / (a * b) for a, b in shapes])
    free = p < 1 - 1e-12
    if free.sum() > 1:
        ratio = p[free] / raw[free]
        assert np.allclose(ratio, ratio[0])


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_prune_and_regrow_keeps_the_density_and_turns_weights_over(method):
    """Masks keep their per-layer counts (ER densities) through every drop-and-grow; weights
    outside the final masks are 0."""
    X, y, net = data(8)
    out = sparse_train(net, X, y, regrowth=Regrowth(method, density=0.3, update_every=2, alpha=0.3),
                       training=Training(epochs=12, batch_size=20, loss="ce", lr=1e-2), rng=0)
    sizes = [int(m.sum()) for m in out["masks"]]
    expect = [max(1, int(round(p * W.size))) for p, W in zip(layer_densities([W.shape for W in net.Ws], 0.3), net.Ws)]
    assert sizes == expect
    assert out["updates"] > 0 and out["turnover"] > 0
    assert all(np.all(W[~m] == 0) for W, m in zip(net.Ws, out["masks"]))


def test_rigl_grows_the_largest_gradients():
    """One RigL update at step 1 (alpha=0.5, constant): the grown weights are the inactive ones with the
    largest |dL/dW| at the trained point, and the dropped ones the smallest |w| among the active."""
    X, _, net = data(9)
    net = ReLUNet([net.Ws[0]], [net.bs[0]])  # one linear layer 6 -> 10, MSE targets
    Y = np.random.default_rng(0).standard_normal((X.shape[0], 10))
    before = {}

    def fake_train(net_, X_, y_, training, masks, rng, callback):
        before["masks"] = [m.copy() for m in masks]
        before["W"] = net_.Ws[0].copy()
        g = loss_and_grad(net_, X_, as_targets(y_, "mse"), "mse")[1][0]
        before["g"] = g
        new = callback(1, net_, np.arange(X_.shape[0]))
        return {"losses": np.zeros(0), "steps": 1, "iterates": {}, "masks": new}

    import sparsecert.prune.dynamic as dyn

    real = dyn.train
    dyn.train = fake_train
    try:
        out = sparse_train(net, X, Y, regrowth=Regrowth("rigl", density=0.5, distribution="uniform", update_every=1,
                                                        alpha=0.5, decay="constant", t_end=10), rng=0)
    finally:
        dyn.train = real
    m0, m1 = before["masks"][0].ravel(), out["masks"][0].ravel()
    k = int(0.5 * m0.sum())
    w, g = np.abs(before["W"].ravel()), np.abs(before["g"].ravel())
    dropped, grown = np.flatnonzero(m0 & ~m1), np.flatnonzero(~m0 & m1)
    assert dropped.size == grown.size == k
    assert w[dropped].max() <= w[np.flatnonzero(m0 & m1)].min()
    assert g[grown].min() >= g[np.flatnonzero(~m0 & ~m1)].max()
    assert m1.sum() == m0.sum()


def test_sparse_train_bad_input():
    X, y, net = data()
    with pytest.raises(ValueError, match="method must be one of"):
        Regrowth(method="snfs")
    with pytest.raises(ValueError, match="density must be"):
        Regrowth(density=0.0)


def test_one_loss_vocabulary_on_numpy_and_torch():
    """"cross-entropy" (the torch side's name) trains the NumPy net exactly as its old name "ce"
    does, and the torch side takes "ce" too; an unknown name is refused on both."""
    X, y, net0 = data(4)
    a = prune_numpy(net0, X, y, Plan(rounds=1), epochs=2, lr=1e-2, loss="ce", rng=3)
    b = prune_numpy(net0, X, y, Plan(rounds=1), epochs=2, lr=1e-2, loss="cross-entropy", rng=3)
    for u, v in zip(a.nets[-1].Ws, b.nets[-1].Ws):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="loss must be one of"):
        Training(loss="hinge")
    pytest.importorskip("torch")
    from sparsecert.torch_bridge import fit, mlp

    hist = [fit(mlp([6, 8, 3], rng=0), X.astype(np.float32), y, training=Training(iterations=5, loss=name, batch_size=60),
                rng=0)["train_loss"] for name in ("ce", "cross-entropy")]
    assert hist[0] == hist[1]
