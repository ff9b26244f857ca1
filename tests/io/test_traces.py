"""Trace CSV files: PyAMA-core's names, 6 decimals, written atomically."""

from __future__ import annotations

import pandas as pd

from pyama_dask.io.completion import completed_fingerprint, mark_complete
from pyama_dask.io.fov_files import traces_path
from pyama_dask.io.traces import read_traces_csv, write_traces_csv


def _table():
    return pd.DataFrame({
        "fov": [0, 0], "cell": [1, 2], "frame": [0, 0], "time": [0.0, 0.0], "good": [True, True],
        "position_x": [10.5, 20.0], "position_y": [3.0, 4.25], "intensity_total": [1.23456789, -2.0],
        "area": [12, 30],
    })


def test_traces_path_follows_pyama_core(tmp_path):
    assert traces_path(tmp_path, "exp", 7, 2) == tmp_path / "fov_007" / "exp_fov_007_traces_ch_2.csv"


def test_csv_has_six_decimals(tmp_path):
    path = traces_path(tmp_path, "exp", 0, 1)
    write_traces_csv(_table(), path)
    lines = path.read_text().splitlines()
    assert lines[0] == "fov,cell,frame,time,good,position_x,position_y,intensity_total,area"
    assert lines[1] == "0,1,0,0.000000,True,10.500000,3.000000,1.234568,12"
    pd.testing.assert_frame_equal(read_traces_csv(path)[["cell", "area", "good"]], _table()[["cell", "area", "good"]])


def test_no_temporary_files_left(tmp_path):
    path = traces_path(tmp_path, "exp", 0, 1)
    write_traces_csv(_table(), path)
    mark_complete(path, "fp")
    write_traces_csv(_table(), path)
    mark_complete(path, "fp2")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".done"]
    assert completed_fingerprint(path) == "fp2"


def test_the_parent_column_is_empty_for_founders_and_reads_back_as_integers(tmp_path):
    table = pd.DataFrame({"fov": 0, "cell": [1, 2, 3], "frame": [0, 1, 1], "time": [0.0, 5.0, 5.0], "good": True,
                          "parent": pd.array([pd.NA, 1, 1], dtype="Int64")})
    path = tmp_path / "traces.csv"
    write_traces_csv(table, path)
    assert path.read_text().splitlines()[1:] == ["0,1,0,0.000000,True,", "0,2,1,5.000000,True,1",
                                                  "0,3,1,5.000000,True,1"]
    back = read_traces_csv(path)
    assert str(back["parent"].dtype) == "Int64" and back["parent"].isna().tolist() == [True, False, False]
    pd.testing.assert_frame_equal(back, table)
