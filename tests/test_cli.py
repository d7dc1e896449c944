import subprocess
import sys

import pytest

from sparsecert.cli import main


def test_planted_command_writes_csv_and_figure(tmp_path, capsys):
    assert main(["planted", "--m", "1", "3", "--s", "2", "5", "--n", "600", "--d", "8", "--iters", "5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "planted_mlp_L1.csv").read_text().count("\n") == 5  # header + 4 cells
    assert (tmp_path / "planted_mlp_L1.png").stat().st_size > 1000


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
    code = "import sys, sparsecert, sparsecert.relu, sparsecert.deep, sparsecert.experiments; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
