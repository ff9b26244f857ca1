"""Background correction at chosen pixels equals the whole corrected frame there, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyama_dask.algorithms.background import (
    CorrectedStack,
    background_support,
    background_support_stack,
    correct_background,
    subtract_background,
    subtract_background_at,
    tile_edges,
    tile_grid_shape,
)


def _assert_same_at_pixels(frame: np.ndarray, support: np.ndarray, tile_size: int, pixels: np.ndarray) -> None:
    whole = subtract_background(frame, support, tile_size=tile_size)
    at = subtract_background_at(frame, support, pixels, tile_size=tile_size)
    assert at.dtype == np.float32 and at.shape == pixels.shape
    np.testing.assert_array_equal(at, whole.ravel()[pixels])


def _frame(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return rng.poisson(300 + 0.7 * yy - 0.4 * xx + 50 * np.sin(xx / 40.0)).astype(np.uint16)


@pytest.mark.parametrize("shape, tile_size", [
    ((256, 200), 64),  # 7 x 6 tiles: cubic both ways
    ((100, 300), 64),  # 3 x 9: quadratic along Y
    ((40, 300), 64),   # one tile row: a line along X
    ((300, 40), 64),   # one tile column: a line along Y
    ((40, 40), 64),    # one tile: a constant
])
def test_cell_pixels_of_measured_frames(shape: tuple[int, int], tile_size: int) -> None:
    frame = _frame(shape, seed=sum(shape))
    mask = np.zeros(shape, dtype=bool)
    mask[shape[0] // 4 : shape[0] // 2, shape[1] // 3 : shape[1] // 2] = True
    support = background_support(frame, mask, tile_size=tile_size, dilation_size=5)
    _assert_same_at_pixels(frame, support, tile_size, np.flatnonzero(mask))
    _assert_same_at_pixels(frame, support, tile_size, np.arange(frame.size))
    _assert_same_at_pixels(frame, support, tile_size, np.array([], dtype=np.intp))


def test_values_on_float32_rounding_ties() -> None:
    # A ramp of 1/32 per pixel above 2**20 (float32 step 1/8): every fourth
    # pixel of the spline lies exactly half-way between two float32 numbers.
    shape, tile_size = (128, 512), 64
    centres_x = (tile_edges(shape[1], tile_size)[:-2] + tile_edges(shape[1], tile_size)[2:]) / 2
    row = (2.0**20 + centres_x / 32).astype(np.float32)
    support = np.tile(row, (tile_grid_shape(shape, tile_size)[0], 1))
    frame = np.full(shape, 2**20, dtype=np.float32)
    _assert_same_at_pixels(frame, support, tile_size, np.arange(frame.size))
    _assert_same_at_pixels(frame, support, tile_size, np.arange(3, frame.size, 7))


def test_support_through_zero_takes_fitpack_everywhere() -> None:
    rng = np.random.default_rng(5)
    shape, tile_size = (300, 280), 64
    support = rng.normal(0, 2, tile_grid_shape(shape, tile_size)).astype(np.float32)
    frame = rng.normal(0, 1, shape).astype(np.float32)
    _assert_same_at_pixels(frame, support, tile_size, np.sort(rng.choice(frame.size, 5000, replace=False)))


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(8, 160),
    width=st.integers(8, 160),
    tile_size=st.sampled_from([16, 32, 48]),
    seed=st.integers(0, 2**16),
)
def test_random_supports_and_pixels(height: int, width: int, tile_size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (height, width)
    support = (rng.uniform(50, 5000) + rng.normal(0, 20, tile_grid_shape(shape, tile_size))).astype(np.float32)
    frame = rng.integers(0, 6000, shape).astype(np.uint16)
    pixels = rng.choice(frame.size, rng.integers(1, frame.size + 1), replace=False)
    _assert_same_at_pixels(frame, support, tile_size, pixels)


def test_corrected_stack_of_numpy_frames() -> None:
    shape, tile_size = (4, 120, 100), 32
    frames = np.stack([_frame(shape[1:], seed) for seed in range(shape[0])])
    masks = np.zeros(shape, dtype=bool)
    masks[:, 40:70, 20:50] = True
    medians = np.empty((shape[0], *tile_grid_shape(shape[1:], tile_size)), np.float32)
    background_support_stack(frames, masks, medians, tile_size=tile_size, dilation_size=7)
    expected = np.stack([correct_background(f, m, tile_size=tile_size, dilation_size=7) for f, m in zip(frames, masks)])
    stack = CorrectedStack(frames, medians, tile_size)
    assert stack.chunks == (1, *shape[1:]) and stack.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(stack), expected)
    np.testing.assert_array_equal(stack[[3, 1], 5:9], expected[[3, 1], 5:9])
    labels = masks.astype(np.uint16) * 3
    np.testing.assert_array_equal(np.asarray(stack.where(labels)), np.where(masks, expected, np.float32(0)))
    with pytest.raises(ValueError, match="tile medians have shape"):
        CorrectedStack(frames, medians[:2], tile_size)
