"""laptrack tracking: gaps closed, tracks starting anywhere, stable ids, divisions, stack read by chunks."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pyama_dask.algorithms.tracking_laptrack import track_laptrack


def _discs(shape, *frames_of_centres, radius=4):
    """A mask stack with one disc per (row, column) centre of each frame."""
    rows, cols = np.indices(shape)
    masks = np.zeros((len(frames_of_centres), *shape), dtype=bool)
    for t, centres in enumerate(frames_of_centres):
        for cy, cx in centres:
            masks[t] |= (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
    return masks


def _track(masks, **kwargs):
    out = np.zeros(masks.shape, dtype=np.uint16)
    return out, track_laptrack(masks, out, **kwargs).n_tracks


def _id_at(labels, t, centre):
    return int(labels[t][centre])


def test_a_cell_missing_for_a_few_frames_keeps_its_id():
    a = [(10, 10 + t) for t in range(7)]
    frames = [[a[t]] for t in range(7)]
    frames[2] = frames[3] = []  # two frames without the cell
    out, n_tracks = _track(_discs((30, 40), *frames), max_gap_frames=2)
    assert n_tracks == 1
    assert {_id_at(out, t, a[t]) for t in (0, 1, 4, 5, 6)} == {1}
    assert not out[2].any() and not out[3].any()


def test_a_gap_longer_than_allowed_starts_a_new_track():
    a = [(10, 10 + t) for t in range(7)]
    frames = [[a[t]] for t in range(7)]
    frames[2] = frames[3] = []
    out, n_tracks = _track(_discs((30, 40), *frames), max_gap_frames=1)
    assert n_tracks == 2
    assert _id_at(out, 1, a[1]) == 1 and _id_at(out, 4, a[4]) == 2


def test_tracks_start_in_any_frame_and_are_numbered_by_first_appearance():
    # Cell B (right) appears in frame 2, cell C (left, earlier in raster
    # order) in frame 2 too, cell A is there from frame 0.
    frames = [[(20, 20)], [(20, 21)], [(20, 22), (5, 35), (40, 5)], [(20, 23), (5, 36), (40, 6)]]
    out, n_tracks = _track(_discs((50, 50), *frames))
    assert n_tracks == 3
    assert _id_at(out, 3, (20, 23)) == 1
    assert _id_at(out, 2, (5, 35)) == 2 and _id_at(out, 3, (5, 36)) == 2  # first in raster order
    assert _id_at(out, 2, (40, 5)) == 3 and _id_at(out, 3, (40, 6)) == 3


def test_ids_are_the_same_whatever_the_chunking():
    frames = [[(10 + t, 10), (30, 30 - t), (40, 8 + 2 * t)] for t in range(6)]
    masks = _discs((50, 50), *frames)
    expected, _ = _track(masks)
    for chunk in (1, 4):
        source = zarr.create_array(store={}, shape=masks.shape, chunks=(chunk, 50, 50), dtype="bool")
        source[:] = masks
        out = zarr.create_array(store={}, shape=masks.shape, chunks=(chunk, 50, 50), dtype="uint16")
        track_laptrack(source, out)
        assert np.array_equal(out[:], expected)


def test_a_jump_beyond_the_link_distance_is_another_cell():
    frames = [[(10, 10)], [(10, 12)], [(10, 40)]]
    out, n_tracks = _track(_discs((20, 60), *frames), max_link_distance=10, max_gap_frames=0)
    assert n_tracks == 2
    out, n_tracks = _track(_discs((20, 60), *frames), max_link_distance=40, max_gap_frames=0)
    assert n_tracks == 1


def test_divisions_give_both_daughters_new_ids_only_when_asked():
    mother = [[(20, 20)], [(20, 21)], [(20, 22)]]
    daughters = [[(14, 22), (26, 22)], [(12, 22), (28, 22)]]
    masks = np.concatenate([_discs((40, 40), *mother, radius=5), _discs((40, 40), *daughters, radius=3)])
    out, n_tracks = _track(masks, track_divisions=True, max_link_distance=12)
    assert n_tracks == 3
    assert _id_at(out, 2, (20, 22)) == 1
    assert {_id_at(out, 3, (14, 22)), _id_at(out, 3, (26, 22))} == {2, 3}
    out, n_tracks = _track(masks, track_divisions=False, max_link_distance=12)
    assert n_tracks == 2  # one daughter continues the mother's track
    assert 1 in {_id_at(out, 3, (14, 22)), _id_at(out, 3, (26, 22))}


def test_the_lineage_names_each_daughters_mother_only_when_divisions_are_tracked():
    mother = [[(20, 20)], [(20, 21)], [(20, 22)]]
    daughters = [[(14, 22), (26, 22)], [(12, 22), (28, 22)]]
    granddaughters = [[(9, 22), (15, 22)], [(8, 22), (16, 22)]]
    masks = np.concatenate([  # each generation about half the area of the one before, half its diameter away
        _discs((40, 40), *mother, radius=5), _discs((40, 40), *daughters, radius=3),
        _discs((40, 40), *granddaughters, radius=2) | _discs((40, 40), [(28, 22)], [(28, 22)], radius=3),
    ])
    out = np.zeros(masks.shape, dtype=np.uint16)
    tracks = track_laptrack(masks, out, track_divisions=True, max_link_distance=9)
    upper, lower = _id_at(out, 3, (14, 22)), _id_at(out, 3, (26, 22))
    first, second = _id_at(out, 5, (9, 22)), _id_at(out, 5, (15, 22))
    assert tracks.n_tracks == 5 and _id_at(out, 5, (28, 22)) == lower
    assert tracks.parents == {upper: 1, lower: 1, first: upper, second: upper}
    assert track_laptrack(masks, out, max_link_distance=9).parents == {}


def test_a_daughter_as_large_as_her_mother_is_no_division():
    # A cell appears beside a cell of its size: the nearer region continues the track.
    masks = np.zeros((4, 40, 60), dtype=bool)
    masks[:, 15:25, 20:30] = True
    masks[2:, 15:25, 33:43] = True
    out = np.zeros(masks.shape, dtype=np.uint16)
    tracks = track_laptrack(masks, out, track_divisions=True, max_link_distance=20)
    assert tracks.parents == {} and tracks.n_tracks == 2
    assert set(out[:, 20, 25]) == {1} and set(out[2:, 20, 38]) == {2}


def test_daughters_far_from_their_mother_for_her_size_are_no_division():
    # Half her area but 8-9 px from a mother 10 px across (a daughter lies about half her
    # diameter away), well within the 16 px link distance: the nearer continues the track.
    mother = [[(20, 20)], [(20, 21)], [(20, 22)]]
    neighbours = [[(12, 22), (29, 22)], [(11, 22), (30, 22)]]
    masks = np.concatenate([_discs((40, 40), *mother, radius=5), _discs((40, 40), *neighbours, radius=3)])
    out = np.zeros(masks.shape, dtype=np.uint16)
    tracks = track_laptrack(masks, out, track_divisions=True, max_link_distance=16)
    assert tracks.parents == {} and tracks.n_tracks == 2
    assert _id_at(out, 3, (12, 22)) == _id_at(out, 4, (11, 22)) == 1


def test_size_filter_leaves_small_regions_unlabelled():
    masks = _discs((30, 30), [(10, 10)], [(10, 11)])
    masks[:, 25, 25] = True  # a one-pixel speck in every frame
    out, n_tracks = _track(masks, min_size=5)
    assert n_tracks == 1 and not out[:, 25, 25].any()


def test_empty_masks_give_no_track():
    out, n_tracks = _track(np.zeros((3, 10, 10), dtype=bool))
    assert n_tracks == 0 and not out.any()


def test_the_stack_is_read_chunk_by_chunk():
    masks = _discs((30, 30), *[[(10, 10 + t)] for t in range(6)])

    class ChunkedOnly:
        """A (T, H, W) array that refuses reads of more than 2 frames."""

        shape, ndim, chunks = masks.shape, 3, (2, 30, 30)

        def __getitem__(self, key):
            assert isinstance(key, slice) and key.stop - key.start <= 2, key
            return masks[key]

    out = np.zeros(masks.shape, dtype=np.uint16)
    assert track_laptrack(ChunkedOnly(), out).n_tracks == 1
    assert set(np.unique(out)) == {0, 1}


def test_negative_gap_is_refused():
    with pytest.raises(ValueError, match="max_gap_frames must be >= 0, got -1"):
        _track(np.zeros((2, 5, 5), dtype=bool), max_gap_frames=-1)
