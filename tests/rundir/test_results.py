"""processing_results.yaml: merged across runs, refused when malformed or from another input."""

from __future__ import annotations

import re

import pytest
import yaml

from pyama_dask.rundir.results import ResultsFileError, check_results_yaml, read_results_yaml, write_results_yaml


def _doc(input_file, fovs):
    return {"output_dir": "out", "input_file": str(input_file), "channels": {"pc": 0, "fl": [1]},
            "results_paths": {f: {"pc": [0, f"p{f}"]} for f in fovs}, "params": {}, "time_units": "min"}


def test_second_run_adds_fovs(tmp_path):
    path = tmp_path / "processing_results.yaml"
    src = tmp_path / "in.nd2"
    write_results_yaml(path, _doc(src, [0, 1]))
    write_results_yaml(path, _doc(src, [2]))
    doc = yaml.safe_load(path.read_text())
    assert sorted(doc["results_paths"]) == [0, 1, 2]
    assert doc["results_paths"][0] == {"pc": [0, "p0"]}
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
