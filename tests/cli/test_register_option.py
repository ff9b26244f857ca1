"""``pyama-dask run --register [REFERENCE]``: drift correction from the command line."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from pyama_dask.cli import main
from pyama_dask.pipeline.steps import STEPS


def test_run_with_register_writes_the_drift_and_corrected_positions(tiny_dataset, dask_client, tmp_path, capsys):
    out, config = tmp_path / "out", tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 4\n")
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "1", "--out", str(out), "--fovs", "1",
                 "--config", str(config), "--register", "--scheduler", dask_client.scheduler.address, "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "drift_px" in text.splitlines()[1]  # the register step's summary: the largest drift of the FOV
    drift = pd.read_csv(out / "fov_001" / "tiny_fov_001_drift_ch_0.csv")
    assert list(drift.columns) == ["frame", "drift_y", "drift_x"] and len(drift) == tiny_dataset.spec.n_frames
    traces = pd.read_csv(out / "fov_001" / "tiny_fov_001_traces_ch_1.csv")
    assert len(traces) and {"position_x_corrected", "position_y_corrected"} <= set(traces.columns)
    assert yaml.safe_load((out / "processing_results.yaml").read_text())["drift_reference"] == "previous"
    assert "register" not in STEPS  # the table is back as it was


def test_run_refuses_an_unknown_reference(tiny_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(tiny_dataset.image_path), "--out", str(tmp_path / "o"), "--register", "last"])
    assert "invalid choice: 'last'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
