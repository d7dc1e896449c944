"""The ``sparsecert`` command."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .models import planted_gaussian, planted_relu
from .plot import convergence_figure
from .recovery import METHODS, iht


def _rel_err(w_hat, w):
    diff = np.zeros(w.size)
    diff[w_hat.indices] = w_hat.values
    diff[w.indices] -= w.values
    return float(np.linalg.norm(diff) / np.linalg.norm(w.values))


def run_demo(out, quick=True, seed=0):
    """Recover a planted Gaussian and a planted two-layer ReLU problem with every IHT method.

    Prints relative error, iterations and time; writes
    ``out/demo_convergence.png`` and ``out/demo_convergence.csv``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    N, s = (1000, 10) if quick else (20000, 100)
    n = math.ceil(4 * s * math.log(N / s))
    gauss = planted_gaussian(n, N, s, rng=seed)
    n_r, d, m, s_r = (4000, 100, 20, 60) if quick else (20000, 100, 200, 400)
    relu = planted_relu(n_r, d, m, s_r, rng=seed)
    problems = {
        f"Gaussian A\nn={n}, N={N}, s={s}": gauss,
        f"ReLU patterns, planted generators\nn={n_r}, d={d}, m={m}, s={s_r}": relu,
    }
    panels, rows = {}, []
    for name, p in problems.items():
        print(name.replace("\n", ": "))
        panels[name] = {}
        for method in METHODS:
            res = iht(p.A, p.y, p.w.nnz, method=method, max_iter=1000 if quick else 5000, progress=False)
            err = _rel_err(res.w, p.w)
            print(
                f"  {method:5s} rel. error {err:9.2e}  iterations {res.n_iter:5d}  "
                f"time {res.time:7.3f} s  peak work memory {res.peak_memory / 2**20:6.1f} MiB  [{res.status}]"
            )
            panels[name][method] = res
            rows.append([name, method, err, res.n_iter, res.time, res.peak_memory, res.status])
    png = out / "demo_convergence.png"
    convergence_figure(panels, png, title="IHT family on planted problems")
    with open(out / "demo_convergence.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["problem", "method", "rel_error", "iterations", "time_s", "peak_bytes", "status"])
        w.writerows(rows)
    print(f"figure: {png}")
    return panels


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="sparsecert",
        description="Provable recovery of sparse neural networks: IHT on implicit operators, "
        "pruning baselines, certificates and paper figures.",
    )
    parser.add_argument("--version", action="version", version=f"sparsecert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="recover planted Gaussian and ReLU problems and draw convergence curves")
    demo.add_argument("--out", default="figures", help="directory for the figure and CSV (default: figures)")
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=True, help="small sizes (default)")
    mode.add_argument("--full", dest="quick", action="store_false", help="larger sizes (minutes)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        if args.seed < 0:
            parser.error("--seed must be a non-negative integer")
        run_demo(args.out, quick=args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
