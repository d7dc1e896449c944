"""Benchmarks of the ReLU-pattern operator and one IHT iteration (pytest-benchmark).

Run with ``make bench`` (or ``pytest tests/bench --benchmark-enable``). Each
group compares sparsecert with a named baseline measured in the same run:

* ``gemm-bound``: the two NumPy GEMMs ``Z = X @ H.T`` and ``X.T @ R`` for the
  same shapes (n=20000, d=100, m=1000) -- the arithmetic any exact gradient
  ``A^T r`` must do -- against ``rmatvec``, the streaming top-s pass and one
  full NIHT iteration (s=1000, warm started, support settled).
* ``dense``: one NIHT iteration with A materialised as an n x md NumPy array
  (m=100 so that it fits: 1.6 GB) against the implicit operator, same m.

No timing is asserted. The memory test runs NIHT at n=50000, d=100,
m=1000, s=1000 in a fresh process and checks the peak resident set growth
stays under 1 GB (the dense A alone would be 40 GB).
"""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sparsecert as sc

n, d, m, s = 20000, 100, 1000, 1000


@functools.lru_cache(maxsize=None)
def problem(m_=m):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    A = sc.ReluPatternOperator(X, m_, rng=1)
    idx = np.sort(rng.choice(m_ * d, s, replace=False))
    w = sc.SparseVector(idx, rng.standard_normal(s), m_ * d)
    return X, A, w, A.matvec(w)


def warm_solver(A, y, w):
    solver = sc.IHTSolver(A, y, s, method="niht", w0=w)
    solver.step()  # settle masks and support
    return solver


@pytest.mark.benchmark(group="gemm-bound")
def test_two_gemm_baseline(benchmark):
    X, A, _, _ = problem()
    H = A.generators()
    R = np.empty((n, m))

    def two_gemms():
        np.matmul(X, H.T, out=R)
        return X.T @ R

    benchmark(two_gemms)


@pytest.mark.benchmark(group="gemm-bound")
def test_rmatvec(benchmark):
    _, A, _, y = problem()
    benchmark(A.rmatvec, y)


@pytest.mark.benchmark(group="gemm-bound")
def test_gradient_split_topk(benchmark):
    _, A, w, y = problem()
    benchmark(A.gradient_split, y, w.indices, s)


@pytest.mark.benchmark(group="gemm-bound")
def test_niht_iteration(benchmark):
    _, A, w, y = problem()
    solver = warm_solver(A, y, w)
    benchmark(solver.step)
    benchmark.extra_info["peak_work_bytes"] = solver.peak_memory


def _dense_case():
    X, A, w, y = problem(100)
    return sc.DenseOperator(A.columns(np.arange(100 * d))), A, w, y


@pytest.mark.benchmark(group="dense")
def test_dense_matrix_iteration(benchmark):
    D, _, w, y = _dense_case()
    solver = warm_solver(D, y, w)
    benchmark(solver.step)
    benchmark.extra_info["matrix_bytes"] = D.matrix.nbytes


@pytest.mark.benchmark(group="dense")
def test_implicit_iteration_same_size(benchmark):
    _, A, w, y = _dense_case()
    solver = warm_solver(A, y, w)
    benchmark(solver.step)
    benchmark.extra_info["peak_work_bytes"] = solver.peak_memory


MEMORY_SCRIPT = r"""
import json, numpy as np, sparsecert as sc

def hwm():  # peak resident set of this process, bytes (Linux)
    line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    return int(line.split()[1]) * 1024

q = sc.planted_relu(50, 5, 4, 6, rng=0)
sc.iht(q.A, q.y, 6, max_iter=3)  # load the compiled kernels before measuring
n, d, m, s = 50000, 100, 1000, 1000
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d))
A = sc.ReluPatternOperator(X, m, rng=1)
A.XT  # the transpose copy of X is counted as data, like X
base = hwm()
idx = np.sort(rng.choice(m * d, s, replace=False))
w = sc.SparseVector(idx, rng.standard_normal(s), m * d)
y = A.matvec(w)
res = sc.iht(A, y, s, method="niht", max_iter=5)
print(json.dumps({"rss_growth": hwm() - base, "data_bytes": X.nbytes * 2,
                  "estimate": res.peak_memory, "iters": res.n_iter, "time": res.time}))
"""


@pytest.mark.benchmark(group="memory")
def test_peak_memory_n50000(benchmark):
    """NIHT at n=50000, d=100, m=1000, s=1000: growth of the peak RSS over the data < 1 GB."""

    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak RSS is read from /proc (Linux)")

    def run():
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    info = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(info)
    assert info["rss_growth"] < 2**30
