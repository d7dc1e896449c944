"""Mean +- standard deviation over seeds of a figure's CSV, as the Markdown tables the paper pages
(``paper_repro/<paper>/README.md``) quote.

``python -m paper_repro.tables [--figures DIR] [TABLE ...]`` prints the named tables (all by
default) from the CSVs under ``DIR`` (default ``figures``); :func:`mean_sd` is the one reduction, and
:func:`memory_parts` the medians of a grid's memory columns per width.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from sparsecert.io import read_csv

__all__ = ["mean_sd", "compare", "ahead", "markdown", "memory_parts", "table", "TABLES", "MEMORY_TABLES", "main"]


def mean_sd(rows: Iterable[dict], by: Sequence[str], values: Sequence[str]) -> list[dict]:
    """Group ``rows`` by the columns ``by`` and give, per group and value column, the mean and the
    sample standard deviation (``ddof=1``; NaN for one value) of its finite values, their count, and
    the count of infinite ones (exact fits: PSNR ``inf``).

    Returns
    -------
    list of dict
        One per group in order of first appearance: the ``by`` columns, then ``<v>_mean``, ``<v>_sd``,
        ``<v>_n`` (values in all) and ``<v>_exact`` (of them ``+inf``) for each ``v`` of ``values``.
        A group whose values are all ``+inf`` has mean ``inf``; a mixed one the mean of its finite
        values (the exact ones are counted, not averaged in).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        row = dict(zip(by, key))
        for v in values:
            x = np.array([float(m[v]) for m in members if m.get(v) not in (None, "")], dtype=float)
            x = x[~np.isnan(x)]
            finite = x[np.isfinite(x)]
            row[f"{v}_exact"] = int(np.sum(x == math.inf))
            row[f"{v}_mean"] = (float(finite.mean()) if len(finite) else math.inf if row[f"{v}_exact"] else math.nan)
            row[f"{v}_sd"] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
            row[f"{v}_n"] = int(len(x))
        out.append(row)
    return out


def _fmt(mean: float, sd: float, digits: int, exact: int = 0) -> str:
    if math.isinf(mean):
        return "inf (exact)"
    if math.isnan(mean):
        return "-"
    text = f"{mean:.{digits}f}" + ("" if math.isnan(sd) else f" ± {sd:.{digits}f}")
    return text + (f", +{exact} exact" if exact else "")


def markdown(stats: list[dict], by: Sequence[str], values: Sequence[str], digits: int = 3) -> str:
    """``stats`` (from :func:`mean_sd`) as a Markdown table: mean ± sd of the finite values, the
    exact ones counted, and (n) per value column."""
    head = list(by) + [f"{v} (mean ± sd, n)" for v in values]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in stats:
        cells = [str(r[k]) for k in by] + [f"{_fmt(r[f'{v}_mean'], r[f'{v}_sd'], digits, r[f'{v}_exact'])} ({r[f'{v}_n']})"
                                            for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(stats: list[dict], by: str, a: str, b: str, tol: float) -> list[dict]:
    """Per value of ``by`` (a figure), over its cells (rows of ``stats`` from :func:`mean_sd`): the
    medians of the cell means of ``a`` and ``b``, and how many cells have ``a`` ahead of ``b`` (and
    ``b`` of ``a``) beyond the seeds' spread: by more than the sum of the two standard deviations
    and more than ``tol``. A cell exact on every seed (``inf``) is ahead of any finite one and ties
    with another exact one; a mixed cell counts by the mean of its finite seeds (conservative). Cells
    without a value of ``a`` (every seed NaN: a planted net whose output is zero) are left out."""
    out = []
    for key in dict.fromkeys(r[by] for r in stats):
        cells = [r for r in stats if r[by] == key and r[f"{a}_n"]]
        leads = [ahead(r, a, b, tol) for r in cells]
        out.append({by: key, "cells": len(cells), "seeds": max(r[f"{a}_n"] for r in cells),
                    f"{a}_median": float(np.median([r[f"{a}_mean"] for r in cells])),
                    f"{b}_median": float(np.median([r[f"{b}_mean"] for r in cells if r[f"{b}_n"]])),
                    f"{a}_ahead": leads.count(a), f"{b}_ahead": leads.count(b)})
    return out


def ahead(cell: dict, a: str, b: str, tol: float) -> str | None:
    """Which of ``a`` and ``b`` leads in one cell of :func:`mean_sd` beyond the seeds' spread (see
    :func:`compare`), None for neither."""
    x, y = cell[f"{a}_mean"], cell[f"{b}_mean"]
    if x == y or math.isnan(x) or math.isnan(y):
        return None
    if math.isinf(x) or math.isinf(y) or abs(x - y) > max(tol, np.nansum([cell[f"{a}_sd"], cell[f"{b}_sd"]])):
        return a if x > y else b
    return None


#: Table name -> (CSV under the figures folder, row filter, group columns, value columns, digits);
#: with ``compare=(figure column, tolerance)`` the table is :func:`compare`'s per-figure summary.
TABLES: dict[str, tuple] = {
    "recovery-planted-1layer": ("recovery/planted_mlp_1layer_seeds3.csv", None, ("layers", "m", "s"), ("psnr", "imp_psnr"), 1,
                                ("layers", 0.5)),
    "recovery-planted-2layer": ("recovery/planted_mlp_2layer_seeds3.csv", None, ("layers", "m", "s"), ("psnr", "imp_psnr"), 1,
                                ("layers", 0.5)),
    "recovery-planted-tuned": ("recovery/planted_mlp_1layer_tuned.csv", None, ("layers", "m", "s"),
                               ("psnr", "imp_tuned_psnr"), 1, ("layers", 0.5)),
    "recovery-planted-tuned-vs-published": ("recovery/planted_mlp_1layer_tuned.csv", None, ("layers", "m", "s"),
                                            ("imp_tuned_psnr", "imp_psnr"), 1, ("layers", 0.5)),
    "recovery-planted-vector": ("recovery/planted_vector_seeds3.csv", None, ("k", "m", "s"), ("psnr", "imp_psnr"), 1,
                                ("k", 0.5)),
    "recovery-classify": ("recovery/classify_seeds3.csv", None, ("figure", "m", "s"), ("iht", "imp"), 3, ("figure", 0.005)),
    "recovery-inr": ("recovery/inr_seeds3.csv", None, ("figure", "m", "s"), ("iht", "imp"), 1, ("figure", 0.5)),
    "recovery-classify-fmnist": ("recovery/classify_fmnist.csv", None, ("m", "s"), ("iht",), 3, None),
    "recovery-classify-fmnist-imp": ("recovery/classify_fmnist.csv", lambda r: r.get("imp") is not None,
                                     ("figure", "m", "s"), ("iht", "imp"), 3, ("figure", 0.005)),
    "recovery-inr-fmnist": ("recovery/inr_fmnist.csv", None, ("m", "s"), ("iht",), 1, None),
    "recovery-inr-fmnist-imp": ("recovery/inr_fmnist.csv", lambda r: r.get("imp") is not None, ("figure", "m", "s"),
                                ("iht", "imp"), 1, ("figure", 0.5)),
    "recovery-classify-fmnist-tuned": ("recovery/classify_fmnist-tuned.csv", None, ("figure", "m", "s"),
                                       ("iht", "imp_tuned"), 3, ("figure", 0.005)),
    "recovery-inr-fmnist-tuned": ("recovery/inr_fmnist.csv", lambda r: r.get("imp_tuned") is not None,
                                  ("figure", "m", "s"), ("iht", "imp_tuned"), 1, ("figure", 0.5)),
    "recovery-inr-fmnist2": ("recovery/inr_fmnist2.csv", lambda r: r.get("imp") is not None, ("figure", "m", "s"),
                             ("iht", "imp"), 1, ("figure", 0.5)),
    "recovery-inr-photo32": ("recovery/inr_photo32.csv", None, ("m", "s"), ("iht",), 1, None),
    "recovery-inr-photo32-tuned": ("recovery/inr_photo32.csv", lambda r: r.get("imp_tuned") is not None,
                                   ("figure", "m", "s"), ("iht", "imp_tuned"), 1, ("figure", 0.5)),
    "recovery-inr-photo32-imp": ("recovery/inr_photo32.csv", lambda r: r.get("imp") is not None,
                                 ("figure", "m", "s"), ("iht", "imp"), 1, ("figure", 0.5)),
    "recovery-classify-fmnist10": ("recovery/classify_fmnist10.csv", None, ("m", "s"), ("iht",), 3, None),
    "recovery-classify-fmnist10-imp": ("recovery/classify_fmnist10-imp.csv", lambda r: r.get("imp") is not None,
                                       ("figure", "m", "s"), ("iht", "imp"), 3, ("figure", 0.005)),
    "recovery-classify-fmnist10-200epochs": ("recovery/classify_fmnist10-imp.csv", lambda r: r["figure"] == "fmnist10_200epochs",
                                             ("figure", "m", "s"), ("iht",), 3, None),
    "recovery-planted-paper-1layer": ("recovery/planted_mlp_1layer_paper.csv", None, ("m", "s"), ("psnr",), 1, None),
    "recovery-planted-paper-imp": ("recovery/planted_mlp_1layer_paper.csv", lambda r: r.get("imp_psnr") is not None,
                                   ("layers", "m", "s"), ("psnr", "imp_psnr"), 1, ("layers", 0.5)),
    "recovery-planted-paper-2layer": ("recovery/planted_mlp_2layer_paper.csv", None, ("m", "s"), ("psnr",), 1, None),
    "recovery-planted-vector-paper": ("recovery/planted_vector_paper.csv", None, ("m", "s"), ("psnr",), 1, None),
    "lottery-lenet-mnist5k": ("lottery/lottery_lenet_mnist5k.csv", None, ("kind", "p_m"), ("test_acc", "early_stop"), 3,
                              None),
    "transfer-fmnist-mnist": ("transfer/transfer_fmnist-mnist.csv", lambda r: r["regime"] == "frozen",
                              ("start", "p_m"), ("final_test_acc",), 3, None),
    "transfer-mnist-fmnist": ("transfer/transfer_mnist-fmnist.csv", lambda r: r["regime"] == "frozen",
                              ("start", "p_m"), ("final_test_acc",), 3, None),
    "survey-pruning": ("survey/pruning_compare.csv", lambda r: r["method"] != "neq", ("method", "keep"),
                       ("accuracy", "seconds"), 3, None),
    "neq": ("survey/pruning_compare.csv", lambda r: r["method"] in ("neq", "dense"), ("method", "eps"),
            ("accuracy", "saved_fraction"), 3, None),
}

#: Table name -> the CSV of a full-size grid whose :func:`memory_parts` it is
MEMORY_TABLES: dict[str, str] = {
    "recovery-planted-1layer-memory": "recovery/planted_mlp_1layer_paper.csv",
    "recovery-planted-2layer-memory": "recovery/planted_mlp_2layer_paper.csv",
    "recovery-planted-vector-memory": "recovery/planted_vector_paper.csv",
    "recovery-classify-fmnist-memory": "recovery/classify_fmnist.csv",
    "recovery-inr-fmnist-memory": "recovery/inr_fmnist.csv",
    "recovery-inr-fmnist2-memory": "recovery/inr_fmnist2.csv",
    "recovery-inr-photo32-memory": "recovery/inr_photo32.csv",
}
#: A planted sweep's memory columns (:func:`sparsecert.planted.planted_mlp`'s rows) under a grid's names
PLANTED_MEMORY = {"rss_bytes": "iht_bytes", "peak_memory": "iht_est_bytes", "imp_rss_bytes": "imp_bytes"}


def memory_parts(rows: Iterable[dict]) -> str:
    """Per figure and width ``m``, the medians over its budgets and seeds (MB) of IHT's measured
    peak (``iht_bytes``), its estimate (``iht_est_bytes``) and the estimate's parts
    (``iht_<part>_bytes``), of IMP's measured peak (``imp_bytes``, where IMP ran) and of IMP / IHT
    per fit, as a Markdown table (``-``: no value). A planted sweep's rows are read under those names
    (:data:`PLANTED_MEMORY`)."""
    rows = [{PLANTED_MEMORY.get(k, k): v for k, v in r.items()} for r in rows]
    parts = [k for k in dict.fromkeys(k for r in rows for k in r)
             if k.startswith("iht_") and k.endswith("_bytes") and k not in ("iht_bytes", "iht_est_bytes")]
    names = {"iht_bytes": "IHT measured", "iht_est_bytes": "IHT estimate", **{k: k[4:-6] for k in parts},
             "imp_bytes": "IMP measured"}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("figure", ""), r["m"]), []).append(r)
    head = ["figure", "m", "fits", *names.values(), "IMP / IHT"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (figure, m), members in sorted(groups.items(), key=lambda g: (str(g[0][0]), g[0][1])):
        cells = []
        for c in names:
            x = [float(r[c]) for r in members if r.get(c) not in (None, "")]
            cells.append(f"{np.median(x) / 1e6:.2f}" if x else "-")
        ratios = [r["imp_bytes"] / r["iht_bytes"] for r in members
                  if r.get("imp_bytes") not in (None, "") and r["iht_bytes"]]
        cells.append(f"{np.median(ratios):.1f}" if ratios else "-")
        lines.append("| " + " | ".join([str(figure), str(m), str(len(members)), *cells]) + " |")
    return "\n".join(lines)


def table(name: str, figures: str | Path = "figures") -> str:
    """The Markdown table ``name`` (a key of :data:`TABLES` or :data:`MEMORY_TABLES`) from the CSVs under
    ``figures``."""
    if name in MEMORY_TABLES:
        return memory_parts(read_csv(Path(figures) / MEMORY_TABLES[name]))
    csv, keep, by, values, digits, comparing = TABLES[name]
    rows = [r for r in read_csv(Path(figures) / csv) if keep is None or keep(r)]
    for r in rows:  # a fraction read back as a float prints as it was written
        for k in by:
            if isinstance(r[k], float):
                r[k] = round(r[k], 4)
    stats = mean_sd(rows, by, values)
    if comparing is None:
        return markdown(stats, by, values, digits)
    column, tol = comparing
    a, b = values
    lines = [f"| {column} | cells | seeds | {a}: median of cell means | {b}: median | {a} ahead | {b} ahead |",
             "|" + " --- |" * 7]
    for r in compare(stats, column, a, b, tol):
        lines.append(f"| {r[column]} | {r['cells']} | {r['seeds']} | {_fmt(r[f'{a}_median'], math.nan, digits)} | "
                     f"{_fmt(r[f'{b}_median'], math.nan, digits)} | {r[f'{a}_ahead']} | {r[f'{b}_ahead']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_repro.tables", description=__doc__.split("\n\n")[0])
    names = sorted({**TABLES, **MEMORY_TABLES})
    parser.add_argument("tables", nargs="*", metavar="TABLE", help=f"any of {', '.join(names)} (default: all)")
    parser.add_argument("--figures", default="figures", help="the figures folder (default: figures)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tables) - set(names))
    if unknown:
        parser.error(f"no table {', '.join(unknown)}; the tables are {', '.join(names)}")
    for name in args.tables or names:
        print(f"### {name}\n\n{table(name, args.figures)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
