"""Noise frames: low-contrast frames whose threshold cuts the noise are caught, and tracking stays bounded.

The movie is the real nuclei movie of laptrack, played forth and back (15
frames), each frame set in a 500 px field filled with its own background
pixels (drawn at random), so that the cells are sparse as in a real field.
A third of the frames (5-9) are brought to 3 grey levels of contrast above
a flat background, plus noise: there the threshold falls into the noise.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from skimage.draw import disk
from skimage.measure import label

from pyama_dask.algorithms.segmentation_guard import FrameGuard, MaskStats, segment_guarded_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import segment_pairs, track_laptrack
from pyama_dask.evaluation.scoring import detection_scores
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.serial import segment_and_track
from pyama_dask.synthetic.low_contrast import low_contrast_movie as make_low_contrast_movie

SIDE = 500
ORDER = [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
LOW_CONTRAST = range(5, 10)
ROBUST_SEGMENTATION = {
    "image_kind": "auto", "threshold_method": "otsu", "morph_size": 3, "morph_iterations": 1,
    "min_object_area": 30, "watershed": True,
}


@pytest.fixture(scope="module")
def low_contrast_movie(nuclei_movie):
    """(15, 500, 500) uint16 movie with frames 5-9 of very low contrast, and its labels."""
    return make_low_contrast_movie(*nuclei_movie, ORDER, LOW_CONTRAST, side=SIDE)


def _object_counts(masks):
    return [int(label(mask, connectivity=1).max()) for mask in masks]


def test_without_the_guard_low_contrast_masks_explode_into_noise(low_contrast_movie):
    movie, truth = low_contrast_movie
    masks = np.zeros(movie.shape, dtype=bool)
    segment_guarded_stack(movie, masks, **ROBUST_SEGMENTATION)
    counts = _object_counts(masks)
    true_counts = [len(np.unique(frame)) - 1 for frame in truth]
    assert min(counts[t] for t in LOW_CONTRAST) > 20 * max(true_counts), counts  # measured 1,088-1,629
    assert all(counts[t] <= 1.2 * true_counts[t] for t in range(len(ORDER)) if t not in LOW_CONTRAST), counts


def test_the_robust_profile_drops_the_noise_frames_and_tracks_the_cells_of_the_others(low_contrast_movie, caplog):
    movie, truth = low_contrast_movie
    with caplog.at_level(logging.WARNING):
        masks, labels, fallback_frames, _ = segment_and_track(movie, Params(profile="robust"), fov=3)
    assert fallback_frames == list(LOW_CONTRAST)
    assert not labels[list(LOW_CONTRAST)].any()
    assert sum("FOV 3 frame" in record.message and "segmented with empty" in record.message
               for record in caplog.records) == len(LOW_CONTRAST)
    good = [t for t in range(len(ORDER)) if t not in LOW_CONTRAST]
    score = detection_scores(truth[good], labels[good])
    assert score.f1 >= 0.85, score  # measured 0.92
    # Every cell of the sound frames is tracked (carries a cell id), and
    # tracks of the first sound frames run through all of them.
    assert np.array_equal(labels[good] > 0, masks[good])
    first_run = labels[: LOW_CONTRAST.start]
    through = set(np.unique(first_run[0])) - {0}
    for frame in first_run[1:]:
        through &= set(np.unique(frame))
    assert len(through) >= 20, len(through)  # measured 25 (0 without the guard), of 33-46 nuclei per frame


def test_noise_like_masks_and_object_explosions_are_named():
    guard = FrameGuard(max_mask_fraction=0.7, smallest_object_area=9)
    block = np.zeros((6, 6), dtype=bool)
    block[:3, :3] = True
    grains = np.kron(np.ones((34, 34), dtype=bool), block)  # 1,156 grains of 3 x 3 px
    assert guard.noise(MaskStats.of(grains)) == (
        "noise-like mask: 1156 objects of median area 9 px, near the smallest the cleanup leaves (9 px)")
    cells = np.zeros((200, 200), dtype=bool)
    for row, column in [(30, 30), (30, 160), (160, 30), (160, 160), (95, 95)]:
        cells[disk((row, column), 19)] = True  # 5 cells: 14 % of the frame
    for _ in range(3):
        guard.observe(MaskStats.of(cells))
    many = np.zeros((200, 200), dtype=bool)
    for row in range(10, 200, 20):
        for column in range(10, 200, 20):
            many[disk((row, column), 4)] = True  # 100 cells of 49 px: 12 % of the frame, like its neighbours'
    stats = MaskStats.of(many)
    assert guard.degenerate(stats) == "object count exploded: 100 objects, the recent frames' 5"
    guard.observe(stats)  # noise is not remembered as the usual
    assert guard.noise(stats) is not None


def test_smoothing_before_the_threshold_is_a_segmentation_switch(low_contrast_movie):
    movie, _ = low_contrast_movie
    params = Params(smoothing_sigma=2.0, threshold_method="otsu")
    assert params.segmentation_kwargs()["smoothing_sigma"] == 2.0
    assert "smoothing_sigma" not in Params().for_step("segment")
    frames = movie[list(LOW_CONTRAST)]
    plain, smoothed = np.zeros(frames.shape, dtype=bool), np.zeros(frames.shape, dtype=bool)
    fluorescence = {**ROBUST_SEGMENTATION, "image_kind": "fluorescence"}
    segment_guarded_stack(frames, plain, **fluorescence)
    segment_guarded_stack(frames, smoothed, **fluorescence, smoothing_sigma=2.0)
    # Averaging the noise leaves far fewer grains.
    counts_plain, counts_smoothed = _object_counts(plain), _object_counts(smoothed)
    assert max(counts_smoothed) < min(counts_plain) / 2, (counts_smoothed, counts_plain)


def _dense_frame_between_sound_ones():
    """Frames 0 and 2: 10 discs; frame 1: 5,041 one-pixel objects."""
    masks = np.zeros((3, 213, 213), dtype=bool)
    for index in range(10):
        rows, columns = disk((30 + 80 * (index // 5), 20 + 40 * (index % 5)), 8, shape=(213, 213))
        masks[0, rows, columns] = masks[2, rows, columns] = True
    masks[1, ::3, ::3] = True
    return masks


@pytest.mark.parametrize("track", [track_iou, track_laptrack])
def test_a_frame_of_5000_objects_has_its_links_refused(track, caplog):
    masks = _dense_frame_between_sound_ones()
    labels = np.zeros(masks.shape, dtype=np.uint16)
    with caplog.at_level(logging.WARNING):
        track(masks, labels)
    assert not labels[1].any()
    assert "frame 1: 5041 objects exceed max_objects_per_frame (2000): its links are refused" in caplog.text
    # The sound frames are tracked, each disc with one id in both.
    assert len(np.unique(labels[0])) == 11
    assert np.array_equal(labels[0], labels[2])


def test_laptrack_skips_gap_closing_on_noise_and_says_why(caplog):
    rng = np.random.default_rng(1)
    masks = np.zeros((5, 600, 600), dtype=bool)
    for frame in masks:  # 1,500 grains drawn anew in every frame: nothing links, every grain is a segment
        for row, column in rng.integers(0, 597, size=(1500, 2)):
            frame[row : row + 3, column : column + 3] = True
    with_gaps, frame_to_frame = np.zeros(masks.shape, dtype=np.uint16), np.zeros(masks.shape, dtype=np.uint16)
    with caplog.at_level(logging.WARNING):
        track_laptrack(masks, with_gaps, max_gap_frames=2)
    assert "gap closing and divisions skipped, frame-to-frame links kept" in caplog.text
    track_laptrack(masks, frame_to_frame, max_gap_frames=0)
    assert np.array_equal(with_gaps, frame_to_frame)


def test_segment_pairs_count_what_gap_closing_and_divisions_weigh():
    import networkx as nx

    links = nx.DiGraph()  # frames of 2, 2, 1, 2 and 1 regions
    links.add_nodes_from([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (4, 0)])
    links.add_edges_from([((0, 0), (1, 0)), ((1, 0), (2, 0)), ((2, 0), (3, 0)), ((0, 1), (1, 1))])
    counts = [2, 2, 1, 2, 1]
    # Segment ends before the last frame: (1, 1), (3, 0), (3, 1); starts after frame 0: (3, 1), (4, 0).
    assert segment_pairs(links, counts, 0, False) == 0
    assert segment_pairs(links, counts, 1, False) == 1 + 2  # (1, 1) sees frames 2-3, frame 3's ends frame 4
    assert segment_pairs(links, counts, 2, False) == 2 + 2  # (1, 1) sees frames 2-4
    assert segment_pairs(links, counts, 0, True) == 1 * 1 + 1 * 2  # each start against the frame before
