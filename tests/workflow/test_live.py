"""The follow run: frames processed as they land, finalised into a batch run's output."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
import zarr

from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.store import ImageRef, open_image, store_path
from pyama_dask.io.corrected import open_corrected
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.io.live import read_state
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.workflow.live import FollowLimits, follow_workflow
from pyama_dask.workflow.run import run_complete_workflow
import cloudpickle
from run_outputs import assert_same_outputs
import live_sources
from live_sources import FailingSource, LateStampsSource, RevealedSource

cloudpickle.register_pickle_by_value(live_sources)  # workers open the test's source without importing the tests

CHANNELS = Channels(pc=0, fl=[1, 2])
PARAMS = {"min_trace_length": 5}


def _context(out):
    return ProcessingContext(out, Channels(pc=CHANNELS.pc, fl=list(CHANNELS.fl)), params=dict(PARAMS))


@pytest.fixture(scope="module")
def batch_run(tiny_dataset, dask_client, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    assert run_complete_workflow(read_metadata(tiny_dataset.image_path), _context(out), client=dask_client)
    return out


def test_follow_run_equals_the_batch_run(tiny_dataset, dask_client, batch_run, tmp_path):
    source = RevealedSource(tiny_dataset.image_path)
    events = []
    ok = follow_workflow(source, _context(tmp_path), FollowLimits(max_batch=3, poll=0.05, status_every=0.1),
                         open_source=partial(RevealedSource, tiny_dataset.image_path, start=8), client=dask_client,
                         progress=events.append)
    assert ok
    # the rest was made live; the tracks graph is drawn from the finished labels
    assert {e.step for e in events if e.status == "done"} == {"extract", "graph"}
    meta = read_metadata(tiny_dataset.image_path)
    for fov in range(meta.n_fovs):
        for kind, channel in [("pc", 0), ("fl", 1), ("fl", 2), ("seg", 0), ("seg_labeled", 0)]:
            live = open_image(ImageRef(tmp_path, fov, kind, channel))
            batch = open_image(ImageRef(batch_run, fov, kind, channel))
            np.testing.assert_array_equal(live[...], batch[...], err_msg=f"FOV {fov} {kind} {channel}")
            assert live.chunks == batch.chunks
            group = lambda out: zarr.open_group(store_path(out) / ImageRef(out, fov, kind, channel).group_path)
            assert group(tmp_path).attrs.asdict() == group(batch_run).attrs.asdict()
        for channel in (1, 2):
            ref = ImageRef(tmp_path, fov, "fl_corrected", channel)
            np.testing.assert_array_equal(np.asarray(open_corrected(ref.location)),
                                          np.asarray(open_corrected(ImageRef(batch_run, fov, "fl_corrected",
                                                                             channel).location)))
            name = f"fov_{fov:03d}/tiny_fov_{fov:03d}_traces_ch_{channel}.csv"
            assert (tmp_path / name).read_text() == (batch_run / name).read_text()
        assert read_state(tmp_path, fov).frames == meta.n_frames
    records = read_records(run_log_path(tmp_path))
    batches = [r for r in records if r["event"] == "live-batch"]
    assert max(r["stop"] - r["start"] for r in batches) <= 3
    assert sum(r["stop"] - r["start"] for r in batches) == meta.n_fovs * meta.n_frames
    # The finished output is a batch run's: running it again makes nothing.
    again = []
    assert run_complete_workflow(meta, _context(tmp_path), client=dask_client, progress=again.append)
    assert {e.status for e in again} == {"skipped"}


def _follow(dataset, out, client, limits, **source):
    ok = follow_workflow(RevealedSource(dataset.image_path, **source), _context(out), limits,
                         open_source=partial(RevealedSource, dataset.image_path, start=8), client=client)
    return ok, read_records(run_log_path(out))


def test_a_burst_is_taken_in_bounded_batches_without_losing_a_frame(tiny_dataset, dask_client, tmp_path):
    """Every frame lands at once: at most one batch of two frames is in flight, and all are processed."""
    limits = FollowLimits(max_batch=2, max_in_flight=1, max_in_flight_per_fov=1, poll=0.05, status_every=0.0)
    ok, records = _follow(tiny_dataset, tmp_path, dask_client, limits, start=8)
    assert ok
    live = [r for r in records if r["event"] == "live"]
    assert max(r["in_flight"] for r in live) == 1
    assert max(r["lag_frames"] for r in live) == 8  # behind at first, caught up at the end
    assert live[-1]["lag_frames"] == 0 and live[-1]["processed"] == {"0": 8, "1": 8, "2": 8}
    for fov in range(3):
        batches = [(r["start"], r["stop"]) for r in records if r["event"] == "live-batch" and r["fov"] == fov]
        assert batches == [(0, 2), (2, 4), (4, 6), (6, 8)]


def _live_spans(dask_scheduler):
    """Id and name of the spans of follow runs on the scheduler, and the span of each FOV's batches' task group."""
    spans = {span.id: span.name for span in dask_scheduler.extensions["spans"].spans.values()
             if span.name[0].startswith("live-")}
    groups = {name: dask_scheduler.extensions["spans"].spans[group.span_id].name
              for name, group in dask_scheduler.task_groups.items() if name.startswith("live_")}
    return spans, groups


def test_a_fovs_batches_share_one_span_for_the_whole_run(tiny_dataset, dask_client, tmp_path):
    """One span per FOV, not per batch: the scheduler keeps every span (and every worker its metrics) for good,
    memory that would grow with the acquisition's frames. And batches of all FOVs in one task group were all put
    in the first FOV's span."""
    before, _ = dask_client.run_on_scheduler(_live_spans)
    limits = FollowLimits(max_batch=2, max_in_flight=3, poll=0.05, status_every=0.0)
    in_flight = []  # the span of each FOV's task group, while batches are in flight
    ok = follow_workflow(RevealedSource(tiny_dataset.image_path, start=8), _context(tmp_path), limits,
                         open_source=partial(RevealedSource, tiny_dataset.image_path, start=8), client=dask_client,
                         on_status=lambda fields: fields["in_flight"] and in_flight.append(
                             dask_client.run_on_scheduler(_live_spans)[1]))
    assert ok
    spans, _ = dask_client.run_on_scheduler(_live_spans)
    new = sorted(name for span_id, name in spans.items() if span_id not in before)
    batches = [r for r in read_records(run_log_path(tmp_path)) if r["event"] == "live-batch"]
    assert len(batches) == 12  # 4 batches of 2 frames per FOV
    assert new == [("live-fov_000",), ("live-fov_001",), ("live-fov_002",)]
    # A FOV's batches are in its own span even while another FOV's are in flight.
    assert any(len(groups) > 1 for groups in in_flight)
    for groups in in_flight:
        assert all(name == ("live-" + group.removeprefix("live_"),) for group, name in groups.items())


def _live_tasks(dask_scheduler):
    return sum(str(key).startswith("live_") for key in dask_scheduler.tasks)


def test_the_scheduler_keeps_a_bounded_chain_of_batches(tiny_dataset, dask_client, tmp_path, monkeypatch):
    """A FOV's batches are chained (each a dependency of the next) and the scheduler keeps a chain's finished
    batches until it ends: chains end after LONGEST_CHAIN batches, so what it keeps does not grow with the run."""
    import pyama_dask.workflow.live as live

    monkeypatch.setattr(live, "LONGEST_CHAIN", 2)
    kept = []
    limits = FollowLimits(max_batch=1, poll=0.05, status_every=0.0)  # 8 batches per FOV, 2 in flight per FOV
    ok = follow_workflow(RevealedSource(tiny_dataset.image_path, start=8), _context(tmp_path), limits,
                         open_source=partial(RevealedSource, tiny_dataset.image_path, start=8), client=dask_client,
                         on_status=lambda _: kept.append(dask_client.run_on_scheduler(_live_tasks)))
    assert ok
    end = next(r for r in read_records(run_log_path(tmp_path)) if r["event"] == "live-end")
    assert end["frames"] == {"0": 8, "1": 8, "2": 8}
    # Each FOV: at most a chain of 2 kept and the next one's first batch; not its 8 batches.
    assert max(kept) <= 3 * 3 and max(kept) > 0


def test_a_follow_run_resumed_with_other_channels_is_refused(tiny_dataset, dask_client, tmp_path):
    """The frames processed so far were segmented and measured on the first run's channels: no silent mix."""
    source = partial(RevealedSource, tiny_dataset.image_path, start=4)
    assert follow_workflow(source(), _context(tmp_path), FollowLimits(frames=4, poll=0.05), open_source=source,
                           client=dask_client, performance_report=False)
    assert read_state(tmp_path, 0).frames == 4
    assert (tmp_path / "processing_results.yaml").exists() and not (tmp_path / "performance_report.html").exists()
    other = ProcessingContext(tmp_path, Channels(pc=0, fl=[2]), params=dict(PARAMS))
    with pytest.raises(ValueError, match=r"FOV 0 was followed with segmented channel 0 and fluorescence channels "
                                         r"\[1, 2\], this run asks for 0 and \[2\]"):
        follow_workflow(source(), other, FollowLimits(poll=0.05), open_source=source, client=dask_client)
    assert read_state(tmp_path, 0).frames == 4  # nothing of the first run touched


def test_a_pause_shorter_than_the_idle_timeout_is_waited_out(tiny_dataset, dask_client, tmp_path):
    limits = FollowLimits(until_idle=30, poll=0.05)
    ok, records = _follow(tiny_dataset, tmp_path, dask_client, limits, pause_at=4, pause=2.0)
    assert ok
    end = next(r for r in records if r["event"] == "live-end")
    assert end["reason"] == "end marker" and end["frames"] == {"0": 8, "1": 8, "2": 8}


def test_an_idle_timeout_ends_the_follow_run(tiny_dataset, dask_client, tmp_path):
    """A pause longer than the timeout ends it: the frames so far are processed, the batch run does the rest."""
    limits = FollowLimits(until_idle=1.0, poll=0.05)
    ok, records = _follow(tiny_dataset, tmp_path, dask_client, limits, pause_at=4, pause=60.0)
    end = next(r for r in records if r["event"] == "live-end")
    assert end["reason"] == "idle for 1 s" and end["frames"] == {"0": 4, "1": 4, "2": 4}


def test_a_fov_whose_batches_fail_is_made_whole_by_the_finalising_batch_run(tiny_dataset, dask_client, batch_run,
                                                                            tmp_path):
    events = []
    ok = follow_workflow(RevealedSource(tiny_dataset.image_path), _context(tmp_path), FollowLimits(poll=0.05),
                         open_source=partial(FailingSource, tiny_dataset.image_path, 1, 3, start=8),
                         client=dask_client, progress=events.append)
    assert ok
    end = next(r for r in read_records(run_log_path(tmp_path)) if r["event"] == "live-end")
    assert list(end["failed"]) == ["1"] and "FOV 1, frame 3 cannot be read" in end["failed"]["1"]
    assert {e.step for e in events if e.fov == 1 and e.status == "done"} == {"copy", "segment", "correct", "track",
                                                                             "extract", "graph"}
    assert {e.step for e in events if e.fov != 1 and e.status == "done"} == {"extract", "graph"}
    assert_same_outputs(tmp_path, batch_run)


def test_a_worker_lost_mid_acquisition_loses_no_frame(tiny_dataset, batch_run, tmp_path):
    """A worker is killed while batches are in flight: Dask runs its batch again elsewhere, and the run catches up."""
    import os
    import signal

    from distributed import Client, LocalCluster

    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        def kill_a_worker(fields):
            if not killed and fields["in_flight"] and sum(fields["processed"].values()):
                killed.append(next(iter(client.run(os.getpid).values())))
                os.kill(killed[0], signal.SIGKILL)

        ok = follow_workflow(RevealedSource(tiny_dataset.image_path), _context(tmp_path),
                             FollowLimits(poll=0.05, status_every=0.0), client=client, on_status=kill_a_worker,
                             open_source=partial(RevealedSource, tiny_dataset.image_path, start=8))
    assert ok and killed
    end = next(r for r in read_records(run_log_path(tmp_path)) if r["event"] == "live-end")
    assert end["failed"] == {} and end["frames"] == {"0": 8, "1": 8, "2": 8}
    assert_same_outputs(tmp_path, batch_run)


def test_frames_whose_stamps_are_not_known_yet_wait_for_them(tiny_dataset, dask_client, batch_run, tmp_path):
    source = LateStampsSource(tiny_dataset.image_path)
    assert follow_workflow(source, _context(tmp_path), FollowLimits(poll=0.05), client=dask_client,
                           open_source=partial(RevealedSource, tiny_dataset.image_path, start=8))
    end = next(r for r in read_records(run_log_path(tmp_path)) if r["event"] == "live-end")
    assert end["frames"] == {"0": 8, "1": 8, "2": 8}
    assert_same_outputs(tmp_path, batch_run)
