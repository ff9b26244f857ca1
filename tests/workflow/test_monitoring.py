"""Following a run with a failing FOV: its run log, ``pyama-dask status``, the scheduler's task prefixes and spans."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import tifffile

from pyama_dask.cli import main
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.pipeline.steps import STEPS
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow import graph
from pyama_dask.workflow.graph import SMALL_FOV_PREFIX
from pyama_dask.workflow.run import run_complete_workflow

POSITIONS = (1, 2)
CHANNEL_PREFIXES = ("BF", "YFP")  # sorted: BF is channel 0, YFP channel 1
N_TIMES = 4
SIZE = 128
# A plane of the second position (FOV 1) that reading the metadata does not
# open (it opens only channel 0 files), truncated after the metadata is read.
BROKEN_FILE = "YFP_Position2_time2.tif"
TASKS_PER_FOV = 7  # copy x2, segment, correct, track, graph, extract


def _plane(rng: np.random.Generator, t: int) -> np.ndarray:
    """A noisy background with a few bright disks drifting by one pixel per frame."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    plane = rng.normal(1000, 30, (SIZE, SIZE))
    for cy, cx in [(30, 30), (30, 90), (90, 40), (95, 95)]:
        plane[(yy - cy - t) ** 2 + (xx - cx) ** 2 < 64] += 2000
    return plane.astype(np.uint16)


class _Messages(logging.Handler):
    """Keeps the messages logged while it is attached."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def broken_series(tmp_path_factory):
    """Metadata of a MetaMorph series (2 positions x BF, YFP x 4 times) whose FOV 1 YFP frame 2 is truncated."""
    folder = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(3)
    for position in POSITIONS:
        for prefix in CHANNEL_PREFIXES:
            for t in range(N_TIMES):
                tifffile.imwrite(folder / f"{prefix}_Position{position}_time{t}.tif", _plane(rng, t))
    meta = read_metadata(folder)
    broken = folder / BROKEN_FILE
    os.truncate(broken, broken.stat().st_size // 2)
    return meta


@pytest.fixture(scope="module")
def run_started() -> float:
    """When the module's run started: spans of earlier runs on the shared scheduler are left out."""
    return time.time()


@pytest.fixture(scope="module")
def failed_run(broken_series, dask_client, tmp_path_factory, run_started):
    """A run of the broken series on the session's cluster, reached by its scheduler address."""
    out = tmp_path_factory.mktemp("out")
    seen = []

    def progress(event):
        # The run log already holds the event when the caller's callback sees it.
        seen.append((event, read_records(run_log_path(out))[-1]))

    context = ProcessingContext(out, Channels(pc=0, fl=[1]), params={"min_trace_length": 2})
    logger, handler = logging.getLogger("pyama_dask"), _Messages()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        ok = run_complete_workflow(broken_series, context, client=dask_client.scheduler.address, progress=progress)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return out, ok, seen, handler.messages


def test_run_log_holds_every_task_and_the_failure(failed_run, dask_client):
    out, ok, seen, _ = failed_run
    assert not ok
    records = read_records(out / "run.log.jsonl")
    start, *tasks, end = records
    assert start["event"] == "run-start" and end["event"] == "run-end"
    assert start["fovs"] == [0, 1] and start["n_tasks"] == 2 * TASKS_PER_FOV
    assert "series" in start["input_file"]
    assert start["dashboard"] == dask_client.dashboard_link
    assert start["scheduler"] == dask_client.scheduler.address
    assert end["ok"] is False and end["failed_fovs"] == [1]
    assert [r["event"] for r in tasks] == ["task"] * 2 * TASKS_PER_FOV
    assert {r["status"] for r in tasks if r["fov"] == 0} == {"done"}
    failed = [r for r in tasks if r["status"] == "failed"]
    assert [(r["fov"], r["step"], r["channel"]) for r in failed] == [(1, "copy", 1)]
    assert BROKEN_FILE in failed[0]["error"] and "truncated" in failed[0]["error"]
    assert {(r["step"], r["status"]) for r in tasks if r["fov"] == 1 and r["channel"] == 1} == {
        ("copy", "failed"), ("correct", "upstream"), ("extract", "upstream")}
    times = [datetime.fromisoformat(r["time"]) for r in records]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert times == sorted(times) and abs(datetime.now(UTC) - times[-1]) < timedelta(minutes=5)
    # appended as the run went, one line per event, in the order the callback saw them
    assert [(e.step, e.fov, e.channel, e.status) for e, _ in seen] == [
        (r["step"], r["fov"], r["channel"], r["status"]) for _, r in seen]
    assert [r for _, r in seen] == tasks


def test_dashboard_link_of_an_existing_scheduler_is_logged(failed_run, dask_client):
    *_, messages = failed_run
    assert dask_client.dashboard_link.startswith("http")
    assert f"Dask dashboard: {dask_client.dashboard_link}" in messages


def test_status_reports_the_failed_fov(failed_run, capsys):
    out, *_ = failed_run
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 done, 0 running, 1 failed, 0 waiting (of 2)" in text
    assert f"{2 * TASKS_PER_FOV} of {2 * TASKS_PER_FOV} finished" in text
    assert "ended after" in text and "1 FOV(s) failed" in text
    failure = next(line for line in text.splitlines() if line.strip().startswith("1: "))
    assert "copy ch1" in failure and BROKEN_FILE in failure and "truncated" in failure


def test_status_without_a_run_log_names_the_directory(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert f"{tmp_path / 'run.log.jsonl'}: no run log" in capsys.readouterr().err


def _scheduler_view(dask_scheduler, since: float) -> dict:
    """Task prefixes, and for each span its name with the names and prefixes of its task groups."""
    spans = [span for span in dask_scheduler.extensions["spans"].spans.values() if span.enqueued >= since]
    return {
        "prefixes": sorted(dask_scheduler.task_prefixes),
        "spans": [(span.name, sorted((group.name, group.prefix.name) for group in span.groups)) for span in spans],
    }


def test_tasks_are_named_by_step_and_grouped_in_a_span_per_fov(failed_run, dask_client, run_started):
    # The series' FOVs are small: each ran as one task, named "fov" (SMALL_FOV_PREFIX).
    _assert_a_span_per_fov(dask_client, run_started, {SMALL_FOV_PREFIX})


def test_the_tasks_of_larger_fovs_are_named_by_step(broken_series, dask_client, tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "SMALL_FOV_PIXELS", 0)
    started = time.time()
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params={"min_trace_length": 2})
    run_complete_workflow(broken_series, context, client=dask_client.scheduler.address)
    _assert_a_span_per_fov(dask_client, started, set(STEPS))


def _assert_a_span_per_fov(dask_client, since: float, prefixes: set[str]) -> None:
    view = dask_client.run_on_scheduler(_scheduler_view, since=since)
    assert prefixes <= set(view["prefixes"]) and "_run_after" not in view["prefixes"]
    fov_spans = [(name, groups) for name, groups in view["spans"] if name[0].startswith("fov_")]
    for fov in (0, 1):
        assert any(name == (f"fov_{fov:03d}",) for name, _ in fov_spans), f"no span fov_{fov:03d}"
    for name, groups in fov_spans:
        fov = int(name[0].removeprefix("fov_"))
        # the span of a FOV holds that FOV's tasks and nothing else
        assert {prefix for _, prefix in groups} == prefixes, name
        assert all(group.startswith(f"{prefix}-fov{fov:04d}-") for group, prefix in groups), (name, groups)
