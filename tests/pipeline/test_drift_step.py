"""The register step: planned only when a run asks for drift correction, its drift read by tracking and extraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.drift import read_drift_csv
from pyama_dask.io.fov_files import drift_path
from pyama_dask.io.inputs.microscopy import input_identity, read_frames, read_metadata
from pyama_dask.io.store import image_drift
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.pipeline.serial import process_fov_serial, run_plan_serially
from pyama_dask.pipeline.steps import STEPS, drift_registered
from pyama_dask.algorithms.registration import drift_stack
from pyama_dask.synthetic import SyntheticSpec, generate_dataset
from pyama_dask.workflow.run import run_complete_workflow

PARAMS = Params(min_trace_length=0.5)
CHANNELS = Channels(pc=0, fl=[1])


@pytest.fixture(scope="module")
def drifting_dataset(tmp_path_factory):
    """1 FOV x 8 frames x 256 px, 4 cells, the stage jumping up to 2 x 20 px between frames."""
    spec = SyntheticSpec(n_fovs=1, n_frames=8, size=256, n_cells=4, n_fluorescence=1, seed=3, stage_drift_px=20.0)
    return generate_dataset(tmp_path_factory.mktemp("drifting"), spec, name="drifting")


def test_the_table_has_the_register_step_only_inside_the_block():
    before = {name: dict(step.inputs) for name, step in STEPS.items()}
    with drift_registered(None):
        assert {name: dict(step.inputs) for name, step in STEPS.items()} == before
    with drift_registered("first"):
        assert list(STEPS) == ["copy", "segment", "register", "correct", "track", "graph", "extract"]
        assert STEPS["register"].inputs == {"source": "copy"}
        assert STEPS["track"].inputs["drift"] == STEPS["graph"].inputs["drift"] == STEPS["extract"].inputs["drift"] == "register"
        with drift_registered("first"):  # an enclosing block's table is kept
            assert list(STEPS).count("register") == 1
    assert {name: dict(step.inputs) for name, step in STEPS.items()} == before


def test_an_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="drift reference 'last' is none of previous, first"):
        with drift_registered("last"):
            pass


def test_the_register_step_writes_the_drift_and_changes_only_tracking_and_downstream(drifting_dataset, tmp_path):
    meta, identity = read_metadata(drifting_dataset.image_path), input_identity(drifting_dataset.image_path)
    plain = {t.id: t.fingerprint for t in plan_fov(meta, tmp_path, 0, CHANNELS, PARAMS, identity).tasks}
    with drift_registered("previous"):
        plan = plan_fov(meta, tmp_path, 0, CHANNELS, PARAMS, identity)
        results = run_plan_serially(plan)
        again = plan_fov(meta, tmp_path, 0, CHANNELS, PARAMS, identity)
    registered = {t.id: t.fingerprint for t in plan.tasks}
    changed = {task_id[0] for task_id, fp in registered.items() if plain.get(task_id) != fp}
    assert changed == {"register", "track", "graph", "extract"}
    assert all(task.done for task in again.tasks)

    table = drift_path(tmp_path, meta.base_name, 0, 0)
    assert completed_fingerprint(table) == registered[("register", "segmented", 0)]
    assert plan.paths.to_dict()["drift_csv"] == [0, str(table)]
    drift = read_drift_csv(table)
    phase = read_frames(drifting_dataset.image_path, 0, 0, dim_order=meta.dim_order)
    np.testing.assert_allclose(drift, drift_stack(phase), atol=1e-9)
    assert np.abs(drift).max() > 20  # the stage moved more than a cell's radius
    labels = next(task.job.output for task in plan.tasks if task.id[0] == "track")
    np.testing.assert_array_equal(image_drift(labels), drift)  # kept with the labels tracked on it
    assert image_drift(next(task.job.output for task in plan.tasks if task.id[0] == "segment")) is None
    summary = {r.step: r.summary for r in results}
    assert summary["register"]["drift_px"] == pytest.approx(np.hypot(*drift.T).max(), abs=0.05)

    traces = read_traces_csv(plan.paths.traces_csv[0][1])
    frames = traces["frame"].to_numpy()
    np.testing.assert_allclose(traces["position_x_corrected"], traces["position_x"] - drift[frames, 1], atol=1e-6)
    np.testing.assert_allclose(traces["position_y_corrected"], traces["position_y"] - drift[frames, 0], atol=1e-6)
    in_memory = process_fov_serial(meta, 0, CHANNELS, PARAMS, drift_reference="previous")[1]
    pd.testing.assert_frame_equal(traces, in_memory.round(6), check_dtype=False)


def test_a_run_without_the_step_keeps_its_traces_columns(drifting_dataset):
    meta = read_metadata(drifting_dataset.image_path)
    traces = process_fov_serial(meta, 0, CHANNELS, PARAMS)[1]
    assert not [column for column in traces.columns if column.endswith("_corrected")]


def test_a_dask_run_with_drift_correction_records_it_and_resumes(drifting_dataset, dask_client, tmp_path):
    meta = read_metadata(drifting_dataset.image_path)
    context = ProcessingContext(tmp_path, CHANNELS, params=PARAMS.to_dict(), drift_reference="previous")
    events = []
    assert run_complete_workflow(meta, context, client=dask_client, progress=events.append)
    assert sorted(e.step for e in events if e.status == "done").count("register") == 1
    assert "register" not in STEPS
    document = yaml.safe_load((tmp_path / "processing_results.yaml").read_text())
    assert document["drift_reference"] == "previous"
    assert document["results_paths"]["0"]["drift_csv"] == [
        0, drift_path(tmp_path, meta.base_name, 0, 0).relative_to(tmp_path).as_posix()]

    events.clear()
    assert run_complete_workflow(meta, context, client=dask_client, progress=events.append)
    assert {e.status for e in events} == {"skipped"}
