"""Batches of landed frames: the same results however the frames are cut into batches, resumable, drawable."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from live_sources import RevealedSource

from pyama_dask.io.store import ImageRef, store_path
from pyama_dask.pipeline.context import Channels
from pyama_dask.io.live import discard_unrecorded, followed_frames, read_rows, read_state, state_path
from pyama_dask.pipeline.incremental import FrameBatch, LiveFov, process_batch
from pyama_dask.pipeline.params import Params
from pyama_dask.qc import write_qc_figures

CHANNELS = Channels(pc=0, fl=[1, 2])


def _fov(out, dataset, fov=0, params=Params()):
    source = RevealedSource(dataset.image_path, start=8)
    meta = source.metadata()
    return LiveFov(out, fov, CHANNELS, params, (meta.height, meta.width), tuple(meta.channel_names),
                   lambda: source), source


def _run(out, dataset, cuts, params=Params()):
    fov, source = _fov(out, dataset, params=params)
    times = source.frame_times(0, cuts[-1])
    for start, stop in zip(cuts, cuts[1:]):
        process_batch(FrameBatch(fov, start, stop, tuple(times[start:stop])))


def _pixels(out, kind, channel):
    return zarr.open_array(store_path(out) / ImageRef(out, 0, kind, channel).group_path / "0", mode="r")[...]


@pytest.fixture(scope="module")
def in_one_batch(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_batch")
    _run(out, tiny_dataset, [0, 8])
    return out


@pytest.mark.parametrize("cuts", [[0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 3, 8]])
def test_batches_give_the_results_of_one_batch(tiny_dataset, in_one_batch, tmp_path, cuts):
    _run(tmp_path, tiny_dataset, cuts)
    for kind, channel in [("pc", 0), ("fl", 1), ("seg", 0), ("seg_labeled", 0)]:
        np.testing.assert_array_equal(_pixels(tmp_path, kind, channel), _pixels(in_one_batch, kind, channel))
    assert _pixels(tmp_path, "seg_labeled", 0).max() > 0
    for channel in (1, 2):
        rows = read_rows(tmp_path, 0, channel, 8)
        assert len(rows) > 0 and rows.equals(read_rows(in_one_batch, 0, channel, 8))
    assert read_state(tmp_path, 0).frames == 8


def test_a_batch_not_following_the_recorded_frames_is_refused(tiny_dataset, tmp_path):
    _run(tmp_path, tiny_dataset, [0, 3])
    fov, source = _fov(tmp_path, tiny_dataset)
    with pytest.raises(RuntimeError, match="FOV 0: the batch of frames 4-5 follows 3 processed frames"):
        process_batch(FrameBatch(fov, 4, 6, tuple(source.frame_times(0, 6)[4:6])))


def test_a_batch_killed_before_recording_its_progress_is_done_again(tiny_dataset, in_one_batch, tmp_path):
    _run(tmp_path, tiny_dataset, [0, 5])
    recorded = state_path(tmp_path, 0).read_text()
    _run(tmp_path, tiny_dataset, [5, 8])
    state_path(tmp_path, 0).write_text(recorded)  # killed after writing frames 5-7, before recording them
    assert read_rows(tmp_path, 0, 1, read_state(tmp_path, 0).frames)["frame"].max() == 4
    removed = discard_unrecorded(tmp_path, 0, 5)
    assert sorted(path.name for path in removed) == ["000005-000008.csv"] * 2
    _run(tmp_path, tiny_dataset, [5, 7, 8])  # cut otherwise than the killed run
    np.testing.assert_array_equal(_pixels(tmp_path, "seg_labeled", 0), _pixels(in_one_batch, "seg_labeled", 0))
    assert read_rows(tmp_path, 0, 1, 8).equals(read_rows(in_one_batch, 0, 1, 8))


def test_qc_draws_the_latest_frame_and_the_traces_so_far(tiny_dataset, tmp_path):
    _run(tmp_path, tiny_dataset, [0, 3])
    assert followed_frames(tmp_path) == {0: 3}
    written = write_qc_figures(tmp_path)
    assert [path.name for path in written] == ["fov_000_frame.png", "fov_000_traces.png"]
    assert all(path.stat().st_size > 1000 for path in written)
    with pytest.raises(ValueError, match="frame 5 is out of range for FOV 0, which has frames 0-2"):
        write_qc_figures(tmp_path, frame=5)


def test_laptrack_batches_link_over_a_window_as_the_whole_movie(tiny_dataset, tmp_path):
    """With laptrack the batches link each new frame over a window of labelled ones: the tracks of one pass."""
    params = Params(tracker="laptrack")
    _run(tmp_path / "one", tiny_dataset, [0, 8], params)
    _run(tmp_path / "cut", tiny_dataset, [0, 3, 5, 8], params)
    one, cut = _pixels(tmp_path / "one", "seg_labeled", 0), _pixels(tmp_path / "cut", "seg_labeled", 0)
    np.testing.assert_array_equal(cut, one)
    assert read_state(tmp_path / "cut", 0).tracker == {"next_id": int(one.max()) + 1}
