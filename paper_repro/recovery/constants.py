"""Lemma 1's constants on Fig. 1's planted instances: the restricted eigenvalues alpha, beta and
kappa = beta / alpha the reviewers asked for, and the relaxed-IHT certificate per cell.

For every (m, s) of the planted grid (one hidden layer, the instance of ``planted`` for the same
seed: Gaussian X, d = 100), :func:`sparsecert.cells.planted_constants` measures the extreme
eigenvalues of ``A_S^T A_S / n`` on the planted support S of the convex reformulation's operator
(planted generators; exact; units that share a generator give parallel columns, alpha = 0 whatever
n, so kappa is also given with one column of each parallel group), and the largest kappa attained on supports of size 2 s~ + s = 3 s that
contain S (a lower bound on kappa_3s). Jain, Tewari & Kar's Theorem 1 (relaxed IHT) asks for a
projection size s~ >= 32 kappa_{2 s~ + s}^2 s; by interlacing kappa_{2 s~ + s} >= kappa on S, so
32 kappa^2 is a lower bound on the s~ / s it needs. IHT projects onto s~ = s, where the theorem
never applies (kappa >= 1 > 1/sqrt(32)): the figure sets that verdict beside whether IHT recovered
the cell. Quick: the quick planted grid at n = 2000 with its own IHT fits (seconds); full: the
paper's grid at n = 50,000, d = 100, three seeds, PSNR read from the committed full-size IHT runs
(``planted_full_rules.csv``, the defaults rule, seeds 0-2, made on a GPU); ``--config paper`` is the
same under its own file names (about 25 minutes on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecert.io import read_csv
from sparsecert.plot import Panel, grid_heatmap
from sparsecert.sweep import run_sweep
from . import planted
from ..common import FigureConfig

#: log10 kappa drawn for numerically singular supports (kappa beyond 1 / eps, or alpha < 0 in round-off)
SINGULAR = 16.0


@dataclass(frozen=True)
class Config(FigureConfig):
    """The planted grid (``n``, ``ms``, ``ss``, ``seeds``); ``draws`` random supports of size 3 s per cell;
    ``psnr_table``: the CSV (beside this run's) that holds IHT's PSNR per (m, s, seed), else each cell
    fits IHT itself."""

    n: int
    ms: tuple
    ss: tuple
    seeds: tuple
    draws: int
    psnr_table: str = ""


QUICK = Config(n=planted.QUICK.n, ms=planted.QUICK.ms, ss=planted.QUICK.ss, seeds=(0,), draws=3)
FULL = Config(n=planted.FULL.n, ms=planted.FULL.ms, ss=planted.FULL.ss, seeds=planted.FULL.seeds, draws=1,
              psnr_table="planted_full_rules.csv")
MICRO = Config(n=300, ms=(1, 3), ss=(2, 6), seeds=(0,), draws=1)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL, "paper": FULL}
TABLES = ("planted_constants",)


def compute(cfg, run):
    """The constants per (m, s, seed) (a resumable sweep), with IHT's PSNR beside them."""
    d, fit = 100, not cfg["psnr_table"]
    cells = [{"m": m, "s": s, "n": cfg["n"], "d": d, "draws": cfg["draws"], "fit": fit}
             for m in cfg["ms"] for s in cfg["ss"] if s <= m * d]
    rows = run_sweep("planted_constants", cells, [run.seed + k for k in cfg["seeds"]], run.store("planted_constants"),
                     executor=run.executor, progress=run.progress).rows
    if not fit:
        path = run.out / cfg["psnr_table"]
        if not path.exists():
            raise FileNotFoundError(f"{path}: the IHT runs whose PSNR this figure sets beside the constants "
                                    "(commit or regenerate them first)")
        psnr = {(r["m"], r["s"], r["seed"]): r["psnr"] for r in read_csv(path)
                if r.get("rule", "defaults") == "defaults" and r.get("layers", 1) == 1}
        rows = [{**r, "psnr": psnr.get((r["m"], r["s"], r["seed"]), np.nan)} for r in rows]
    return {"planted_constants": [{k: v for k, v in r.items() if k not in ("draws", "fit")} for r in rows]}


def draw(tables, cfg):
    """kappa on the planted support, kappa attained on 3 s columns, and IHT's PSNR, over (m, s)."""
    def log_kappa(k):  # beyond 1 / eps (or a negative alpha in round-off): numerically singular, drawn at 16
        return min(np.log10(k), SINGULAR) if k > 0 else (SINGULAR if k < 0 else np.nan)

    rows = [{**r, "log_kappa": log_kappa(r["kappa_distinct"]), "log_kappa_k": log_kappa(r["kappa_k_lower"])}
            for r in tables["planted_constants"]]
    top = SINGULAR
    fig = grid_heatmap(
        rows, [Panel("log_kappa", "kappa = beta / alpha on the planted support S, parallel\ncolumns merged "
                     "(JTK's s~/s >= 32 kappa^2)", 0, top, "{:.1f}", "log10 kappa on S (16: singular)"),
               Panel("log_kappa_k", "kappa on S + 2 s random columns (best of the draws)\n(a lower bound on kappa_3s)",
                     0, top, "{:.1f}", "log10 kappa attained on 3 s columns (16: singular)"),
               Panel("psnr", f"IHT's PSNR, n = {cfg['n']}\n(JTK Theorem 1 at s~ = s: fails in every cell)",
                     label="PSNR (dB)")],
        suptitle=f"Lemma 1's constants on the planted instances (d = 100, {len(cfg['seeds'])} seed(s), means)")
    return {"planted_constants": fig}
