"""The two-GEMM bound X^T (X H^T) at a given number of BLAS threads (developer tool).

    python benchmarks/gemm_threads.py --inst 50000 100 1000 --threads 2 16
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

ap = argparse.ArgumentParser()
ap.add_argument("--inst", type=int, nargs=3, default=[50000, 100, 1000])
ap.add_argument("--threads", type=int, nargs="+", default=[2])
args = ap.parse_args()
n, d, m = args.inst
rng = np.random.default_rng(0)
X, H = rng.standard_normal((n, d)), rng.standard_normal((m, d))
for k in args.threads:
    with threadpool_limits(k, user_api="blas"):
        X.T @ (X @ H.T)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            X.T @ (X @ H.T)
            times.append(time.perf_counter() - t0)
    print(f"two-GEMM n={n} d={d} m={m} threads {k}: {1e3 * np.median(times):.1f} ms")
