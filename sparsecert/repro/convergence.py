"""Convergence of IHT, NIHT, AIHT and HTP on a planted Gaussian and a planted ReLU problem.

Relative residual per iteration (one panel per problem); prints relative
error, iterations, time and peak working memory of every run. Quick: N = 1000,
s = 10 Gaussian and n = 4000, d = 100, m = 20, s = 60 ReLU (seconds); full:
N = 20000, s = 100 and n = 20000, m = 200, s = 400 (minutes).
"""

from __future__ import annotations

import math
from pathlib import Path


from ..io import write_csv
from ..metrics import relative_error
from ..models import planted_gaussian, planted_relu
from ..plot import convergence_figure
from ..recovery import METHODS, iht


def run(out="figures", quick=True, seed=0, executor=None, progress=None):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    N, s = (1000, 10) if quick else (20000, 100)
    n = math.ceil(4 * s * math.log(N / s))
    n_r, d, m, s_r = (4000, 100, 20, 60) if quick else (20000, 100, 200, 400)
    problems = {
        f"Gaussian A\nn={n}, N={N}, s={s}": planted_gaussian(n, N, s, rng=seed),
        f"ReLU patterns, planted generators\nn={n_r}, d={d}, m={m}, s={s_r}": planted_relu(n_r, d, m, s_r, rng=seed),
    }
    panels, rows = {}, []
    for name, p in problems.items():
        print(name.replace("\n", ": "))
        panels[name] = {}
        for method in METHODS:
            res = iht(p.A, p.y, p.w.nnz, method=method, max_iter=1000 if quick else 5000, progress=False)
            err = relative_error(res.w, p.w)
            print(f"  {method:5s} rel. error {err:9.2e}  iterations {res.n_iter:5d}  time {res.time:7.3f} s  "
                  f"peak work memory {res.peak_memory / 2**20:6.1f} MiB  [{res.status}]")
            panels[name][method] = res
            rows.append({"problem": name.replace("\n", ": "), "method": method, "rel_error": err,
                         "iterations": res.n_iter, "time_s": res.time, "peak_bytes": res.peak_memory,
                         "status": res.status})
    path = out / "demo_convergence.png"
    convergence_figure(panels, path, title="IHT family on planted problems")
    write_csv(rows, out / "demo_convergence.csv")
    return [path]
