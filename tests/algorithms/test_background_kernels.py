"""The background kernels equal the numpy/FITPACK computations they replace, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pyama_dask.algorithms.background import correct_background, tile_edges
from pyama_dask.algorithms.background_kernels import block_value_counts, subtract_surface
import pyama_reference as reference
from generated_frames import fluorescence_frame


def _disk_mask(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(max(1, shape[0] * shape[1] // 20_000)):
        cy, cx, radius = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(5, 15)
        mask |= (rows - cy) ** 2 + (cols - cx) ** 2 < radius**2
    return mask


def test_block_value_counts_equal_bincount_per_block():
    rng = np.random.default_rng(0)
    image = rng.integers(100, 400, (301, 257), dtype=np.uint16)
    background = rng.random(image.shape) < 0.7
    edges_y, edges_x = tile_edges(301, 64), tile_edges(257, 64)
    low, high = int(image.min()), int(image.max())
    counts = block_value_counts(image, background, edges_y, edges_x, low, high - low + 1)
    for i, (y0, y1) in enumerate(zip(edges_y[:-1], edges_y[1:])):
        for j, (x0, x1) in enumerate(zip(edges_x[:-1], edges_x[1:])):
            values = image[y0:y1, x0:x1][background[y0:y1, x0:x1]].astype(int) - low
            assert np.array_equal(counts[i, j], np.bincount(values, minlength=high - low + 1))


def test_subtract_surface_flags_every_pixel_whose_rounding_is_in_doubt():
    # A surface whose values sit exactly on float32 rounding boundaries
    # (midpoints between neighbouring float32 numbers) and just beside them.
    tie = float(np.float32(1000.0)) + float(np.spacing(np.float32(1000.0))) / 2
    along_y = np.array([[tie], [tie + 1e-9], [tie - 1e-3]])
    basis_x = np.ones((1, 4))
    image = np.full((3, 4), 1000, dtype=np.uint16)
    corrected, doubtful = subtract_surface(image, along_y, basis_x, 1e-6)
    assert np.array_equal(doubtful, np.arange(8))  # the first two rows, not the third
    assert np.array_equal(corrected[2], np.float32(1000) - np.float32(np.full(4, tie - 1e-3)))


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (300, 9), (257, 263), (513, 1025)])
def test_odd_and_small_frames_equal_the_reference(shape):
    mask = _disk_mask(shape, sum(shape))
    frame = fluorescence_frame(mask, 3)
    np.testing.assert_array_equal(correct_background(frame, mask, tile_size=64), reference.correct(frame, mask, tile_size=64))


@pytest.mark.parametrize("value", [0, 1, 1000, 65535])
def test_constant_frames_equal_the_reference(value):
    # A flat surface: every pixel of it a candidate for the exact evaluation.
    frame = np.full((300, 400), value, dtype=np.uint16)
    mask = _disk_mask(frame.shape, 1)
    np.testing.assert_array_equal(correct_background(frame, mask, tile_size=64), reference.correct(frame, mask, tile_size=64))


def test_uint16_extremes_equal_the_reference():
    rng = np.random.default_rng(5)
    frame = rng.choice(np.array([0, 1, 65534, 65535], dtype=np.uint16), size=(320, 448))
    frame[:, :100] = 65535
    mask = _disk_mask(frame.shape, 2)
    np.testing.assert_array_equal(correct_background(frame, mask, tile_size=64), reference.correct(frame, mask, tile_size=64))


def test_float_frames_equal_the_reference():
    mask = _disk_mask((400, 333), 4)
    frame = fluorescence_frame(mask, 4).astype(np.float32) / np.float32(3)
    np.testing.assert_array_equal(correct_background(frame, mask, tile_size=64), reference.correct(frame, mask, tile_size=64))


def test_real_frames_with_the_default_tiles_equal_the_reference(fluorescence_frames):
    # A mask unlike the segmentation's: thresholded fluorescence, dilated.
    for frame in fluorescence_frames:
        mask = ndimage.binary_opening(frame > np.percentile(frame, 90), iterations=2)
        np.testing.assert_array_equal(correct_background(frame, mask), reference.correct(frame, mask))


def test_big_endian_and_strided_frames_give_the_same_correction():
    mask = _disk_mask((300, 260), 6)
    frame = fluorescence_frame(mask, 6)
    expected = correct_background(frame, mask, tile_size=64)
    wide = np.zeros((300, 520), dtype=np.uint16)
    wide[:, ::2] = frame
    for variant in (frame.astype(">u2"), wide[:, ::2]):
        np.testing.assert_array_equal(correct_background(variant, mask, tile_size=64), expected)
