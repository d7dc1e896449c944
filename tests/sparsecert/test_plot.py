"""Heatmaps of result rows: what a cell shows."""

import math

import numpy as np
import pytest

from sparsecert.plot import Panel, grid_heatmap


def test_a_cell_averages_its_values_leaves_nan_out_and_reads_na_when_all_are_nan():
    """(m=1, s=1): 10 and NaN -> 10 (NaN is no value, not averaged in); (m=1, s=2): NaN on every seed
    -> no colour and the text "n/a"; (m=2, s=1): no row at all -> blank, no text; (m=2, s=2): 20, 30 -> 25."""
    pytest.importorskip("matplotlib")
    rows = [{"m": 1, "s": 1, "psnr": 10.0}, {"m": 1, "s": 1, "psnr": math.nan},
            {"m": 1, "s": 2, "psnr": math.nan}, {"m": 1, "s": 2, "psnr": math.nan},
            {"m": 2, "s": 2, "psnr": 20.0}, {"m": 2, "s": 2, "psnr": 30.0}]
    fig = grid_heatmap(rows, Panel("psnr", "IHT", -20, 50, "{:.0f}"))
    ax = fig.axes[0]
    grid = np.ma.filled(ax.images[0].get_array(), np.nan)
    assert grid[0, 0] == 10.0 and grid[1, 1] == 25.0 and np.isnan(grid[0, 1]) and np.isnan(grid[1, 0])
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts == {(0, 0): "10", (0, 1): "n/a", (1, 1): "25"}
