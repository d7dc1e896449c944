"""The figures' runner and command: every figure's micro configuration end to end, the quick ones (slow),
configurations, redrawing from CSVs, the run's record, and files under ``OUT/<paper>/``."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from paper_repro import REGISTRY, paper, run
from sparsecert.cli import main

#: The committed reference outputs, one folder per paper.
FIGURES = Path(__file__).resolve().parents[2] / "figures"


@pytest.mark.slow  # linear-imp's micro configuration runs in the fast suite
def test_repro_linear_imp_quick(tmp_path, capsys):
    """The linear-IMP figures regenerate from one command (quick mode)."""
    assert main(["repro", "linear-imp", "--quick", "--out", str(tmp_path)]) == 0
    for stem in ("linear_imp_path", "linear_imp_support"):
        assert (tmp_path / "lottery" / f"{stem}.png").stat().st_size > 1000
        assert (tmp_path / "lottery" / f"{stem}.csv").read_text().count("\n") > 5
    assert main(["repro", "list"]) == 0
    assert "linear-imp" in capsys.readouterr().out


_SLOW = pytest.mark.slow  # 5-50 s each: run by `make test` (and CI), left out of `pytest -m "not slow"`


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=_SLOW)  # each but sequential-check also runs in its micro configuration in the fast suite
    for n in ("convergence", "planted-vector", "gaussian-phase", "planted", "certify", "pruning", "lottery",
              "transfer", "classify", "inr", "sequential-check")
])
def test_quick_figures_are_produced(name, tmp_path):
    if getattr(REGISTRY[name], "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    paths = run(name, tmp_path, quick=True, executor="process", progress=False)
    assert paths and all(p.stat().st_size > 5000 for p in paths)
    assert list((tmp_path / paper(name)).glob("*.csv"))


MICRO = ("gaussian-phase", "planted", "planted-vector", "certify", "pruning", "lottery", "transfer", "classify", "inr",
         "relu-phase", "linear-imp", "convergence", "sequential-check", "constants")
#: the micro figures of 5-9 s each (torch training, the l1 solver, IMP on an image): in make test only
SLOW_MICRO = ("gaussian-phase", "lottery", "transfer", "inr")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MICRO else n for n in MICRO])
def test_micro_figures_run_every_step_in_seconds(name, tmp_path):
    """Each figure's "micro" configuration (a grid of one or two cells) runs the figure's whole path --
    sweep, fits, drawing, CSV -- in the default suite; the quick runs above are the slow ones."""
    module = REGISTRY[name]
    if getattr(module, "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    assert "micro" in module.CONFIGS
    paths = run(name, tmp_path, config="micro", executor="serial", progress=False)
    assert paths and all(p.exists() and p.stem.endswith("_micro") for p in paths)
    # every table the module declares for this run is written, named after the configuration
    assert all(p.parent == tmp_path / paper(name) for p in paths)
    assert {p.name for p in (tmp_path / paper(name)).glob("*.csv")} >= {f"{t}_micro.csv" for t in module.TABLES[:1]}


@pytest.mark.slow
def test_planted_measured_config_runs_imp_where_asked_and_draws_the_paper_panels(tmp_path, monkeypatch):
    """``measure`` (the paper configuration's setting): IMP only at the widths of ``imp_ms``, two layers
    only at those of ``deep_ms``, both methods' resident-set peaks in every row that ran them, and the
    paper's panels plus the mean ± sd one per number of layers. With two layers at m = 3, s = 2 both
    seeds plant a net whose output is zero: that cell has no value (its PSNR is NaN), the others both."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    from paper_repro.recovery import planted
    from sparsecert.io import read_csv

    monkeypatch.setitem(planted.CONFIGS, "micro",
                        planted.MICRO.replace(measure=True, imp_ms=(1,), deep_ms=(3,), seeds=(0, 1)))
    paths = run("planted", tmp_path, config="micro", executor="serial", progress=False)
    assert {p.name for p in paths} == {f"planted_mlp_{k}layer{x}_micro.png" for k in (1, 2) for x in ("", "_seeds")}
    one = read_csv(tmp_path / "recovery" / "planted_mlp_1layer_micro.csv")
    two = read_csv(tmp_path / "recovery" / "planted_mlp_2layer_micro.csv")
    assert {r["m"] for r in one} == {1, 3} and {r["m"] for r in two} == {3}
    assert all(r["rss_bytes"] >= 0 for r in one + two)
    # IHT's estimate by part: the parts of its peak add up to it (of the layer with the largest peak); a net
    # that plants nothing takes no pass (its second layer still holds its input features)
    assert all(sum(v or 0 for key, v in r.items() if key.startswith("iht_") and key.endswith("_bytes")) == r["peak_memory"]
               and ((r["iht_pass_bytes"] or 0) > 0) == (not math.isnan(r["psnr"])) for r in one + two)
    assert all(r["peak_memory"] == r["iht_features_bytes"] == 8 * 300 * 3 for r in two if math.isnan(r["psnr"]))
    assert all((r["imp_psnr"] not in (None, "")) == (r["m"] == 1) for r in one)
    assert all(r["imp_rss_bytes"] >= 0 for r in one + two if r["m"] == 1)
    spread = read_csv(tmp_path / "recovery" / "planted_mlp_spread_micro.csv")
    assert {(r["figure"], r["m"]) for r in spread} == {("1layer", 1), ("1layer", 3), ("2layer", 3)}
    assert all(r["iht_n"] == (0 if (r["figure"], r["s"]) == ("2layer", 2) else 2) for r in spread)
    assert all(math.isnan(r["psnr"]) for r in two if r["s"] == 2)


def test_planted_vector_measured_config_steps_on_minibatches_and_draws_the_paper_panels(tmp_path, monkeypatch):
    """Fig. 2's paper configuration: IHT's steps on the minibatches (epochs x batches of them), IMP at
    the widths of ``imp_ms`` only, both measured peaks, IHT's estimate by part (summing to it), the
    paper's panels and the mean ± sd one."""
    pytest.importorskip("torch", reason="the torch extra is not installed")
    from paper_repro.recovery import planted_vector
    from sparsecert.io import read_csv

    monkeypatch.setitem(planted_vector.CONFIGS, "micro", planted_vector.MICRO.replace(
        ms=(2, 3), measure=True, imp_ms=(2,), minibatch=True, seeds=(0, 1)))
    paths = run("planted-vector", tmp_path, config="micro", executor="serial", progress=False)
    assert {p.name for p in paths} == {"planted_vector_micro.png", "planted_vector_seeds_micro.png"}
    rows = read_csv(tmp_path / "recovery" / "planted_vector_micro.csv")
    assert all(r["iterations"] == 2 * 2 and r["status"] == "epochs" and r["rss_bytes"] >= 0 for r in rows)
    assert all(sum(v for key, v in r.items() if key.startswith("iht_") and key.endswith("_bytes")) == r["peak_memory"]
               and r["iht_residual_bytes"] > 0 for r in rows)
    assert all((r["imp_psnr"] not in (None, "")) == (r["m"] == 2) for r in rows)


def test_named_configuration_runs_only_where_it_exists(tmp_path, monkeypatch, capsys):
    import paper_repro.cli
    from paper_repro.cli import run_repro

    called = {}
    monkeypatch.setattr(paper_repro.cli, "run", lambda name, out, **kw: called.setdefault(name, kw) and [])
    run_repro(["all"], tmp_path, config="mnist5k")
    assert sorted(called) == ["classify", "inr", "lottery"]
    assert all(kw["config"] == "mnist5k" for kw in called.values())
    with pytest.raises(SystemExit) as exc:
        main(["repro", "linear-imp", "--config", "mnist5k", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "'mnist5k' exists for classify, inr, lottery" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["repro", "classify", "--config", "mnist5k", "--full"])  # one mode at a time


def test_pick_config_names_the_ones_it_has():
    from paper_repro.common import pick_config
    from paper_repro.recovery import inr

    assert pick_config(inr.CONFIGS, quick=False) is inr.FULL
    assert pick_config(inr.CONFIGS, config="mnist5k")["images"]["digit"][0] == ("mnist5k", 0)
    with pytest.raises(ValueError, match="fmnist, fmnist2, full, gpu-m200, micro, mnist5k, photo32, quick, quick2, seeds3"):
        pick_config(inr.CONFIGS, config="mnist")
    assert inr.load_image(("mnist5k", 0)).shape == (28, 28)


def test_sequential_check_reports_changes_against_the_previous_csv(tmp_path, monkeypatch, capsys):
    """The regression check prints each score beside the one its CSV held before: a second run of
    the same (deterministic) cases reports no change; an edited previous value shows as a change."""
    import csv

    def check():
        run("sequential-check", tmp_path, config="micro", progress=False)

    check()
    path = tmp_path / "recovery" / "sequential_regression_micro.csv"
    rows = list(csv.DictReader(open(path)))
    cases = [r["case"] for r in rows]
    assert cases[:2] == ["planted 1-layer", "digits binary"]
    assert all(r["value"] for r in rows)
    capsys.readouterr()
    check()
    out = capsys.readouterr().out
    assert all(line.split()[-1] == "0" for line in out.splitlines() if line.startswith(("planted", "digits")))
    rows[0]["value"] = str(float(rows[0]["value"]) - 1.0)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    check()
    first = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("planted"))
    assert first.split()[-1] == "+1.00"


def test_version_and_repro_list_import_no_figure_module():
    """``sparsecert --version`` and ``repro list`` read the figures' one-line summaries from source:
    no figure module, matplotlib, torch or scikit-learn is imported."""
    code = ("import sys, contextlib, io\nfrom sparsecert.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    main(['repro', 'list'])\n"
            "    try:\n        main(['--version'])\n    except SystemExit:\n        pass\n"
            "heavy = sorted(m for m in sys.modules if (m.startswith('paper_repro.') and m != 'paper_repro.cli') or m.split('.')[0] in "
            "('matplotlib', 'torch', 'sklearn'))\n"
            "print(heavy, 'transfer ' in out.getvalue(), 'sparsecert ' in out.getvalue())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True True", out


@pytest.mark.parametrize("name,stems", [("planted", ["planted_mlp_1layer", "planted_mlp_2layer"]),
                                        ("planted-vector", ["planted_vector"]),
                                        pytest.param("gaussian-phase", ["gaussian_phase"], marks=_SLOW),
                                        ("pruning", ["pruning_compare"]), ("sequential-check", ["sequential_regression"]),
                                        ("linear-imp", ["linear_imp_path", "linear_imp_support"]),
                                        ("certify", ["certify_phase"]), ("lottery", ["lottery_lenet"]),
                                        ("transfer", ["transfer"]),
                                        ("transfer --config fmnist-mnist", ["transfer_fmnist-mnist"]),
                                        ("relu-phase", ["relu_phase", "relu_phase_law", "relu_phase_trials",
                                                        "relu_structure"]),
                                        ("constants", ["planted_constants"]),
                                        ("constants --config paper", ["planted_constants_paper"]),
                                        ("convergence", ["demo_convergence", "demo_convergence_residuals"])])
def test_redraw_draws_from_the_csv_without_computing(name, stems, tmp_path, monkeypatch):
    """--redraw on the quick run's CSVs (as committed under figures/) draws each figure without a sweep."""
    import shutil

    name, *config = name.split()
    figures, out = FIGURES / paper(name), tmp_path / paper(name)
    out.mkdir()
    for stem in stems:
        shutil.copy(figures / f"{stem}.csv", out)
    monkeypatch.setattr(REGISTRY[name], "run_sweep", lambda *a, **k: pytest.fail("--redraw computed"), raising=False)
    assert main(["repro", name, *config, "--redraw", "--out", str(tmp_path)]) == 0
    assert all((out / f"{stem}.png").stat().st_size > 1000 for stem in stems if (figures / f"{stem}.png").exists())


@pytest.mark.parametrize("name,stem", [("classify", "classify_binary_digits"), ("inr", "inr_china_grey")])
def test_grid_figures_redraw_from_their_csv(name, stem, tmp_path, monkeypatch):
    """classify and inr keep in each row the figure it belongs to (and what its title says of the
    task), so --redraw draws the same panels from the micro run's CSV without fitting."""
    module = REGISTRY[name]
    if getattr(module, "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    run(name, tmp_path, config="micro", executor="serial", progress=False)
    png = tmp_path / "recovery" / f"{stem}_micro.png"
    png.unlink()
    monkeypatch.setattr(module, "grids", lambda *a, **k: pytest.fail("--redraw computed"))
    spread = tmp_path / "recovery" / f"{name}_spread_micro.csv"
    spread.unlink()
    assert main(["repro", name, "--redraw", "--config", "micro", "--out", str(tmp_path)]) == 0
    assert png.stat().st_size > 1000
    assert spread.exists()  # the derived summary is written again from the CSV


@_SLOW
@pytest.mark.parametrize("name,stem", [("classify", "classify"), ("inr", "inr")])
def test_refit_iht_keeps_imp_and_refits_iht(name, stem, tmp_path):
    """scripts/refit_iht.py on a micro run's CSV: IHT's columns fitted again by the same version give
    the same scores (the fits are seeded), every other column (IMP's, the task's) is kept as it was,
    the rows keep their order, and the record says what was amended."""
    import json
    import runpy

    from sparsecert.io import read_csv

    run(name, tmp_path, config="micro", executor="serial", progress=False)
    csv_path, record = tmp_path / "recovery" / f"{stem}_micro.csv", tmp_path / "recovery" / f"{name}_micro.config.json"
    before = read_csv(csv_path)
    script = runpy.run_path(str(Path(__file__).parents[2] / "paper_repro/recovery/scripts/refit_iht.py"))
    script["main"]([name, "micro", "--out", str(tmp_path)])
    after = read_csv(csv_path)
    assert len(after) == len(before)
    for a, b in zip(before, after):
        assert b["iht"] == pytest.approx(a["iht"], abs=1e-9)
        assert {k: v for k, v in a.items() if not k.startswith(("iht", "log10"))} == \
            {k: v for k, v in b.items() if not k.startswith(("iht", "log10"))}
    assert "0 of the fits' scores moved" in json.loads(record.read_text())["amended"]


def test_spread_summarises_seeds_and_says_who_leads_beyond_them():
    """Per (figure, m, s): mean and sample sd over the seeds of each method, and which one leads by
    more than the two sds together (and the tolerance); an exact fit (inf) leads any finite score;
    cells without IMP have no verdict. The multi-seed error-bar figure counts the verdicts."""
    from paper_repro.recovery._iht_imp import errorbars, spread

    inf = float("inf")
    cells = {(1, 5): ([0.90, 0.91, 0.92], [0.50, 0.52, 0.54]), (1, 10): ([0.7, 0.8, 0.9], [0.75, 0.8, 0.85]),
             (2, 5): ([inf, inf, inf], [30.0, 31.0, 32.0]), (2, 10): ([0.6, 0.6, 0.6], [None] * 3)}
    rows = [{"figure": "f", "task": "t", "metric": "accuracy", "m": m, "s": s, "seed": k, "iht": a[k],
             **({} if b[k] is None else {"imp": b[k]})} for (m, s), (a, b) in cells.items() for k in range(3)]
    got = {(r["m"], r["s"]): r for r in spread(rows, tol=0.005)}
    assert got[(1, 5)]["iht_mean"] == pytest.approx(0.91) and got[(1, 5)]["iht_sd"] == pytest.approx(0.01)
    assert got[(1, 5)]["imp_sd"] == pytest.approx(0.02) and got[(1, 5)]["iht_n"] == 3
    assert [got[c].get("ahead") for c in cells] == ["iht", "neither", "iht", None]
    fig = errorbars(list(got.values()), percent=True, title="t")
    assert "IHT in 2, IMP in 0, neither in 1" in fig.axes[0].get_title()


def test_seed_count_is_read_from_the_rows_not_the_configuration():
    """A figure's title counts the seeds its cells hold: one number where every (figure, m, s) has the
    same, the range where a width was run on fewer seeds than the others."""
    from paper_repro.recovery._iht_imp import seed_count

    rows = [{"figure": "f", "m": m, "s": s, "seed": k} for m in (1, 2) for s in (5, 10) for k in range(3)]
    assert seed_count(rows) == "3 seed(s)"
    assert seed_count(rows + [{"figure": "f", "m": 4, "s": 5, "seed": 0}]) == "1-3 seeds a cell"
    assert seed_count(rows + [{"figure": "g", "m": 1, "s": 5, "seed": 0}]) == "1-3 seeds a cell"


def test_repro_records_the_configuration_beside_the_figures(tmp_path):
    """Each `sparsecert repro NAME` run leaves NAME[_CONFIG].config.json: the configuration's name
    and settings, the seed, the version and the files it drew."""
    import json

    import sparsecert

    assert main(["repro", "certify", "--config", "micro", "--seed", "3", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "recovery" / "certify_micro.config.json").read_text())
    assert record["config"] == "micro" and record["seed"] == 3 and record["version"] == sparsecert.__version__
    assert record["settings"] == json.loads(json.dumps(dict(REGISTRY["certify"].CONFIGS["micro"])))
    assert record["files"] and all((tmp_path / "recovery" / f).exists() for f in record["files"])


def test_redraw_needs_the_csv(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["repro", "planted", "--redraw", "--out", str(tmp_path)])
    assert "run the figure once before redrawing it" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no figure 'plantd'; the figures are certify, classify"):
        run("plantd", tmp_path)
    with pytest.raises(ValueError, match="unknown linear_imp settings: trails"):
        run("linear-imp", tmp_path, config="micro", overrides={"trails": 3})


def test_figure_configurations_are_typed_and_frozen():
    """Each figure's configurations are frozen dataclasses with typed fields, checked when made (a
    misspelt or mistyped setting fails there, naming it); they read like the dicts they replaced."""
    import dataclasses

    from paper_repro.recovery import planted

    for name in REGISTRY:  # every figure follows the runner's contract
        module = REGISTRY[name]
        assert {"micro", "quick", "full"} <= set(module.CONFIGS), name
        assert all(isinstance(c, module.Config) for c in module.CONFIGS.values()), name
        assert module.TABLES and callable(module.compute) and callable(module.draw), name
        assert not hasattr(module, "run") and not hasattr(module, "redraw"), name
    q = planted.QUICK
    assert q["n"] == q.n == 2000 and dict(q)["ms"] == (1, 5, 20) and {**q}["imp_epochs"] == 15
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.n = 10  # type: ignore[misc]
    with pytest.raises(TypeError, match="Config.n must be <class 'int'>, got '2000'"):
        planted.Config(n="2000", ms=(1,), ss=(1,), seeds=(0,), imp_epochs=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epochs'"):
        planted.Config(n=2000, ms=(1,), ss=(1,), seeds=(0,), epochs=1)


@pytest.mark.parametrize("damage", ["header only", "binary junk", "a column missing"])
def test_redraw_from_a_bad_csv_is_refused_and_keeps_the_good_figure(damage, tmp_path, capsys):
    """--redraw from a CSV without rows, with bytes that are not text, or without the column a panel
    draws: exit 2 naming what is wrong, and the PNG drawn before is left byte for byte."""
    out = tmp_path / "recovery"
    out.mkdir()
    for stem in ("planted_mlp_1layer", "planted_mlp_2layer"):
        (out / f"{stem}.csv").write_bytes((FIGURES / "recovery" / f"{stem}.csv").read_bytes())
    assert main(["repro", "planted", "--redraw", "--out", str(tmp_path)]) == 0
    good = (out / "planted_mlp_1layer.png").read_bytes()
    csv = out / "planted_mlp_1layer.csv"
    lines = csv.read_text().splitlines()
    if damage == "header only":
        csv.write_text(lines[0] + "\n")
    elif damage == "binary junk":
        csv.write_bytes(bytes(range(256)) * 8)
    else:
        header = lines[0].split(",")
        keep = [i for i, h in enumerate(header) if h not in ("psnr", "imp_psnr")]
        csv.write_text("\n".join(",".join(row.split(",")[i] for i in keep) for row in lines) + "\n")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["repro", "planted", "--redraw", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--redraw" in err and ("no rows" in err or "not a CSV" in err or "lack the column" in err)
    assert (out / "planted_mlp_1layer.png").read_bytes() == good


@pytest.mark.slow
def test_jobs_run_figures_at_once_each_on_one_core_with_the_same_numbers(tmp_path, capfd):
    """``--jobs 2`` runs two figures in two processes, each pinned to one core (the process's CPU
    affinity, which sizes its pools and BLAS; recorded), prints each line of a figure whole behind its
    name, and writes the same CSVs as one after the other (NumPy figures: no thread-dependent sums)."""
    import json
    import os

    from sparsecert.cli import main

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    names = ["linear-imp", "certify"]
    assert main(["repro", *names, "--config", "micro", "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    out = capfd.readouterr().out.splitlines()
    assert {line.split("] ")[0] for line in out[:-1]} == {"[linear-imp", "[certify"}  # the last: the summary
    for record in (tmp_path / "two").rglob("*.config.json"):
        assert json.loads(record.read_text())["environment"]["cores"] == 1
    assert main(["repro", *names, "--config", "micro", "--out", str(tmp_path / "one")]) == 0
    for csv in (tmp_path / "one").rglob("*.csv"):
        assert csv.read_text() == (tmp_path / "two" / csv.relative_to(tmp_path / "one")).read_text(), csv.name
    with pytest.raises(SystemExit):
        main(["repro", "certify", "--jobs", "0", "--out", str(tmp_path)])
