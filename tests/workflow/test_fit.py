"""The fit step in a run (--fit) and on an existing output folder (pyama-dask fit): outputs, fingerprints, resume."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from pyama_dask.io.fits import RUN_FITS_FILE, read_fits
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.io.traces import read_traces
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.pipeline.steps import STEPS, fit_step, registered
from pyama_dask.workflow.fit import fit_output_folder
from pyama_dask.workflow.run import run_complete_workflow

FIT = {"model": "maturation", "min_points": 4, "t0": {"lower": -1, "upper": 2}}


def _run(dataset, out, client, fit):
    events = []
    context = ProcessingContext(out, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 5}, fit=fit)
    assert run_complete_workflow(read_metadata(dataset.image_path), context, client=client, progress=events.append)
    return {(e.step, e.status) for e in events}


@pytest.fixture(scope="module")
def fitted_run(tiny_dataset, dask_client, tmp_path_factory):
    out = tmp_path_factory.mktemp("fitted_run")
    _run(tiny_dataset, out, dask_client, FIT)
    return out


def test_a_run_with_a_model_writes_the_fits(fitted_run):
    fits = pd.read_parquet(fitted_run / RUN_FITS_FILE)
    traces = read_traces(fitted_run)
    cells = traces.groupby(["fov", "channel"])["cell"].nunique()
    assert fits.groupby(["fov", "channel"]).size().to_dict() == cells.to_dict()
    assert {"t0", "ktl", "delta", "km", "beta", "scale", "offset", "at_bound_t0", "r_squared", "rmse",
            "n_points", "success", "reason", "time_unit"} <= set(fits.columns)
    assert (fits["time_unit"] == "h").all() and (fits["km"] == 1.28).all()
    good = traces[traces["good"]].groupby(["fov", "channel", "cell"]).size()
    assert fits.set_index(["fov", "channel", "cell"])["n_points"].to_dict() == good.to_dict()
    assert fits["t0"].dropna().between(-1, 2).all()
    results = yaml.safe_load((fitted_run / "processing_results.yaml").read_text())
    assert results["fit"]["parameters"]["t0"] == {"initial": 0.0, "lower": -1.0, "upper": 2.0, "fixed": False}
    channel, csv = results["results_paths"]["0"]["fits_csv"][1]
    layout = pd.read_csv(fitted_run / csv)
    assert channel == 2
    assert list(layout.columns) == ["fov", "cell", "model_type", "success", "r_squared", "t0", "ktl", "delta", "offset"]
    pd.testing.assert_frame_equal(layout[["cell", "r_squared"]],
                                  read_fits(fitted_run / csv)[["cell", "r_squared"]], check_exact=False)


def test_changing_a_bound_refits_and_nothing_else(fitted_run, tiny_dataset, dask_client, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(fitted_run, out)
    statuses = _run(tiny_dataset, out, dask_client, {**FIT, "t0": {"lower": -1, "upper": 1.5}})
    assert {status for step, status in statuses if step != "fit"} == {"skipped"}
    assert {status for step, status in statuses if step == "fit"} == {"done"}
    assert _run(tiny_dataset, out, dask_client, {**FIT, "t0": {"lower": -1, "upper": 1.5}}) == {
        (step, "skipped") for step in ("copy", "segment", "correct", "track", "graph", "extract", "fit")}
    assert pd.read_parquet(out / RUN_FITS_FILE)["t0"].dropna().le(1.5).all()


def test_runs_without_a_model_keep_their_plan(tiny_dataset, tmp_path):
    metadata = read_metadata(tiny_dataset.image_path)
    plan = plan_fov(metadata, tmp_path, 0, Channels(pc=0, fl=[1]), Params(), input_identity(metadata.file_path))
    assert "fit" not in STEPS
    with registered(fit_step(FitParams.from_mapping(FIT))):
        with_fit = plan_fov(metadata, tmp_path, 0, Channels(pc=0, fl=[1]), Params(), input_identity(metadata.file_path))
    assert "fit" not in STEPS
    assert [t.fingerprint for t in with_fit.tasks[:-1]] == [t.fingerprint for t in plan.tasks]
    assert [t.step for t in with_fit.tasks] == [t.step for t in plan.tasks] + ["fit"]


def test_fitting_an_existing_output_folder_resumes(tiny_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    settings = FitParams.from_mapping(FIT)
    first = fit_output_folder(out, settings, channels=[2])
    assert {(r.channel, r.status) for r in first} == {(2, "done")}
    assert len(first) == 3  # three FOVs
    assert set(pd.read_parquet(out / RUN_FITS_FILE)["channel"]) == {2}
    again = fit_output_folder(out, settings)
    assert {(r.channel, r.status) for r in again} == {(1, "done"), (2, "skipped")}
    results = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert results["fit"] == settings.record()
    assert len(results["results_paths"]["2"]["fits_csv"]) == 2
    assert (out / "fov_002").is_dir() and len(pd.read_parquet(out / RUN_FITS_FILE)) == len(
        read_traces(out).groupby(["fov", "channel", "cell"]))


def test_fitting_a_folder_without_traces_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no processing_results.yaml"):
        fit_output_folder(tmp_path, FitParams.from_mapping(FIT))


def test_fits_of_other_settings_are_no_longer_listed(tiny_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    fit_output_folder(out, FitParams.from_mapping(FIT), channels=[2])
    fit_output_folder(out, FitParams.from_mapping({"model": "trivial", "min_points": 4}), channels=[1])
    fits = pd.read_parquet(out / RUN_FITS_FILE)
    assert set(fits["model"]) == {"trivial"} and set(fits["channel"]) == {1}
    results = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert [channel for channel, _ in results["results_paths"]["0"]["fits_csv"]] == [1]
    assert results["fit"]["model"] == "trivial"
