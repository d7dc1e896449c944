"""The paper pages' reduction: mean, sample standard deviation and count per group, and the per-figure
count of cells where one method is ahead beyond the seeds' spread (values worked out by hand)."""

import math
from pathlib import Path

import pytest

from paper_repro.tables import MEMORY_TABLES, TABLES, compare, mean_sd, memory_parts, table

ROWS = [{"m": 1, "s": 2, "iht": 10.0, "imp": 4.0}, {"m": 1, "s": 2, "iht": 14.0, "imp": 6.0},
        {"m": 2, "s": 2, "iht": math.inf, "imp": 5.0}, {"m": 2, "s": 2, "iht": math.inf, "imp": ""},
        {"m": 3, "s": 2, "iht": 5.0, "imp": 5.2}, {"m": 3, "s": 2, "iht": 6.0, "imp": 5.8}]


def test_mean_sd_per_group():
    stats = mean_sd(ROWS, ["m", "s"], ["iht", "imp"])
    assert [(r["m"], r["s"]) for r in stats] == [(1, 2), (2, 2), (3, 2)]
    first = stats[0]
    assert first["iht_mean"] == 12.0 and first["iht_sd"] == pytest.approx(math.sqrt(8.0)) and first["iht_n"] == 2
    assert first["imp_mean"] == 5.0 and first["imp_sd"] == pytest.approx(math.sqrt(2.0))
    exact = stats[1]  # exact fits: the mean is inf, the spread undefined; a missing value is not counted
    assert exact["iht_mean"] == math.inf and math.isnan(exact["iht_sd"]) and exact["imp_n"] == 1
    assert exact["iht_exact"] == 2 and first["iht_exact"] == 0
    (mixed,) = mean_sd([{"k": 0, "v": math.inf}, {"k": 0, "v": 30.0}, {"k": 0, "v": 40.0}], ["k"], ["v"])
    assert (mixed["v_mean"], mixed["v_exact"], mixed["v_n"]) == (35.0, 1, 3)  # the finite ones averaged


def test_compare_counts_only_differences_beyond_the_spread():
    """(1, 2): 12 vs 5, sds 2.83 + 1.41 = 4.24 < 7: IHT ahead; (2, 2): inf vs 5: IHT ahead;
    (3, 2): 5.5 vs 5.5: a tie."""
    (summary,) = compare(mean_sd(ROWS, ["s", "m"], ["iht", "imp"]), "s", "iht", "imp", tol=0.5)
    assert summary["cells"] == 3 and summary["seeds"] == 2
    assert (summary["iht_ahead"], summary["imp_ahead"]) == (2, 0)
    assert summary["imp_median"] == 5.0
    close = [dict(r, iht=r["iht"] + 3) if r["m"] == 3 else r for r in ROWS]  # 8.5 vs 5.5 with sds 0.71 + 0.42
    (summary,) = compare(mean_sd(close, ["s", "m"], ["iht", "imp"]), "s", "iht", "imp", tol=0.5)
    assert summary["iht_ahead"] == 3
    # a cell whose every seed has no value (NaN: a planted net with zero output) is not a cell
    void = ROWS + [{"s": 2, "m": 4, "iht": math.nan, "imp": math.nan, "seed": k} for k in (0, 1)]
    (summary,) = compare(mean_sd(void, ["s", "m"], ["iht", "imp"]), "s", "iht", "imp", tol=0.5)
    assert summary["cells"] == 3 and summary["imp_median"] == 5.0 and summary["iht_ahead"] == 2


def test_memory_parts_are_medians_per_width_in_mb():
    """Width 10: IHT 1, 2, 4 MB -> 2; its parts 1.5 and 0.5 MB; IMP 20 MB where it ran (two fits), the
    ratios 20 and 10 -> 15. Width 20 has no IMP and no parts: '-'. Rows of a planted sweep name the
    measured peaks ``rss_bytes`` / ``imp_rss_bytes`` and the estimate ``peak_memory``."""
    rows = [{"figure": "f", "m": 10, "iht_bytes": b * 1e6, "iht_est_bytes": 2e6, "iht_pass_bytes": 1.5e6,
             "iht_weights_bytes": 5e5, "imp_bytes": imp} for b, imp in ((1, 20e6), (2, 20e6), (4, None))]
    rows.append({"figure": "f", "m": 20, "iht_bytes": 3e6, "iht_est_bytes": 1e6})
    head, rule, ten, twenty = memory_parts(rows).splitlines()
    assert head == "| figure | m | fits | IHT measured | IHT estimate | pass | weights | IMP measured | IMP / IHT |"
    assert ten == "| f | 10 | 3 | 2.00 | 2.00 | 1.50 | 0.50 | 20.00 | 15.0 |"
    assert twenty == "| f | 20 | 1 | 3.00 | 1.00 | - | - | - | - |"
    # a planted sweep's row (sparsecert.planted's names) reads as the grid's, the widths in order
    planted = [{"m": m, "rss_bytes": 4e6, "peak_memory": 3e6, "iht_pass_bytes": 2e6, "imp_rss_bytes": 40e6}
               for m in (100, 10)]
    assert memory_parts(planted).splitlines()[2:] == ["|  | 10 | 1 | 4.00 | 3.00 | 2.00 | 40.00 | 10.0 |",
                                                      "|  | 100 | 1 | 4.00 | 3.00 | 2.00 | 40.00 | 10.0 |"]


@pytest.mark.parametrize("name", sorted({**TABLES, **MEMORY_TABLES}))
def test_every_page_table_reads_its_committed_csv(name):
    text = table(name)
    assert text.startswith("| ") and text.count("\n") >= 2


def test_the_demo_comparison_sorts_changes_by_what_a_platform_may_move():
    """Same to 1e-6; PSNR within 3 dB or both exact (>= 100 dB); fractions within 0.03; counts within
    25 %; anything else (or a text that changed) beyond. A run compared with itself is all 'same'."""
    from paper_repro.compare import classify, compare_runs

    assert classify("psnr", 138.2, 135.26, {}) == "within" and classify("psnr", 40.0, 45.0, {}) == "beyond"
    assert classify("iht", 30.0, 31.0, {"metric": "PSNR"}) == "within"
    assert classify("iht", 0.985, 1.0, {"metric": "test accuracy"}) == "within"
    assert classify("accuracy", 0.90, 0.95, {}) == "beyond" and classify("iterations", 29, 27, {}) == "within"
    assert classify("rel_error", 1.0, 1.0 + 1e-9, {}) == "same" and classify("method", "niht", "htp", {}) == "beyond"
    rows = compare_runs("figures", "figures")
    assert rows and all(r["beyond"] == 0 and r["within"] == 0 and r["same"] > 0 for r in rows)


def test_the_demo_comparison_names_a_table_the_run_did_not_write(tmp_path):
    """A run of another version that lacks one of the reference's tables is reported (beyond, with the
    file named), not a crash."""
    import json
    import shutil

    from paper_repro.compare import compare_runs

    new = tmp_path / "recovery"
    new.mkdir()
    record = json.loads(Path("figures/recovery/inr.config.json").read_text())
    for name in record["files"] + ["inr.config.json"]:
        if name != "inr_spread.csv":
            shutil.copy(Path("figures/recovery") / name, new)
    (row,) = [r for r in compare_runs(tmp_path, "figures") if r["figure"] == "inr"]
    assert row["beyond"] == 1 and row["first_beyond"] == "inr_spread.csv: not written by the run" and row["same"] > 0
