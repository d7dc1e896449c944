"""Where results go (sparsecert.io): CSV rows, JSON records, PNG figures at one resolution."""

import csv
import json

import numpy as np
import pytest

from sparsecert import io
from sparsecert.plot import pyplot


def test_write_csv_takes_the_union_of_keys_in_first_seen_order(tmp_path):
    rows = [{"a": 1, "b": 2.5}, {"b": 3, "c": "x"}]
    path = io.write_csv(rows, tmp_path / "r.csv")
    with open(path) as fh:
        got = list(csv.reader(fh))
    assert got == [["a", "b", "c"], ["1", "2.5", ""], ["", "3", "x"]]
    with pytest.raises(ValueError, match="rows is empty"):
        io.write_csv([], tmp_path / "e.csv")


def test_write_json_turns_numpy_into_plain_numbers(tmp_path):
    path = io.write_json({"w": np.arange(3), "s": np.float64(0.5), "n": 2}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"w": [0, 1, 2], "s": 0.5, "n": 2}


def test_save_figure_writes_a_png_at_the_one_dpi_with_its_rows_and_closes_it(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    path = io.save_figure(fig, tmp_path / "f.png", [{"x": 0, "y": 0}, {"x": 1, "y": 1}])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.csv").read_text().splitlines() == ["x,y", "0,0", "1,1"]
    assert not plt.fignum_exists(fig.number)
    width = int.from_bytes(path.read_bytes()[16:20], "big")  # IHDR width: at most 2 in x DPI (a tight box trims)
    assert 0 < width <= 2 * io.DPI


def test_read_csv_gives_back_what_write_csv_wrote(tmp_path):
    rows = [{"m": 5, "s": 20, "psnr": float("inf"), "ok": True, "name": "a b", "gap": None, "x": 0.25}]
    got = io.read_csv(io.write_csv(rows, tmp_path / "r.csv"))
    assert got == rows and type(got[0]["m"]) is int and type(got[0]["x"]) is float
    with pytest.raises(FileNotFoundError, match="run the figure once"):
        io.read_csv(tmp_path / "missing.csv")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 6), d=st.integers(1, 5), k=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_networks_and_results_round_trip_through_their_files(tmp_path_factory, m, d, k, seed):
    """save then load gives the same function (bit for bit) and the same result fields, from a file
    that np.load reads with allow_pickle=False; a file of another kind is refused by name."""
    import numpy as np

    import sparsecert as sc
    from sparsecert.nn import ReLUNet
    from sparsecert.recovery import RecoveryResult

    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("nets")
    X = rng.standard_normal((7, d))
    net = ReLUNet.two_layer(rng.standard_normal((m, d)), rng.standard_normal(m))
    back = ReLUNet.load(net.save(folder / "net.npz"))
    assert np.array_equal(back.forward(X), net.forward(X))
    mlp = ReLUNet([rng.standard_normal((m, d)), rng.standard_normal((m + 1, m)), rng.standard_normal((k, m + 1))],
                  [rng.standard_normal(m), rng.standard_normal(m + 1), rng.standard_normal(k)])
    assert np.array_equal(ReLUNet.load(mlp.save(folder / "mlp.npz")).forward(X), mlp.forward(X))
    q = sc.planted_gaussian(20, 30, 2, rng=seed)
    res = sc.iht(q.A, q.y, 2, solver=sc.IHT(method="niht", max_iter=5), progress=False)
    again = RecoveryResult.load(res.save(folder / "res.npz"))
    assert again.to_dict() == res.to_dict() and again.residual == res.residual
    with np.load(folder / "res.npz", allow_pickle=False) as data:
        assert "meta.json" in data.files
    with pytest.raises(ValueError, match=f"{folder / 'res.npz'}: holds a 'RecoveryResult', not a 'ReLUNet'"):
        ReLUNet.load(folder / "res.npz")
