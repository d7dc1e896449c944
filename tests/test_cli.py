import subprocess
import sys

import pytest

from sparsecert.cli import main


def test_planted_command_writes_csv_and_figure(tmp_path, capsys):
    assert main(["planted", "--m", "1", "3", "--s", "2", "5", "--n", "600", "--d", "8", "--iters", "5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "planted_mlp_L1.csv").read_text().count("\n") == 5  # header + 4 cells
    assert (tmp_path / "planted_mlp_L1.png").stat().st_size > 1000


def test_planted_without_a_fitting_cell_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["planted", "--m", "1", "--s", "500", "--d", "10", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "no (m, s) cell fits" in capsys.readouterr().err


def test_bad_arguments_exit_with_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["planted", "--m", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["planted", "--method", "omp"])
    assert exc.value.code == 2


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_import_does_not_import_torch():
    code = "import sys, sparsecert, sparsecert.relu, sparsecert.deep, sparsecert.experiments, sparsecert.prune.compare, sparsecert.repro, sparsecert.cli, sparsecert.data, sparsecert.tasks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # linear-imp's micro configuration runs in the fast suite
def test_repro_linear_imp_quick(tmp_path, capsys):
    """The linear-IMP figures regenerate from one command (quick mode)."""
    assert main(["repro", "linear-imp", "--quick", "--out", str(tmp_path)]) == 0
    for stem in ("linear_imp_path", "linear_imp_support"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000
        assert (tmp_path / f"{stem}.csv").read_text().count("\n") > 5
    assert main(["repro", "list"]) == 0
    assert "linear-imp" in capsys.readouterr().out


def test_planted_with_imp_baseline(tmp_path):
    assert main(["planted", "--m", "2", "--s", "3", "--n", "400", "--d", "6", "--iters", "3", "--imp",
                 "--imp-epochs", "2", "--out", str(tmp_path)]) == 0
    header = (tmp_path / "planted_mlp_L1.csv").read_text().splitlines()[0]
    assert "imp_psnr" in header and "imp_peak_memory" in header


def test_sweep_command_runs_resumes_and_rejects_foreign_files(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    argv = ["sweep", "gaussian_recovery", "--grid", "n=30", "N=60", "s=2,3", "method=htp", "--seeds", "0", "1",
            "--db", str(db), "--executor", "serial", "--csv", str(tmp_path / "rows.csv")]
    assert main(argv) == 0
    assert "4 cells run, 0 already" in capsys.readouterr().out
    assert main(argv) == 0
    assert "0 cells run, 4 already" in capsys.readouterr().out
    assert (tmp_path / "rows.csv").read_text().count("\n") == 5
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not sqlite at all" * 50)
    assert main(argv[:-4] + ["--db", str(bad)]) == 2
    assert "not a sparsecert sweep store" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "gaussian_recovery", "--grid", "n"])


def test_recover_command_on_npy_files(tmp_path, capsys):
    import numpy as np

    import sparsecert as sc

    p = sc.planted_gaussian(60, 150, 4, rng=0)
    np.save(tmp_path / "A.npy", p.A.to_dense())
    np.save(tmp_path / "y.npy", p.y)
    out = tmp_path / "w.npz"
    assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "4",
                 "--method", "htp", "--out", str(out)]) == 0
    got = np.load(out)
    np.testing.assert_array_equal(got["indices"], p.w.indices)
    np.testing.assert_allclose(got["values"], p.w.values, rtol=1e-8)
    q = sc.planted_relu(800, 6, 3, 5, rng=1)
    np.save(tmp_path / "X.npy", q.X)
    np.save(tmp_path / "yq.npy", q.y)
    assert main(["recover", "--X", str(tmp_path / "X.npy"), "--y", str(tmp_path / "yq.npy"), "--s", "5", "--m", "3",
                 "--out", str(out)]) == 0
    assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "yq.npy"), "--s", "4",
                 "--out", str(out)]) == 2  # y of the wrong length
    assert "y must have shape (60,)" in capsys.readouterr().err
    # the output path is checked before solving; np.savez's added suffix is what is reported
    with pytest.raises(SystemExit) as exc:
        main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "4",
              "--out", str(tmp_path / "missing" / "w.npz")])
    assert exc.value.code == 2 and "cannot write" in capsys.readouterr().err
    assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "4",
                 "--out", str(tmp_path / "result")]) == 0
    assert f"wrote {tmp_path / 'result.npz'}" in capsys.readouterr().out and (tmp_path / "result.npz").exists()


def test_recover_writes_nothing_when_the_run_diverged(tmp_path, monkeypatch, capsys):
    import numpy as np

    import sparsecert.recovery as rec
    from sparsecert.sparse import SparseVector

    np.save(tmp_path / "A.npy", np.eye(4))
    np.save(tmp_path / "y.npy", np.ones(4))
    diverged = rec.RecoveryResult(w=SparseVector(np.array([0]), np.array([np.nan]), 4), support=np.array([0]),
                                  n_iter=3, converged=False, status="diverged", residuals=np.array([1.0, np.inf]),
                                  steps=np.array([1.0]), time=0.0, peak_memory=0, method="iht", info={})
    monkeypatch.setattr(rec, "iht", lambda *a, **k: diverged)
    assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "1",
                 "--out", str(tmp_path / "w.npz")]) == 1
    assert "diverged" in capsys.readouterr().err and not (tmp_path / "w.npz").exists()
    with pytest.raises(SystemExit):
        main(["recover", "--y", str(tmp_path / "y.npy"), "--s", "4"])  # neither --A nor --X


_SLOW = pytest.mark.slow  # 5-50 s each: run by `make test` (and CI), left out of `pytest -m "not slow"`


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=_SLOW)  # each but sequential-check also runs in its micro configuration in the fast suite
    for n in ("convergence", "planted-vector", "gaussian-phase", "planted", "certify", "pruning", "lottery",
              "transfer", "classify", "inr", "sequential-check")
])
def test_quick_figures_are_produced(name, tmp_path):
    from sparsecert.repro import REGISTRY, run

    if getattr(REGISTRY[name], "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    paths = run(name, tmp_path, quick=True, executor="process", progress=False)
    assert paths and all(p.stat().st_size > 5000 for p in paths)
    assert list(tmp_path.glob("*.csv"))


MICRO = ("gaussian-phase", "planted", "planted-vector", "certify", "pruning", "lottery", "transfer", "classify", "inr",
         "relu-phase", "linear-imp", "convergence", "sequential-check")


@pytest.mark.parametrize("name", MICRO)
def test_micro_figures_run_every_step_in_seconds(name, tmp_path):
    """Each figure's "micro" configuration (a grid of one or two cells) runs the figure's whole path --
    sweep, fits, drawing, CSV -- in the default suite; the quick runs above are the slow ones."""
    from sparsecert.repro import REGISTRY, run

    module = REGISTRY[name]
    if getattr(module, "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    assert "micro" in module.CONFIGS
    paths = run(name, tmp_path, config="micro", executor="serial", progress=False)
    assert paths and all(p.exists() and p.stem.endswith("_micro") for p in paths)
    # every table the module declares for this run is written, named after the configuration
    assert {p.name for p in tmp_path.glob("*.csv")} >= {f"{t}_micro.csv" for t in module.TABLES[:1]}


def test_certify_command(tmp_path, capsys):
    import numpy as np

    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    np.save(tmp_path / "Q.npy", Q)
    w = np.zeros(6)
    w[[1, 3]] = [1.0, -1.0]
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "y.npy", Q @ w)
    assert main(["certify", "--A", str(tmp_path / "Q.npy"), "--s", "2", "--support", "1,3",
                 "--y", str(tmp_path / "y.npy"), "--w", str(tmp_path / "w.npy")]) == 0
    out = capsys.readouterr().out
    assert "ERC" in out and "NSP" in out and "uniqueness" in out and "fails" not in out
    assert main(["certify", "--A", str(tmp_path / "Q.npy"), "--s", "2", "--support", "9"]) == 2
    capsys.readouterr()
    for bad, reason in (("3,3", "column 3 more than once"), ("1.7,3", "comma-separated column indices")):
        assert main(["certify", "--A", str(tmp_path / "Q.npy"), "--s", "2", "--support", bad]) == 2
        assert reason in capsys.readouterr().err
    np.save(tmp_path / "S.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(SystemExit) as exc:
        main(["certify", "--A", str(tmp_path / "S.npy"), "--s", "1"])
    assert exc.value.code == 2


def test_named_configuration_runs_only_where_it_exists(tmp_path, monkeypatch, capsys):
    import sparsecert.repro
    from sparsecert.cli import run_repro

    called = {}
    monkeypatch.setattr(sparsecert.repro, "run", lambda name, out, **kw: called.setdefault(name, kw) and [])
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
    from sparsecert.repro import inr
    from sparsecert.repro._common import pick_config

    assert pick_config(inr.CONFIGS, quick=False) is inr.FULL
    assert pick_config(inr.CONFIGS, config="mnist5k")["images"]["digit"][0] == ("mnist5k", 0)
    with pytest.raises(ValueError, match="full, micro, mnist5k, quick"):
        pick_config(inr.CONFIGS, config="mnist")
    assert inr.load_image(("mnist5k", 0)).shape == (28, 28)


def test_device_option_errors(capsys):
    """--device names an unavailable device or a figure without a GPU path: exit 2 with the reason."""
    pytest.importorskip("torch")
    with pytest.raises(SystemExit) as exc:
        main(["planted", "--m", "2", "--s", "2", "--n", "50", "--device", "cuda:9"])
    assert exc.value.code == 2 and "not available" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["repro", "convergence", "--device", "cpu"])
    assert exc.value.code == 2 and "no GPU path" in capsys.readouterr().err


def test_sequential_check_reports_changes_against_the_previous_csv(tmp_path, monkeypatch, capsys):
    """The regression check prints each score beside the one its CSV held before: a second run of
    the same (deterministic) cases reports no change; an edited previous value shows as a change."""
    import csv

    from sparsecert.repro import run

    def check():
        run("sequential-check", tmp_path, config="micro", progress=False)

    check()
    path = tmp_path / "sequential_regression_micro.csv"
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
            "heavy = sorted(m for m in sys.modules if m.startswith('sparsecert.repro.') or m.split('.')[0] in "
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
                                        ("convergence", ["demo_convergence", "demo_convergence_residuals"])])
def test_redraw_draws_from_the_csv_without_computing(name, stems, tmp_path, monkeypatch):
    """--redraw on the quick run's CSVs (as committed under figures/) draws each figure without a sweep."""
    import shutil
    from pathlib import Path

    from sparsecert.repro import REGISTRY

    figures = Path(__file__).resolve().parents[1] / "figures"
    for stem in stems:
        shutil.copy(figures / f"{stem}.csv", tmp_path)
    name, *config = name.split()
    monkeypatch.setattr(REGISTRY[name], "run_sweep", lambda *a, **k: pytest.fail("--redraw computed"), raising=False)
    assert main(["repro", name, *config, "--redraw", "--out", str(tmp_path)]) == 0
    assert all((tmp_path / f"{stem}.png").stat().st_size > 1000 for stem in stems if (figures / f"{stem}.png").exists())


@pytest.mark.parametrize("name,stem", [("classify", "classify_binary_digits"), ("inr", "inr_china_grey")])
def test_grid_figures_redraw_from_their_csv(name, stem, tmp_path, monkeypatch):
    """classify and inr keep in each row the figure it belongs to (and what its title says of the
    task), so --redraw draws the same panels from the micro run's CSV without fitting."""
    from sparsecert.repro import REGISTRY, run

    module = REGISTRY[name]
    if getattr(module, "NEEDS_TORCH", False):
        pytest.importorskip("torch", reason="the torch extra is not installed")
    run(name, tmp_path, config="micro", executor="serial", progress=False)
    png = tmp_path / f"{stem}_micro.png"
    png.unlink()
    monkeypatch.setattr(module, "grid_rows", lambda *a, **k: pytest.fail("--redraw computed"))
    assert main(["repro", name, "--redraw", "--config", "micro", "--out", str(tmp_path)]) == 0
    assert png.stat().st_size > 1000


def test_repro_records_the_configuration_beside_the_figures(tmp_path):
    """Each `sparsecert repro NAME` run leaves NAME[_CONFIG].config.json: the configuration's name
    and settings, the seed, the version and the files it drew."""
    import json

    import sparsecert

    assert main(["repro", "certify", "--config", "micro", "--seed", "3", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "certify_micro.config.json").read_text())
    from sparsecert.repro import REGISTRY

    assert record["config"] == "micro" and record["seed"] == 3 and record["version"] == sparsecert.__version__
    assert record["settings"] == json.loads(json.dumps(dict(REGISTRY["certify"].CONFIGS["micro"])))
    assert record["files"] and all((tmp_path / f).exists() for f in record["files"])


def test_redraw_needs_the_csv(tmp_path, capsys):
    from sparsecert.repro import run

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

    from sparsecert.repro import REGISTRY, planted

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
