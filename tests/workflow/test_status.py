"""Summaries of a run log: FOV states, task counts, rates and ETA, from hand-made records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyama_dask.workflow.status import FovFailure, describe_status, summarise_run

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
STEPS_OF_A_FOV = [("copy", 0), ("copy", 1), ("segment", 0), ("correct", 1), ("track", 0), ("extract", 1)]


def _record(event, minutes, **fields):
    return {"time": (T0 + timedelta(minutes=minutes)).isoformat(), "event": event, **fields}


def _task(minutes, step, fov, channel, status, error=None):
    return _record("task", minutes, step=step, fov=fov, channel=channel, status=status, seconds=1.0, error=error)


def _start(minutes=0.0, fovs=(0, 1, 2, 3)):
    return _record("run-start", minutes, input_file="/data/exp.nd2", fovs=list(fovs),
                   n_tasks=len(STEPS_OF_A_FOV) * len(fovs), dashboard="http://127.0.0.1:8787/status")


def _mid_run():
    """Four FOVs, four minutes in: FOV 0 done, FOV 1 half way, FOV 2 failed in copy, FOV 3 not started."""
    records = [_start()]
    records += [_task(0.3 * i, step, 0, ch, "done") for i, (step, ch) in enumerate(STEPS_OF_A_FOV)]
    records += [_task(2.5, step, 1, ch, "done") for step, ch in STEPS_OF_A_FOV[:3]]
    records += [_task(3, "copy", 2, 1, "failed", "MicroscopyError: f.tif: truncated")]
    records += [_task(3, step, 2, ch, "upstream", "MicroscopyError: f.tif: truncated")
                for step, ch in [("correct", 1), ("extract", 1)]]
    return records


def test_fov_states_and_task_counts():
    status = summarise_run(_mid_run())
    assert status.fovs_done == (0,) and status.fovs_running == (1,) and status.fovs_waiting == 1
    assert status.fovs_failed == {2: FovFailure("copy", 1, "MicroscopyError: f.tif: truncated")}
    assert status.n_tasks == 24 and status.tasks_finished == 12 and status.ended is None
    # FOV 1 has 3 of its 6 tasks left, FOV 3 all 6; failed FOV 2's are not waited for
    assert status.tasks_left == 9


def test_rates_and_eta_mid_run():
    status = summarise_run(_mid_run())
    now = T0 + timedelta(minutes=4)
    # done or failed: 6 + 3 + 1 tasks, FOVs 0 and 2, in 4 minutes
    assert status.tasks_per_minute(now) == pytest.approx(10 / 4)
    assert status.fovs_per_minute(now) == pytest.approx(2 / 4)
    assert status.eta(now) == now + timedelta(minutes=9 / 2.5)
    text = describe_status(status, now, live=True)
    assert "running for 4 min 00 s" in text
    assert "1 done, 1 running, 1 failed, 1 waiting (of 4)" in text
    assert "12 of 24 finished" in text and "2.5 tasks/min, 0.50 FOVs/min" in text
    assert "ETA:        2026-03-01 12:07:36 UTC (in 3 min 36 s)" in text
    assert "http://127.0.0.1:8787/status" in text
    assert "  2: copy ch1: MicroscopyError: f.tif: truncated" in text


def test_a_run_that_died_has_no_eta():
    now = T0 + timedelta(minutes=30)
    text = describe_status(summarise_run(_mid_run()), now, live=False)
    assert "stopped without finishing, last record at 2026-03-01 12:03:00 UTC" in text
    assert "ETA" not in text and "dashboard" not in text


def test_only_the_last_run_counts_and_skipped_tasks_are_not_throughput():
    records = _mid_run() + [_start(10, fovs=(0, 1))]
    records += [_task(10, step, 0, ch, "skipped") for step, ch in STEPS_OF_A_FOV]
    records += [_task(12, step, 1, ch, "done") for step, ch in STEPS_OF_A_FOV]
    records += [_record("run-end", 12, ok=True, failed_fovs=[])]
    status = summarise_run(records)
    assert status.fovs == (0, 1) and status.fovs_done == (0, 1) and not status.fovs_failed
    assert status.tasks_skipped == 6 and status.tasks_left == 0
    now = T0 + timedelta(hours=5)  # after the end: rates use the run's own duration
    assert status.tasks_per_minute(now) == pytest.approx(6 / 2)
    assert status.fovs_per_minute(now) == pytest.approx(1 / 2)
    assert status.eta(now) is None
    text = describe_status(status, now, live=False)
    assert "ended after 2 min 00 s: all FOVs done" in text and "6 skipped, already complete" in text


def test_a_log_without_a_run_start_is_refused():
    with pytest.raises(ValueError, match="no run-start"):
        summarise_run([_task(0, "copy", 0, 0, "done")])
