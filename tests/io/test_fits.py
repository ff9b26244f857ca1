"""Fit tables: traces to the fitter's arrays (good rows, hours), the fit files and PyAMA's layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyama_dask.algorithms.kinetics import MODELS
from pyama_dask.algorithms.kinetics_fit import fit_cells
from pyama_dask.io.fits import cell_series, fits_path, fits_table, pyama_layout, read_fits, write_fits


def test_cell_series_keeps_good_rows_in_hours():
    traces = pd.DataFrame({"fov": 0, "cell": [3, 3, 3, 7, 7], "frame": [0, 1, 2, 1, 2],
                           "time": [0.0, 30.0, 60.0, 30.0, 60.0], "good": [True, False, True, True, True],
                           "intensity_total": [1.0, 2.0, 3.0, 4.0, 5.0]})
    cells, t, y = cell_series(traces)
    assert cells.tolist() == [3, 7]
    np.testing.assert_array_equal(t, [[0.0, np.nan, 1.0], [np.nan, 0.5, 1.0]])
    np.testing.assert_array_equal(y, [[1.0, np.nan, 3.0], [np.nan, 4.0, 5.0]])


def test_fit_files_round_trip_and_pyama_layout(tmp_path):
    model = MODELS["trivial"]
    t = np.tile(np.linspace(0, 20, 40), (2, 1))
    y = model.evaluate(t, {"t0": 2.0, "ktl": 30.0, "delta": 0.3, "beta": 0.05, "offset": 5.0}) + np.array([[0], [1]])
    y[1, 4:] = np.nan  # four points: fewer than min_points
    fits = fit_cells(model, t, y)
    table = fits_table(fits, model, fov=4, channel=1, cells=np.array([11, 12]))
    csv = fits_path(tmp_path, "movie", 4, 1)
    assert csv == tmp_path / "fov_004" / "movie_fov_004_fits_ch_1.csv"
    write_fits(table, model, csv, {"fit": "x"})
    pd.testing.assert_frame_equal(read_fits(csv), table)
    layout = pd.read_csv(csv)
    assert list(layout.columns) == ["fov", "cell", "model_type", "success", "r_squared", "t0", "ktl", "delta",
                                    "beta", "offset"]
    assert layout["success"].tolist() == [True, False] and layout["model_type"].eq("trivial").all()
    assert table.loc[1, "reason"] == "too_short" and table.loc[0, "r_squared"] > 0.999
    pd.testing.assert_frame_equal(layout, pyama_layout(table, model), check_dtype=False, check_exact=False)


def test_a_fov_without_traces_gets_an_empty_fit_table(tmp_path):
    traces = pd.DataFrame(columns=["fov", "cell", "frame", "time", "good", "intensity_total"])
    cells, t, y = cell_series(traces)
    model = MODELS["maturation"]
    table = fits_table(fit_cells(model, t, y), model, fov=0, channel=1, cells=cells)
    csv = fits_path(tmp_path, "movie", 0, 1)
    write_fits(table, model, csv, {})
    assert read_fits(csv).empty
    assert pd.read_csv(csv).columns.tolist() == ["fov", "cell", "model_type", "success", "r_squared", "t0", "ktl",
                                                 "delta", "offset"]
