"""The step table: a step registered there is planned, run, resumed, counted and recorded with no edit elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import yaml

from pyama_dask.cli.progress import RunProgress
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.io.store import ImageRef, fov_group_name, open_image
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.memory import MemoryModel
from pyama_dask.pipeline.params import STEPS_WITH_PARAMETERS, Params
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.pipeline.serial import run_plan_serially
from pyama_dask.pipeline.steps import (
    FLUORESCENCE,
    SEGMENTED,
    STEPS,
    Step,
    register_step,
    tasks_per_fov,
    unregister_step,
)
from pyama_dask.pipeline.jobs import TaskJob
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.workflow.status import summarise_run

# Workers import this module's functions by value: the test's step is not in the package.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def count_cells(job: TaskJob) -> dict:
    """The extra step's task: cells per frame of the tracked labels, as a CSV."""
    labels = open_image(job.inputs["labels"])
    counts = [len(np.unique(labels[t])) - 1 for t in range(labels.shape[0])]
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_text("frame,cells\n" + "".join(f"{t},{n}\n" for t, n in enumerate(counts)))
    return {"most_cells": max(counts)}


def cell_counts_path(output_dir: Path, base_name: str, fov: int, channel: int) -> Path:
    return Path(output_dir) / fov_group_name(fov) / f"{base_name}_{fov_group_name(fov)}_cell_counts_ch_{channel}.csv"


COUNT = Step("count", count_cells, writes={SEGMENTED: "cell_counts"}, inputs={"labels": "track"},
             memory=MemoryModel(2, 4), params=False, file=cell_counts_path, summary="most_cells")


@pytest.fixture
def with_count_step():
    register_step(COUNT, after="track")
    yield COUNT
    unregister_step("count")


def test_the_table_orders_steps_after_what_they_read():
    for position, step in enumerate(STEPS.values()):
        assert set(step.inputs.values()) <= set(list(STEPS)[:position]), step.name


def test_registering_refuses_duplicates_and_steps_before_their_inputs():
    with pytest.raises(ValueError, match="exists already"):
        register_step(Step("segment", count_cells, writes={SEGMENTED: "x"}))
    with pytest.raises(ValueError, match="reads track, which must come before it"):
        register_step(Step("early", count_cells, writes={SEGMENTED: "x"}, inputs={"labels": "track"}), after="copy")
    assert "early" not in STEPS


def test_tasks_per_fov_follow_the_channel_roles():
    assert tasks_per_fov(Channels(pc=0, fl=[1, 2])) == {"copy": 3, "segment": 1, "correct": 2, "track": 1,
                                                        "graph": 1, "extract": 2}
    assert tasks_per_fov(Channels(pc=0, fl=[])) == {"copy": 1, "segment": 1, "correct": 0, "track": 1, "graph": 1,
                                                    "extract": 0}


def test_inputs_come_from_the_same_channel_or_the_segmented_one(tiny_dataset, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    plan = plan_fov(meta, tmp_path, 0, Channels(pc=0, fl=[1, 2]), Params(), input_identity(tiny_dataset.image_path))
    deps = {task.id: task.deps for task in plan.tasks}
    assert deps[("correct", FLUORESCENCE, 2)] == (("copy", FLUORESCENCE, 2), ("segment", SEGMENTED, 0))
    assert deps[("extract", FLUORESCENCE, 1)] == (("track", SEGMENTED, 0), ("correct", FLUORESCENCE, 1))
    assert deps[("graph", SEGMENTED, 0)] == (("track", SEGMENTED, 0),)
    assert [task.step for task in plan.tasks] == ["copy"] * 3 + ["segment", "correct", "correct", "track", "graph",
                                                                 "extract", "extract"]


def test_an_extra_step_is_planned_run_resumed_counted_and_recorded(with_count_step, tiny_dataset, dask_client,
                                                                    tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    channels = Channels(pc=0, fl=[1])
    context = ProcessingContext(tmp_path, channels, params={"min_trace_length": 5})
    progress = RunProgress(range(meta.n_fovs), channels, enabled=False)
    assert progress.bars["count"].total == meta.n_fovs

    assert run_complete_workflow(meta, context, client=dask_client, progress=progress)

    # Run: one CSV per FOV, its summary in the CLI's table.
    for fov in range(meta.n_fovs):
        counts = cell_counts_path(tmp_path, meta.base_name, fov, 0).read_text().splitlines()
        labels = open_image(ImageRef(tmp_path, fov, "seg_labeled", 0))
        assert counts[1] == f"0,{len(np.unique(labels[0])) - 1}"
        assert progress.reported["count"][fov][0] == max(int(line.split(",")[1]) for line in counts[1:])
    assert "most_cells" in progress.summary() and "count" in progress.summary().splitlines()[-1]

    # Recorded: the results file lists its outputs under its key.
    document = yaml.safe_load((tmp_path / "processing_results.yaml").read_text())
    for fov in range(meta.n_fovs):
        assert document["results_paths"][str(fov)]["cell_counts"] == [
            0, cell_counts_path(tmp_path, meta.base_name, fov, 0).relative_to(tmp_path).as_posix()]

    # Status: every FOV done, with the extra task counted.
    status = summarise_run(read_records(run_log_path(tmp_path)))
    assert status.fovs_done == tuple(range(meta.n_fovs)) and status.n_tasks == meta.n_fovs * 8

    # Resumed: nothing computed again; a lost output alone is made again.
    cell_counts_path(tmp_path, meta.base_name, 1, 0).unlink()
    events = []
    assert run_complete_workflow(meta, context, client=dask_client, progress=events.append)
    computed = [(e.step, e.fov) for e in events if e.status == "done"]
    assert computed == [("count", 1)]
    assert len(events) == meta.n_fovs * 8


def test_the_serial_path_runs_the_extra_step_too(with_count_step, tiny_dataset, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)
    plan = plan_fov(meta, tmp_path, 0, Channels(pc=0, fl=[1]), Params.from_mapping({"min_trace_length": 5}),
                    input_identity(tiny_dataset.image_path))
    results = run_plan_serially(plan)
    assert [(r.step, r.status) for r in results][-4:] == [("track", "done"), ("count", "done"), ("graph", "done"),
                                                          ("extract", "done")]
    assert cell_counts_path(tmp_path, meta.base_name, 0, 0).is_file()
    assert all(r.status == "skipped" for r in run_plan_serially(plan_fov(
        meta, tmp_path, 0, Channels(pc=0, fl=[1]), Params.from_mapping({"min_trace_length": 5}),
        input_identity(tiny_dataset.image_path))))



def test_steps_with_parameters_are_the_parameter_groups():
    assert tuple(name for name, step in STEPS.items() if step.params) == STEPS_WITH_PARAMETERS


def test_the_lineage_is_stored_with_the_labels_and_read_by_extraction(tmp_path, tiny_dataset):
    from pyama_dask.io.store import image_lineage
    from pyama_dask.io.fov_files import traces_path
    from pyama_dask.io.traces import read_traces_csv

    meta = read_metadata(tiny_dataset.image_path)
    for name, params in {"pyama": Params(), "divisions": Params(profile="robust", track_divisions=True)}.items():
        plan = plan_fov(meta, tmp_path / name, 0, Channels(pc=0, fl=[1]), params,
                        input_identity(tiny_dataset.image_path))
        run_plan_serially(plan)
        lineage = image_lineage(ImageRef(tmp_path / name, 0, "seg_labeled", 0))
        traces = read_traces_csv(traces_path(tmp_path / name, meta.base_name, 0, 1))
        if name == "pyama":
            assert lineage is None and "parent" not in traces.columns
        else:
            assert isinstance(lineage, dict) and "parent" in traces.columns
            assert set(traces["parent"].dropna()) <= set(lineage.values())
