"""processing_results.yaml: merged across runs, refused when malformed or from another input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pyama_dask.rundir.results import (
    ResultsFileError,
    check_results_yaml,
    read_results_yaml,
    recorded_outputs,
    write_results_yaml,
)


def _doc(input_file, fovs):
    return {"output_dir": "out", "input_file": str(input_file), "channels": {"pc": 0, "fl": [1]},
            "results_paths": {f: {"pc": [0, f"p{f}"]} for f in fovs}, "params": {}, "time_units": "min"}


def test_second_run_adds_fovs(tmp_path):
    path = tmp_path / "processing_results.yaml"
    src = tmp_path / "in.nd2"
    write_results_yaml(path, _doc(src, [0, 1]))
    write_results_yaml(path, _doc(src, [2]))
    doc = yaml.safe_load(path.read_text())
    assert list(doc["results_paths"]) == ["0", "1", "2"]
    assert doc["results_paths"]["0"] == {"pc": [0, "p0"]}
    assert doc["time_units"] == "min"


def test_results_from_another_input_are_refused(tmp_path):
    path = tmp_path / "processing_results.yaml"
    write_results_yaml(path, _doc(tmp_path / "a.nd2", [0]))
    before = path.read_text()
    with pytest.raises(ResultsFileError, match=r"a\.nd2.*not of .*b\.nd2.*another output directory"):
        write_results_yaml(path, _doc(tmp_path / "b.nd2", [1]))
    assert path.read_text() == before


@pytest.mark.parametrize("text", ["key: [unclosed", "- just\n- a list\n"])
def test_malformed_file_is_refused_with_advice(tmp_path, text):
    path = tmp_path / "processing_results.yaml"
    path.write_text(text)
    with pytest.raises(ResultsFileError, match="processing_results.yaml.*(move it away|another output)"):
        check_results_yaml(path, tmp_path / "a.nd2")
    assert path.read_text() == text


def test_absent_file_reads_empty(tmp_path):
    assert read_results_yaml(tmp_path / "none.yaml") == {}


@pytest.mark.parametrize("text, problem", [
    ("input_file: [a, b]\n", "'input_file' must be a path"),
    ("results_paths: [0, 1]\n", "'results_paths' must map FOV numbers to outputs"),
    ("results_paths:\n  first: {pc: [0, p]}\n", "entry 'first' is not a FOV number"),
    ("results_paths:\n  0: {pc: p}\n", "entry 0 is not a FOV number with its [channel, path] outputs"),
    ("results_paths:\n  0: {traces_csv: [[1]]}\n", "entry 0 is not a FOV number"),
])
def test_a_results_file_a_run_could_not_merge_into_is_refused(tmp_path, text, problem):
    path = tmp_path / "processing_results.yaml"
    path.write_text(text)
    with pytest.raises(ResultsFileError, match=re.escape(problem) + ".*move it away"):
        check_results_yaml(path, tmp_path / "a.nd2")
    assert path.read_text() == text


def test_paths_are_written_relative_to_the_folder_and_read_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = {"output_dir": "out", "results_paths": {0: {
        "pc": [0, "out/pyama.zarr/fov_000/pc_ch_0"], "traces_csv": [[1, "out/fov_000/x_fov_000_traces_ch_1.csv"]],
        "cell_counts": [0, "/elsewhere/counts.csv"]}}}
    (tmp_path / "out").mkdir()
    write_results_yaml(Path("out") / "processing_results.yaml", written)
    doc = yaml.safe_load((tmp_path / "out" / "processing_results.yaml").read_text())
    assert doc["output_dir"] == "."
    assert doc["results_paths"] == {"0": {"pc": [0, "pyama.zarr/fov_000/pc_ch_0"],
                                          "traces_csv": [[1, "fov_000/x_fov_000_traces_ch_1.csv"]],
                                          "cell_counts": [0, "/elsewhere/counts.csv"]}}
    moved = tmp_path / "moved"
    (tmp_path / "out").rename(moved)
    monkeypatch.chdir("/")
    outputs = recorded_outputs(moved)
    assert outputs[0]["traces_csv"] == [[1, str(moved / "fov_000" / "x_fov_000_traces_ch_1.csv")]]
    assert outputs[0]["pc"] == [0, str(moved / "pyama.zarr" / "fov_000" / "pc_ch_0")]
    assert outputs[0]["cell_counts"] == [0, "/elsewhere/counts.csv"]


@pytest.mark.parametrize("recorded_dir, location", [
    ("/old/place/out", "/old/place/out/fov_000/x.csv"),   # absolute, as runs before portable folders wrote
    ("out", "out/fov_000/x.csv"),                          # relative to where such a run started
])
def test_a_file_of_earlier_versions_is_read_where_it_is_now_and_rewritten_portably(tmp_path, recorded_dir, location):
    path = tmp_path / "processing_results.yaml"
    path.write_text(yaml.safe_dump({"output_dir": recorded_dir, "input_file": str(tmp_path / "in.nd2"),
                                    "results_paths": {0: {"traces_csv": [[1, location]]}}}))
    assert recorded_outputs(tmp_path) == {0: {"traces_csv": [[1, str(tmp_path / "fov_000" / "x.csv")]]}}
    write_results_yaml(path, _doc(tmp_path / "in.nd2", [1]))
    doc = yaml.safe_load(path.read_text())
    assert doc["results_paths"] == {"0": {"traces_csv": [[1, "fov_000/x.csv"]]}, "1": {"pc": [0, "p1"]}}
