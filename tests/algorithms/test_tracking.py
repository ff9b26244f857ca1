"""IoU tracking: hand-built sequences for each rule, then equality with PyAMA-core's algorithm."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from skimage.measure import label

from pyama_dask.algorithms import tracking
from pyama_dask.algorithms.tracking import bbox_iou, track_iou
import pyama_reference as reference


def _frames(shape, *frames_of_boxes):
    """A mask stack with one filled rectangle (y0, x0, y1, x1) per box of each frame."""
    masks = np.zeros((len(frames_of_boxes), *shape), dtype=bool)
    for t, boxes in enumerate(frames_of_boxes):
        for y0, x0, y1, x1 in boxes:
            masks[t, y0:y1, x0:x1] = True
    return masks


def _track(masks, **kwargs):
    out = np.zeros(masks.shape, dtype=np.uint16)
    n_tracks = track_iou(masks, out, **kwargs)
    return out, n_tracks


def test_bbox_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 5, 10, 15], [20, 20, 30, 30], [5, 5, 10, 10]])
    # 50/150 overlap; disjoint; a 25 px box inside a 100 px one.
    np.testing.assert_array_equal(bbox_iou(a, b), [[50 / 150, 0.0, 25 / 100]])


def test_hungarian_assignment_beats_the_greedy_one():
    # Boxes 5 rows high. Frame 0: A = columns 0-9, B = 11-20.
    # Frame 1: Y = columns 0-1 (label 1), X = 4-15 (label 2).
    # IoU(A, X) = 6/16, IoU(B, X) = 5/17, IoU(A, Y) = 2/10, IoU(B, Y) = 0.
    # Greedy takes A-X (the largest IoU) and leaves B alone; the optimum
    # A-Y + B-X has the lower total cost 0.8 + 12/17 < 10/16 + 1.
    masks = _frames((5, 24), [(0, 0, 5, 10), (0, 11, 5, 21)], [(0, 0, 5, 2), (0, 4, 5, 16)])
    out, n_tracks = _track(masks)
    assert n_tracks == 2
    assert set(np.unique(out[1, :, 0:2])) == {1}  # Y continues A
    assert set(np.unique(out[1, :, 4:16])) == {2}  # X continues B
    assert np.array_equal(out, reference.track(masks))


def test_a_lost_track_never_comes_back():
    cell = [(2, 2, 8, 8)]
    masks = _frames((12, 12), cell, [], cell, cell)
    out, n_tracks = _track(masks)
    assert n_tracks == 1
    assert (out[0] == 1).sum() == 36
    assert not out[1:].any()
    out, n_tracks = _track(masks, new_tracks=True)
    # With new tracks the cell gets a new id when it comes back, never the old one.
    assert n_tracks == 2 and set(np.unique(out[2])) == {0, 2} and set(np.unique(out[3])) == {0, 2}


def test_a_cell_appearing_later_gets_a_track_only_with_new_tracks():
    first = (1, 1, 6, 6)
    late = (10, 10, 16, 16)
    masks = _frames((20, 20), *([[first]] * 5), *([[first, late]] * 3))
    out, n_tracks = _track(masks)
    assert n_tracks == 1
    assert not out[5:, 10:16, 10:16].any()
    assert (out[:, 1:6, 1:6] == 1).all()
    out, n_tracks = _track(masks, new_tracks=True)
    assert n_tracks == 2
    assert (out[5:, 10:16, 10:16] == 2).all() and not out[:5, 10:16, 10:16].any()
    assert (out[:, 1:6, 1:6] == 1).all()


def test_new_tracks_number_after_the_last_id_in_label_order():
    masks = _frames((20, 30), [(0, 0, 4, 4)], [(0, 0, 4, 4), (10, 20, 14, 24), (10, 2, 14, 6)])
    out, n_tracks = _track(masks, new_tracks=True)
    assert n_tracks == 3
    assert (out[1, 10:14, 2:6] == 2).all()  # label 2 in raster order
    assert (out[1, 10:14, 20:24] == 3).all()


@pytest.mark.parametrize(("shift", "matched"), [(9, False), (8, True)])
def test_iou_below_min_iou_is_not_matched(shift, matched):
    # Two 10 x 10 boxes `shift` columns apart: IoU = 10 (10 - shift) / (200 - 10 (10 - shift)),
    # 10/190 < 0.1 for a shift of 9, 20/180 > 0.1 for 8.
    masks = _frames((10, 30), [(0, 0, 10, 10)], [(0, shift, 10, shift + 10)])
    out, _ = _track(masks)
    assert out[1].any() == matched


def test_iou_equal_to_min_iou_is_matched():
    # 1 x 11 strips overlapping by 2 columns: IoU = 2 / 20 = 0.1 exactly.
    masks = _frames((1, 30), [(0, 0, 1, 11)], [(0, 9, 1, 20)])
    out, _ = _track(masks)
    assert (out[1, 0, 9:20] == 1).all()


def test_size_filter_ignores_regions_out_of_range():
    boxes = [(0, 0, 2, 2), (5, 5, 10, 10), (0, 20, 15, 35)]  # 4, 25 and 225 px
    masks = _frames((20, 40), boxes, boxes)
    out, n_tracks = _track(masks, min_size=5, max_size=100)
    assert n_tracks == 1
    assert set(np.unique(out)) == {0, 1} and (out[:, 5:10, 5:10] == 1).all()
    assert np.array_equal(out, reference.track(masks, min_size=5, max_size=100))


def test_empty_frames_end_every_track():
    masks = _frames((8, 8), [(1, 1, 4, 4)], [], [(1, 1, 4, 4)])
    out, n_tracks = _track(masks)
    assert n_tracks == 1 and not out[1:].any()
    out, n_tracks = _track(np.zeros((3, 8, 8), dtype=bool))
    assert n_tracks == 0 and not out.any()


def test_too_many_tracks_for_uint16_is_an_error(monkeypatch):
    monkeypatch.setattr(tracking, "MAX_TRACKS", 3)
    masks = _frames((10, 10), [(0, 0, 1, 1), (0, 2, 1, 3), (0, 4, 1, 5), (0, 6, 1, 7)])
    with pytest.raises(ValueError, match="4 tracks exceed the 3 cell ids"):
        _track(masks)


def _moving_blobs(seed, n_frames, shape):
    rng = np.random.default_rng(seed)
    base = ndimage.binary_dilation(rng.random(shape) < 0.08, iterations=2)
    frames = []
    for t in range(n_frames):
        moved = np.roll(base, (int(rng.integers(-1, 2)) * t, t), axis=(0, 1))
        frames.append(moved ^ (rng.random(shape) < 0.03))
    return np.stack(frames)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.sampled_from([{}, {"min_size": 4, "max_size": 60}]))
def test_random_sequences_equal_the_reference(seed, n_frames, kwargs):
    masks = _moving_blobs(seed, n_frames, (40, 50))
    out, _ = _track(masks, **kwargs)
    assert np.array_equal(out, reference.track(masks, **kwargs))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.bool_, st.tuples(st.integers(1, 5), st.integers(1, 16), st.integers(1, 16))),
    st.booleans(),
)
def test_labels_are_consistent(masks, new_tracks):
    out, n_tracks = _track(masks, new_tracks=new_tracks)
    assert out.dtype == np.uint16 and out.shape == masks.shape
    assert not out[~masks].any()
    assert out.max() <= n_tracks
    seen: set = set()
    previous: set = set()
    for t in range(len(masks)):
        ids = set(np.unique(out[t])) - {0}
        for cell in ids:  # one id = one 4-connected region of the frame
            assert label(out[t] == cell, connectivity=1).max() == 1
        if t and not new_tracks:
            assert ids <= previous  # tracks only continue or end
        assert not (ids - previous if t else set()) & seen  # ended tracks never resume
        seen |= ids
        previous = ids


def test_real_movie_equals_the_reference_and_keeps_most_cells(laptrack_movie):
    _, labels = laptrack_movie
    masks = labels > 0
    out, n_tracks = _track(masks)
    assert np.array_equal(out, reference.track(masks))
    # Cells move 1-2 px per frame: nearly every cell of frame 0 is still
    # tracked in the last frame.
    assert n_tracks == label(masks[0], connectivity=1).max()
    assert len(set(np.unique(out[-1])) - {0}) >= 0.75 * n_tracks


def test_zarr_in_and_out():
    masks = _moving_blobs(3, 5, (30, 30))
    source = zarr.create_array(store={}, shape=masks.shape, chunks=(2, 30, 30), dtype="bool")
    source[:] = masks
    out = zarr.create_array(store={}, shape=masks.shape, chunks=(1, 30, 30), dtype="uint16")
    track_iou(source, out)
    assert np.array_equal(out[:], reference.track(masks))


def test_iou_tracker_resumed_from_its_state_links_as_one_pass():
    """A follow run stops and resumes the tracker at any frame: its JSON state continues the same labels."""
    import json

    from pyama_dask.algorithms.tracking import IouTracker, track_iou

    rng = np.random.default_rng(3)
    masks = np.zeros((6, 40, 40), bool)
    for t in range(6):
        for y, x in [(5, 5), (20, 8), (8, 25), (28, 28)]:
            dy, dx = rng.integers(-2, 3, 2)
            masks[t, y + dy:y + dy + 6, x + dx:x + dx + 6] = True
    masks[3, 1:3, 1:3] = True  # a region born late: a new track
    whole = np.zeros(masks.shape, np.uint16)
    track_iou(masks, whole, new_tracks=True)
    for split in range(1, 6):
        first = IouTracker(new_tracks=True)
        labels = [first.step(mask) for mask in masks[:split]]
        second = IouTracker.resumed(json.loads(json.dumps(first.state())), new_tracks=True)
        labels += [second.step(mask) for mask in masks[split:]]
        np.testing.assert_array_equal(np.stack(labels), whole)
    assert whole.max() == 5
