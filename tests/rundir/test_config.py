"""The run configuration file."""

from __future__ import annotations

import pytest

from pyama_dask.pipeline.params import ParameterError, Params
from pyama_dask.rundir.config import load_run_config


def test_reads_params_and_cluster(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("params:\n  min_trace_length: 3\ncluster:\n  kind: local\n")
    assert load_run_config(path) == {"params": {"min_trace_length": 3}, "cluster": {"kind": "local"}, "fit": {}}


@pytest.mark.parametrize(
    "text, message",
    [
        ("parms: {}\n", "unknown key.*parms"),
        ("- 1\n", "must hold a mapping"),
        ("params: [1, 2]\n", "'params' must be a mapping"),
        ("params: {a: [}\n", "not valid YAML"),
    ],
)
def test_bad_config_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_run_config(path)
    assert str(path) in str(info.value)


def test_missing_config(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_run_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("params:\n  windw: 5\n", r": unknown parameter 'windw'. Did you mean 'window'\? Valid parameters: profile"),
        ("params:\n  window: three\n", ": parameter 'window' must be an odd integer >= 3, got 'three'$"),
        ("params:\n  bins: 2.0\n", r": parameter 'bins' must be an integer >= 1, got 2.0 \(a whole number"),
        ("params:\n  min_iou: 2\n", r": parameter 'min_iou' must be a number in \(0, 1\], got 2$"),
        ("params:\n  new_tracks: 1\n", ": parameter 'new_tracks' must be true or false, got 1$"),
        ("params:\n  tracker: laptrack\n  min_iou: 0\n", r": parameter 'min_iou' must be a number in \(0, 1\], got 0$"),
        ("params:\n  max_gap_frames: 1.5\n", r": parameter 'max_gap_frames' must be an integer >= 0, got 1.5 \(a whole"),
        ("params:\n  tracker: btrack\n", r": parameter 'tracker' must be one of 'iou', 'laptrack', got 'btrack'$"),
        ("params:\n  5: 1\n", ": unknown parameter '5'"),
    ],
)
def test_bad_parameter_is_refused_naming_the_file_and_the_parameter(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=message) as info:
        load_run_config(path)
    assert str(info.value).startswith(f"config file {path}: ")


@pytest.mark.parametrize(
    "text, message",
    [
        ("params: {}\n1: x\nnull: y\n", "has unknown key(s) 1, None; allowed: params, cluster, fit"),
        ("cluster: local\n", "'cluster' must be a mapping, got str"),
        ("params:\n  window: 4\ncluster: local\n", "'cluster' must be a mapping, got str"),
        ("params: 3\ncluster: [1]\n", "'params' must be a mapping, got int"),
        ("params:\n  windw: 5\nkind: local\n", "has unknown key(s) kind; allowed: params, cluster, fit"),
        ("just text\n", "must hold a mapping with keys params, cluster, fit"),
    ],
)
def test_the_file_s_shape_is_checked_before_the_parameters(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_run_config(path)
    assert not isinstance(info.value, ParameterError) and str(info.value).endswith(message)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["", "params:\ncluster:\n", "params: {}\n"])
def test_sections_left_out_are_empty(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert load_run_config(path) == {"params": {}, "cluster": {}, "fit": {}}


def test_parameters_are_returned_as_given_so_the_command_line_may_choose_the_profile(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("params:\n  sigma_factor: 2\n  watershed: false\n")
    params = load_run_config(path)["params"]
    assert params == {"sigma_factor": 2, "watershed": False}
    assert Params.from_mapping({**params, "profile": "robust"}).threshold_method == "otsu"


def test_a_file_may_set_both_trackers_options_and_choose_one(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("params:\n  tracker: laptrack\n  max_gap_frames: 1\n  min_iou: 0.3\n  new_tracks: true\n")
    params = Params.from_mapping(load_run_config(path)["params"])
    assert params.tracking_kwargs() == {"min_size": None, "max_size": None, "max_gap_frames": 1}
    assert {name: params.to_dict()[name] for name in ("min_iou", "new_tracks")} == {"min_iou": 0.3, "new_tracks": True}


def test_the_fit_mapping_is_checked_when_it_names_its_model(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("fit:\n  t0: {upper: 5}\n")  # the model comes from the command line: checked then
    assert load_run_config(path)["fit"] == {"t0": {"upper": 5}}
    path.write_text("fit:\n  model: maturation\n  t0: {upper: x}\n")
    with pytest.raises(ParameterError, match=r"run.yaml: fit parameter 't0': 'upper' must be a finite number, got 'x'"):
        load_run_config(path)
