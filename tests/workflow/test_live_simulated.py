"""The follow run on the microscope simulator: as a batch run, with files being written, bursts and kills."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_outputs import assert_same_outputs

from pyama_dask import read_traces
from pyama_dask.io.inputs.growing import open_growing
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.inputs.plane_files import channel_order
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import start_acquisition
from pyama_dask.workflow.live import FollowLimits, follow_workflow
from pyama_dask.workflow.run import run_complete_workflow

SPEC = SyntheticSpec(n_fovs=2, n_frames=8, size=256, n_cells=9, n_fluorescence=2, seed=3)
PARAMS = {"min_trace_length": 3}
REPO = Path(__file__).resolve().parents[2]


def _context(out, acquisition: Path) -> ProcessingContext:
    """Phase contrast segmented, both fluorescence channels measured, wherever the layout puts them."""
    # A folder of TIFF planes lists its channels by name; an OME-Zarr in the order written.
    names = list(SPEC.channel_names if acquisition.suffix == ".zarr" else channel_order(set(SPEC.channel_names)))
    channels = Channels(pc=names.index("Phase"), fl=[names.index("GFP"), names.index("mCherry")])
    return ProcessingContext(out, channels, params=dict(PARAMS))


def _acquisition(folder, layout, interval, spec=SPEC, **options):
    name = "acquisition.ome.zarr" if layout == "ome-zarr" else "acquisition"
    return start_acquisition(folder / name, spec, layout, interval, **options)


def _batch_run(acquisition, out, client):
    """The batch run of the completed acquisition."""
    assert run_complete_workflow(read_metadata(acquisition), _context(out, acquisition), client=client)
    return out


def _follow(acquisition, out, client, limits=FollowLimits(poll=0.1, status_every=0.2)):
    source = open_growing(acquisition, poll_interval=0.2)
    return follow_workflow(source, _context(out, acquisition), limits, client=client)


@pytest.mark.parametrize("layout", ["tiff-folder", "ome-zarr"])
def test_the_follow_run_of_an_acquisition_equals_its_batch_run(layout, dask_client, tmp_path):
    """Frames land every 0.4 s, one file written in two parts: the follow run's outputs are the batch run's."""
    acquisition = _acquisition(tmp_path, layout, 0.4, partial=(1, 2), partial_pause=0.3)
    events = []
    live = _context(tmp_path / "live", acquisition.path)
    assert follow_workflow(open_growing(acquisition.path, poll_interval=0.2), live,
                           FollowLimits(poll=0.1), client=dask_client, progress=events.append)
    acquisition.result()
    # everything else was made live; the tracks graph is drawn from the finished labels
    assert {e.step for e in events if e.status == "done"} == {"extract", "graph"}
    assert_same_outputs(tmp_path / "live", _batch_run(acquisition.path, tmp_path / "batch", dask_client))
    traces = read_traces(tmp_path / "live")
    assert (traces.groupby(["fov", "channel"])["cell"].nunique() >= 5).all()  # cells traced in every FOV, channel
    again = []
    assert run_complete_workflow(read_metadata(acquisition.path), live, client=dask_client,
                                 progress=again.append)
    assert {e.status for e in again} == {"skipped"}


def test_a_burst_is_processed_in_bounded_batches(dask_client, tmp_path):
    """Every frame lands at once (interval 0): one batch of at most 2 frames in flight, none lost."""
    acquisition = _acquisition(tmp_path, "tiff-folder", 0)
    acquisition.result()
    limits = FollowLimits(max_batch=2, max_in_flight=1, poll=0.1, status_every=0.0)
    assert _follow(acquisition.path, tmp_path / "live", dask_client, limits)
    records = read_records(run_log_path(tmp_path / "live"))
    live = [r for r in records if r["event"] == "live"]
    assert max(r["in_flight"] for r in live) == 1 and max(r["lag_frames"] for r in live) == SPEC.n_frames
    batches = [r for r in records if r["event"] == "live-batch"]
    assert max(r["stop"] - r["start"] for r in batches) == 2
    assert sum(r["stop"] - r["start"] for r in batches) == SPEC.n_fovs * SPEC.n_frames
    assert_same_outputs(tmp_path / "live", _batch_run(acquisition.path, tmp_path / "batch", dask_client))


def _batches_recorded(out):
    path = run_log_path(out)
    return sum(r["event"] == "live-batch" for r in read_records(path)) if path.is_file() else 0


def test_a_follow_run_killed_mid_acquisition_resumes_and_catches_up(dask_client, tmp_path):
    acquisition = _acquisition(tmp_path, "tiff-folder", 1.5, dataclasses.replace(SPEC, n_frames=14))
    config = tmp_path / "config.yaml"
    config.write_text("params:\n  min_trace_length: 3\n")
    out = tmp_path / "live"
    command = [sys.executable, "-m", "pyama_dask", "run", str(acquisition.path), "--follow", "--out", str(out),
               "--pc", "Phase", "--fl", "GFP", "mCherry", "--config", str(config), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _batches_recorded(out) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert run.poll() is None, "the follow run ended before it could be killed"
        assert _batches_recorded(out) >= 2
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the run and its cluster's processes, at once
        run.wait()
    assert not (out / "processing_results.yaml").exists()
    assert _follow(acquisition.path, out, dask_client)
    acquisition.result()
    records = read_records(run_log_path(out))
    resumed = records[max(i for i, r in enumerate(records) if r["event"] == "live-start"):]
    first = {}
    for record in resumed:
        if record["event"] == "live-batch":
            first.setdefault(record["fov"], record["start"])
    assert any(start > 0 for start in first.values())  # it went on from the frames the killed run recorded
    assert_same_outputs(out, _batch_run(acquisition.path, tmp_path / "batch", dask_client))
