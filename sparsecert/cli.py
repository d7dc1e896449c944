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
from .plot import convergence_figure, grid_heatmap
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
    print("planted sparse MLPs (sequential-convex AIHT, 15 iterations):")
    grid = ([1, 2, 5, 10, 20], [1, 2, 5, 10, 20, 50]) if quick else ([1, 2, 5, 10, 20, 50, 100, 200], [1, 2, 5, 10, 20, 50, 100, 200])
    run_planted(*grid, [seed], out, n=5000 if quick else 50000)
    from .repro import linear_imp

    print("IMP in linear models against OMP, Lasso, backward elimination:")
    for path in linear_imp.run(out, quick=quick, seed=seed):
        print(f"figure: {path}")
    return panels


def run_planted(ms, ss, seeds, out, n=5000, d=100, layers=1, method="aiht", max_iter=15, sequential=True, imp=False,
                imp_epochs=15):
    """The planted-MLP grid: CSV of every cell and a PSNR heatmap (paper Fig. 1 style; IHT and IMP side by side)."""
    from .experiments import planted_mlp_grid, write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = planted_mlp_grid(
        ms, ss, seeds, n=n, d=d, layers=layers, method=method, max_iter=max_iter, sequential=sequential,
        imp_baseline=imp, imp_epochs=imp_epochs, progress=True,
    )
    if not rows:
        raise SystemExit("sparsecert planted: no (m, s) cell fits (need s <= m * d)")
    stem = f"planted_mlp_L{layers}"
    write_csv(rows, out / f"{stem}.csv")
    kind = "sequential-convex" if sequential else "fixed-pattern"
    title = f"IHT: {kind} {method.upper()}\nn={n}, d={d}, PSNR (dB)"
    if imp:
        grid_heatmap(rows, ["psnr", "imp_psnr"], path=out / f"{stem}.png",
                     title=[title, f"IMP: Adam 1e-3, 10%/round\n{imp_epochs} epochs/round, PSNR (dB)"])
    else:
        grid_heatmap(rows, "psnr", path=out / f"{stem}.png", title=title)
    print(f"{len(rows)} cells; figure: {out / stem}.png, numbers: {out / stem}.csv")
    return rows


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
    pl = sub.add_parser("planted", help="planted sparse MLPs: fit by IHT over an (m, s) grid, PSNR heatmap")
    pl.add_argument("--m", type=int, nargs="+", default=[1, 2, 5, 10, 20], help="hidden widths")
    pl.add_argument("--s", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50], help="nonzero weights")
    pl.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (averaged)")
    pl.add_argument("--n", type=int, default=5000, help="samples (paper: 50000)")
    pl.add_argument("--d", type=int, default=100, help="input dimension (paper: 100)")
    pl.add_argument("--layers", type=int, default=1, help="hidden layers (fitted layer by layer)")
    pl.add_argument("--method", choices=list(METHODS), default="aiht")
    pl.add_argument("--iters", type=int, default=15, help="IHT iterations (paper: 15 epochs)")
    pl.add_argument("--fixed", action="store_true", help="fixed random patterns instead of sequential convex")
    pl.add_argument("--imp", action="store_true", help="also fit each instance by the IMP baseline")
    pl.add_argument("--imp-epochs", type=int, default=15, help="Adam epochs per IMP round")
    pl.add_argument("--out", default="figures")
    rp = sub.add_parser("repro", help="regenerate a paper figure (PNG + CSV)")
    from .repro import REGISTRY

    rp.add_argument("name", choices=sorted(REGISTRY) + ["list"], help="figure to regenerate, or 'list'")
    rmode = rp.add_mutually_exclusive_group()
    rmode.add_argument("--quick", dest="quick", action="store_true", default=True, help="small configuration (default)")
    rmode.add_argument("--full", dest="quick", action="store_false", help="the documented full configuration")
    rp.add_argument("--out", default="figures")
    rp.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        if args.seed < 0:
            parser.error("--seed must be a non-negative integer")
        run_demo(args.out, quick=args.quick, seed=args.seed)
    elif args.command == "repro":
        if args.name == "list":
            for name, mod in sorted(REGISTRY.items()):
                print(f"{name:14s} {mod.__doc__.strip().splitlines()[0]}")
            return 0
        for path in REGISTRY[args.name].run(args.out, quick=args.quick, seed=args.seed):
            print(f"figure: {path}")
    elif args.command == "planted":
        bad = [f"--{k} {v}" for k, vals in (("m", args.m), ("s", args.s), ("seeds", args.seeds)) for v in vals if v < (0 if k == "seeds" else 1)]
        if bad or args.n < 1 or args.d < 1 or args.layers < 1 or args.iters < 1:
            parser.error(f"sizes must be positive (seeds non-negative); got {' '.join(bad) or 'a non-positive --n/--d/--layers/--iters'}")
        run_planted(
            args.m, args.s, args.seeds, args.out, n=args.n, d=args.d, layers=args.layers, method=args.method,
            max_iter=args.iters, sequential=not args.fixed, imp=args.imp, imp_epochs=args.imp_epochs,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
