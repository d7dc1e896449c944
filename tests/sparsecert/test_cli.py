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
    code = "import sys, sparsecert, sparsecert.relu, sparsecert.deep, sparsecert.cells, sparsecert.planted, sparsecert.working_set, sparsecert.prune.compare, paper_repro, paper_repro.recovery.tasks, sparsecert.cli, sparsecert.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
    with pytest.raises(SystemExit) as exc:  # y of the wrong length: named against A's rows
        main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "yq.npy"), "--s", "4", "--out", str(out)])
    assert exc.value.code == 2 and "--A has 60 rows (shape (60, 150)) but --y has 800 values" in capsys.readouterr().err
    # the output path is checked before solving; np.savez's added suffix is what is reported
    with pytest.raises(SystemExit) as exc:
        main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "4",
              "--out", str(tmp_path / "missing" / "w.npz")])
    assert exc.value.code == 2 and "cannot write" in capsys.readouterr().err
    assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "4",
                 "--out", str(tmp_path / "result")]) == 0
    assert f"wrote {tmp_path / 'result.npz'}" in capsys.readouterr().out and (tmp_path / "result.npz").exists()
    np.testing.assert_array_equal(np.load(tmp_path / "result.npz")["indices"], p.w.indices)  # the portfolio's
    with pytest.raises(SystemExit) as exc:  # the portfolio is linear recovery only
        main(["recover", "--X", str(tmp_path / "X.npy"), "--y", str(tmp_path / "yq.npy"), "--s", "5", "--m", "3",
              "--method", "portfolio", "--out", str(out)])
    assert exc.value.code == 2 and "--method portfolio is for --A" in capsys.readouterr().err


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
    monkeypatch.setattr(rec, "portfolio", lambda *a, **k: diverged)
    for method in ([], ["--method", "iht"]):  # the default (portfolio) and an IHT variant
        assert main(["recover", "--A", str(tmp_path / "A.npy"), "--y", str(tmp_path / "y.npy"), "--s", "1",
                     "--out", str(tmp_path / "w.npz"), *method]) == 1
        assert "diverged" in capsys.readouterr().err and not (tmp_path / "w.npz").exists()
    with pytest.raises(SystemExit):
        main(["recover", "--y", str(tmp_path / "y.npy"), "--s", "4"])  # neither --A nor --X


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


def test_device_option_errors(capsys):
    """--device names an unavailable device or a figure without a GPU path: exit 2 with the reason."""
    pytest.importorskip("torch")
    with pytest.raises(SystemExit) as exc:
        main(["planted", "--m", "2", "--s", "2", "--n", "50", "--device", "cuda:9"])
    assert exc.value.code == 2 and "not available" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["repro", "convergence", "--device", "cpu"])
    assert exc.value.code == 2 and "no GPU path" in capsys.readouterr().err


def test_every_option_has_help_and_every_command_an_example(capsys):
    """A new user's first hour: each subcommand's options are explained and each shows an example;
    ``sweep NAME --describe`` lists the experiment's parameters without a grid."""
    import argparse

    from sparsecert import cli

    parsers = {}
    real = argparse.ArgumentParser.parse_args

    def grab(self, args=None, namespace=None):
        parsers["main"] = self
        return real(self, args, namespace)

    argparse.ArgumentParser.parse_args = grab
    try:
        with pytest.raises(SystemExit):
            cli.main(["--help"])
    finally:
        argparse.ArgumentParser.parse_args = real
    sub = next(a for a in parsers["main"]._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        if name in ("repro", "demo"):  # handed to paper_repro's own parser (tested there)
            continue
        assert p.epilog and "sparsecert " + name in p.epilog, name
        for action in p._actions:
            assert action.help, f"sparsecert {name} {action.option_strings or action.dest} has no help"
    capsys.readouterr()
    assert main(["sweep", "gaussian_recovery", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "method         str   one of iht, niht, aiht, htp" in out and "required" in out


def test_transposed_data_is_named_as_such(tmp_path, capsys):
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "X.npy", np.ones((10, 30)))
    np.save(tmp_path / "y.npy", np.ones(30))
    with pytest.raises(SystemExit) as exc:
        main(["recover", "--X", str(tmp_path / "X.npy"), "--y", str(tmp_path / "y.npy"), "--m", "2", "--s", "2",
              "--out", str(tmp_path / "w.npz")])
    assert exc.value.code == 2 and "samples must be rows; transpose it" in capsys.readouterr().err
