"""Guarded segmentation: parity when off, degenerate frames caught and replaced, kind detection, watershed."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zarr
from skimage.measure import label

from pyama_dask.algorithms.segmentation import segment_logstd, segment_logstd_stack
from pyama_dask.algorithms.segmentation_guard import (
    IMAGE_KINDS,
    THRESHOLD_METHODS,
    FrameGuard,
    MaskStats,
    detect_image_kind,
    segment_guarded_stack,
    split_touching,
)
from pyama_dask.evaluation.scoring import detection_scores
from generated_frames import textured_frame

ROBUST = {"morph_size": 3, "morph_iterations": 1, "min_object_area": 30, "watershed": True}


def _segment(stack, **kwargs):
    out = np.zeros(stack.shape, dtype=bool)
    qc = segment_guarded_stack(stack, out, **kwargs)
    return out, qc


def test_with_every_switch_off_it_is_pyama_core_bit_for_bit(laptrack_movie):
    images, _ = laptrack_movie
    generated = np.stack([textured_frame(96, 4, seed) for seed in range(3)])
    for stack in (images, generated):
        expected = np.zeros(stack.shape, dtype=bool)
        segment_logstd_stack(stack, expected)
        got, qc = _segment(stack)
        assert expected.any() or stack is images  # PyAMA-core finds nothing on the real crop
        assert np.array_equal(got, expected)
        assert qc.fallback_frames == []


def test_the_guard_alone_never_changes_a_sound_frame():
    stack = np.stack([textured_frame(128, 5, seed) for seed in range(4)])
    got, qc = _segment(stack, segmentation_guard=True)
    assert np.array_equal(got, np.stack([segment_logstd(frame) for frame in stack]))
    assert qc.fallback_frames == []


def test_collapsed_log_std_threshold_falls_back_and_is_recorded(dark_nuclei, caplog):
    dark, labels = dark_nuclei
    assert np.mean(dark == 0) > 0.5
    # PyAMA-core's threshold on these frames: the mask covers ~98 % of the frame.
    first = segment_logstd(dark[0], morph_size=3, morph_iterations=1)
    assert first.mean() > 0.9
    with caplog.at_level(logging.WARNING):
        masks, qc = _segment(dark, segmentation_guard=True, morph_size=3, morph_iterations=1, fov=4)
    fallen = {record["frame"] for record in qc.fallback_frames}
    assert 0 in fallen and len(fallen) >= 3
    assert all(record["fallback"] == "otsu" and "bound 70%" in record["reason"] for record in qc.fallback_frames)
    assert "FOV 4 frame 0: mask covers" in caplog.text
    for t in fallen:
        assert masks[t].mean() < 0.6
        score = detection_scores(labels[t : t + 1], label(masks[t : t + 1], connectivity=1))
        assert score.f1 >= 0.6, (t, score)


def test_robust_settings_find_the_nuclei_of_dark_frames(dark_nuclei):
    dark, labels = dark_nuclei
    masks, qc = _segment(dark, image_kind="auto", threshold_method="otsu",
                         segmentation_guard=True, **ROBUST)
    assert qc.image_kind == "fluorescence"
    score = detection_scores(labels, np.stack([label(mask, connectivity=1) for mask in masks]))
    assert score.f1 >= 0.85, score  # measured 0.92


def test_a_frame_unlike_its_neighbours_is_caught():
    guard = FrameGuard(max_mask_fraction=0.7)
    usual = np.zeros((100, 100), dtype=bool)
    usual[:10] = True  # 10 %
    for _ in range(3):
        assert guard.degenerate(MaskStats.of(usual)) is None and guard.too_small(MaskStats.of(usual)) is None
        guard.observe(MaskStats.of(usual))
    large = np.zeros((100, 100), dtype=bool)
    large[:40] = True  # 40 %: more than 3 x 10 % + 2 %
    assert guard.degenerate(MaskStats.of(large)) == "mask covers 40.0% of the frame, the recent frames' 10.0%"
    empty = np.zeros((100, 100), dtype=bool)
    assert guard.too_small(MaskStats.of(empty)) == "mask covers 0.0% of the frame, the recent frames' 10.0%"
    full = MaskStats.of(np.ones((100, 100), dtype=bool))
    assert guard.degenerate(full) == "mask covers 100% of the frame (bound 70%)"


def test_a_fallback_that_is_degenerate_too_leaves_the_frame_empty():
    frame = textured_frame(96, 6, seed=2)[np.newaxis]
    assert segment_logstd(frame[0]).mean() > 0.05
    masks, qc = _segment(frame, segmentation_guard=True, max_mask_fraction=0.05)
    assert not masks.any()
    assert len(qc.fallback_frames) == 1 and qc.fallback_frames[0]["fallback"] == "empty"
    assert qc.fallback_frames[0]["reason"].endswith("of the frame (bound 5%)")


def test_image_kind_is_told_from_the_pixels(nuclei_movie, dark_nuclei, laptrack_movie):
    assert detect_image_kind(nuclei_movie[0]) == "fluorescence"
    assert detect_image_kind(dark_nuclei[0]) == "fluorescence"
    assert detect_image_kind(laptrack_movie[0]) == "transmitted"
    assert detect_image_kind(np.stack([textured_frame(64, 3, 0)])) == "transmitted"


def test_watershed_splits_touching_discs_and_keeps_a_single_ellipse_whole():
    rows, cols = np.indices((60, 140))
    pair = ((rows - 30) ** 2 + (cols - 30) ** 2 < 15**2) | ((rows - 30) ** 2 + (cols - 56) ** 2 < 15**2)
    ellipse = ((rows - 30) / 8.0) ** 2 + ((cols - 110) / 22.0) ** 2 < 1
    single = (rows - 10) ** 2 + (cols - 80) ** 2 < 6**2
    mask = pair | ellipse | single
    assert label(mask, connectivity=1).max() == 3
    split = split_touching(mask)
    regions = label(split, connectivity=1)
    assert regions.max() == 4  # the pair became two, the ellipse and the small disc stayed whole
    assert len(np.unique(regions[ellipse])) == 1
    assert split.sum() > 0.97 * mask.sum()  # only the watershed line was taken away


def test_min_object_area_drops_small_objects():
    frame = textured_frame(96, 3, seed=1)
    kept, _ = _segment(frame[np.newaxis], min_object_area=10**6)
    assert not kept.any()


def test_stack_from_zarr_chunk_by_chunk_equals_numpy(nuclei_movie):
    images, _ = nuclei_movie
    source = zarr.create_array(store={}, shape=images.shape, chunks=(4, 200, 200), dtype="uint16")
    source[:] = images
    out = zarr.create_array(store={}, shape=images.shape, chunks=(1, 200, 200), dtype="bool")
    kwargs = {"image_kind": "fluorescence", "threshold_method": "li", "segmentation_guard": True, **ROBUST}
    segment_guarded_stack(source, out, **kwargs)
    assert np.array_equal(out[:], _segment(images, **kwargs)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_kind": "phase"}, "image_kind must be one of auto, transmitted, fluorescence, got 'phase'"),
        ({"threshold_method": "mean"}, "threshold_method must be one of logstd-mode, otsu, li, got 'mean'"),
    ],
)
def test_bad_choices_are_named(kwargs, message):
    stack = np.zeros((1, 16, 16), dtype=np.uint16)
    with pytest.raises(ValueError, match=message):
        _segment(stack, **kwargs)


def test_the_parameters_offer_exactly_the_algorithm_choices():
    """The parameter layer validates ``image_kind`` and ``threshold_method`` against the names defined here."""
    from pyama_dask.pipeline.params import ParameterError, Params

    for kind in IMAGE_KINDS:
        assert Params(image_kind=kind).image_kind == kind
    for method in THRESHOLD_METHODS:
        assert Params(threshold_method=method).threshold_method == method
    with pytest.raises(ParameterError):
        Params(image_kind="phase")
    with pytest.raises(ParameterError):
        Params(threshold_method="mean")
