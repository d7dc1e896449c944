"""Iteration time of this tree against another version's, on the benchmark instances (issue "One way to
fit a sparse network": within 5 % of 0.3.4).

    git worktree add /tmp/v034 9af1fa9~1          # 0.3.4
    python benchmarks/iteration_versions.py /tmp/v034 --rounds 3

Each round runs one fresh process per tree, alternately (so drift of the machine falls on both); a
process times the median of 15 warm steps per instance: NIHT and AIHT on ``IHTSolver`` (warm started at
the planted weights) and the sequential rule (``SequentialIHTSolver``, published admission, random idle
generators, after 3 steps). Prints per instance the median over rounds of each tree and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: (n, d, m, s, solver)
INSTANCES = [(20000, 100, 1000, 1000, "niht"), (20000, 100, 100, 1000, "niht"), (20000, 100, 200, 200, "aiht"),
             (20000, 100, 200, 200, "sequential"), (20000, 100, 1000, 1000, "sequential")]


def measure(steps: int = 15) -> dict:
    """Median seconds per step of each instance, with the ``sparsecert`` found on ``sys.path``."""
    import sparsecert as sc
    from sparsecert.recovery import SequentialIHTSolver

    out = {}
    for n, d, m, s, kind in INSTANCES:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, d))
        A = sc.ReluPatternOperator(X, m, rng=1)
        if kind == "sequential":
            U = np.zeros((m, d))
            U.flat[rng.choice(m * d, s, replace=False)] = rng.standard_normal(s)
            solver = SequentialIHTSolver(A, np.maximum(X @ U.T, 0).sum(1), s, method="aiht", idle="random",
                                         unit_moves=False, admission="all")
            warm = 3
        else:
            idx = np.sort(rng.choice(m * d, s, replace=False))
            w = sc.SparseVector(idx, rng.standard_normal(s), m * d)
            solver = sc.IHTSolver(A, A.matvec(w), s, method=kind, w0=w)
            warm = 1
        for _ in range(warm):
            solver.step()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            solver.step()
            times.append(time.perf_counter() - t0)
        out[f"{kind} ({n}, {d}, {m}, {s})"] = float(np.median(times))
    return out


def run(tree: Path) -> dict:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(Path(__file__).parent)!r}); " \
           "import json, iteration_versions as v; print(json.dumps(v.measure()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="a checkout of the version to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    rows: dict = {}
    for _ in range(a.rounds):
        for label, tree in (("other", a.other.resolve()), ("this", here)):
            for key, t in run(tree).items():
                rows.setdefault(key, {"other": [], "this": []})[label].append(t)
    print("| instance | other (ms) | this (ms) | this / other |\n| --- | --- | --- | --- |")
    for key, r in rows.items():
        o, t = float(np.median(r["other"])) * 1e3, float(np.median(r["this"])) * 1e3
        print(f"| {key} | {o:.1f} | {t:.1f} | {t / o:.3f} |")


if __name__ == "__main__":
    main()
