"""Where one sequential AIHT iteration spends its time, per thread count (developer tool).

Times the parts of a step (the streaming gradient pass, the restrictions with their mask
gathers, the inner CGLS, the generator update and its masks) and every row-parallel pass by
kernel, at each thread count, on the benchmark's planted instance::

    python benchmarks/profile_iteration.py --inst 50000 100 1000 1000 --threads 1 2 4 8 16 --out prof.json

Numbers are wall seconds per iteration (median over ``--rounds`` iterations after a warm-up).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import time

import numpy as np

import sparsecert as sc
from sparsecert import parallel
from sparsecert.operators import relu_pattern, restricted_pattern
from sparsecert.parallel import n_threads, single_threaded_blas
from sparsecert.recovery import SequentialIHTSolver
from sparsecert.recovery import solver as solver_mod

TIMES: dict = collections.defaultdict(float)


def timed(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - t0

    return wrapper


def instrument():
    P = sc.ReluPatternOperator
    P.gradient_split = timed("gradient_split", P.gradient_split)
    P.restrict = timed("restrict", P.restrict)
    P.following = timed("following", P.following)
    P._followed_masks = timed("followed_masks", P._followed_masks)
    solver_mod.cgls = timed("cgls", solver_mod.cgls)  # the name the solver calls
    restricted_pattern.gather_masks = timed("gather_masks", restricted_pattern.gather_masks)
    original = parallel.map_rows

    def map_rows(fn, n, **kw):
        name = "rows:" + getattr(fn, "__qualname__", "?").replace(".<locals>", "")
        t0 = time.perf_counter()
        try:
            return original(fn, n, **kw)
        finally:
            TIMES[name] += time.perf_counter() - t0

    parallel.map_rows = map_rows
    for module in (relu_pattern, restricted_pattern):
        if hasattr(module, "map_rows"):
            module.map_rows = map_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inst", type=int, nargs=4, default=[50000, 100, 1000, 1000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    n, d, m, s = args.inst
    p = sc.planted_relu(n, d, m, s, rng=0)
    instrument()
    report = {"inst": args.inst, "cores": parallel.available_cores(), "threads": {}}
    for k in args.threads:
        with n_threads(k), single_threaded_blas():
            A = sc.ReluPatternOperator(p.X, m, rng=1)
            solver = SequentialIHTSolver(A, p.y, s, method="aiht", inner_iter=3)
            for _ in range(3):
                solver.step()
                solver.n_iter += 1
            per_round = []
            for _ in range(args.rounds):
                TIMES.clear()
                t0 = time.perf_counter()
                solver.step()
                solver.n_iter += 1
                TIMES["step"] = time.perf_counter() - t0
                per_round.append(dict(TIMES))
        keys = sorted({key for r in per_round for key in r})
        med = {key: float(np.median([r.get(key, 0.0) for r in per_round])) for key in keys}
        report["threads"][k] = med
        print(f"threads {k}: " + ", ".join(f"{key} {1e3 * v:.1f}" for key, v in sorted(med.items(), key=lambda t: -t[1])))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
