"""Inputs that grow: what has landed, half-written and corrupt files, the end marker, waiting for changes."""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from pyama_dask.io.inputs.growing import END_MARKER, GrowingSource, Landed, open_growing
from pyama_dask.io.inputs.microscopy import MicroscopyError, load_microscopy_file, read_frames
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import simulate_acquisition, start_acquisition
from pyama_dask.synthetic.acquisition_writers import OmeZarrWriter, TiffFolderWriter
from pyama_dask.synthetic.render import FovRenderer
from pyama_dask.synthetic.cells import simulate_cells

SPEC = SyntheticSpec(n_fovs=2, n_frames=4, size=128, n_cells=1, seed=3)
# (layout, simulator options, acquisition name): every layout a microscope may write.
LAYOUTS = [
    ("tiff-folder", {"naming": "metamorph"}, "metamorph"),
    ("tiff-folder", {"naming": "micro-manager"}, "micro-manager"),
    ("ome-zarr", {"ngff_version": "0.5", "growth": "shape-first"}, "v05.ome.zarr"),
    ("ome-zarr", {"ngff_version": "0.4", "growth": "chunks-first"}, "v04.ome.zarr"),
]
LAYOUT_IDS = ["metamorph", "micro-manager", "ngff-0.5-shape-first", "ngff-0.4-chunks-first"]
# A safety net against a hung test, not a timing claim.
_GIVE_UP_SECONDS = 120


def _follow(source: GrowingSource, done) -> list[Landed]:
    """Scan and wait until ``done(landed)``; every scan's result."""
    seen = []
    give_up = time.monotonic() + _GIVE_UP_SECONDS
    while time.monotonic() < give_up:
        seen.append(source.scan())
        if done(seen[-1]):
            return seen
        source.wait(1.0)
    raise AssertionError(f"gave up following {source.path}: last scan {seen[-1] if seen else None}")


def _complete(spec: SyntheticSpec):
    return lambda landed: landed.ended and landed.frames == {fov: spec.n_frames for fov in range(spec.n_fovs)}


def _write(writer, spec: SyntheticSpec, points, partial=None, pause=0.0) -> None:
    """Write the (FOV, t) points of ``spec`` with ``writer``, channel ``partial[2]`` of ``partial[:2]`` in two parts."""
    renderers = {fov: FovRenderer(spec, simulate_cells(spec, fov), fov) for fov in range(spec.n_fovs)}
    for fov, t in points:
        planes, _ = renderers[fov].frame(t)
        channel = partial[2] if partial is not None and partial[:2] == (fov, t) else None
        writer.write(fov, t, planes, channel, pause)


@pytest.mark.parametrize(("layout", "options", "name"), LAYOUTS, ids=LAYOUT_IDS)
def test_frames_land_in_order_and_equal_the_batch_reading(tmp_path: Path, layout, options, name) -> None:
    acquisition = start_acquisition(tmp_path / name, SPEC, layout, "0.3s", partial_pause=0.4, **options)
    with open_growing(acquisition.path, settle_seconds=0.1, poll_interval=0.1) as source:
        seen = _follow(source, _complete(SPEC))
        acquisition.result(_GIVE_UP_SECONDS)
        for before, after in zip(seen, seen[1:]):
            assert all(after.frames[fov] >= before.frames.get(fov, 0) for fov in after.frames)  # frames only grow
        for landed in seen:
            counts = [landed.frames[fov] for fov in landed.fovs]
            # FOVs in turn: an earlier FOV is never behind by more than the frame that may have landed
            # between the scan's reading of it and its reading of a later FOV (a loaded machine).
            assert all(earlier >= later - 1 for i, earlier in enumerate(counts) for later in counts[i + 1:]), counts
            if landed.ended or landed.frames.get(0, 0) >= 2:  # FOVs and channels are final by then
                assert landed.fovs == (0, 1) and sorted(landed.channels) == sorted(SPEC.channel_names)
        assert seen[-1].problems == ()
        assert len({landed.channels for landed in seen if landed.channels}) == 1  # once named, channels stay
        _, batch = load_microscopy_file(acquisition.path)
        assert source.metadata() == batch
        assert seen[-1].channels == tuple(batch.channel_names)
        assert sorted(batch.channel_names) == sorted(SPEC.channel_names)
        assert (batch.n_fovs, batch.n_frames) == (SPEC.n_fovs, SPEC.n_frames)
        assert source.frame_times(1, SPEC.n_frames) == batch.timepoints
        assert batch.timepoints == [t * SPEC.frame_interval_min for t in range(SPEC.n_frames)]
        for fov in range(SPEC.n_fovs):
            for channel in range(len(SPEC.channel_names)):
                grown = np.stack([source.read_frame(fov, t, channel) for t in range(SPEC.n_frames)])
                np.testing.assert_array_equal(grown, read_frames(acquisition.path, fov, channel))
        shipped = pickle.loads(pickle.dumps(source.frame_ref(1, 2, 1)))  # as a Dask task would receive it
        np.testing.assert_array_equal(shipped.read(), source.read_frame(1, 2, 1))


def test_zarr_chunks_beyond_the_stated_shape_land(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "a.ome.zarr", SPEC, "ome-zarr", 0, partial=None)
    expected = read_frames(path, 0, 1)
    metadata = path / "p0" / "zarr.json"
    document = json.loads(metadata.read_text())
    document["shape"][0] = 2  # the writer has written time points 2 and 3 but not yet grown the shape
    metadata.write_text(json.dumps(document))
    with open_growing(path, settle_seconds=0) as source:
        assert source.scan().frames == {0: SPEC.n_frames, 1: SPEC.n_frames}
        np.testing.assert_array_equal(np.stack([source.read_frame(0, t, 1) for t in range(SPEC.n_frames)]), expected)


@pytest.mark.parametrize(("layout", "options", "name"), LAYOUTS[::2], ids=LAYOUT_IDS[::2])
def test_half_written_file_is_never_counted(tmp_path: Path, layout, options, name) -> None:
    spec = SyntheticSpec(n_fovs=1, n_frames=3, size=128, n_cells=1)
    path = tmp_path / name
    writer = (OmeZarrWriter(path, spec, options["ngff_version"], options["growth"]) if layout == "ome-zarr"
              else TiffFolderWriter(path, spec, options["naming"]))
    _write(writer, spec, [(0, 0)])
    halfway = threading.Thread(target=_write, args=(writer, spec, [(0, 1)], (0, 1, 2), 3.0))
    with open_growing(path, settle_seconds=0.2, poll_interval=0.05) as source:
        halfway.start()
        counts = []
        # Scanned while the file is half-written (well before its second half, due 3 s after the first, lands).
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            counts.append(source.scan().frames[0])
            time.sleep(0.05)
        halfway.join()
        assert max(counts) == 1  # frame 0 landed; frame 1, its last channel half-written all along, did not
        _write(writer, spec, [(0, 2)])
        final = _follow(source, lambda landed: landed.frames[0] == 3)[-1]
        assert final.problems == ()  # the half-written file, once whole, is no problem


@pytest.mark.parametrize(("layout", "options", "name"), LAYOUTS[::2], ids=LAYOUT_IDS[::2])
def test_corrupt_frame_is_reported_once_not_raised(tmp_path: Path, caplog, layout, options, name) -> None:
    path = simulate_acquisition(tmp_path / name, SPEC, layout, 0, partial=None, **options)
    damaged = _plane_file(path, layout, fov=1, t=2, channel=1)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 3])
    with open_growing(path, settle_seconds=0) as source, caplog.at_level(logging.WARNING):
        first, again = source.scan(), source.scan()
        assert first.frames == again.frames == {0: SPEC.n_frames, 1: 2}
        assert len(again.problems) == 1
        problem = again.problems[0]
        assert str(damaged) in problem and "FOV 1" in problem and "frame 2" in problem
        assert [record.message for record in caplog.records].count(problem) == 1
        with pytest.raises(MicroscopyError, match="frame 2 has not landed"):
            source.read_frame(1, 2, 0)
        assert source.frame_times(1, 2) == [0.0, SPEC.frame_interval_min]


def _plane_file(path: Path, layout: str, fov: int, t: int, channel: int) -> Path:
    if layout == "ome-zarr":
        array = zarr.open_array(path / f"p{fov}", mode="r")
        return path / f"p{fov}" / array.metadata.encode_chunk_key((t, channel, 0, 0))
    return path / TiffFolderWriter(path, SPEC).file_name(fov, t, channel)


@pytest.mark.parametrize(("layout", "options", "name"), LAYOUTS[::2], ids=LAYOUT_IDS[::2])
def test_end_marker_ends_the_acquisition(tmp_path: Path, layout, options, name) -> None:
    stop = threading.Event()
    stop.set()
    path = simulate_acquisition(tmp_path / name, SPEC, layout, 0, stop=stop, **options)  # stopped: no end marker
    with open_growing(path, settle_seconds=0) as source:
        assert not source.scan().ended
        marker = (path.parent if layout == "ome-zarr" else path) / END_MARKER  # next to a Zarr counts too
        marker.write_text("")
        assert source.scan().ended


def test_first_time_point_learns_channels_only_once_the_microscope_moved_on(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_fovs=2, n_frames=2, size=128, n_cells=1)
    writer = TiffFolderWriter(tmp_path / "acq", spec)
    with open_growing(writer.path, settle_seconds=0) as source:
        assert source.scan() == Landed((), (), {}, False, ())
        _write(writer, spec, [(0, 0)])
        landed = source.scan()
        assert (landed.fovs, landed.channels, landed.frames) == ((0,), (), {0: 0})  # FOV 0 may have more channels
        _write(writer, spec, [(1, 0)])
        landed = source.scan()
        assert landed.channels == tuple(sorted(spec.channel_names)) and landed.frames == {0: 1, 1: 1}


def test_custom_pattern_reads_like_the_batch_reader(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "custom", SPEC, "tiff-folder", 0, partial=None)
    for file in list(path.glob("*_Position*_time*.tif")):
        channel, position, time_point = file.stem.replace("_Position", " ").replace("_time", " ").split()
        file.rename(path / f"{channel}-s{position}-t{time_point}.tif")
    pattern = r"(?P<channel>[^-]+)-s(?P<position>\d+)-t(?P<time>\d+)\.tif"
    with pytest.raises(MicroscopyError, match="not a recognised input"):
        load_microscopy_file(path)  # no known naming
    _, batch = load_microscopy_file(path, pattern=pattern)
    with open_growing(path, pattern, settle_seconds=0) as source:
        landed = source.scan()
        assert landed.frames == {0: SPEC.n_frames, 1: SPEC.n_frames} and landed.ended
        assert source.metadata() == batch
        assert batch.file_pattern == pattern
        np.testing.assert_array_equal(source.read_frame(1, 3, 2),
                                      read_frames(path, 1, 2, slice(3, 4), pattern=pattern)[0])


@pytest.mark.parametrize(("pattern", "message"), [
    (r"(?P<channel>\w+)_(?P<time>\d+)\.tif", "lacks the named group.*position"),
    (r"(?P<channel>[", "not a valid regular expression"),
])
def test_bad_pattern_is_refused(tmp_path: Path, pattern: str, message: str) -> None:
    with pytest.raises(MicroscopyError, match=message):
        open_growing(tmp_path, pattern)


def test_nd2_and_single_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(MicroscopyError, match=r"x\.nd2.*NIS-Elements writes the file's index at its end"):
        open_growing(tmp_path / "x.nd2")
    single = tmp_path / "stack.ome.tiff"
    single.write_bytes(b"II*\0")
    with pytest.raises(MicroscopyError, match="only a folder of per-plane TIFF files or an OME-Zarr"):
        open_growing(single)


def test_zarr_with_several_time_points_per_chunk_is_refused(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "a.ome.zarr", SPEC, "ome-zarr", 0, partial=None)
    root = zarr.open_group(path, mode="a")
    del root["p0"]
    root.create_array("p0", shape=(4, 3, 128, 128), chunks=(2, 1, 128, 128), dtype="uint16")
    with open_growing(path) as source, pytest.raises(MicroscopyError, match="chunks hold 2 time points"):
        source.scan()


@pytest.mark.parametrize("use_events", [False, True], ids=["polling", "events"])
def test_wait_sees_new_files(tmp_path: Path, use_events: bool) -> None:
    # Polling alone must see a change; with events, a poll interval longer than the wait leaves it to the events.
    poll_interval = 0.05 if not use_events else 600
    with open_growing(tmp_path, use_events=use_events, poll_interval=poll_interval) as source:
        if use_events and not source._watcher.delivers_events:
            pytest.skip("no file-system events on this system")
        source.scan()
        assert source.wait(0.3) is False
        timer = threading.Timer(0.2, (tmp_path / "Phase_Position1_time1.tif").write_bytes, args=(b"x",))
        timer.start()
        assert source.wait(30) is True
        timer.join()


def test_wait_wakes_when_a_waiting_file_has_settled(tmp_path: Path) -> None:
    spec = SyntheticSpec(n_fovs=1, n_frames=2, size=128, n_cells=1)
    writer = TiffFolderWriter(tmp_path / "acq", spec)
    _write(writer, spec, [(0, 0), (0, 1)])
    with open_growing(writer.path, use_events=False, poll_interval=600, settle_seconds=2) as source:
        assert source.scan().frames[0] < 2  # just written: frame 1 has not settled yet
        for _ in range(10):
            assert source.wait(60) is True  # nothing changes on disk, but files have settled
            if source.scan().frames == {0: 2}:
                break
        assert source.scan().frames == {0: 2}


def test_missing_folder_is_an_empty_acquisition(tmp_path: Path) -> None:
    with open_growing(tmp_path / "not-yet", poll_interval=0.05) as source:
        assert source.scan() == Landed((), (), {}, False, ())
        with pytest.raises(MicroscopyError, match="no frame of the first position has landed"):
            source.metadata()
        os.mkdir(tmp_path / "not-yet")
        (tmp_path / "not-yet" / "Phase_Position1_time1.tif").write_bytes(b"x")
        assert source.wait(30) is True


def _zarr_with_z(path: Path, data: np.ndarray) -> None:
    """An NGFF 0.5 image with axes t, c, z, y, x (no time unit), one chunk per plane."""
    root = zarr.open_group(path, mode="w", zarr_format=3)
    array = root.create_array("0", shape=data.shape, chunks=(1, 1, 1, *data.shape[3:]), dtype="uint16",
                              dimension_names=list("tczyx"))
    array[:] = data
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    root.attrs["ome"] = {"version": "0.5", "omero": {"channels": [{"label": "BF"}, {"label": "GFP"}]}, "multiscales": [{
        "name": "image", "axes": [{"name": axis, "type": kind} for axis, kind in kinds.items()],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [30, 1, 2, 0.5, 0.5]}]}]}]}


def test_zarr_with_z_reads_a_plane_or_the_maximum_like_the_batch_reader(tmp_path: Path) -> None:
    path = tmp_path / "z.ome.zarr"
    data = np.random.default_rng(0).integers(0, 4000, size=(2, 2, 3, 32, 32), dtype=np.uint16)
    _zarr_with_z(path, data)
    with open_growing(path, settle_seconds=0) as source:
        assert source.scan().frames == {0: 2}
        assert source.metadata() == load_microscopy_file(path)[1]
        for z in (0, 2, "max"):
            grown = np.stack([source.read_frame(0, t, 1, z) for t in range(2)])
            np.testing.assert_array_equal(grown, read_frames(path, 0, 1, z=z))
        with pytest.raises(MicroscopyError, match="Z plane 3 is out of range"):
            source.read_frame(0, 0, 0, 3)
    chunk = path / "0" / zarr.open_array(path / "0").metadata.encode_chunk_key((1, 0, 2, 0, 0))
    chunk.unlink()  # one Z plane of one channel missing: the frame is not complete
    with open_growing(path, settle_seconds=0) as source:
        assert source.scan().frames == {0: 1}


def test_zarr_of_planned_shape_without_channel_axis_lands_the_chunks_written(tmp_path: Path) -> None:
    # As pymmcore-plus writes it: NGFF 0.4, "/"-nested chunk keys, the whole planned T from the start, no c axis.
    path = tmp_path / "mda.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    array = root.create_array("p0", shape=(4, 32, 32), chunks=(1, 32, 32), dtype="uint16",
                              chunk_key_encoding={"name": "v2", "separator": "/"})
    data = np.random.default_rng(1).integers(1, 4000, size=(2, 32, 32), dtype=np.uint16)
    array[:2] = data
    root.attrs["multiscales"] = [{"version": "0.4", "name": "p0", "axes": [{"name": "t", "type": "time"},
                                                                          {"name": "y", "type": "space"},
                                                                          {"name": "x", "type": "space"}],
                                  "datasets": [{"path": "p0", "coordinateTransformations": [
                                      {"type": "scale", "scale": [1, 1, 1]}]}]}]
    with open_growing(path, settle_seconds=0) as source:
        landed = source.scan()
        assert landed.frames == {0: 2}
        assert landed.channels == tuple(load_microscopy_file(path)[1].channel_names)  # the batch reader's names
        np.testing.assert_array_equal(np.stack([source.read_frame(0, t, 0) for t in range(2)]), data)
