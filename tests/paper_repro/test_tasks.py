"""The IHT paper's real-data tasks: classification subsets, INR features, IHT and the IMP baseline."""

import numpy as np
import pytest

from paper_repro.recovery import tasks
from sparsecert import data
import sparsecert as sc
from sparsecert.relu import fit_two_layer, psnr


def test_fourier_features_are_a_shift_invariant_kernel():
    """<gamma(x), gamma(x')> = sum_i cos(2 pi b_i . (x - x')): sin a sin b + cos a cos b = cos(a - b)."""
    rng = np.random.default_rng(0)
    B = rng.standard_normal((40, 2)) * 2
    x = rng.integers(0, 28, size=(30, 2)).astype(float)
    G = tasks.fourier_features(x, B)
    assert G.shape == (30, 80)
    K = np.cos(2 * np.pi * (x[:, None, :] - x[None, :, :]) @ B.T).sum(-1)
    np.testing.assert_allclose(G @ G.T, K, atol=1e-9)
    np.testing.assert_allclose(np.diag(G @ G.T), 40.0)
    with pytest.raises(ValueError, match="B must have shape"):
        tasks.fourier_features(x, B[:, :1])


def test_inr_task_pixels_and_features():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    t = tasks.inr_task(img, d=8, sigma=2.0, rng=1)
    assert t.kind == "regression" and t.X.shape == (12, 8) and t.B.shape == (4, 2)
    np.testing.assert_allclose(t.y, img.ravel() / 255.0)
    r, c = 2, 1  # pixel (2, 1) is row 2 * 4 + 1
    np.testing.assert_allclose(t.X[2 * 4 + 1], tasks.fourier_features(np.array([[r, c]], float), t.B)[0])
    # colour: channel-major, the channel index a third coordinate with its own small frequencies
    rgb = np.random.default_rng(0).random((2, 3, 3))
    tc = tasks.inr_task(rgb, d=10, sigma=5.0, channel_sigma=0.05, rng=2)
    assert tc.X.shape == (18, 10) and tc.B.shape == (5, 3)
    np.testing.assert_allclose(tc.y, rgb.transpose(2, 0, 1).ravel())
    i = 2 * 6 + 1 * 3 + 2  # channel 2, row 1, column 2
    np.testing.assert_allclose(tc.X[i], tasks.fourier_features(np.array([[1.0, 2.0, 2.0]]), tc.B)[0])
    assert np.std(tc.B[:, 2]) < 0.2 < np.std(tc.B[:, 0])
    np.testing.assert_array_equal(tasks.inr_task(img, d=8, rng=1).B, t.B)  # same seed, same frequencies


@pytest.mark.parametrize("kwargs, match", [({"d": 7}, "d must be even"), ({"sigma": 0.0}, "sigma"),
                                           ({"image": np.zeros((2, 2, 2, 2))}, "image must have shape"),
                                           ({"image": np.full((2, 2), 1.5)}, r"values in \[0, 1\]")])
def test_inr_task_rejects_bad_input(kwargs, match):
    args = {"image": np.zeros((4, 4), np.uint8), **kwargs}
    with pytest.raises(ValueError, match=match):
        tasks.inr_task(args.pop("image"), **args)


def test_sample_image_block_average():
    """Reduction by block means: the result's mean equals the mean of the central crop."""
    from sklearn.datasets import load_sample_image

    full = load_sample_image("flower.jpg").astype(float)  # 427 x 640
    img = data.sample_image("flower.jpg", 32)
    b = 427 // 32
    top, left = (427 - 32 * b) // 2, (640 - 32 * b) // 2
    crop = full[top : top + 32 * b, left : left + 32 * b]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert abs(img.astype(float).mean() - crop.mean()) < 0.6  # rounding to uint8 only
    np.testing.assert_allclose(img[0, 0], crop[:b, :b].mean(axis=(0, 1)), atol=0.5)
    assert data.sample_image("china.jpg", 28, gray=True).shape == (28, 28)


def test_class_task_binary_and_multiclass():
    t = tasks.class_task("digits", (7, 3), per_class=20, per_class_test=5)
    assert t.kind == "binary" and t.X.shape == (40, 64) and t.X_test.shape == (10, 64)
    assert set(np.unique(t.y)) == {0.0, 1.0} and np.sum(t.y) == 20  # class 3 -> 1
    assert 0 <= t.X.min() and t.X.max() <= 1
    Xtr, ytr = data.load_digits("train")
    first3 = Xtr[ytr == 3][:20].reshape(20, -1) / 16.0
    np.testing.assert_allclose(t.X[t.y == 1], first3)  # the first 20 of the class, in file order
    m = tasks.class_task("digits")
    assert m.kind == "multiclass" and m.y.shape[1] == 10
    np.testing.assert_array_equal(m.y.sum(1), 1.0)
    np.testing.assert_array_equal(m.y_test.argmax(1), m.labels)
    with pytest.raises(ValueError, match="at least two distinct"):
        tasks.class_task("digits", (3, 3))


def test_class_task_without_files_names_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSECERT_DATA", str(tmp_path))
    with pytest.raises(data.DataNotFound, match="train-images-idx3-ubyte"):
        tasks.class_task("mnist", (0, 1))


def test_task_scores_match_their_definitions():
    t = tasks.Task("b", "binary", None, None, np.zeros((4, 1)), np.array([0, 1, 1, 0.0]), np.array([0, 1, 1, 0]))
    assert t.score(np.array([0.2, 0.5, 0.9, 0.7])) == 0.75  # threshold 0.5 (0.5 counts as 1)
    y = np.array([0.1, 0.5, 0.9])
    r = tasks.Task("r", "regression", None, y, None, y)
    pred = y + np.array([0.1, -0.1, 0.0])
    assert r.score(pred) == pytest.approx(-10 * np.log10(np.mean((pred - y) ** 2)))  # peak 1
    assert psnr(y, pred) == pytest.approx(20 * np.log10(0.9) - 10 * np.log10(np.mean((pred - y) ** 2)))
    with pytest.raises(ValueError, match="pred must have 3 rows"):
        r.score(np.zeros(2))


def test_sequential_iht_returns_the_best_network_seen():
    """Moving generators make sequential IHT non-monotone; the returned network's own relative
    residual is the smallest one recorded (residuals after each generator update are the network's)."""
    img = data.sample_image("china.jpg", 16, gray=True)
    t = tasks.inr_task(img, d=200, sigma=2.0)
    net, res = fit_two_layer(t.X, t.y, 20, 20, solver=sc.IHT(method="aiht", inner_iter=10, max_iter=25), rng=0)
    rel = np.linalg.norm(t.y - net.forward(t.X)) / np.linalg.norm(t.y)
    assert rel == pytest.approx(min(res.residuals), rel=1e-8)
    assert res.info["best_iter"] <= res.n_iter and net.fused_weights().nnz <= 20


def test_fit_iht_counts_and_scores():
    t = tasks.class_task("digits", (0, 1))
    out = tasks.fit_iht(t, 5, 20, epochs=15, rng=0)
    assert out["nnz"] <= 20 and out["net"].fused_weights().nnz == out["nnz"]
    assert out["score"] == t.score(out["net"].forward(t.X_test))
    assert out["score"] > max(np.mean(t.labels), 1 - np.mean(t.labels))  # beats the majority class
    assert out["bytes"] >= out["net"].nbytes == 8 * 5 * (t.X.shape[1] + 1)  # the network held dense
    big = tasks.fit_iht(t, 1, 10_000, epochs=3)  # s above m d is capped
    assert big["s_eff"] == 64
    multi = tasks.class_task("digits")
    mo = tasks.fit_iht(multi, 10, 100, epochs=20)
    assert mo["nnz"] <= 100 and mo["score"] > 0.2 and mo["n_iter"] == 20
    # Vector IHT is full batch: with a batch size it takes the steps that many minibatch epochs would.
    assert tasks.fit_iht(multi, 10, 100, epochs=2, batch_size=500)["n_iter"] == 2 * -(-len(multi.X) // 500)
    # ``minibatch``: the same number of steps, each on one batch (the published code's schedule)
    mb = tasks.fit_iht(multi, 10, 100, epochs=10, batch_size=500, minibatch=True)
    assert mb["n_iter"] == 10 * -(-len(multi.X) // 500) and mb["nnz"] <= 100 and mb["score"] > 0.5


def test_two_hidden_layers_split_the_budget_and_score_the_network_returned():
    """``layers=2`` (Fig. 4's deeper fit): an MLP with two hidden layers of width m whose nonzeros
    are at most s, s // 2 of them at most in the second layer (the budget split evenly, the first layer
    taking the rest), scored on its own outputs; s is capped at the net's capacity m d + m^2."""
    img = data.sample_image("china.jpg", 10, gray=True)
    t = tasks.inr_task(img, d=40, sigma=2.0, rng=0)
    out = tasks.fit_iht(t, 4, 30, epochs=5, layers=2, rng=0)
    net = out["net"]
    assert [W.shape for W in net.Ws] == [(4, 40), (4, 4), (1, 4)]
    assert out["nnz"] <= 30 and np.count_nonzero(net.Ws[1]) <= 15
    assert out["score"] == t.score(net.forward(t.X_test))
    assert tasks.fit_iht(t, 2, 10_000, epochs=1, layers=2)["s_eff"] == 2 * 40 + 4
    with pytest.raises(ValueError, match="one-hot"):
        tasks.fit_iht(tasks.class_task("digits"), 4, 20, layers=2)


@pytest.mark.torch
def test_fit_imp_with_two_hidden_layers_prunes_every_layer_to_s():
    """IMP's dense net has two hidden layers of width m (m d + m^2 + m k weights, all pruned globally)."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    t = tasks.class_task("digits", (0, 1))
    rows = tasks.fit_imp(t, 3, [20, 10_000], epochs=1, batch_size=128, layers=2)
    assert rows[1]["kept"] == 3 * 64 + 9 + 3 and rows[0]["kept"] <= 20
    assert rows[0]["bytes"] == tasks.imp_bytes(3 * 64 + 9 + 3, 128, (3, 3, 1))


@pytest.mark.torch
def test_fit_imp_reads_each_sparsity_off_one_run():
    """One IMP run serves every s: the score at s is that of the first round with at most s weights,
    and rounds remove 10% of the survivors (global magnitude), so kept counts fall geometrically."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    t = tasks.class_task("digits", (0, 1))
    ss = [5, 20, 50, 1000]
    rows = tasks.fit_imp(t, 3, ss, epochs=2, batch_size=64)
    P = 3 * 65
    for s, r in zip(ss, rows):
        assert r["kept"] <= max(s, 5) and r["bytes"] == tasks.imp_bytes(P, 64, (3, 1))
    assert rows[-1]["round"] == 0 and rows[-1]["kept"] == P  # s >= P: the dense net
    assert rows[0]["kept"] == 5 and rows[0]["round"] > rows[1]["round"] > rows[2]["round"]
    assert rows[0]["kept"] <= rows[1]["kept"] <= rows[2]["kept"]
    assert all(0 <= r["score"] <= 1 for r in rows)


@pytest.mark.torch
def test_tuned_imp_on_an_image_is_never_below_the_published_setting():
    """On an INR the fit is the score, the published setting (Adam 1e-3, the published epochs) is one
    of the search's and the runs are deterministic from the seed: so at every s the tuned score is at
    least the published one, and its setting is one of the grid's."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    t = tasks.inr_task(np.random.default_rng(0).random((6, 6)), d=16, rng=0)
    ss = [10, 40]
    published = tasks.fit_imp(t, 3, ss, epochs=4, rng=1)
    tuned = tasks.fit_imp_tuned(t, 3, ss, epochs=4, rng=1, lrs=(1e-3, 3e-2), epoch_factors=(1, 2))
    for p, q in zip(published, tuned):
        assert q["score"] >= p["score"] - 1e-9
        assert q["lr"] in (1e-3, 3e-2) and q["epochs"] in (4, 8)
    assert any(q["score"] > p["score"] + 1.0 for p, q in zip(published, tuned))  # 4 epochs at 1e-3 fit little


@pytest.mark.torch
@pytest.mark.slow
def test_tuned_imp_chooses_on_held_out_training_images():
    """Classification: the search never sees the test set: scores come from runs on all the training
    images at the chosen settings (a setting chosen for two s is run once: equal seconds, one run)."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    t = tasks.class_task("digits", (0, 1))
    rows = tasks.fit_imp_tuned(t, 3, [5, 50], epochs=2, batch_size=64, lrs=(1e-3, 1e-2), epoch_factors=(1,))
    for r in rows:
        again = tasks.fit_imp(t, 3, [5, 50], epochs=r["epochs"], batch_size=64, lr=r["lr"], rng=0)
        assert r["score"] in {x["score"] for x in again}
        assert 0 <= r["score"] <= 1


def test_grid_without_torch_draws_iht_only(tmp_path, monkeypatch):
    from paper_repro.recovery import _iht_imp

    monkeypatch.setattr(_iht_imp.importlib.util, "find_spec", lambda name: None)
    t = tasks.class_task("digits", (0, 1), per_class=40)
    rows = _iht_imp.grid_rows(t, {"ms": (1, 2), "ss": (2, 5), "epochs": 5, "imp_epochs": 1}, [0])
    assert len(rows) == 4 and all("imp" not in r for r in rows)
    for r in rows:  # IHT's estimate by part: its working set at the peak and the network returned, dense
        parts = {k: v for k, v in r.items() if k.startswith("iht_") and k.endswith("_bytes") and k[4:-6] not in
                 ("est", "")}
        assert set(parts) == {f"iht_{p}_bytes" for p in ("pass", "cache", "restricted", "vectors", "net")}
        assert sum(parts.values()) == r["iht_est_bytes"] and r["iht_net_bytes"] == 8 * r["m"] * (t.X.shape[1] + 1)
    fig = _iht_imp.heatmaps(rows, lo=50, hi=100, percent=True)
    assert len(fig.axes) == 2  # the IHT panel and its colour bar: no IMP or memory panels


def test_the_memory_panel_draws_only_ratios_above_the_instruments_resolution():
    """A measured ratio is drawn only where both peaks reach MEMORY_RESOLUTION (below it the resident
    set's growth is pages and allocator reuse: 0 bytes measured happens); rows of 0.4.0 (estimates,
    no iht_est_bytes) keep their panel, titled as estimates."""
    from paper_repro.recovery import _iht_imp

    MiB = 1 << 20
    base = {"task": "t", "metric": "accuracy", "s": 5, "seed": 0, "iht": 0.9, "imp": 0.5, "iht_est_bytes": 1}
    tiny = [dict(base, m=m, iht_bytes=0, imp_bytes=3 * MiB, log10_mem_ratio=6.5) for m in (1, 2)]
    fig = _iht_imp.heatmaps(tiny, lo=50, hi=100, percent=True)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()][-1].startswith("IMP")  # no memory panel
    big = tiny + [dict(base, m=4, iht_bytes=2 * MiB, imp_bytes=20 * MiB, log10_mem_ratio=1.0)]
    titles = [ax.get_title() for ax in _iht_imp.heatmaps(big, lo=50, hi=100, percent=True).axes if ax.get_title()]
    assert titles[-1].startswith("measured peak memory")
    old = [{k: v for k, v in r.items() if k != "iht_est_bytes"} for r in tiny]
    titles = [ax.get_title() for ax in _iht_imp.heatmaps(old, lo=50, hi=100, percent=True).axes if ax.get_title()]
    assert titles[-1].startswith("memory, 0.4.0's estimates")


def test_an_interrupted_grid_loses_only_the_fit_in_progress(tmp_path, monkeypatch):
    """IHT's cells are single fits (m, s, seed): after an interrupt in the third fit a rerun computes the
    fits not stored and no other, gives the rows of an uninterrupted run, and a budget added to ``ss``
    costs only its own fits."""
    from paper_repro.recovery import _iht_imp

    monkeypatch.setattr(_iht_imp.importlib.util, "find_spec", lambda name: None)  # IHT only
    t = tasks.class_task("digits", (0, 1), per_class=40)
    grid, fit, calls = {"ms": (1, 2), "ss": (2, 5), "epochs": 3, "imp_epochs": 1}, _iht_imp.fit_iht, []

    def counted(task, m, s, **k):
        calls.append((m, s, k["rng"]))
        if len(calls) == 3 and stop:
            raise KeyboardInterrupt
        return fit(task, m, s, **k)

    monkeypatch.setattr(_iht_imp, "fit_iht", counted)
    stop = True
    with pytest.raises(KeyboardInterrupt):
        _iht_imp.grid_rows(t, grid, [0], store=tmp_path / "g.sqlite")
    stop, calls[:] = False, []
    rows = _iht_imp.grid_rows(t, grid, [0], store=tmp_path / "g.sqlite")
    assert calls == [(2, 2, 0), (2, 5, 0)]  # the two fits stored before the interrupt are read back
    fresh = _iht_imp.grid_rows(t, grid, [0])
    assert [{k: v for k, v in r.items() if k not in ("iht_bytes", "iht_seconds")} for r in rows] == \
        [{k: v for k, v in r.items() if k not in ("iht_bytes", "iht_seconds")} for r in fresh]
    calls[:] = []
    wider = _iht_imp.grid_rows(t, {**grid, "ss": (2, 5, 10)}, [0], store=tmp_path / "g.sqlite")
    assert calls == [(1, 10, 0), (2, 10, 0)] and [r["s"] for r in wider] == [2, 5, 10, 2, 5, 10]


@pytest.mark.torch
def test_imp_on_a_device_is_the_same_run_as_on_the_host():
    """IMP trains where its module is: on the torch device "cpu" the run is the host's own, round for
    round (the same init, batch order and arithmetic), so a GPU run differs from the CPU's only by
    the device's arithmetic."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    t = tasks.class_task("digits", (0, 1), per_class=60)
    host = tasks.fit_imp(t, 3, [5, 50], epochs=2, batch_size=32, rng=3)
    dev = tasks.fit_imp(t, 3, [5, 50], epochs=2, batch_size=32, rng=3, device="cpu")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in dev] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in host]


@pytest.mark.slow
def test_a_grid_on_a_device_runs_both_methods_there_and_keeps_its_own_cells(tmp_path, monkeypatch):
    """``device``: IHT runs on the torch backend and IMP's module on the device, each row says where,
    and the store keeps the device's cells apart from the host's (a host rerun computes its own)."""
    pytest.importorskip("torch")
    from paper_repro.recovery import _iht_imp

    t = tasks.class_task("digits", (0, 1), per_class=40)
    grid = {"ms": (2,), "ss": (2, 5), "epochs": 3, "imp_epochs": 1}
    seen = []
    fit_iht, fit_imp = _iht_imp.fit_iht, _iht_imp.fit_imp
    monkeypatch.setattr(_iht_imp, "fit_iht", lambda *a, **k: seen.append(("iht", k["device"])) or fit_iht(*a, **k))
    monkeypatch.setattr(_iht_imp, "fit_imp", lambda *a, **k: seen.append(("imp", k["device"])) or fit_imp(*a, **k))
    rows = _iht_imp.grid_rows(t, grid, [0], store=tmp_path / "g.sqlite", device="cpu")
    assert set(seen) == {("iht", "cpu"), ("imp", "cpu")} and all(r["device"] == "cpu" for r in rows)
    assert all(r["iht_bytes"] >= 0 and r["imp_bytes"] >= 0 and 0 <= r["iht"] <= 1 for r in rows)
    seen.clear()
    host = _iht_imp.grid_rows(t, grid, [0], store=tmp_path / "g.sqlite")
    assert set(seen) == {("iht", None), ("imp", None)} and all("device" not in r for r in host)


@pytest.mark.slow
def test_a_grid_resumes_from_its_store_and_runs_imp_only_where_asked(tmp_path, monkeypatch):
    """Each IHT fit and IMP run of a classify/INR grid is stored as it finishes: a rerun computes nothing
    and gives the same rows; ``imp_ms`` names the widths IMP runs at (the other cells have IHT only)."""
    pytest.importorskip("torch")
    from paper_repro.recovery import _iht_imp

    t = tasks.class_task("digits", (0, 1), per_class=40)
    grid = {"ms": (1, 2), "ss": (2, 5), "epochs": 3, "imp_epochs": 1, "imp_ms": (2,)}
    first = _iht_imp.grid_rows(t, grid, [0, 1], store=tmp_path / "g.sqlite")
    assert len(first) == 8 and all(("imp" in r) == (r["m"] == 2) for r in first)
    monkeypatch.setattr(_iht_imp, "fit_iht", lambda *a, **k: pytest.fail("a stored cell was computed again"))
    monkeypatch.setattr(_iht_imp, "fit_imp", lambda *a, **k: pytest.fail("a stored cell was computed again"))
    assert _iht_imp.grid_rows(t, grid, [0, 1], store=tmp_path / "g.sqlite") == first
    # the tuned IMP added at one width computes only it: the stored published cells are kept
    monkeypatch.setattr(_iht_imp, "fit_imp_tuned", lambda task, m, ss, **k: [
        {"score": 0.75, "lr": 1e-2, "epochs": 3, "seconds": 1.0} for _ in ss])
    tuned = _iht_imp.grid_rows(t, {**grid, "imp_tuned_ms": (2,)}, [0, 1], store=tmp_path / "g.sqlite")
    assert [{k: v for k, v in r.items() if not k.startswith("imp_tuned")} for r in tuned] == first
    assert all(("imp_tuned" in r) == (r["m"] == 2) for r in tuned)
    stats = _iht_imp.spread([dict(r, figure="f") for r in tuned], tol=0.005)
    assert all(("ahead_tuned" in r) == (r["m"] == 2) for r in stats)
    titles = [ax.get_title() for ax in _iht_imp.heatmaps(tuned, lo=50, hi=100, percent=True).axes if ax.get_title()]
    assert titles[-1].startswith("IMP tuned")


@pytest.mark.slow
def test_the_memory_harness_measures_a_fit_in_a_fresh_process():
    """One row per method: the measured growth of the resident set (positive, and at least what
    tracemalloc saw of NumPy's part, within the allocator's page granularity) beside the estimate's parts."""
    from paper_repro.recovery.memory import measure

    spec = {"task": "digits", "classes": [0, 1], "per_class": None, "m": 4, "s": 10, "epochs": 2, "batch": 100,
            "seed": 0}
    row = measure("iht", spec)
    assert row["method"] == "iht" and row["n"] > 200 and 0 <= row["score"] <= 1
    assert row["rss_bytes"] is None or row["rss_bytes"] >= 0
    assert row["traced_bytes"] > 0 and row["pass_bytes"] > 0 and row["iterate_bytes"] == 160
    # ten classes on the minibatches (Fig. 3's 10-class schedule, X sample-major): the tile of the batch's rows
    # the factored fit reads in place (here all 300 of them) is part of what it allocates, and its parts are the
    # factored fit's
    ten = measure("iht", {**spec, "classes": list(range(10)), "s": 40, "batch": 300, "minibatch": True})
    assert ten["batch_bytes"] == 8 * 300 * 64 and ten["dense_bytes"] == 8 * 3 * 4 * (64 + 10)
    assert ten["traced_bytes"] >= ten["batch_bytes"] and "pass_bytes" not in ten
