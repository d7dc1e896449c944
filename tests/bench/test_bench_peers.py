"""SparseRegressor against its peers on Gaussian instances (issue 20, item 2; ``make bench``).

Peers: scikit-learn's ``OrthogonalMatchingPursuit`` and ``abess`` (best-subset
selection, PyPI; skipped when not installed). ``htp`` and ``aiht`` are
SparseRegressor with ``restart="omp"`` (the best of OMP, IHT with its default
splicing from OMP's solution, and IHT from zero, tried in turn until one fits;
OMP first at these sizes);
``htp-splice`` is HTP with splicing only, ``htp-plain`` HTP alone, ``omp-ours``
SparseRegressor(method="omp") (the same coefficients as scikit-learn's OMP). abess is given y scaled by 1e6:
at unit scale its default tolerances stop it early (relative error ~0.35 on
these instances), scaled it recovers them exactly.

Group ``peers-20000``: time to fit n = 2000, N = 20000, s = 200 (dense A), each
method in the same run; ``extra_info`` records the relative error.

``test_peer_transitions`` (slow): the 50 % exact-recovery point n50 / s at N =
1000 and s in {10, 25, 50} (success: relative error <= 1e-4; 20 trials per n;
n50 where the monotone success rate crosses 1/2) and the mean time per fit
(after one untimed fit per method and s), printed and recorded. No timing or
rate is asserted.
"""

import functools
import time

import numpy as np
import pytest

import sparsecert as sc

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import OrthogonalMatchingPursuit  # noqa: E402

from sparsecert.estimators import SparseRegressor  # noqa: E402
from sparsecert.metrics import relative_error  # noqa: E402
from paper_repro.recovery.relu_phase import crossing  # noqa: E402


def _abess(s):
    abess = pytest.importorskip("abess.linear")
    return abess.LinearRegression(support_size=s, fit_intercept=False)


def fit(method, A, y, s):
    """Coefficients of an s-sparse fit of y ~ A w by ``method``."""
    if method.split("-")[0] in ("htp", "aiht", "niht"):
        base, _, variant = method.partition("-")
        kw = {"": {"restart": "omp"}, "splice": {}, "plain": {"splice": 0}}[variant]
        return SparseRegressor(s, method=base, fit_intercept=False, max_iter=500, **kw).fit(A, y).coef_
    if method == "omp-ours":
        return SparseRegressor(s, method="omp", fit_intercept=False).fit(A, y).coef_
    if method == "omp":
        return OrthogonalMatchingPursuit(n_nonzero_coefs=s, fit_intercept=False).fit(A, y).coef_
    if method == "abess":
        return _abess(s).fit(A, y * 1e6).coef_ / 1e6
    raise ValueError(method)


METHODS = ["htp", "htp-splice", "htp-plain", "aiht", "omp-ours", "omp", "abess"]


@functools.lru_cache(maxsize=1)
def large():
    p = sc.planted_gaussian(2000, 20000, 200, rng=0)
    return p.A.to_dense(), p.y, p.w


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_peer_time_at_20000(benchmark, method):
    benchmark.group = "peers-20000"
    if method == "abess":
        _abess(1)
    A, y, w = large()
    out = {}
    benchmark.pedantic(lambda: out.update(coef=fit(method, A, y, 200)), rounds=2, iterations=1)
    benchmark.extra_info["rel_error"] = relative_error(out["coef"], w)


@pytest.mark.slow
def test_peer_transitions(benchmark):
    """n50 / s per method at N = 1000 (recorded; the issue's target: at or below the best peer)."""
    benchmark.group = "peers-n50"
    methods = [m for m in METHODS if m != "abess"] + (["abess"] if _has_abess() else [])
    table = {}

    seconds = {}

    def run():
        for s in (10, 25, 50):
            ns = [int(round(f * s)) for f in (2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 7)]
            for m in methods:
                warm = sc.planted_gaussian(3 * s, 1000, s, rng=0)  # untimed: compiled kernels and imports load
                fit(m, warm.A.to_dense(), warm.y, s)
                n_all, ok, spent = [], [], 0.0
                for n in ns:
                    for t in range(20):
                        p = sc.planted_gaussian(n, 1000, s, rng=(s * 1000 + n) * 100 + t)
                        A = p.A.to_dense()
                        t0 = time.perf_counter()
                        coef = fit(m, A, p.y, s)
                        spent += time.perf_counter() - t0
                        ok.append(relative_error(coef, p.w) <= 1e-4)
                        n_all.append(n)
                table[(m, s)] = crossing(n_all, ok) / s
                seconds[(m, s)] = spent / len(ok)

    t0 = time.perf_counter()
    benchmark.pedantic(run, rounds=1, iterations=1)
    for s in (10, 25, 50):
        row = {m: round(table[(m, s)], 2) for m in methods}
        ms = {m: round(1e3 * seconds[(m, s)], 1) for m in methods}
        peers = [m for m in ("omp", "abess") if m in methods]
        # the best-n50 configuration against the best peer: n50 difference and time ratio to the fastest
        vs = {"n50_minus_best_peer": round(table[("htp", s)] - min(table[(m, s)] for m in peers), 2),
              "time_over_fastest_peer": round(seconds[("htp", s)] / min(seconds[(m, s)] for m in peers), 2)}
        print(f"s = {s}: n50 / s = {row}; ms per fit = {ms}; restart='omp' against the peers: {vs}")
        benchmark.extra_info[f"n50_over_s_{s}"] = row
        benchmark.extra_info[f"ms_per_fit_{s}"] = ms
        benchmark.extra_info[f"htp_restart_vs_peers_{s}"] = vs
    benchmark.extra_info["seconds"] = time.perf_counter() - t0


_MEMORY_CHILD = """
import resource, sys
import numpy as np
sys.path.insert(0, {root!r})
from test_bench_peers import fit

def peak_kib():  # this process's own high-water mark: ru_maxrss starts at the parent's after a fork
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

rng = np.random.default_rng(0)  # a small fit first: compiled kernels and libraries load before the measure
fit({method!r}, rng.standard_normal((50, 200)), rng.standard_normal(50), 5)
A, y = np.load({a!r}), np.load({y!r})  # no temporaries: the peak so far is the interpreter and A
before = peak_kib()
fit({method!r}, A, y, 200)
print(peak_kib() - before)
"""


@pytest.mark.slow
def test_peer_memory_at_20000(benchmark, tmp_path):
    """Peak resident memory each fit adds beyond the dense A it is given (n = 2000, N = 20000, s = 200;
    one fresh process per method, its peak resident size (VmHWM) after the fit minus before it: C++
    allocations count too)."""
    import os
    import subprocess
    import sys

    benchmark.group = "peers-20000-memory"
    root = os.path.dirname(os.path.abspath(__file__))
    methods = [m for m in METHODS if m != "abess" or _has_abess()]
    A, y, _ = large()
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "y.npy", y)
    extra = {}

    def run():
        for m in methods:
            code = _MEMORY_CHILD.format(root=root, method=m, a=str(tmp_path / "A.npy"), y=str(tmp_path / "y.npy"))
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            extra[m] = round(int(out.stdout.split()[-1]) / 1024, 1)  # KiB -> MiB

    benchmark.pedantic(run, rounds=1, iterations=1)
    print(f"peak MiB beyond A (320 MB): {extra}")
    benchmark.extra_info["peak_mib_beyond_A"] = extra


def _has_abess():
    try:
        import abess.linear  # noqa: F401
    except ImportError:
        return False
    return True
