"""The GPU measurements of the torch backend, in one short run (for a session lent a CUDA machine).

    python benchmarks/gpu_check.py [--device cuda] [--out DIR] [--small]

Writes ``gpu_check.json`` to ``--out`` (default ``$OUT`` or the current
folder) and prints it. Measured, for each instance (n, d, m, s):

* ``gradient_pass_s``: the GPU's own exact gradient pass in torch, float64,
  ``X.T @ (1[X H.T >= 0] * r)`` (the baseline of the issue's 10x target);
* ``iteration_s``: one sequential AIHT iteration of sparsecert on the device
  (median of 5 after 3 warm-up iterations) and its ratio to the pass;
* ``device_bytes_beyond_X``: peak device memory minus the bytes of X;
* ``psnr_15``: PSNR of the 15-iteration fit (the CPU backend's on the same
  instance: 33.25, 38.81, 38.18 dB for the three instances);
* ``iteration_f32_s``: the same iteration in float32 (X, y and the
  products in single precision) at the largest instance;
* ``fig1_cells``: seconds and PSNR of the cells of the paper's Fig. 1 grid
  (1 hidden layer, n = 50,000, d = 100, m and s in {1, 2, 5, ..., 1000},
  seed 0, IHT only), run in a fixed shuffled order until ``--grid-budget``
  seconds are spent, so that a partial run is an unbiased sample;
  ``fig1_cells_projection`` scales the measured seconds to all cells and 3 seeds;
* ``fig2_cells``: the same for Fig. 2 (10 outputs, vector IHT, batch 5000)
  at 10 of the paper's 100 epochs per cell (``--fig2-budget``); its
  projection is scaled x 10 to the paper's epochs.

Needs numpy, scipy, numba, torch; tqdm and threadpoolctl are optional here.
``--small`` runs tiny sizes (a CPU check that the script works).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

if importlib.util.find_spec("tqdm") is None:  # a bare GPU machine: a silent stand-in for the progress bar

    class _Bar:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k=1):
            pass

        def __iter__(self):
            return iter(())

    def _tqdm(iterable=None, *args, **kwargs):
        return _Bar() if iterable is None else iterable

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = _tqdm
    sys.modules["tqdm"] = types.ModuleType("tqdm")
    sys.modules["tqdm.auto"] = auto

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sparsecert as sc  # noqa: E402
from sparsecert.planted import capacity, planted_mlp, planted_vector  # noqa: E402
from sparsecert.operators import TorchReluPatternOperator, pattern_triton  # noqa: E402
from sparsecert.metrics import psnr  # noqa: E402


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, reps):
    out = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def gradient_pass_seconds(X, m, device):
    """Median seconds of the exact gradient pass ``X.T @ (1[X H.T >= 0] * r)`` in torch (float64)."""
    X = torch.as_tensor(X, device=device)
    H = torch.randn(m, X.shape[1], dtype=torch.float64, device=device)
    r = torch.randn(X.shape[0], dtype=torch.float64, device=device)

    def gradient():
        return X.T @ ((X @ H.T >= 0) * r[:, None])

    timed(gradient, device, 2)
    return timed(gradient, device, 10)


def iteration_seconds(X, y, m, s, device, products=None):
    """Median seconds of one sequential AIHT iteration (after 3 warm-up iterations) on ``device``;
    ``products`` (a dict) receives the seconds of the current support's restricted products in
    each mode (per-entry Triton kernels, GEMMs over the active blocks) and its fill."""
    A = TorchReluPatternOperator(X, m, rng=1, device=device)
    solver = sc.SequentialIHTSolver(A, y, s, method="aiht", inner_iter=3)

    def step():
        solver.step()
        solver.n_iter += 1

    for _ in range(3):
        step()
    it = timed(step, device, 5)
    if products is not None:
        R = solver._support_operator()
        v, r = np.random.default_rng(0).standard_normal(R.shape[1]), solver.r
        products.update(fill=R.shape[1] / (R.blocks.size * A.d), mode=R.mode)
        modes = ["gemm"] + (["entries"] if R.entry_rows is not None else [])
        for mode in modes:
            R.mode = mode
            products[f"matvec_{mode}_s"] = timed(lambda: R.matvec(v), device, 10)
            products[f"rmatvec_{mode}_s"] = timed(lambda: R.rmatvec(r), device, 10)
    return it


def instance_row(n, d, m, s, device, f32=False):
    p = sc.planted_relu(n, d, m, s, rng=0)
    grad = gradient_pass_seconds(p.X, m, device)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    products = {}
    it = iteration_seconds(p.X, p.y, m, s, device, products)
    peak = torch.cuda.max_memory_allocated() - p.X.nbytes if device.startswith("cuda") else None
    t0 = time.perf_counter()
    net, res = sc.fit(p.X, p.y, m=m, s=s, solver=sc.IHT("aiht", max_iter=15, tol=0.0), rng=1, device=device,
                      progress=False)
    row = {"n": n, "d": d, "m": m, "s": s, "gradient_pass_s": grad, "iteration_s": it,
           "ratio_to_gradient_pass": it / grad, "device_bytes_beyond_X": peak,
           "psnr_15": psnr(p.y, net.forward(p.X)), "fit_15_s": time.perf_counter() - t0,
           "restricted_products": products}
    if f32:
        row["iteration_f32_s"] = iteration_seconds(p.X.astype("float32"), p.y.astype("float32"), m, s, device)
    return row


def shuffled(cells):
    """``cells`` in a fixed shuffled order (a run cut short by its budget is an unbiased sample)."""
    return [cells[i] for i in np.random.default_rng(0).permutation(len(cells))]


def run_cells(report, name, cells, fit, budget, save, scale=1.0):
    """``fit(m, s)`` (a row with ``psnr``) on ``cells`` until ``budget`` seconds are spent; records
    ``report[name]`` and ``report[name + "_projection"]`` (seconds for all cells, x ``scale``)."""
    rows = report[name] = []
    start = time.perf_counter()
    for m, s in cells:
        if time.perf_counter() - start > budget:
            break
        t0 = time.perf_counter()
        row = fit(m, s)
        rows.append({"m": m, "s": s, "seconds": time.perf_counter() - t0, "psnr": row["psnr"]})
        print(json.dumps(rows[-1]), flush=True)
        save()
    if rows:
        one_seed = scale * sum(r["seconds"] for r in rows) / len(rows) * len(cells)
        report[name + "_projection"] = {"cells_measured": len(rows), "cells_in_grid": len(cells),
                                        "seconds_one_seed": one_seed, "seconds_three_seeds": 3 * one_seed}
        print(json.dumps(report[name + "_projection"]), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--small", action="store_true", help="tiny sizes: check that the script runs")
    ap.add_argument("--grid-budget", type=float, default=150.0, help="seconds for the Fig. 1 grid cells")
    ap.add_argument("--fig2-budget", type=float, default=60.0, help="seconds for the Fig. 2 grid cells")
    args = ap.parse_args(argv)
    sc.backend.resolve("torch", args.device)
    if args.small:
        instances, n, d, grid = [(3000, 20, 30, 40)], 3000, 20, (5, 30)
    else:
        instances = [(20000, 100, 200, 200), (50000, 100, 1000, 1000), (200000, 100, 1000, 1000)]
        n, d, grid = 50000, 100, (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    report = {"device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
              "torch": torch.__version__, "triton_kernels": pattern_triton.available(args.device),
              "triton_error": pattern_triton.unavailable_reason(), "instances": []}
    out = Path(args.out) / "gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        out.write_text(json.dumps(report, indent=1))

    for k, inst in enumerate(instances):
        report["instances"].append(instance_row(*inst, args.device, f32=k == len(instances) - 1))
        print(json.dumps(report["instances"][-1]), flush=True)
        save()
    fig1 = shuffled([(m, s) for m in grid for s in grid if s <= capacity(m, d, 1)])
    run_cells(report, "fig1_cells", fig1, lambda m, s: planted_mlp(m, s, 0, n=n, d=d, device=args.device),
              args.grid_budget, save)
    # Fig. 2: 10 outputs, batch 5000; a tenth of the paper's 100 epochs per cell, the projection x 10
    fig2 = shuffled([(m, s) for m in grid for s in grid if 2 <= s <= m * (d + 10)])
    run_cells(report, "fig2_cells", fig2,
              lambda m, s: planted_vector(m, s, 0, n=n, d=d, batches=sc.Minibatch(5000, 10), device=args.device),
              args.fig2_budget, save, scale=10.0)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
