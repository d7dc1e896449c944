"""Planted two-layer ReLU nets recovered from scratch (issue 38, Deliver 3; slow, opt-in benchmark).

Mixed-sign planted nets (``planted_relu(..., output_sign="mixed")``, seeds 1000-1029) at
(n, d, m, s) = (1000, 10, 5, 20), (2000, 20, 10, 40), (5000, 20, 20, 60), n / s >= 50. Each is
fitted by ``sparsecert.fit(..., restarts=Restarts())`` and by the same call without restarts (one
sequential fit, the baseline in the same run); exact means outputs on 2,000 fresh samples within
1e-4 relative (the relu-phase criterion). Recorded: the exact rate of each, the mean and largest
time and the tries. Where scnn imports (``peers.scnn_gated`` says how to install it), its tuned
gated-ReLU fit runs on the first two seeds of each configuration beside ours: test PSNR and nonzero
weights of both. Nothing is asserted.
"""

import os
import sys
import time

import numpy as np
import pytest

import sparsecert as sc
from sparsecert.metrics import psnr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import installed, scnn_gated  # noqa: E402

CONFIGS = [(1000, 10, 5, 20), (2000, 20, 10, 40), (5000, 20, 20, 60)]


def _instance(config, seed):
    n, d, m, s = config
    p = sc.planted_relu(n, d, m, s, rng=seed, output_sign="mixed")
    Xt = np.random.default_rng(seed + 10**6).standard_normal((2000, d))
    return p, Xt, p.model.forward(Xt)


def _against_scnn(config, seeds=(1000, 1001)):
    """Test PSNR and nonzeros of scnn's tuned fit and of ours with Restarts(), per seed."""
    n, d, m, s = config
    rows = []
    for seed in seeds:
        p, Xt, yt = _instance(config, seed)
        model, nnz = scnn_gated(p.X, p.y, seed - 1000)
        net, _ = sc.fit(p.X, p.y, m=m, s=s, rng=seed - 1000, output_sign="mixed", progress=False,
                        restarts=sc.Restarts())
        rows.append({"seed": seed, "scnn_psnr": psnr(yt, model(Xt).ravel()), "scnn_nnz": nnz,
                     "ours_psnr": psnr(yt, net.forward(Xt)), "ours_nnz": net.fused_weights().nnz})
    return rows


def _run(config, restarts, seeds=range(1000, 1030)):
    n, d, m, s = config
    exact, seconds, tries = [], [], []
    for seed in seeds:
        p, Xt, yt = _instance(config, seed)
        t0 = time.perf_counter()
        net, res = sc.fit(p.X, p.y, m=m, s=s, rng=seed - 1000, output_sign="mixed", progress=False, restarts=restarts)
        seconds.append(time.perf_counter() - t0)
        tries.append(res.info.get("tries", 1))
        exact.append(np.linalg.norm(net.forward(Xt) - yt) <= 1e-4 * np.linalg.norm(yt))
    return {"exact": float(np.mean(exact)), "mean_s": float(np.mean(seconds)), "max_s": float(np.max(seconds)),
            "mean_tries": float(np.mean(tries))}


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "n{}-d{}-m{}-s{}".format(*c))
def test_planted_nets_from_scratch(benchmark, config):
    benchmark.group = "relu-from-scratch"
    out = {}
    benchmark.pedantic(lambda: out.update(restarts=_run(config, sc.Restarts()), one_fit=_run(config, None)),
                       rounds=1, iterations=1)
    print(f"\n{config}: with Restarts() {out['restarts']}; one fit {out['one_fit']}")
    if installed("scnn"):
        out["scnn"] = _against_scnn(config)
        print(f"{config} against scnn: {out['scnn']}")
    benchmark.extra_info.update(out)
