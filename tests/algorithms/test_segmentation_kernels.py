"""The segmentation kernels equal the numpy/scipy calls they replace, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from pyama_dask.algorithms.segmentation import histogram_threshold, local_log_std, segment_logstd
from pyama_dask.algorithms.segmentation_kernels import box_variance, histogram_counts, std_at_most
import pyama_reference as reference
from generated_frames import textured_frame


def scipy_variance(image: np.ndarray, window: int) -> np.ndarray:
    """The reference's variance, 1 where it is not positive (as the kernel gives it)."""
    values = image.astype(np.float32)
    variance = ndimage.uniform_filter(values * values, window) - ndimage.uniform_filter(values, window) ** 2
    variance[~(variance > 0)] = 1
    return variance


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("window", [3, 5, 9])
def test_box_variance_equals_scipy_on_odd_sizes(dtype, window):
    rng = np.random.default_rng(window)
    image = (rng.normal(500.0, 120.0, (37, 53)) * rng.uniform(0.5, 2.0, (37, 53))).clip(0, 250).astype(dtype)
    assert np.array_equal(box_variance(image, window), scipy_variance(image, window))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (2, 2), (4, 3)])
def test_frames_smaller_than_the_window_equal_the_reference(shape):
    frame = np.random.default_rng(sum(shape)).integers(0, 65536, shape, dtype=np.uint16)
    for window in (3, 5, 9):
        assert np.array_equal(local_log_std(frame, window), reference.log_std(frame, window))
        assert np.array_equal(segment_logstd(frame, window=window), reference.segment(frame, window=window))


@pytest.mark.parametrize("value", [0, 1, 65535])
def test_constant_frames_give_zero_log_std_and_the_reference_mask(value):
    frame = np.full((33, 20), value, dtype=np.uint16)
    assert not local_log_std(frame, 3).any()
    assert np.array_equal(segment_logstd(frame), reference.segment(frame))


def test_uint16_extremes_equal_the_reference():
    # Squares near 2**32 next to zeros: float32 squares and float64 sums both round.
    rng = np.random.default_rng(7)
    frame = rng.choice(np.array([0, 1, 65534, 65535], dtype=np.uint16), size=(64, 47))
    frame[20:40, 10:30] = 65535
    assert np.array_equal(local_log_std(frame, 3), reference.log_std(frame, 3))
    assert np.array_equal(segment_logstd(frame), reference.segment(frame))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 3000), elements=st.floats(-1e4, 1e4, width=32)),
    st.sampled_from([1, 2, 7, 200]),
)
def test_histogram_counts_equal_numpy(values, bins):
    try:
        expected, edges = np.histogram(values, bins=bins)
    except ValueError:  # too many bins for the range: the caller handles it before counting
        return
    assert np.array_equal(histogram_counts(values, edges), expected)


def test_histogram_counts_equal_numpy_on_real_log_std(brightfield_frames):
    for frame in brightfield_frames:
        log_std = local_log_std(frame, 3)
        expected, edges = np.histogram(log_std, bins=200)
        assert np.array_equal(histogram_counts(log_std, edges), expected)


@pytest.mark.parametrize("size", [1, 7, 8, 129, 8193, 300_001])
def test_std_at_most_equals_numpy(size):
    rng = np.random.default_rng(size)
    values = (rng.normal(3.0, 1.5, size) ** 2).astype(np.float32)
    for limit in np.quantile(values, [0.0, 0.3, 0.5, 1.0]).astype(np.float32):
        below = values[values <= limit]
        assert std_at_most(values, limit) == np.std(below)
    assert std_at_most(values, np.float32(values.min() - 1)) == 0


def test_std_at_most_equals_numpy_on_real_log_std(brightfield_frames):
    for frame in brightfield_frames:
        log_std = local_log_std(frame, 3)
        limit = np.float32(np.median(log_std))
        assert std_at_most(log_std, limit) == np.std(log_std[log_std <= limit])


def test_large_generated_frame_equals_the_reference():
    frame = textured_frame(512, 60, 11, width=771)
    expected = reference.segment(frame)
    assert expected.any()
    assert np.array_equal(segment_logstd(frame), expected)


def test_threshold_of_other_than_float32_is_refused():
    with pytest.raises(ValueError, match="float32"):
        histogram_threshold(np.zeros((4, 4)))


def test_big_endian_and_strided_frames_give_the_same_mask():
    frame = textured_frame(128, 8, 5)
    expected = segment_logstd(frame)
    assert expected.any()
    tall = np.zeros((256, 128), dtype=np.uint16)
    tall[::2] = frame
    for variant in (frame.astype(">u2"), tall[::2], np.asfortranarray(frame)):
        assert np.array_equal(segment_logstd(variant), expected)
