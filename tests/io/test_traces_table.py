"""One trace table per output directory: Parquet with the run's description, CSV export."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import yaml

from pyama_dask.cli import main
from pyama_dask.io.traces import (
    NoTracesError,
    collect_traces,
    export_traces,
    read_traces_csv,
    read_traces_parquet_description,
)


def _csvs(out):
    """{(fov, channel): per-FOV CSV table} as the results file lists them."""
    results = yaml.safe_load((out / "processing_results.yaml").read_text())
    return {(fov, channel): read_traces_csv(out / f"fov_{fov:03d}" / f"tiny_fov_{fov:03d}_traces_ch_{channel}.csv")
            for fov in map(int, results["results_paths"]) for channel in results["channels"]["fl"]}


def _assert_same_as_csvs(table, csvs):
    assert list(table.columns[:3]) == ["fov", "channel", "cell"]
    assert sorted(set(zip(table["fov"], table["channel"]))) == sorted(csvs)
    assert len(table) == sum(len(t) for t in csvs.values())
    for (fov, channel), csv in csvs.items():
        part = table[(table["fov"] == fov) & (table["channel"] == channel)].drop(columns="channel")
        pd.testing.assert_frame_equal(part.reset_index(drop=True), csv, check_dtype=False, rtol=0, atol=5e-7)


def test_run_writes_one_parquet_table_with_every_fov_and_channel(tiny_run):
    csvs = _csvs(tiny_run)
    assert sorted(csvs) == [(f, c) for f in range(3) for c in (1, 2)]
    assert all(len(t) > 0 for t in csvs.values()), "the tiny dataset must give traces"
    table = pd.read_parquet(tiny_run / "traces.parquet")
    _assert_same_as_csvs(table, csvs)
    assert table["good"].dtype == bool and table["cell"].dtype == "int64"


def test_parquet_carries_the_run_description(tiny_run):
    description = read_traces_parquet_description(tiny_run / "traces.parquet")
    assert description["params"]["min_trace_length"] == 5
    assert description["channels"] == {"pc": 0, "fl": [1, 2]}
    assert description["time_units"] == "min"
    assert description["provenance"]["input"]["sha256"]
    assert "results_paths" not in description


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_traces_command_exports_the_merged_table(tiny_run, tmp_path, capsys, fmt):
    target = tmp_path / f"all.{fmt}"
    assert main(["traces", str(tiny_run), "--format", fmt, "-o", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    table = pd.read_csv(target) if fmt == "csv" else pd.read_parquet(target)
    _assert_same_as_csvs(table, _csvs(tiny_run))


def test_export_needs_a_run_directory(tmp_path, capsys):
    assert main(["traces", str(tmp_path)]) == 2
    assert f"{tmp_path} holds no processing_results.yaml" in capsys.readouterr().err
    with pytest.raises(ValueError, match="format must be one of parquet, csv, got 'xlsx'"):
        export_traces(tmp_path, fmt="xlsx")


def test_missing_trace_files_are_left_out_with_a_warning(tmp_path, caplog):
    present = tmp_path / "a.csv"
    pd.DataFrame({"fov": [0], "cell": [1], "frame": [0], "time": [0.0], "good": [True], "position_x": [1.0],
                  "position_y": [2.0], "intensity_total": [3.0], "area": [4]}).to_csv(present, index=False)
    results = {"results_paths": {0: {"traces_csv": [[2, str(present)], [1, str(tmp_path / "gone.csv")]]}}}
    with caplog.at_level(logging.WARNING):
        table = collect_traces(tmp_path, results)
    assert table["channel"].tolist() == [2]
    assert "FOV 0 channel 1: trace file" in caplog.text and "gone.csv is missing" in caplog.text
    with pytest.raises(NoTracesError, match="lists no existing trace files"):
        (tmp_path / "processing_results.yaml").write_text(yaml.safe_dump({"results_paths": {0: {"traces_csv": []}}}))
        export_traces(tmp_path)
