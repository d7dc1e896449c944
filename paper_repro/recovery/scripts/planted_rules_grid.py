"""The paper-size planted grid with the sequential rule's defaults against the published rules
(developer tool; issue "Sequential-convex IHT where it loses today").

n = 50,000, d = 100, m and s in {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}, seeds 0-2, 1 and 2
hidden layers, 15 iterations of sequential AIHT (``sparsecert.planted_mlp``): each
cell fitted with the defaults (without the published-rule fallback, ``fallback_tol=None``) and with
``idle="random", unit_moves=False`` on the same instance.
Rows are appended as cells finish (cheap cells first), so a partial run is usable::

    python paper_repro/recovery/scripts/planted_rules_grid.py figures/recovery/planted_full_rules.csv

About an hour on 2 cores for all but the m = 500 / 1000 cells with s >= 500 (those take hours).
"""

import csv
import sys
from multiprocessing import Pool

from sparsecert import Sequential
from sparsecert.planted import capacity, planted_mlp

GRID = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
RULES = {"defaults": {"fallback_tol": None}, "published": {"rule": Sequential(idle="random", unit_moves=False)}}


def cell(args):
    m, s, seed, layers = args
    return [{"m": m, "s": s, "seed": seed, "layers": layers, "rule": name,
             **{k: r[k] for k in ("psnr", "time")}}
            for name, kw in RULES.items() for r in [planted_mlp(m, s, seed, n=50000, layers=layers, **kw)]]


if __name__ == "__main__":
    cells = [(m, s, seed, layers) for layers in (1, 2) for m in GRID for s in GRID for seed in (0, 1, 2)
             if layers <= s <= capacity(m, 100, layers)]
    cells.sort(key=lambda c: c[0] * max(c[1], 50))
    with Pool(2) as pool, open(sys.argv[1] if len(sys.argv) > 1 else "planted_full_rules.csv", "w", newline="") as fh:
        writer = None
        for rows in pool.imap_unordered(cell, cells):
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
            writer.writerows(rows)
            fh.flush()
