"""``pyama-dask run --fit MODEL`` and ``pyama-dask fit OUT``: fits from the command line, settings from the config."""

from __future__ import annotations

import shutil

import pandas as pd
import yaml

from pyama_dask.cli import main
from pyama_dask.pipeline.steps import STEPS


def test_run_with_fit_on_an_existing_scheduler(tiny_dataset, dask_client, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 4\nfit:\n  min_points: 4\n  t0: {lower: -2}\n")
    out = tmp_path / "out"
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "1", "--out", str(out), "--fovs", "1",
                 "--config", str(config), "--fit", "maturation", "--scheduler", dask_client.scheduler.address,
                 "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "cells fitted" in text  # the fit step's summary
    fits = pd.read_parquet(out / "fits.parquet")
    traces = pd.read_csv(out / "fov_001" / "tiny_fov_001_traces_ch_1.csv")
    assert sorted(fits["cell"]) == sorted(traces["cell"].unique())
    assert (out / "fov_001" / "tiny_fov_001_fits_ch_1.csv").is_file()
    fit = yaml.safe_load((out / "processing_results.yaml").read_text())["fit"]
    assert fit["model"] == "maturation" and fit["min_points"] == 4 and fit["parameters"]["t0"]["lower"] == -2
    assert "fit" not in STEPS  # the table is back as it was


def test_run_refuses_wrong_fit_settings_before_any_work(tiny_dataset, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("fit:\n  ktl: {upper: big}\n")
    code = main(["run", str(tiny_dataset.image_path), "--fl", "1", "--out", str(tmp_path / "o"), "--config",
                 str(config), "--fit", "maturation"])
    assert code == 2
    assert "fit parameter 'ktl': 'upper' must be a finite number, got 'big'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_config_naming_a_wrong_fit_is_refused(tmp_path, capsys):
    config = tmp_path / "fit.yaml"
    config.write_text("fit:\n  model: logistic\n")
    assert main(["fit", str(tmp_path), "--config", str(config)]) == 2
    assert f"config file {config}: fit: no kinetics model 'logistic'; available: maturation" in capsys.readouterr().err


def test_fit_an_existing_output_folder(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    config = tmp_path / "fit.yaml"
    config.write_text("fit:\n  model: trivial\n  min_points: 4\n")
    assert main(["fit", str(out), "--config", str(config), "--channel", "1"]) == 0
    assert "fitted 3 trace file(s)" in capsys.readouterr().out
    assert main(["fit", str(out), "--config", str(config), "--channel", "1"]) == 0
    assert "fitted 0 trace file(s) (0 cells fitted), 3 already done" in capsys.readouterr().out
    fits = pd.read_parquet(out / "fits.parquet")
    assert set(fits["model"]) == {"trivial"} and set(fits["channel"]) == {1}


def test_fit_without_a_model_is_refused(tmp_path, capsys):
    assert main(["fit", str(tmp_path)]) == 2
    assert "no model to fit: give --model (one of maturation, maturation_blocked, trivial)" in capsys.readouterr().err
