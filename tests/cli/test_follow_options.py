"""``pyama-dask run SOURCE --follow``: its options, and what it refuses."""

from __future__ import annotations

import argparse

import pytest

from pyama_dask.cli import main
from pyama_dask.cli.live import duration_seconds
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import simulate_acquisition
from pyama_dask.workflow import live


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("90s", 90), ("2h", 7200), ("45", 45), ("1.5m", 90)])
def test_idle_durations(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5m", "soon", "3d"])
def test_bad_idle_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="--until-idle takes a positive duration"):
        duration_seconds(text)


def test_follow_refuses_a_list_of_fovs(tmp_path, capsys):
    assert main(["run", str(tmp_path), "--follow", "--fovs", "0-1", "--out", str(tmp_path / "out")]) == 2
    assert "--follow processes every FOV as it lands" in capsys.readouterr().err


def test_follow_refuses_an_nd2_file(tmp_path, capsys):
    nd2 = tmp_path / "experiment.nd2"
    nd2.write_bytes(b"")
    assert main(["run", str(nd2), "--follow", "--out", str(tmp_path / "out")]) == 2
    assert "cannot be followed while it is acquired" in capsys.readouterr().err


def test_follow_saves_a_performance_report_only_when_asked(tmp_path, monkeypatch):
    spec = SyntheticSpec(n_fovs=1, n_frames=2, size=128, n_cells=1)
    path = simulate_acquisition(tmp_path / "acquisition", spec, "tiff-folder", 0, partial=None)
    calls = []
    monkeypatch.setattr(live, "follow_workflow", lambda *args, **kwargs: calls.append(kwargs) or True)
    for flags in ([], ["--performance-report"]):
        assert main(["run", str(path), "--follow", "--pc", "Phase", "--out", str(tmp_path / "out"), *flags]) == 0
    assert [call["performance_report"] for call in calls] == [False, True]
