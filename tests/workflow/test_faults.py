"""Faults during a run: a worker killed mid-task, FOVs that cannot be processed, an output location that fails.

Each outcome is compared with ``tiny_run``, the uninterrupted run of the same
request (pc 0, fl 1 and 2, min_trace_length 5).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from distributed import Client, LocalCluster
from run_outputs import assert_same_outputs, recorded_fovs

import pyama_dask.cli.commands as commands
from pyama_dask.cli import main
from pyama_dask.cli.progress import RunProgress
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.store import STORE_NAME, ImageRef, open_image
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.cells import simulate_cells
from pyama_dask.synthetic.render import FovRenderer
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow import graph
from pyama_dask.workflow.report import PERFORMANCE_REPORT
from pyama_dask.workflow.run import run_complete_workflow

pytestmark = pytest.mark.timeout(300)

PARAMS = {"min_trace_length": 5}
CHANNELS = Channels(pc=0, fl=[1, 2])
TASKS_PER_FOV = 10  # 3 copies, segment, track, tracks graph, 2 corrections, 2 extractions
# The columns of a trace file, as docs/algorithms.md, section 5.1, lists them.
TRACE_COLUMNS = ["fov", "cell", "frame", "time", "good", "position_x", "position_y", "intensity_total", "area"]


def _context(out: Path, channels: Channels = CHANNELS, params: dict = PARAMS) -> ProcessingContext:
    return ProcessingContext(out, channels, params=dict(params))


# --- a worker killed in the middle of a task ---------------------------------------------------------------


def _hang_once_after(token: Path, array_path: str, frame: int) -> Callable[[], None]:
    """A function for ``client.run``: the first task to write ``frame`` of the store's ``array_path`` hangs.

    The hanging worker writes its pid to ``token``. Defined in a closure, it
    travels to the workers by value.
    """

    def install() -> None:
        import os
        import time

        import zarr

        original = zarr.Array.__setitem__

        def setitem(self, key, value):
            original(self, key, value)
            first = key.start if isinstance(key, slice) else key
            if self.path != array_path or first != frame:
                return
            try:
                handle = os.open(token, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return  # the rescheduled task runs through
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            time.sleep(300)

        zarr.Array.__setitem__ = setitem

    return install


def test_a_worker_killed_mid_task_is_replaced_and_the_task_rerun(tiny_dataset, tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "SMALL_FOV_PIXELS", 0)  # a Dask task per step, whatever the FOV's size
    out, token = tmp_path / "out", tmp_path / "hanging"
    masks = ImageRef(out, 1, "seg", 0)
    seen: dict = {}

    def kill_the_hanging_worker(client: Client) -> None:
        deadline = time.monotonic() + 120
        while not (token.exists() and token.read_text()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int(token.read_text())
        seen["pids"] = client.run(os.getpid)
        seen["processing"] = client.processing()
        seen["written_unmarked"] = completed_fingerprint(masks) is None and any((masks.location / "0" / "c").iterdir())
        os.kill(pid, signal.SIGKILL)
        seen["killed"] = pid

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(_hang_once_after(token, "fov_001/seg_ch_0/0", 0))
        killer = threading.Thread(target=kill_the_hanging_worker, args=(client,))
        killer.start()
        events = []
        ok = run_complete_workflow(read_metadata(tiny_dataset.image_path), _context(out), 1, 1, client=client,
                                   progress=events.append)
        killer.join()
        client.wait_for_workers(2, timeout=60)
        pids_after = set(client.run(os.getpid).values())

    assert "killed" in seen, "no task hung: the kill never happened"
    worker = next(address for address, pid in seen["pids"].items() if pid == seen["killed"])
    assert any("segment-fov0001" in str(key) for key in seen["processing"][worker]), \
        "the killed worker was meant to be running FOV 1's segmentation"
    assert seen["written_unmarked"], "the masks were meant to be written, not yet marked complete, when the worker died"
    assert seen["killed"] not in pids_after, "the nanny was meant to start a new worker process"
    assert ok
    assert [e.status for e in events if e.step == "segment"] == ["done"]
    assert {e.status for e in events} == {"done"} and len(events) == TASKS_PER_FOV
    assert_same_outputs(out, tiny_run, fovs=[1])


# --- FOVs that cannot be processed, or have nothing in them ------------------------------------------------

FRAMES, SIZE = 6, 128
SCENES = ("normal", "all black", "one cell covering the frame", "no cells", "float pixels", "corrupt frame",
          "other shape", "frames without time stamps")


def _scene_pixels(name: str, good: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, C, Y, X) pixels of one scene of the faulty file."""
    if name == "all black":
        return np.zeros_like(good)
    if name == "one cell covering the frame":
        # Texture along the border only: the mask is that ring, its hole filled.
        pixels = np.full_like(good, 1000)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        border = np.minimum(np.minimum(yy, SIZE - 1 - yy), np.minimum(xx, SIZE - 1 - xx)) < 12
        pixels[:, 0][:, border] = rng.integers(0, 4000, (FRAMES, int(border.sum())))
        pixels[:, 1] = 500
        return pixels
    if name == "no cells":
        return rng.normal(1000, 20, good.shape).clip(0).astype(np.uint16)
    if name == "float pixels":
        return good.astype(np.float32)
    if name == "other shape":
        return np.ascontiguousarray(good[:4, :, :96, :])
    if name == "frames without time stamps":
        return np.concatenate([good, good[-2:]])
    return good


@pytest.fixture(scope="module")
def faulty_file(tmp_path_factory) -> Path:
    """A multi-scene OME-TIFF, one scene per case of ``SCENES`` (phase contrast and GFP, time stamps per plane)."""
    spec = SyntheticSpec(n_fovs=1, n_frames=FRAMES, size=SIZE, n_cells=1, n_fluorescence=1, seed=5)
    renderer = FovRenderer(spec, simulate_cells(spec, 0), 0)
    good = np.stack([renderer.frame(t)[0] for t in range(FRAMES)])
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("faulty") / "faulty.ome.tiff"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for name in SCENES:
            pixels = _scene_pixels(name, good, rng)
            n_planes = pixels.shape[0] * 2
            tif.write(pixels, photometric="minisblack", compression="zlib" if name == "corrupt frame" else None,
                      metadata={"axes": "TCYX", "Name": name, "Channel": {"Name": ["Phase", "GFP"]},
                                "Plane": {"DeltaT": [60.0 * (i // 2) for i in range(n_planes)],
                                          "DeltaTUnit": ["s"] * n_planes}})
    with tifffile.TiffFile(path) as tif:  # damage the phase contrast of frame 3 of the corrupt scene
        page = tif.series[SCENES.index("corrupt frame")].pages[3 * 2]
        offset = page.dataoffsets[0]
    with open(path, "r+b") as handle:
        handle.seek(offset + 10)
        handle.write(b"\xff" * 40)
    return path


@pytest.fixture(scope="module")
def faulty_run(faulty_file, dask_client, tmp_path_factory):
    meta = read_metadata(faulty_file)
    assert meta.time_source == "ome-deltat" and meta.n_fovs == len(SCENES)
    out = tmp_path_factory.mktemp("faulty_out")
    channels = Channels(pc=0, fl=[1])
    progress = RunProgress(range(meta.n_fovs), channels, enabled=False)
    events = []

    def record(event):
        events.append(event)
        progress(event)

    ok = run_complete_workflow(meta, _context(out, channels, {"min_trace_length": 3}), client=dask_client,
                               progress=record)
    return meta, out, ok, events, progress.summary()


def _fov(name: str) -> int:
    return SCENES.index(name)


def _traces(meta, out: Path, name: str) -> pd.DataFrame:
    fov = _fov(name)
    return read_traces_csv(out / f"fov_{fov:03d}" / f"{meta.base_name}_fov_{fov:03d}_traces_ch_1.csv")


def test_fovs_that_cannot_be_processed_are_reported_with_the_reason(faulty_run):
    meta, out, ok, events, summary = faulty_run
    assert not ok
    failed = {e.fov: e.error for e in events if e.status == "failed"}
    assert sorted(failed) == [_fov("float pixels"), _fov("corrupt frame"), _fov("frames without time stamps")]
    # either channel's copy may fail first
    assert re.search(f"FOV {_fov('float pixels')}, channel [01]: pixels are float32; uint16 required",
                     failed[_fov("float pixels")])
    corrupt = failed[_fov("corrupt frame")]
    assert f"FOV {_fov('corrupt frame')}, channel 0: cannot read the pixels" in corrupt and "damaged" in corrupt
    no_times = failed[_fov("frames without time stamps")]
    assert f"FOV {_fov('frames without time stamps')} (" in no_times and "times of frames 6-7 are unknown" in no_times
    for fov, reason in failed.items():
        assert f"{fov:>5}  FAILED  " in summary and reason in summary
    refused = [e for e in events if e.fov == _fov("frames without time stamps")]
    assert {e.status for e in refused} == {"failed", "upstream"}, "a refused FOV runs none of its tasks"
    assert not (out / STORE_NAME / f"fov_{_fov('frames without time stamps'):03d}").exists()


def test_the_other_fovs_complete(faulty_run):
    meta, out, ok, events, summary = faulty_run
    failed = {e.fov for e in events if e.status in ("failed", "upstream")}
    completed = [fov for fov in range(len(SCENES)) if fov not in failed]
    assert completed == [_fov(name) for name in ("normal", "all black", "one cell covering the frame", "no cells",
                                                 "other shape")]
    for fov in completed:
        assert {e.status for e in events if e.fov == fov} == {"done"}
    assert recorded_fovs(out) == completed
    normal = _traces(meta, out, "normal")
    assert normal["cell"].nunique() == 1 and len(normal) == FRAMES


@pytest.mark.parametrize("name", ["all black", "no cells"])
def test_a_fov_without_cells_gives_an_empty_trace_table(faulty_run, name):
    meta, out, *_ = faulty_run
    table = _traces(meta, out, name)
    assert list(table.columns) == TRACE_COLUMNS and table.empty
    assert not open_image(ImageRef(out, _fov(name), "seg_labeled", 0))[:].any()


def test_a_cell_covering_the_frame_is_traced(faulty_run):
    meta, out, *_ = faulty_run
    table = _traces(meta, out, "one cell covering the frame")
    assert list(table.columns) == TRACE_COLUMNS
    assert table["cell"].nunique() == 1 and len(table) == FRAMES
    assert (table["area"] > 0.7 * SIZE * SIZE).all()
    assert np.isfinite(table["intensity_total"]).all()


def test_a_fov_of_another_shape_is_processed_with_its_own(faulty_run):
    meta, out, *_ = faulty_run
    fov = _fov("other shape")
    assert meta.fov_shapes[fov] == (4, 96, SIZE)
    for kind in ("pc", "seg", "seg_labeled"):
        assert open_image(ImageRef(out, fov, kind, 0)).shape == (4, 96, SIZE)
    assert list(_traces(meta, out, "other shape")["frame"].unique()) == [0, 1, 2, 3]


# --- the output location fails during the run ---------------------------------------------------------------


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fail the output location ({result.stderr.strip()}); needs root")


@pytest.fixture
def mounts():
    """Mount points to unmount at the end of the test."""
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s filesystem."""
    stats = os.statvfs(folder)
    handle = os.open(folder / "filler", os.O_CREAT | os.O_WRONLY)
    try:
        os.posix_fallocate(handle, 0, stats.f_bavail * stats.f_frsize)
    finally:
        os.close(handle)


FAULTS = {  # fault: what the error says
    "disk full": "No space left on device",
    "read-only": "Read-only file system",
}


# The resumed run finds the failed FOV's group as a bare directory (its zarr.json never written): zarr says so.
@pytest.mark.filterwarnings("ignore:Object at fov_001 is not recognized")
@pytest.mark.parametrize("fault", FAULTS)
def test_an_output_location_failing_mid_run_stops_it_and_keeps_what_is_complete(
        fault, tiny_dataset, tiny_run, dask_client, tmp_path, mounts, monkeypatch, capsys):
    if fault == "disk full":
        _mount_tmpfs(tmp_path / "disk", "size=16m")
        mounts.append(tmp_path / "disk")
        out = tmp_path / "disk" / "out"
    else:
        out = tmp_path / "out"

    def fail_the_output_location() -> None:
        if fault == "disk full":
            _fill(out.parent)
        else:  # the next FOV's part of the store becomes a read-only file system
            _mount_tmpfs(out / STORE_NAME / "fov_001", "ro,size=1m")
            mounts.append(out / STORE_NAME / "fov_001")

    class FailingAfterFov0(RunProgress):
        """The CLI's progress display; the output location fails once FOV 0 is complete."""

        def __call__(self, event):
            super().__call__(event)
            fov0 = getattr(self, "fov0", 0) + (event.fov == 0)
            self.fov0 = fov0
            if event.fov == 0 and fov0 == TASKS_PER_FOV:
                fail_the_output_location()

    monkeypatch.setattr(commands, "RunProgress", FailingAfterFov0)
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 5\n")
    argv = ["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "1", "2", "--out", str(out), "--config",
            str(config), "--batch-size", "1", "--scheduler", dask_client.scheduler.address, "--no-progress"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith(f"pyama-dask run: error: cannot write {out / STORE_NAME / 'fov_001'}")
    assert FAULTS[fault] in error and "1 of 3 FOV(s) are complete" in error and "resume" in error
    assert "Traceback" not in captured.err
    assert "    1  FAILED  copy: cannot write" in captured.out
    assert "    2  FAILED  copy: not started: cannot write" in captured.out
    assert_same_outputs(out, tiny_run, fovs=[0])  # the complete FOV is intact
    report = out / PERFORMANCE_REPORT  # written whole, or not at all
    assert not report.exists() or report.read_text().rstrip().endswith("</html>")

    for point in reversed(mounts):  # space freed, or writable again
        if out in point.parents:
            subprocess.run(["umount", str(point)], check=True)
            mounts.remove(point)
    (out.parent / "filler").unlink(missing_ok=True)
    monkeypatch.setattr(commands, "RunProgress", RunProgress)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "FOVs: 3 done, 0 failed (10 tasks already complete, skipped)" in text
    assert_same_outputs(out, tiny_run)
    assert recorded_fovs(out) == [0, 1, 2]
