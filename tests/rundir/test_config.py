"""The run configuration file."""

from __future__ import annotations

import pytest

from pyama_dask.rundir.config import load_run_config


def test_reads_params_and_cluster(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("params:\n  min_trace_length: 3\ncluster:\n  kind: local\n")
    assert load_run_config(path) == {"params": {"min_trace_length": 3}, "cluster": {"kind": "local"}}


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
