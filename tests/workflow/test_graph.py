"""Each FOV's task graph: its keys and dependencies, the memory check around each task, drawing it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
from distributed.scheduler import KilledWorker

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.steps import STEPS
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.run import run_complete_workflow
from run_outputs import assert_same_outputs


def test_fov_that_cannot_fit_is_refused_naming_it(tiny_dataset, dask_client, tmp_path):
    limit = max(w["memory_limit"] for w in dask_client.scheduler_info()["workers"].values())
    side = 64
    while STEPS["copy"].memory.task_bytes(side, side) <= limit:
        side *= 2
    meta = read_metadata(tiny_dataset.image_path)
    shapes = list(meta.fov_shapes)
    shapes[1] = (shapes[1][0], side, side)  # as if FOV 1 had huge frames
    meta = dataclasses.replace(meta, fov_shapes=shapes)
    events = []
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params={"min_trace_length": 5})
    ok = run_complete_workflow(meta, context, client=dask_client, progress=events.append)

    assert not ok
    failed = [e for e in events if e.status == "failed"]
    assert {e.fov for e in failed} == {1}
    message = failed[0].error
    assert "FOV 1" in message and f"{side} x {side} px" in message and "GiB per worker" in message
    assert {e.fov for e in events if e.status == "done"} == {0, 2}


def test_killed_worker_message_points_at_memory():
    from pyama_dask.pipeline.params import Params
    from pyama_dask.pipeline.plan import PlannedTask
    from pyama_dask.pipeline.jobs import FovSource, TaskJob
    from pyama_dask.workflow.run import _failure_message

    source = FovSource(Path("x.tif"), 3, (10, 2048, 2048), (1.0, 1.0, 1.0), None, ("PC",), ())
    task = PlannedTask("segmented", TaskJob("segment", source, 0, {}, Path("x"), Params(), "fp"), (), False)
    message = _failure_message(KilledWorker("segment-fov0003", SimpleNamespace(address="tcp://w:1"), 3), task)
    assert "died repeatedly" in message and "GiB per worker" in message


def _plan(tiny_dataset, tmp_path, channels=Channels(pc=0, fl=[1, 2])):
    from pyama_dask.io.inputs.microscopy import input_identity
    from pyama_dask.pipeline.params import Params
    from pyama_dask.pipeline.plan import plan_fov

    meta = read_metadata(tiny_dataset.image_path)
    return plan_fov(meta, tmp_path, 1, channels, Params(), input_identity(tiny_dataset.image_path))


def test_a_fovs_graph_has_a_readable_key_per_task_and_the_steps_dependencies(tiny_dataset, tmp_path):
    from pyama_dask.workflow.graph import fov_graph

    graph = fov_graph(_plan(tiny_dataset, tmp_path), "run1")
    assert sorted(graph) == sorted([("copy-fov0001-run1", c) for c in (0, 1, 2)] + [
        ("segment-fov0001-run1", 0), ("track-fov0001-run1", 0), ("graph-fov0001-run1", 0)] + [
        (f"{step}-fov0001-run1", c) for step in ("correct", "extract") for c in (1, 2)])
    assert graph[("extract-fov0001-run1", 2)].dependencies == {("track-fov0001-run1", 0), ("correct-fov0001-run1", 2)}
    assert graph[("track-fov0001-run1", 0)].dependencies == {("segment-fov0001-run1", 0)}
    assert graph[("segment-fov0001-run1", 0)].dependencies == {("copy-fov0001-run1", 0)}
    assert graph[("graph-fov0001-run1", 0)].dependencies == {("track-fov0001-run1", 0)}
    assert all(graph[key].key == key for key in graph)


def test_the_graph_is_drawn_from_the_command_line(tiny_dataset, tmp_path, capsys):
    import shutil

    from pyama_dask.cli import main

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    pytest.importorskip("graphviz")
    path = tmp_path / "graph.png"
    assert main(["run", str(tiny_dataset.image_path), "--out", str(tmp_path / "out"), "--fl", "1",
                 "--fovs", "2", "--dry-run", "--graph", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"task graph of FOV 2: {path}" in capsys.readouterr().out
    assert not (tmp_path / "out" / "pyama.zarr").exists()  # a dry run writes nothing


def test_without_graphviz_the_message_says_what_to_install(tiny_dataset, tmp_path, monkeypatch):
    from pyama_dask.workflow import graph

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphvizMissingError, match="pip install graphviz.*apt-get install graphviz"):
        graph.render_fov_graph(_plan(tiny_dataset, tmp_path), tmp_path / "g.png")


def test_a_small_fov_is_one_task_running_every_pending_task(tiny_dataset, tmp_path, monkeypatch):
    from pyama_dask.workflow import graph

    plan = _plan(tiny_dataset, tmp_path)
    frames, height, width = plan.tasks[0].job.source.shape
    assert frames * height * width <= graph.SMALL_FOV_PIXELS
    tasks_graph, tasks = graph.run_graph(plan, "run1")
    assert list(tasks_graph) == list(tasks) == [("fov-fov0001-run1", 0)]
    assert tasks[("fov-fov0001-run1", 0)] == plan.pending and not tasks_graph[("fov-fov0001-run1", 0)].dependencies

    monkeypatch.setattr(graph, "SMALL_FOV_PIXELS", frames * height * width - 1)
    tasks_graph, tasks = graph.run_graph(plan, "run1")
    assert tasks_graph.keys() == graph.fov_graph(plan, "run1").keys() == tasks.keys()
    assert all(tasks[key] == [task] for key, task in zip(tasks, plan.pending))


def test_a_small_fovs_task_runs_what_a_failed_task_does_not_feed(monkeypatch):
    from pyama_dask.pipeline.steps import StepResult
    from pyama_dask.workflow import graph

    def run_task(step, job):  # stands for each step's task: the job here names what it does
        if job == "fails":
            raise OSError(28, "No space left on device")
        return StepResult(job, 0, 0, "done", 0.1)

    monkeypatch.setattr(graph, "run_task", run_task)
    # copy -> segment (fails) -> track; copy -> correct -> extract (reads track too)
    calls = (("copy", "copy", ()), ("segment", "fails", (0,)), ("correct", "correct", (0,)),
             ("track", "track", (1,)), ("extract", "extract", (2, 3)))
    outcomes = graph.run_small_fov(calls)
    assert [outcome.step for outcome in (outcomes[0], outcomes[2])] == ["copy", "correct"]
    failure = outcomes[1]
    assert isinstance(failure, graph.TaskFailure) and failure.error.errno == 28
    assert "No space left on device" in failure.traceback and "run_task" in failure.traceback
    assert outcomes[3:] == [None, None]  # they read the segmentation: not run


def test_small_fovs_run_as_one_task_give_the_outputs_and_records_of_a_task_per_step(
        tiny_dataset, tiny_run, dask_client, tmp_path, monkeypatch):
    from pyama_dask.pipeline.steps import tasks_per_fov
    from pyama_dask.rundir.runlog import read_records
    from pyama_dask.workflow import graph

    def task_records(out: Path) -> list[tuple]:
        return sorted((r["step"], r["fov"], r["channel"], r["status"]) for r in read_records(out / "run.log.jsonl")
                      if r["event"] == "task")

    monkeypatch.setattr(graph, "SMALL_FOV_PIXELS", 0)
    out = tmp_path / "per-step"
    context = ProcessingContext(out, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 5})
    assert run_complete_workflow(read_metadata(tiny_dataset.image_path), context, client=dask_client)
    assert_same_outputs(out, tiny_run)
    assert task_records(out) == task_records(tiny_run)
    assert len(task_records(out)) == 3 * sum(tasks_per_fov(context.channels).values())  # each task recorded on its own
