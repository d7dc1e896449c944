"""SparseRegressor against its peers on Gaussian instances (issue 38; ``make bench`` prints the tables).

The methods are in ``peers.py`` (ours: the default ``portfolio``, ``htp`` = ``restart="omp"``,
``htp-plain``, ``omp-ours``; peers: scikit-learn OMP, abess, skglm's MCP and L0.5 paths, SPGL1's
basis pursuit; a peer not installed is skipped). No timing or rate is asserted: the tables are
printed and recorded in ``extra_info``.

* ``test_peer_transitions`` (slow): noiseless, N = 1000, s in {10, 25, 50}, 20 trials per n; success
  is relative error <= 1e-4; n50 is where the isotonic success rate crosses 1/2
  (``paper_repro.recovery.relu_phase.crossing``, with a 95 % bootstrap interval); time per fit is
  the mean over the 20 fits at n = 5 s (after one untimed fit per method: compiled kernels load).
* ``test_peer_noisy_support`` (slow): SNR 20 dB (``||A w|| / ||e|| = 10`` in expectation), s known,
  n in {3 s, 4 s, 6 s}: mean support F1 and prediction error ``||A (w_hat - w)|| / ||A w||``.
* ``test_peer_time_at_20000`` / ``test_peer_memory_at_20000`` (slow): n = 2000, N = 20000, s = 200,
  dense A: time (pytest-benchmark) and peak resident memory beyond A (a fresh process each).
"""

import functools
import os
import sys
import time

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.metrics import relative_error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import OURS, PEERS, fit, installed  # noqa: E402
from paper_repro.recovery.relu_phase import n50_interval  # noqa: E402

pytest.importorskip("sklearn")
METHODS = OURS + [m for m in PEERS if installed(m)]
SIZES = (10, 25, 50)


def _instance(n, s, seed, snr_db=None):
    p = sc.planted_gaussian(n, 1000, s, rng=seed)
    A, y = p.A.to_dense(), p.y
    if snr_db is not None:
        e = np.random.default_rng(seed + 7).standard_normal(n)
        y = y + e * np.linalg.norm(p.w.values) / (np.sqrt(n) * 10 ** (snr_db / 20))
    return A, y, p.w


@pytest.mark.slow
def test_peer_transitions(benchmark):
    """n50 / s (95 % interval) and ms per fit at n = 5 s for every method at N = 1000."""
    benchmark.group = "peers-n50"
    rows = {}

    def run():
        for s in SIZES:
            ns = [int(round(f * s)) for f in (2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 7)]
            for m in METHODS:
                A, y, _ = _instance(3 * s, s, 0)
                fit(m, A, y, s)  # untimed
                n_all, ok, at5 = [], [], []
                for n in ns:
                    for t in range(20):
                        A, y, w = _instance(n, s, (s * 1000 + n) * 100 + t)
                        t0 = time.perf_counter()
                        coef = fit(m, A, y, s)
                        if n == 5 * s:
                            at5.append(time.perf_counter() - t0)
                        ok.append(relative_error(coef, w) <= 1e-4)
                        n_all.append(n)
                n50, lo, hi, _ = n50_interval(n_all, ok, 200, np.random.default_rng(0))
                rows[(m, s)] = (n50 / s, lo / s, hi / s, 1e3 * np.mean(at5))

    t0 = time.perf_counter()
    benchmark.pedantic(run, rounds=1, iterations=1)
    print("\n| method | " + " | ".join(f"n50/s at s = {s} [95 %]" for s in SIZES) + " | "
          + " | ".join(f"ms/fit s = {s}" for s in SIZES) + " |")
    print("| --- " * (1 + 2 * len(SIZES)) + "|")
    for m in METHODS:
        print(f"| {m} | " + " | ".join(f"{rows[(m, s)][0]:.2f} [{rows[(m, s)][1]:.2f}, {rows[(m, s)][2]:.2f}]"
                                       for s in SIZES)
              + " | " + " | ".join(f"{rows[(m, s)][3]:.1f}" for s in SIZES) + " |")
        benchmark.extra_info[m] = {str(s): [round(v, 3) for v in rows[(m, s)]] for s in SIZES}
    benchmark.extra_info["seconds"] = time.perf_counter() - t0


@pytest.mark.slow
def test_peer_noisy_support(benchmark):
    """Support F1 and prediction error at SNR 20 dB, s known, n in {3 s, 4 s, 6 s} (20 trials)."""
    benchmark.group = "peers-noisy"
    rows = {}

    def run():
        for s in SIZES:
            for f in (3, 4, 6):
                n = f * s
                for m in METHODS:
                    f1, pe = [], []
                    for t in range(20):
                        A, y, w = _instance(n, s, (s * 1000 + n) * 100 + t + 50, snr_db=20)
                        coef = fit(m, A, y, s)
                        S = set(np.flatnonzero(coef).tolist())
                        hit = len(S & set(w.indices.tolist()))
                        f1.append(2 * hit / (len(S) + s))
                        Aw = A[:, w.indices] @ w.values
                        pe.append(np.linalg.norm(A @ coef - Aw) / np.linalg.norm(Aw))
                    rows[(m, s, n)] = (np.mean(f1), np.mean(pe))

    benchmark.pedantic(run, rounds=1, iterations=1)
    cells = [(s, f * s) for s in SIZES for f in (3, 4, 6)]
    print("\n| method | " + " | ".join(f"s={s}, n={n}" for s, n in cells) + " |")
    print("| --- " * (1 + len(cells)) + "|")
    for m in METHODS:
        print(f"| {m} | " + " | ".join(f"{rows[(m, s, n)][0]:.2f} / {rows[(m, s, n)][1]:.3f}" for s, n in cells) + " |")
        benchmark.extra_info[m] = {f"{s},{n}": [round(v, 4) for v in rows[(m, s, n)]] for s, n in cells}


@functools.lru_cache(maxsize=1)
def large():
    p = sc.planted_gaussian(2000, 20000, 200, rng=0)
    return p.A.to_dense(), p.y, p.w


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_peer_time_at_20000(benchmark, method):
    benchmark.group = "peers-20000"
    A, y, w = large()
    fit(method, A[:50, :200], y[:50], 5)  # compiled kernels and imports load
    out = {}
    benchmark.pedantic(lambda: out.update(coef=fit(method, A, y, 200)), rounds=1, iterations=1)
    benchmark.extra_info["rel_error"] = relative_error(out["coef"], w)


_MEMORY_CHILD = """
import resource, sys
import numpy as np
sys.path.insert(0, {root!r})
from peers import fit

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
    import subprocess

    benchmark.group = "peers-20000-memory"
    root = os.path.dirname(os.path.abspath(__file__))
    A, y, _ = large()
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "y.npy", y)
    extra = {}

    def run():
        for m in METHODS:
            code = _MEMORY_CHILD.format(root=root, method=m, a=str(tmp_path / "A.npy"), y=str(tmp_path / "y.npy"))
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            extra[m] = round(int(out.stdout.split()[-1]) / 1024, 1)  # KiB -> MiB

    benchmark.pedantic(run, rounds=1, iterations=1)
    print(f"peak MiB beyond A (320 MB): {extra}")
    benchmark.extra_info["peak_mib_beyond_A"] = extra
