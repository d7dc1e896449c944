"""Planted sparse MLPs, the recovery paper's Fig. 1 style: PSNR over (m, s), IHT and IMP
side by side, one and two hidden layers.

Sequential-convex AIHT (15 iterations) against the IMP baseline (dense ReLU
net, Adam 1e-3, 10% of the survivors pruned per round, rewind to init, the
same epochs per round), on identical instances (Gaussian inputs, d = 100,
s/layers N(0, 1) weights per layer). Runs as a resumable sweep. Quick:
n = 2000, m in {1, 5, 20}, s in {1, 5, 20, 50}, one seed (about 15 s);
full: the paper's grid m, s in {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
n = 50,000, seeds {0, 1, 2} (many hours on 2 cores; use --executor dask).
"""

from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path

from ..experiments import capacity
from ..io import read_csv, write_csv
from ..plot import grid_heatmap
from ..sweep import run_sweep
from ._common import FigureConfig, config_stem, pick_config, store_name

@dataclass(frozen=True)
class Config(FigureConfig):
    """``n`` samples; the grid of widths ``ms`` and budgets ``ss``; ``seeds`` (offsets of the run's
    seed); the IMP baseline's ``imp_epochs`` per round."""

    n: int
    ms: tuple
    ss: tuple
    seeds: tuple
    imp_epochs: int


QUICK = Config(n=2000, ms=(1, 5, 20), ss=(1, 5, 20, 50), seeds=(0,), imp_epochs=15)
FULL = Config(n=50000, ms=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), ss=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
              seeds=(0, 1, 2), imp_epochs=15)
MICRO = Config(n=300, ms=(1, 3), ss=(2, 6), seeds=(0,), imp_epochs=2)
CONFIGS = {"micro": MICRO, "quick": QUICK, "full": FULL}


def run(out="figures", quick=True, seed=0, executor="process", progress=None, device=None, config=None):
    """Both figures; ``device`` runs IHT on the torch backend there (e.g. ``"cuda"``, with
    ``executor="serial"``: one process owns the GPU)."""
    cfg = pick_config(CONFIGS, quick, config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = 100
    rows = []
    for layers in (1, 2):
        cells = [{"m": m, "s": s, "n": cfg["n"], "d": d, "layers": layers, "imp_baseline": True,
                  "imp_epochs": cfg["imp_epochs"], **({} if device is None else {"device": device})}
                 for m in cfg["ms"] for s in cfg["ss"] if layers <= s <= capacity(m, d, layers)]
        res = run_sweep("planted_mlp", cells, [seed + k for k in cfg["seeds"]],
                        out / store_name("planted_mlp", quick, config), executor=executor, progress=progress)
        layer_rows = [{k: v for k, v in r.items() if k != "experiment"} for r in res.rows]
        write_csv(layer_rows, out / f"{config_stem(f'planted_mlp_{layers}layer', config)}.csv")
        rows += layer_rows
    return draw(rows, cfg, out, config)


def draw(rows, cfg, out, config=None):
    """The two heatmaps (one per number of hidden layers) from the rows; returns their paths."""
    paths = []
    for layers in (1, 2):
        path = Path(out) / f"{config_stem(f'planted_mlp_{layers}layer', config)}.png"
        grid_heatmap([r for r in rows if r["layers"] == layers], ["psnr", "imp_psnr"], path=path,
                     title=[f"IHT (sequential AIHT), {layers} hidden layer(s)\nn={cfg['n']}, PSNR (dB)",
                            f"IMP (Adam 1e-3, 10%/round)\n{cfg['imp_epochs']} epochs/round, PSNR (dB)"])
        paths.append(path)
    return paths


def redraw(out="figures", quick=True, config=None):
    """The figures again from the CSVs a run wrote, without computing."""
    rows = [r for layers in (1, 2) for r in read_csv(Path(out) / f"{config_stem(f'planted_mlp_{layers}layer', config)}.csv")]
    return draw(rows, pick_config(CONFIGS, quick, config), out, config)
