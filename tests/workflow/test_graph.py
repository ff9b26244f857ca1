"""A FOV too large for its workers fails at once with a clear message, not a restart loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

from distributed.scheduler import KilledWorker

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.steps import STEPS
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.run import run_complete_workflow


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
    from pyama_dask.pipeline.tasks import FovSource, TaskJob
    from pyama_dask.workflow.run import _failure_message

    source = FovSource(Path("x.tif"), 3, (10, 2048, 2048), (1.0, 1.0, 1.0), None, ("PC",), ())
    task = PlannedTask("segmented", TaskJob("segment", source, 0, {}, Path("x"), Params(), "fp"), (), False)
    message = _failure_message(KilledWorker("segment-fov0003", SimpleNamespace(address="tcp://w:1"), 3), task)
    assert "died repeatedly" in message and "GiB per worker" in message
