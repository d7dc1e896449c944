"""The ``sparsecert`` command: run sweeps, recover from files, certify, planted grids; ``repro`` and ``demo``
hand over to :mod:`paper_repro.cli` (the papers' figures), loaded on first use."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .plot import Panel, grid_heatmap
from .recovery import METHODS
from .registry import EXPERIMENTS
from .sweep import SweepCellError


def run_planted(args, out):
    """``sparsecert planted``'s grid from its checked arguments: CSV of every cell and a PSNR heatmap in
    ``out`` (paper Fig. 1 style; IHT and IMP side by side)."""
    from .configs import IHT, Sequential
    from .planted import Baselines, planted_mlp_grid
    from .io import write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layers, method, sequential, imp = args.layers, args.method, not args.fixed, args.imp
    rows = planted_mlp_grid(
        args.m, args.s, args.seeds, n=args.n, d=args.d, layers=layers, solver=IHT(method=method, max_iter=args.iters),
        rule=Sequential() if sequential else None, baselines=Baselines(imp=imp, imp_epochs=args.imp_epochs),
        progress=True, device=args.device,
    )
    stem = f"planted_mlp_L{layers}"
    write_csv(rows, out / f"{stem}.csv")
    kind = "sequential-convex" if sequential else "fixed-pattern"
    title = f"IHT: {kind} {method.upper()}\nn={args.n}, d={args.d}, PSNR (dB)"
    if imp:
        grid_heatmap(rows, [Panel("psnr", title),
                            Panel("imp_psnr", f"IMP: Adam 1e-3, 10%/round\n{args.imp_epochs} epochs/round, PSNR (dB)")],
                     path=out / f"{stem}.png")
    else:
        grid_heatmap(rows, Panel("psnr", title), path=out / f"{stem}.png")
    print(f"{len(rows)} cells; figure: {out / stem}.png, numbers: {out / stem}.csv")
    return rows


def _parse_grid(items, parser):
    """``k=v1,v2`` items -> {k: [values]} with ints, floats or strings."""
    def value(text):
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return text

    grid = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not key or not vals:
            parser.error(f"--grid expects name=v1,v2,..., got {item!r}")
        grid[key] = [value(v) for v in vals.split(",")]
    return grid


def _load(path, parser, name):
    """The one array of a ``.npy`` or one-array ``.npz`` file; anything else (a missing, damaged or
    pickled file, an object array, a zip with a bad CRC) is a parser error naming the file (exit 2)."""
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if len(data.files) != 1:
                    raise ValueError(f"it holds {data.files}; give a .npy or a one-array .npz")
                data = data[data.files[0]]  # read and CRC-checked here
    except Exception as exc:  # noqa: BLE001 - whatever the file does wrong, it is the user's file
        parser.error(f"{name}: cannot read {path}: {type(exc).__name__}: {exc}")
    return data


def _check_out_file(path, parser, option):
    """``path`` if a file can be written there (checked before any work), else a parser error (exit 2)."""
    path = Path(path)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK) or path.is_dir():
        parser.error(f"{option}: cannot write {path} (the folder must exist and be writable); checked before running")
    return path


def _same_file(a, b) -> bool:
    """Whether two paths name one file (a symlink or another spelling included)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _report_to_stderr(prog: str) -> None:
    """The library's warnings (``logging``: a capped pool, a store's cells of other versions) as one
    line each on stderr, prefixed with the command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: note: %(message)s"))
    log = logging.getLogger("sparsecert")
    log.handlers = [handler]
    log.propagate = False


def check_device(device, parser):
    """``--device`` resolved for the torch backend now (unknown, no torch, no such GPU: exit 2)."""
    if device is not None:
        from .backend import resolve

        try:
            resolve("torch", device)
        except (ValueError, ImportError) as exc:
            parser.error(f"--device: {exc}")


def check_out_dir(path, parser, option="--out"):
    """``path`` as a folder that exists (made here, before any work), else a parser error (exit 2)."""
    if Path(path).exists() and not Path(path).is_dir():
        parser.error(f"{option}: {path} is a file, not a folder")
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"{option}: cannot use {path} as the output folder ({exc.strerror or exc})")
    if not os.access(path, os.W_OK):
        parser.error(f"{option}: the output folder {path} is not writable")
    return path


def run_recover(args, parser):
    """``sparsecert recover``: y from --y, and A from --A (dense matrix) or X from --X (ReLU model)."""
    from .configs import IHT, Sequential
    from .fitting import fit
    from .recovery import iht, portfolio

    y = _load(args.y, parser, "--y")
    if (args.A is None) == (args.X is None):
        parser.error("give exactly one of --A (sensing matrix) or --X (data of a two-layer ReLU model)")
    out = Path(args.out)
    out = _check_out_file(out if out.suffix == ".npz" else out.with_name(out.name + ".npz"), parser, "--out")  # np.savez's name
    for option, given in (("--y", args.y), ("--A", args.A), ("--X", args.X)):
        if given is not None and _same_file(out, given):
            parser.error(f"--out {out} is the input {option} {given}: writing there would destroy it")
    option, M = ("--A", _load(args.A, parser, "--A")) if args.A is not None else ("--X", _load(args.X, parser, "--X"))
    if M.ndim == 2 and np.ndim(y) == 1 and M.shape[0] != len(y):
        flipped = " (its columns match --y: samples must be rows; transpose it)" if M.shape[1] == len(y) else ""
        parser.error(f"{option} has {M.shape[0]} rows (shape {M.shape}) but --y has {len(y)} values{flipped}")
    try:
        if args.A is not None:
            if args.method in (None, "portfolio"):
                res = portfolio(M, y, args.s, max_iter=args.iters)
            else:
                res = iht(M, y, args.s, solver=IHT(method=args.method, max_iter=args.iters))
        else:
            if args.method == "portfolio":
                parser.error("--method portfolio is for --A (linear recovery); with --X choose an IHT variant")
            if args.m is None:
                parser.error("--X needs --m (hidden width)")
            _, res = fit(M, y, m=args.m, s=args.s, solver=IHT(method=args.method or "aiht", max_iter=args.iters),
                         rule=None if args.fixed else Sequential(), output_sign=args.output_sign, rng=args.seed)
    except (ValueError, TypeError) as exc:
        print(f"sparsecert recover: error: {exc}", file=sys.stderr)
        return 2
    if res.status == "diverged" or not np.all(np.isfinite(res.w.values)):
        print(f"sparsecert recover: the run diverged after {res.n_iter} iterations (relative residual "
              f"{res.residual:.3e}); nothing written. Try --method niht or aiht (adaptive steps).", file=sys.stderr)
        return 1
    from .files import OutputError, atomic_write

    try:
        with atomic_write(out, "wb") as fh:
            np.savez(fh, indices=res.w.indices, values=res.w.values, size=res.w.size, residuals=res.residuals)
    except OutputError as exc:
        print(f"sparsecert recover: error: {exc}", file=sys.stderr)
        return 2
    print(f"{res.status} after {res.n_iter} iterations, relative residual {res.residual:.3e}, "
          f"{res.time:.2f} s; wrote {out} (indices, values, size, residuals)")
    return 0


def run_certify(args, parser):
    """``sparsecert certify``: print the certificates of a sensing matrix (and a solution)."""
    from . import certify as C

    A = np.asarray(_load(args.A, parser, "--A"))
    if A.ndim != 2:
        parser.error(f"--A must hold a 2-d matrix, got shape {A.shape}")
    if A.dtype.kind not in "biuf":
        parser.error(f"--A must hold a real numeric matrix, got dtype {A.dtype}")
    certs = []
    try:
        certs.append(C.mutual_coherence(A))
        certs += C.algorithm_certificates(A, args.s, exact_budget=args.budget, rng=args.seed)
        if args.support:
            try:
                S = [int(v) for v in args.support.split(",")]
            except ValueError:
                raise ValueError(f"--support must be comma-separated column indices, got {args.support!r}") from None
            certs += [C.exact_recovery_condition(A, S)]
            if len(S) <= 12 and A.shape[1] <= 400:
                certs.append(C.null_space_property(A, S))
        if args.y is not None and args.w is not None:
            w = _load(args.w, parser, "--w")
            certs += C.certify_solution(A, _load(args.y, parser, "--y"), w, args.s, exact_budget=args.budget)
    except (ValueError, TypeError) as exc:
        print(f"sparsecert certify: error: {exc}", file=sys.stderr)
        return 2
    width = max(len(c.name) for c in certs)
    for c in certs:
        print(f"{c.name:<{width}}  {c.status:7s} {c.method:7s} value {c.value:10.4g}  threshold {c.threshold:8.4g}  "
              f"{c.explanation}")
    return 0


def _sweep_parser(sub):
    sw = sub.add_parser("sweep", help="run or resume a grid sweep of a registered experiment into SQLite",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="examples:\n  sparsecert sweep gaussian_recovery --describe\n"
                        "  sparsecert sweep gaussian_recovery --grid n=40,60 N=100 s=2,5 method=niht --seeds 0 1 2 "
                        "--db g.sqlite --csv g.csv\n  (Ctrl-C stops it keeping every finished cell; the same command "
                        "resumes)")
    sw.add_argument("experiment", help=f"a registered experiment ({', '.join(EXPERIMENTS)}) or module:function")
    sw.add_argument("--describe", action="store_true",
                    help="list the experiment's parameters (type, range or choices, default) and exit")
    sw.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", help="parameter values (cells: their product)")
    sw.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every cell (default 0)")
    sw.add_argument("--db", default="sweep.sqlite", help="SQLite store (resumed if it exists)")
    sw.add_argument("--executor", choices=["serial", "process", "dask"], default="process",
                    help="where cells run: this process, a process pool (default), or Dask")
    sw.add_argument("--workers", type=int, default=None,
                    help="process-pool size (default: the cores this process may use; capped there)")
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address")
    sw.add_argument("--csv", default=None, help="also write the rows as CSV (never the store itself)")
    sw.add_argument("--drop-other-versions", action="store_true",
                    help="delete the store's cells of this experiment written by other versions of sparsecert "
                    "(they are never reused) before running")
    sw.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                    help="a cell that raises: stop the sweep (default) or skip it and run on; finished cells are stored either way")
    sw.set_defaults(run=_cmd_sweep)


def _recover_parser(sub):
    rc = sub.add_parser("recover", help="sparse recovery from .npy/.npz files",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="examples:\n  sparsecert recover --A A.npy --y y.npy --s 20 --method htp --out w.npz\n"
                        "  sparsecert recover --X X.npy --y y.npy --m 10 --s 30 --out net.npz   (a sparse ReLU net)")
    rc.add_argument("--y", required=True, help="measurements (n,)")
    rc.add_argument("--A", default=None, help="sensing matrix (n, N)")
    rc.add_argument("--X", default=None, help="data (n, d) of a two-layer ReLU model")
    rc.add_argument("--s", type=int, required=True, help="nonzeros")
    rc.add_argument("--m", type=int, default=None, help="hidden width (with --X)")
    rc.add_argument("--method", choices=list(METHODS) + ["portfolio"], default=None,
                    help="with --A: portfolio (default; OMP, HTP, AMP and the MCP path until one fits exactly) or one "
                    "IHT variant; with --X: the IHT variant (default aiht)")
    rc.add_argument("--iters", type=int, default=500, help="most iterations (default 500)")
    rc.add_argument("--fixed", action="store_true",
                    help="fixed random patterns, the recovery theorem's setting (with --X; default: sequential convex)")
    rc.add_argument("--output-sign", choices=["auto", "positive", "mixed"], default="auto",
                    help="output weights all +1 or +-1 (with --X; default auto: +1 where every y >= 0)")
    rc.add_argument("--seed", type=int, default=0, help="seeds the generators (with --X)")
    rc.add_argument("--out", default="recovered.npz", help="where the solution goes (.npz: indices, values, size, "
                    "residuals)")
    rc.set_defaults(run=run_recover)


def _certify_parser(sub):
    ce = sub.add_parser("certify", help="check recovery conditions of a sensing matrix (.npy/.npz)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  sparsecert certify --A A.npy --s 5 --support 3,7,11,19,42")
    ce.add_argument("--A", required=True, help="sensing matrix (n, N)")
    ce.add_argument("--s", type=int, required=True, help="sparsity")
    ce.add_argument("--support", default=None, help="comma-separated support for ERC and NSP")
    ce.add_argument("--y", default=None, help="measurements, with --w to certify a solution")
    ce.add_argument("--w", default=None, help="a solution (dense .npy of length N)")
    ce.add_argument("--budget", type=int, default=50_000, help="most supports to enumerate exactly")
    ce.add_argument("--seed", type=int, default=0, help="seeds the sampled supports of the bounds")
    ce.set_defaults(run=run_certify)


def _planted_parser(sub):
    pl = sub.add_parser("planted", help="planted sparse MLPs over your own (m, s) grid, PSNR heatmap",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  sparsecert planted --m 1 5 20 --s 5 20 50 --n 2000 --imp --out planted")
    pl.add_argument("--m", type=int, nargs="+", default=[1, 2, 5, 10, 20], help="hidden widths")
    pl.add_argument("--s", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50], help="nonzero weights")
    pl.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (averaged)")
    pl.add_argument("--n", type=int, default=5000, help="samples (paper: 50000)")
    pl.add_argument("--d", type=int, default=100, help="input dimension (paper: 100)")
    pl.add_argument("--layers", type=int, default=1, help="hidden layers (fitted layer by layer)")
    pl.add_argument("--method", choices=list(METHODS), default="aiht", help="the IHT variant (default aiht)")
    pl.add_argument("--iters", type=int, default=15, help="IHT iterations (paper: 15 epochs)")
    pl.add_argument("--fixed", action="store_true", help="fixed random patterns instead of sequential convex")
    pl.add_argument("--imp", action="store_true", help="also fit each instance by the IMP baseline")
    pl.add_argument("--imp-epochs", type=int, default=15, help="Adam epochs per IMP round")
    pl.add_argument("--out", default="figures", help="folder of the CSV and the heatmap (default figures)")
    pl.add_argument("--device", default=None, help="run IHT on the torch backend on this device (cpu, cuda, cuda:K); default NumPy")
    pl.set_defaults(run=_cmd_planted)


def build_parser() -> argparse.ArgumentParser:
    """The ``sparsecert`` parser: one sub-parser per command, each naming the function that runs it
    (``args.run(args, parser)``, its exit status)."""
    parser = argparse.ArgumentParser(
        prog="sparsecert",
        description="Provable recovery of sparse neural networks: IHT on implicit operators, pruning baselines, "
        "certificates and the papers' figures.",
    )
    parser.add_argument("--version", action="version", version=f"sparsecert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # the papers' figures live in the paper_repro package beside this one: these two verbs load it on first
    # use and hand it their arguments (this module imports nothing from it)
    sub.add_parser("repro", help="regenerate paper figures (PNG + CSV): python -m paper_repro, same options",
                   add_help=False)
    sub.add_parser("demo", help="every quick figure, two at a time (same as 'repro all --quick --jobs 2')",
                   add_help=False)
    for add in (_sweep_parser, _recover_parser, _certify_parser, _planted_parser):
        add(sub)
    return parser


def _cmd_sweep(args, parser):
    """``sparsecert sweep``: run or resume a sweep into its store (and a CSV)."""
    from .sweep import SweepFormatError, SweepInterrupted, describe, experiment_function, run_sweep

    try:
        experiment_function(args.experiment)  # a registered name or "module:function"
    except ValueError as exc:
        parser.error(str(exc))
    if args.describe:
        from .registry import parameters

        print(parameters(args.experiment))
        return 0
    if not args.grid:
        parser.error("sweep: --grid is required (see the parameters with --describe)")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be a positive number of processes, got {args.workers}")
    _check_out_file(args.db, parser, "--db")
    if args.csv:
        _check_out_file(args.csv, parser, "--csv")
        if _same_file(args.csv, args.db):
            parser.error(f"--csv {args.csv} is the sweep store --db {args.db}: writing the rows there would "
                         "destroy it; give another file")
    _report_to_stderr("sparsecert sweep")
    try:
        if args.drop_other_versions:
            from .sweep import SweepStore, name_and_target

            with SweepStore(args.db) as store:
                dropped = store.drop_other_versions(name_and_target(args.experiment)[0])
            print(f"dropped {dropped} cells of other versions from {args.db}")
        res = run_sweep(args.experiment, _parse_grid(args.grid, parser), args.seeds, args.db,
                        executor=args.executor, workers=args.workers, scheduler=args.scheduler, progress=True,
                        on_error=args.on_error)
        print(f"{res.ran} cells run, {res.skipped} already in {args.db}; {len(res.rows)} rows")
        if args.csv:
            print(f"rows: {res.to_csv(args.csv)}")
    except SweepInterrupted as exc:
        print(f"sparsecert sweep: {exc}", file=sys.stderr)
        return 130
    except (SweepFormatError, ValueError, TypeError, ImportError, OSError) as exc:
        print(f"sparsecert sweep: error: {exc}", file=sys.stderr)
        return 2
    except SweepCellError as exc:
        print(f"sparsecert sweep: error: {exc}", file=sys.stderr)
        return 1
    for f in res.failed:
        print(f"sparsecert sweep: cell ({describe(f['params'], f['seed'])}) failed: {f['error']}", file=sys.stderr)
    if res.failed:
        print(f"sparsecert sweep: {len(res.failed)} cells failed and were skipped (not stored; a rerun retries them)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_planted(args, parser):
    """``sparsecert planted``: the planted-MLP grid over the user's (m, s)."""
    bad = [f"--{k} {v}" for k, vals in (("m", args.m), ("s", args.s), ("seeds", args.seeds)) for v in vals
           if v < (0 if k == "seeds" else 1)]
    if bad or args.n < 1 or args.d < 1 or args.layers < 1 or args.iters < 1:
        parser.error(f"sizes must be positive (seeds non-negative); got {' '.join(bad) or 'a non-positive --n/--d/--layers/--iters'}")
    from .planted import capacity

    if not any(args.layers <= s <= capacity(m, args.d, args.layers) for m in args.m for s in args.s):
        parser.error(f"no (m, s) cell fits: every --s exceeds the weights of a width-m net (m * d = "
                     f"{max(args.m) * args.d} at the largest --m)")
    check_device(args.device, parser)
    from ._memory import WorkingSetError

    try:
        run_planted(args, check_out_dir(args.out, parser))
    except (WorkingSetError, OSError) as exc:  # a grid this machine cannot hold; an output it cannot write
        print(f"sparsecert planted: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("repro", "demo"):
        figures = importlib.import_module("paper_repro.cli")
        return figures.main(["all", "--quick", "--jobs", "2", *argv[1:]] if argv[0] == "demo" else argv[1:],
                            prog=f"sparsecert {argv[0]}")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args, parser)


if __name__ == "__main__":
    sys.exit(main())
