"""scnn (the convex-reformulation library: gated ReLU + group L1, R-FISTA) against
``sparsecert.fit(..., restarts=Restarts())`` on mixed-sign planted two-layer ReLU nets.

scnn is not a benchmark extra: its PyPI package ``pyscnn`` requires torchvision, whose newest wheel
replaces the pinned CPU torch by a CUDA build. It runs in a throwaway environment that borrows this
project's packages (``docs/explanations/compared.md``)::

    python3 -m venv /tmp/scnnvenv --system-site-packages
    /tmp/scnnvenv/bin/pip install --no-deps pyscnn==0.0.10 linalg_backends==0.0.1b0 opt_einsum tqdm
    /tmp/scnnvenv/bin/pip install cvxpy
    PYTHONPATH=.venv/lib/python3.11/site-packages:. /tmp/scnnvenv/bin/python benchmarks/scnn_planted.py --seeds 2

scnn's fit is tuned as a user would: 100 or 500 gate vectors, group-L1 strength in
{1e-2, 1e-3, 1e-4, 1e-5}, chosen by the mean squared error on a held-out fifth of the samples.
Printed per instance: test PSNR (2,000 fresh samples, ``sparsecert.metrics.psnr``), nonzero weights
and time, for both.
"""

import argparse
import time
import warnings

import numpy as np

import sparsecert as sc
from sparsecert.metrics import psnr

CONFIGS = [(1000, 10, 5, 20), (2000, 20, 10, 40), (5000, 20, 20, 60)]


def scnn_fit(X, y, seed):
    """The best of scnn's gated-ReLU fits by validation error: (model, gate vectors, strength, seconds)."""
    from scnn.optimize import optimize
    from scnn.regularizers import NeuronGL1

    cut = int(0.8 * len(y))
    best, t0 = None, time.perf_counter()
    for neurons in (100, 500):
        for lam in (1e-2, 1e-3, 1e-4, 1e-5):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, _ = optimize("gated_relu", neurons, X[:cut], y[:cut], regularizer=NeuronGL1(lam),
                                    dtype="float64", seed=seed)
            val = float(np.mean((model(X[cut:]).ravel() - y[cut:]) ** 2))
            if best is None or val < best[0]:
                best = (val, model, neurons, lam)
    return best[1], best[2], best[3], time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="instances per configuration (seeds 1000, 1001, ...)")
    args = parser.parse_args()
    for n, d, m, s in CONFIGS:
        for seed in range(args.seeds):
            p = sc.planted_relu(n, d, m, s, rng=1000 + seed, output_sign="mixed")
            Xt = np.random.default_rng(1000 + seed + 10**6).standard_normal((2000, d))
            yt = p.model.forward(Xt)
            model, neurons, lam, spent = scnn_fit(p.X, p.y, seed)
            nnz = int(np.count_nonzero(np.abs(model.parameters[0]) > 1e-10))
            t0 = time.perf_counter()
            net, _ = sc.fit(p.X, p.y, m=m, s=s, rng=seed, output_sign="mixed", progress=False, restarts=sc.Restarts())
            ours = time.perf_counter() - t0
            print(f"({n}, {d}, {m}, {s}) seed {1000 + seed}: scnn ({neurons} gates, lambda {lam}) "
                  f"{psnr(yt, model(Xt).ravel()):.1f} dB, {nnz} nonzeros, {spent:.1f} s | ours "
                  f"{psnr(yt, net.forward(Xt)):.1f} dB, {net.nnz} nonzeros, {ours:.1f} s", flush=True)


if __name__ == "__main__":
    main()
