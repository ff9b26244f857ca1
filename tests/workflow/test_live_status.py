"""What status says of a follow run, from its run-log records."""

from __future__ import annotations

from pyama_dask.workflow.live_status import FovLive, describe_live, fov_rows, summarise_live


def _record(event, second, **fields):
    return {"event": event, "time": f"2026-01-01T10:00:{second:02d}+00:00", **fields}


RECORDS = [
    _record("live-start", 0, input_file="/data/acq", layout="tiff-folder", fovs=[0, 1], dashboard="http://x:8787",
            live_page="http://x:8787/pyama-dask/live"),
    _record("live-batch", 2, fov=0, start=0, stop=2, seconds=0.5, rows=10, tracks=5, latency=[1.0, 2.0]),
    _record("live-batch", 3, fov=1, start=0, stop=1, seconds=0.5, rows=5, tracks=5, latency=[3.0]),
    _record("live", 4, landed={"0": 4, "1": 3}, processed={"0": 2, "1": 1}, lag_frames=2, lag_seconds=6.5,
            frames_per_minute=3, fov_lag_seconds={"0": 6.5, "1": 4.3}, fov_frames_per_minute={"0": 2, "1": 1},
            in_flight=2),
]


def test_a_following_run_shows_frames_lag_rate_and_latency():
    status = summarise_live(RECORDS)
    assert status.landed == {0: 4, 1: 3} and status.processed == {0: 2, 1: 1}
    assert status.ended is None and not status.finalised
    assert status.latency_percentile(50) == 2.0
    text = describe_live(status, running=True)
    assert "following the acquisition" in text and "dashboard:  http://x:8787 (live page: http://x:8787/pyama-dask/live)" in text
    assert "3 processed of 7 landed; lag 2 frame(s), 6.5 s; 3 frames/min" in text
    assert "FOV 1: 1 of 3 frames; lag 2 frame(s), 4.3 s; 1 frames/min" in text
    assert fov_rows(status) == [FovLive(0, 4, 2, 2, 6.5, 2.0), FovLive(1, 3, 1, 2, 4.3, 1.0)]
    assert "latency:    median 2.0 s" in text


def test_a_run_log_without_each_fovs_lag_and_rate_shows_them_as_0():
    """The live records of runs before they were recorded per FOV."""
    old = [{k: v for k, v in record.items() if not k.startswith("fov_")} for record in RECORDS]
    assert fov_rows(summarise_live(old)) == [FovLive(0, 4, 2, 2, 0.0, 0.0), FovLive(1, 3, 1, 2, 0.0, 0.0)]


def test_a_follow_run_killed_says_a_new_one_resumes():
    text = describe_live(summarise_live(RECORDS), running=False)
    assert "stopped while following" in text and "resumes" in text and "dashboard" not in text


def test_an_ended_follow_run_says_why_and_that_it_finalises():
    records = [*RECORDS, _record("live-end", 9, reason="end marker", problems=[], frames={}, failed={}),
               _record("run-start", 9, input_file="/data/acq", fovs=[0, 1], n_tasks=18)]
    status = summarise_live(records)
    assert status.ended == "end marker" and status.finalised
    assert "acquisition over (end marker), then finalised by a batch run (below)" in describe_live(status, running=True)


def test_no_follow_run_in_the_log():
    assert summarise_live([_record("run-start", 0, input_file="f", fovs=[0], n_tasks=9)]) is None
