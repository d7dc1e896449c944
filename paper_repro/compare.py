"""A run's numbers against the committed reference (``make demo`` ends with this table).

    python -m paper_repro.compare build/demo figures

For every figure the reference folder holds a quick run of (its ``.config.json``), each numeric cell of
its CSVs is compared with the same cell of the new run: **same** (equal to 1e-6, relative), **within
tolerance** (what another platform's libraries may move: PSNR by 3 dB or both above 100 dB, exact
fits; accuracies, rates and fractions by 0.03; counts of iterations, rounds and nonzeros by 25 %), or
**beyond**. Timing and memory columns are not compared. The table gives per figure the cells in each
class, the largest change beyond, and the run's time; the exit status is 0 either way (a report, not a
test): the committed figures change only through ``make figures``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sparsecert.io import read_csv

__all__ = ["compare_runs", "classify", "main"]

#: Columns that measure the machine, not the method.
TIMING = ("seconds", "time", "bytes", "memory", "log10_mem_ratio")
#: Columns holding a score with a platform tolerance (PSNR or a fraction), by name.
FRACTIONS = ("accuracy", "acc", "success", "fraction", "p_recover", "support_recovered", "density")
COUNTS = ("iterations", "n_iter", "rounds", "round", "nnz", "kept", "early_stop", "switched_at", "retries")


def classify(column: str, old, new, row: dict) -> str:
    """``"same"``, ``"within"`` or ``"beyond"`` for one cell (see the module's description)."""
    if old == new:
        return "same"
    if isinstance(old, bool) or isinstance(new, bool) or not all(isinstance(v, (int, float)) for v in (old, new)):
        return "beyond"
    if math.isnan(old) and math.isnan(new):
        return "same"
    if math.isclose(old, new, rel_tol=1e-6, abs_tol=1e-12):
        return "same"
    psnr = "psnr" in column or (column in ("iht", "imp", "value") and str(row.get("metric")) == "PSNR")
    if psnr:
        return "within" if (min(old, new) >= 100 or abs(old - new) <= 3.0) else "beyond"
    if any(k in column for k in FRACTIONS) or column in ("iht", "imp", "value"):
        return "within" if abs(old - new) <= 0.03 else "beyond"
    if any(k in column for k in COUNTS):
        return "within" if abs(old - new) <= 0.25 * max(abs(old), abs(new), 1) else "beyond"
    return "beyond"


#: Columns that say which cell a row is (grid parameters, names, seeds): rows are matched on them, so
#: that a store that lists its cells in another order is not read as a change.
IDENTITY = ("figure", "task", "problem", "case", "method", "variant", "kind", "condition", "rule", "start", "regime",
            "source", "target", "widths", "dataset", "layers", "k", "m", "s", "n", "N", "d", "seed", "trial", "keep",
            "eps", "p_m", "round", "delta", "rho", "cell_delta", "cell_rho", "snr", "n_over_d", "noise", "iteration")


def _in_order(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in IDENTITY))


def compare_runs(new_root: str | Path, ref_root: str | Path, config: str = "quick") -> list[dict]:
    """One summary per figure of ``ref_root`` with a ``config`` run found in ``new_root`` too."""
    out = []
    for record_path in sorted(Path(ref_root).glob("*/*.config.json")):
        record = json.loads(record_path.read_text())
        if record.get("config") != config:
            continue
        mine = Path(new_root) / record_path.parent.name / record_path.name
        if not mine.exists():
            out.append({"figure": record["figure"], "missing": True})
            continue
        new_record = json.loads(mine.read_text())
        counts = {"same": 0, "within": 0, "beyond": 0}
        worst = ""
        for name in (f for f in record["files"] if f.endswith(".csv")):
            if not (mine.parent / name).exists():  # a run of another version (a table added since)
                counts["beyond"] += 1
                worst = worst or f"{name}: not written by the run"
                continue
            old_rows, new_rows = read_csv(record_path.parent / name), read_csv(mine.parent / name)
            if len(old_rows) != len(new_rows):
                counts["beyond"] += 1
                worst = worst or f"{name}: {len(new_rows)} rows against {len(old_rows)}"
                continue
            for a, b in zip(_in_order(old_rows), _in_order(new_rows)):
                for col in a:
                    if col not in b or any(k in col for k in TIMING):
                        continue
                    verdict = classify(col, a[col], b[col], a)
                    counts[verdict] += 1
                    if verdict == "beyond" and not worst:
                        worst = f"{name} {col}: {a[col]} -> {b[col]}"
        out.append({"figure": record["figure"], **counts, "first_beyond": worst,
                    "seconds": new_record.get("seconds"), "reference_version": record.get("version")})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper_repro.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("new", help="the root a run wrote (e.g. build/demo)")
    ap.add_argument("reference", nargs="?", default="figures", help="the committed figures (default: figures)")
    ap.add_argument("--config", default="quick", help="the configuration compared (default: quick)")
    args = ap.parse_args(argv)
    rows = compare_runs(args.new, args.reference, args.config)
    print(f"\n{'figure':18s} {'same':>6s} {'within':>7s} {'beyond':>7s} {'time':>8s}  first change beyond tolerance")
    for r in rows:
        if r.get("missing"):
            print(f"{r['figure']:18s} {'(not run)':>22s}")
            continue
        secs = f"{r['seconds']:.0f} s" if r.get("seconds") is not None else "-"
        print(f"{r['figure']:18s} {r['same']:6d} {r['within']:7d} {r['beyond']:7d} {secs:>8s}  {r['first_beyond']}")
    total = sum(r.get("seconds") or 0 for r in rows)
    print(f"{'all':18s} {sum(r.get('same', 0) for r in rows):6d} {sum(r.get('within', 0) for r in rows):7d} "
          f"{sum(r.get('beyond', 0) for r in rows):7d} {total:6.0f} s  (against {args.reference}; timing columns "
          "not compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
