"""Working-set checks (issue 18, risk 2): large calls fail fast with a named error, or adapt."""

import time

import numpy as np
import pytest

import sparsecert as sc
import sparsecert._memory as memory
from sparsecert import certify


def test_available_bytes_is_a_plausible_size():
    avail = memory.available_bytes()
    assert avail is None or 0 < avail < 2**50


def test_planted_relu_refuses_an_instance_that_cannot_fit_before_drawing_it():
    """n = 10^7, m = 10^4 needs ~1.5 TiB (X and the forward pass's n x m temporaries): refused at
    once, naming the sizes (before: X drawn, then an allocation failure deep in the forward pass)."""
    if memory.available_bytes() is None:
        pytest.skip("the OS does not report available memory")
    t0 = time.perf_counter()
    with pytest.raises(memory.WorkingSetError, match=r"planted_relu\(n=10000000, d=100, m=10000\) needs about .* TiB"):
        sc.planted_relu(10**7, 100, 10**4, 10, rng=0)
    assert time.perf_counter() - t0 < 1.0


def test_iht_checks_its_estimated_working_set_at_setup(monkeypatch):
    """The solver's own estimate (memory_usage) is compared with what is available before any pass."""
    p = sc.planted_gaussian(40, 100, 3, rng=0)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    monkeypatch.setattr(memory, "UNCHECKED_BYTES", 0)
    with pytest.raises(memory.WorkingSetError, match="IHT on a 40 x 100 operator with s = 3 needs about"):
        sc.iht(p.A, p.y, 3)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # the OS says nothing: nothing is checked
    assert sc.iht(p.A, p.y, 3).status == "residual"
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    monkeypatch.setattr(memory, "UNCHECKED_BYTES", 16 * 2**20)  # small working sets are not checked
    assert sc.iht(p.A, p.y, 3).status == "residual"


def test_gram_rows_stay_within_their_budget_and_give_the_same_coherence(monkeypatch):
    """With a budget of one row per step the coherence and babel values are those of the default
    blocks (the budget only changes how the Gram rows are cut: at N = 10^7 the default block
    would have asked for 19 GiB)."""
    A = np.random.default_rng(0).standard_normal((15, 70))
    mu, b = certify.mutual_coherence(A).value, certify.babel(A, 3)
    G = np.abs((A / np.linalg.norm(A, axis=0)).T @ (A / np.linalg.norm(A, axis=0)))
    np.fill_diagonal(G, 0)
    assert mu == pytest.approx(G.max(), rel=1e-12)
    monkeypatch.setattr(certify, "GRAM_ROWS_BYTES", 8 * 70)
    assert certify.mutual_coherence(A, block=32).value == pytest.approx(mu, rel=1e-12)
    assert certify.babel(A, 3, block=32) == pytest.approx(b, rel=1e-12)


def test_long_gradient_passes_show_progress(monkeypatch, capsys):
    """A run that shows progress also shows it inside each pass when the operator is large (m = 10^9
    units streamed silently for minutes before); small passes keep only the iteration bar."""
    from sparsecert.recovery import solver

    p = sc.planted_gaussian(40, 100, 3, rng=0)
    sc.iht(p.A, p.y, 3, solver=sc.IHT(method="niht", max_iter=2), progress=True)
    assert "gradient pass" not in capsys.readouterr().err
    monkeypatch.setattr(solver, "LONG_PASS_ENTRIES", 40 * 100)
    sc.iht(p.A, p.y, 3, solver=sc.IHT(method="niht", max_iter=2), progress=True)
    assert "gradient pass" in capsys.readouterr().err


def test_measure_peak_sees_numpy_and_foreign_allocations_alike():
    """The one instrument for every method: a call that holds 40 MB at its peak (NumPy's, which
    tracemalloc sees, or a ctypes buffer, which it does not, as torch's are not) adds 40 MB to the
    resident set's high-water mark; data made before the call is not counted."""
    import ctypes

    from sparsecert.working_set import measure_peak

    before = np.ones(5_000_000)  # made before: not the call's

    def numpy_peak():
        a = np.ones(5_000_000)  # 40 MB, touched
        return float(a.sum() + before[0])

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.memset.argtypes, libc.free.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t], [ctypes.c_void_p]

    def foreign_peak():
        buf = libc.malloc(40_000_000)  # C's malloc, as torch's CPU allocator: invisible to tracemalloc
        libc.memset(buf, 1, 40_000_000)
        libc.free(buf)
        return 0

    _, a = measure_peak(numpy_peak)
    _, b = measure_peak(foreign_peak)
    if a["rss_bytes"] is None:
        pytest.skip("this OS does not let a process reset its resident high-water mark")
    assert 39e6 <= a["rss_bytes"] <= 46e6 and 39e6 <= a["traced_bytes"] <= 41e6
    assert 39e6 <= b["rss_bytes"] <= 46e6 and b["traced_bytes"] < 1e6  # tracemalloc misses it; the RSS does not
    # a second call in the same process sees its peak again (the allocator is pinned: freed arrays are
    # returned, not kept for reuse), and trace=False measures it without tracemalloc
    _, c = measure_peak(numpy_peak, trace=False)
    assert 39e6 <= c["rss_bytes"] <= 46e6 and c["traced_bytes"] is None


def test_memory_is_measured_where_the_fit_runs(monkeypatch):
    """``measured_bytes_on``: on the host (None, "cpu") the resident set's growth, a 40 MB peak read as
    40 MB; on a CUDA device the growth of torch's allocated device memory at its peak over what was
    allocated before the call (here torch.cuda's counters stand in for a GPU this machine lacks)."""
    from sparsecert.working_set import measured_bytes_on

    def numpy_peak():
        return float(np.ones(5_000_000).sum())  # 40 MB, touched

    for device in (None, "cpu"):
        out, peak = measured_bytes_on(device, numpy_peak)
        assert out == 5e6 and 39e6 <= peak <= 46e6
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    counters = {"allocated": 300, "peak": 0}

    def allocate(nbytes):  # what a fit on the device does to torch's counters
        counters["peak"] = max(counters["peak"], counters["allocated"] + nbytes)
        return "fitted"

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: counters["allocated"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device=None: counters.update(peak=counters["allocated"]))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: counters["peak"])
    assert measured_bytes_on("cuda:0", allocate, 7_000) == ("fitted", 7_000)


def test_measure_peak_counts_memory_the_heap_kept_from_before():
    """glibc raises its mmap threshold as large arrays are freed and then keeps the next ones in its
    heap, resident after they are freed (a warm-up fit before the first measurement does this); a
    measured call that reuses those pages would add nothing to the resident set. The instrument
    hands them back first: a call holding 12 MB shows 12 MB (without that, 0; fresh process)."""
    import subprocess
    import sys

    script = """
import numpy as np
from sparsecert.working_set import measure_peak
for _ in range(3):
    a = np.ones(2_000_000); del a
print(measure_peak(lambda: float(np.ones(1_500_000).sum()), trace=False)[1]["rss_bytes"])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()[-1]
    if out == "None":
        pytest.skip("this OS does not let a process reset its resident high-water mark")
    assert 11e6 <= float(out) <= 14e6


def test_feature_major_data_is_not_copied_for_the_passes():
    """An F-contiguous X (feature-major) is kept as it is by the ReLU-pattern operator: X.T, the
    layout of its passes, is a view, and the products equal those on the C-contiguous copy."""
    from sparsecert.operators import ReluPatternOperator
    from sparsecert.validation import check_array

    rng = np.random.default_rng(0)
    XF = np.asfortranarray(rng.standard_normal((300, 7)))
    assert np.shares_memory(check_array(XF, "X", fortran=True), XF) and check_array(XF, "X").flags.c_contiguous
    A, B = ReluPatternOperator(XF, 5, rng=1), ReluPatternOperator(np.ascontiguousarray(XF), 5, rng=1)
    assert np.shares_memory(A.XT, XF)
    v, r = rng.standard_normal(35), rng.standard_normal(300)
    np.testing.assert_allclose(A.matvec(v), B.matvec(v), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A.rmatvec(r), B.rmatvec(r), rtol=1e-12, atol=1e-12)


def test_networks_read_feature_major_data_without_a_copy():
    """Scoring a fit on a feature-major X (as the INR and planted tasks hold it) allocates the
    activations, not a second X: ``ReLUNet.forward`` (three layers, and two) on an F-contiguous
    X (2.4 MB) trace far less than X, and equal the outputs on the C-contiguous copy."""
    import tracemalloc

    from sparsecert.nn import ReLUNet

    rng = np.random.default_rng(0)
    XF = np.asfortranarray(rng.standard_normal((1000, 300)))
    nets = [ReLUNet([rng.standard_normal((8, 300)), rng.standard_normal((8, 8)), rng.standard_normal((1, 8))]),
            ReLUNet.two_layer(rng.standard_normal((8, 300)), rng.standard_normal(8))]
    for net in nets:
        net.forward(XF[:2])
        tracemalloc.start()
        try:
            out = net.forward(XF)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < XF.nbytes / 4, (type(net).__name__, peak)
        np.testing.assert_array_equal(out, net.forward(np.ascontiguousarray(XF)))


def test_minibatch_vector_iht_holds_one_batch_at_a_time():
    """The factored solver's minibatches: the previous batch is let go before the next is gathered
    and one buffer serves every batch, gathered in chunks, so a fit on a feature-major X allocates
    about one batch (2,000 x 300 floats, 4.8 MB) beyond the small per-unit arrays: under 1.4 batches
    (two batches at once, or numpy.take's buffered copy of X, would be 2 and 4)."""
    import tracemalloc

    from sparsecert.deep import fit_factored

    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((6000, 300)))
    Y = np.eye(3)[rng.integers(0, 3, 6000)]
    kw = dict(solver=sc.IHT(loss="cross-entropy"), progress=False, rng=0)
    fit_factored(X, Y, 2, 4, batches=sc.Minibatch(2000, 1), **kw)
    tracemalloc.start()
    try:
        fit_factored(X, Y, 4, 40, batches=sc.Minibatch(2000, 2), **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.4 * 2000 * 300 * 8, peak


def test_minibatch_iht_reads_a_feature_major_x_in_place():
    """Scalar minibatch IHT on a feature-major X gathers tiles of each batch (GATHER_BYTES a thread),
    never the batch: a fit with batches of 3,000 x 300 floats (7.2 MB) allocates under half a batch
    (the row-major X's path holds each batch, transposed, at once), and both paths fit alike."""
    import tracemalloc

    from sparsecert.relu import fit_two_layer

    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((6000, 300)))
    y = np.maximum(X[:, :3] @ np.array([1.0, -0.5, 0.8]), 0) + np.maximum(X[:, 3:5] @ np.array([0.7, 0.9]), 0)
    kw = dict(solver=sc.IHT(method="aiht", inner_iter=3), output_sign="positive", batches=sc.Minibatch(3000, 2),
              progress=False, rng=0)
    peaks, nets = [], []
    for data in (X, np.ascontiguousarray(X)):
        fit_two_layer(data, y, 2, 4, **{**kw, "batches": sc.Minibatch(3000, 1)})
        tracemalloc.start()
        try:
            nets.append(fit_two_layer(data, y, 8, 10, **kw))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    batch = 3000 * 300 * 8
    assert peaks[0] < batch / 2 < batch < peaks[1], peaks
    (net_f, res_f), (net_c, res_c) = nets
    np.testing.assert_allclose(res_f.residuals, res_c.residuals, rtol=1e-6)


def test_deeper_layers_get_feature_major_data(monkeypatch):
    """fit_layerwise hands every layer its data feature-major (the ReLU features of the layers before
    it as X is), so no layer's operator copies its data to read X.T; the features are those of the
    fitted net (MLP.features)."""
    import sparsecert.deep as deep

    seen = []
    fit = deep.fit_two_layer

    def spy(H, *args, **kwargs):
        seen.append((H.flags.f_contiguous, H.copy()))
        return fit(H, *args, **kwargs)

    monkeypatch.setattr(deep, "fit_two_layer", spy)
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((400, 12)))
    y = np.maximum(X[:, :2].sum(1), 0)
    net, _ = deep.fit_layerwise(X, y, [4, 3, 3], 12, solver=sc.IHT(max_iter=3), rng=0, progress=False)
    assert [f for f, _ in seen] == [True, True, True]
    for depth, (_, H) in enumerate(seen):
        np.testing.assert_array_equal(H, net.features(X, depth))
