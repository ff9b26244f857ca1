"""LOG-STD segmentation: each clause of the spec by hand, then bit-identity with PyAMA-core's calls."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pyama_dask.algorithms.segmentation import (
    clean_mask,
    histogram_threshold,
    local_log_std,
    segment_logstd,
    segment_logstd_stack,
)
import pyama_reference as reference
from generated_frames import textured_frame


def test_log_std_of_a_single_bright_column_by_hand():
    # Every row is 0 0 6 0 0: the 3-wide window around columns 1..3 holds
    # one 6 (mean 2, mean of squares 12, variance 8); the edge columns see
    # only zeros (reflected edges), variance 0, log-std 0.
    frame = np.tile(np.array([0, 0, 6, 0, 0], dtype=np.uint16), (4, 1))
    expected_row = np.array([0, 0.5 * np.log(8), 0.5 * np.log(8), 0.5 * np.log(8), 0], dtype=np.float32)
    log_std = local_log_std(frame, 3)
    assert log_std.dtype == np.float32
    np.testing.assert_allclose(log_std, np.tile(expected_row, (4, 1)), rtol=1e-6)


def test_log_std_is_zero_on_a_flat_frame():
    assert not local_log_std(np.full((8, 8), 700, dtype=np.uint16), 3).any()


def test_threshold_is_mode_plus_three_sigma_by_hand():
    # 10 bins of width 1 over [0, 10]: bin [0, 1) holds 4 values, the fullest;
    # its centre 0.5 is the mode; the values <= 0.5 are 0, .2, .4, .2 with
    # mean .2 and population variance .02.
    values = np.array([0.0, 0.2, 0.4, 0.2, 1.5, 10.0], dtype=np.float32)
    threshold = histogram_threshold(values, bins=10)
    assert threshold.dtype == np.float32
    assert threshold == pytest.approx(0.5 + 3 * np.sqrt(0.02), rel=1e-6)


def test_threshold_takes_the_first_of_tied_bins():
    # Two bins [0, 5) and [5, 10] hold two values each: the first wins, mode
    # 2.5; values <= 2.5 are 0 and 1, sigma 0.5.
    values = np.array([0.0, 1.0, 9.0, 10.0], dtype=np.float32)
    assert histogram_threshold(values, bins=2) == pytest.approx(2.5 + 3 * 0.5)


def test_threshold_uses_sigma_factor():
    values = np.array([0.0, 1.0, 9.0, 10.0], dtype=np.float32)
    assert histogram_threshold(values, bins=2, sigma_factor=1.0) == pytest.approx(3.0)


def test_frame_without_texture_gives_an_empty_mask_with_a_warning(caplog):
    # Both pixels see the same two values, their log-std differs by float32
    # rounding only: numpy cannot make 200 bins there (PyAMA-core crashes).
    frame = np.array([[43753, 56445]], dtype=np.uint16)
    with caplog.at_level(logging.WARNING):
        mask = segment_logstd(frame)
    assert not mask.any()
    assert "too narrow" in caplog.text


def test_cleanup_fills_holes_and_removes_small_specks():
    mask = np.zeros((80, 80), dtype=bool)
    mask[20:60, 20:60] = True
    mask[35:45, 35:45] = False  # a hole: filled
    mask[2:8, 70:76] = True  # a 6 x 6 speck: removed by the opening
    cleaned = clean_mask(mask, 7, 3)
    assert cleaned[20:60, 20:60].all()
    assert cleaned.sum() == 40 * 40


def test_closing_erodes_objects_on_the_frame_edge_as_scipy_does():
    # The closing's erosion treats the outside as background (border_value 0):
    # a 30 x 30 square in the corner keeps only rows/columns 9..29.
    mask = np.zeros((64, 64), dtype=bool)
    mask[:30, :30] = True
    expected = np.zeros_like(mask)
    expected[9:30, 9:30] = True
    assert np.array_equal(clean_mask(mask, 7, 3), expected)
    assert np.array_equal(reference.segment_cleanup(mask), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_textured_frames_equal_the_reference(seed):
    frame = textured_frame(384, 25, seed)
    expected = reference.segment(frame)
    assert expected.any()
    assert np.array_equal(segment_logstd(frame), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_other_dtypes_equal_the_reference(dtype):
    frame = (textured_frame(96, 6, 3) // 16).astype(dtype)
    assert np.array_equal(segment_logstd(frame), reference.segment(frame))


def test_zeros_next_to_saturation_equal_the_reference():
    # Window sums of squares that float64 cannot hold exactly: scipy's own
    # axis-1 pass gives its bits.
    rng = np.random.default_rng(4)
    frame = rng.choice(np.array([0, 1, 2, 40000, 65535], dtype=np.uint16), size=(40, 50))
    assert np.array_equal(local_log_std(frame, 3), reference.log_std(frame, 3))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.uint16, st.tuples(st.integers(1, 48), st.integers(1, 48)), elements=st.integers(0, 65535)),
    st.sampled_from([3, 5]),
)
def test_random_frames_equal_the_reference(frame, window):
    assert np.array_equal(local_log_std(frame, window), reference.log_std(frame, window))
    assert np.array_equal(segment_logstd(frame, window=window), reference.segment(frame, window=window))


def test_real_brightfield_frames_equal_the_reference(brightfield_frames):
    for frame in brightfield_frames:
        assert np.array_equal(local_log_std(frame, 3), reference.log_std(frame))
        expected = reference.segment(frame)
        assert expected.any()
        assert np.array_equal(segment_logstd(frame), expected)


def test_real_transmitted_light_movie_equals_the_reference(laptrack_movie):
    images, _ = laptrack_movie
    for frame in images:
        assert np.array_equal(segment_logstd(frame), reference.segment(frame))


def test_stack_from_zarr_chunk_by_chunk():
    stack = np.stack([textured_frame(64, 3, seed) for seed in range(5)])
    source = zarr.create_array(store={}, shape=stack.shape, chunks=(2, 64, 64), dtype="uint16")
    source[:] = stack
    out = zarr.create_array(store={}, shape=stack.shape, chunks=(2, 64, 64), dtype="bool")
    segment_logstd_stack(source, out, morph_iterations=1)
    expected = np.stack([reference.segment(frame, morph_iterations=1) for frame in stack])
    assert np.array_equal(out[:], expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 4}, "window"),
        ({"morph_size": 6}, "morph_size"),
        ({"morph_iterations": 0}, "morph_iterations"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        segment_logstd(np.zeros((8, 8), dtype=np.uint16), **kwargs)


def test_stack_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="out has shape"):
        segment_logstd_stack(np.zeros((2, 8, 8), np.uint16), np.zeros((2, 8, 9), bool))
