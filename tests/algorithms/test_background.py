"""Tiled background correction: tiles, medians, surface and the known-defect fixes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from pyama_dask.algorithms.background import (
    correct_background,
    correct_background_stack,
    median,
    tile_edges,
    tile_medians,
)
from pyama_dask.algorithms.segmentation import segment_logstd
import pyama_reference as reference
from generated_frames import fluorescence_frame, textured_frame


def _assert_equals_reference(frame, mask, **kwargs):
    expected = reference.correct(frame, mask, **kwargs)
    corrected = correct_background(frame, mask, **kwargs)
    assert corrected.dtype == np.float32 and corrected.shape == frame.shape
    assert not np.isnan(corrected).any()
    np.testing.assert_array_equal(corrected, expected)


def test_tile_edges_by_hand():
    # 1024 px: divs = 1024/256 + 1 = 5, 9 edges 128 px apart, 7 tiles of 256.
    assert tile_edges(1024, 256).tolist() == list(range(0, 1025, 128))
    # 300 px: divs = ceil(300/256) + 1 = 3, 5 edges, 3 tiles.
    assert tile_edges(300, 256).tolist() == [0, 75, 150, 225, 300]
    # Up to 256 px: divs = 2, one tile covering the axis.
    assert tile_edges(200, 256).tolist() == [0, 100, 200]


def test_tile_medians_skip_dilated_cells_and_fall_back_to_the_frame_median():
    rows = np.arange(512, dtype=np.float32)[:, np.newaxis]
    image = rows + np.random.default_rng(0).integers(0, 50, (512, 512)).astype(np.float32)
    background = np.ones(image.shape, dtype=bool)
    background[:256, :256] = False  # the whole first tile is cell
    edges = tile_edges(512, 256)  # [0, 128, 256, 384, 512]: 3 tiles per axis
    support = tile_medians(image, background, edges, edges)
    assert support.dtype == np.float32 and support.shape == (3, 3)
    assert support[0, 0] == np.median(image[background])
    tile = image[128:384, 256:512][background[128:384, 256:512]]
    assert support[1, 2] == np.median(tile)
    assert support[2, 2] == np.median(image[256:, 256:])
    assert len({support[0, 0], support[1, 2], support[2, 2]}) == 3


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=st.integers(0, 40).map(float)))
def test_median_equals_numpy(values):
    expected = np.nanmedian(values.copy())
    assert median(values.copy()) == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
@pytest.mark.parametrize("seed", range(4))
def test_tile_medians_of_integer_frames_are_numpys_medians(dtype, seed):
    rng = np.random.default_rng(seed)
    # A range of 201 values over 25 tiles: few enough counts for them to be counted.
    image = rng.integers(-100 if dtype == np.int16 else 0, 101 if dtype == np.int16 else 201, (70, 90)).astype(dtype)
    background = rng.random(image.shape) < rng.uniform(0.05, 0.95)
    background[:30, :40] = False  # the first tile has no background pixel: the frame's median
    background[-1, -1] = True
    edges_y, edges_x = tile_edges(70, 32), tile_edges(90, 32)
    counted = tile_medians(image, background, edges_y, edges_x)
    as_float = image.astype(np.float32)
    for i in range(counted.shape[0]):
        for j in range(counted.shape[1]):
            tile = (slice(edges_y[i], edges_y[i + 2]), slice(edges_x[j], edges_x[j + 2]))
            values = as_float[tile][background[tile]]
            expected = np.median(values) if values.size else np.median(as_float[background])
            assert counted[i, j].tobytes() == np.float32(expected).tobytes(), (i, j)


def test_median_of_an_even_count_rounds_like_numpy():
    values = np.array([16777216.0, 16777218.0, 1.0, 3e7], dtype=np.float32)
    assert median(values.copy()) == np.median(values)


def test_single_tile_frame_subtracts_a_constant():
    frame = fluorescence_frame(np.zeros((200, 200), dtype=bool), seed=1)
    mask = np.zeros(frame.shape, dtype=bool)
    mask[80:120, 80:120] = True
    corrected = correct_background(frame, mask)
    background = ~ndimage.binary_dilation(mask, np.ones((21, 21), dtype=bool))
    level = np.median(frame[background].astype(np.float32))
    np.testing.assert_array_equal(corrected, frame.astype(np.float32) - level)


def test_flat_background_is_removed_exactly():
    frame = np.full((1024, 768), 437, dtype=np.uint16)
    mask = np.zeros(frame.shape, dtype=bool)
    mask[100:140, 200:260] = True
    frame[mask] += 500
    corrected = correct_background(frame, mask)
    np.testing.assert_allclose(corrected[~mask], 0, atol=1e-3)
    np.testing.assert_allclose(corrected[mask], 500, atol=1e-3)


@pytest.mark.parametrize("shape", [(300, 300), (512, 512), (200, 1024), (1024, 100), (700, 513)])
def test_small_axes_do_not_crash_and_match_the_reference(shape):
    # Fewer than 4 tiles on an axis crashes PyAMA-core; ours lowers the degree.
    mask = np.zeros(shape, dtype=bool)
    mask[shape[0] // 3 : shape[0] // 3 + 30, shape[1] // 2 : shape[1] // 2 + 30] = True
    _assert_equals_reference(fluorescence_frame(mask, seed=2), mask)


def test_textured_frame_matches_the_reference():
    mask = segment_logstd(textured_frame(1024, 40, 5))
    _assert_equals_reference(fluorescence_frame(mask, seed=3), mask)


def test_real_fluorescence_matches_the_reference(brightfield_frames, fluorescence_frames):
    for phase, fluorescence in zip(brightfield_frames[:2], fluorescence_frames[:2]):
        mask = segment_logstd(phase)
        _assert_equals_reference(fluorescence, mask)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda n: st.tuples(
            arrays(np.uint16, (n * 100 + 7, 130), elements=st.integers(0, 4000)),
            arrays(np.bool_, (n * 100 + 7, 130), elements=st.booleans()),
        )
    ),
    st.sampled_from([64, 256]),
)
def test_random_frames_match_the_reference(frame_and_mask, tile_size):
    frame, mask = frame_and_mask
    _assert_equals_reference(frame, mask, tile_size=tile_size, dilation_size=3)


def test_surface_through_zero_equals_the_reference():
    # Tile medians of both signs: FITPACK evaluates every pixel (no float64
    # step bound holds near zero).
    rng = np.random.default_rng(5)
    rows = np.linspace(-3, 3, 300, dtype=np.float32)[:, np.newaxis]
    frame = rows + rng.normal(0, 0.5, (300, 280)).astype(np.float32)
    _assert_equals_reference(frame, np.zeros(frame.shape, dtype=bool), tile_size=64)


def test_frame_without_background_pixel_subtracts_its_median(caplog):
    frame = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with caplog.at_level(logging.WARNING):
        corrected = correct_background(frame, np.ones((8, 8), dtype=bool), frame_name="FOV 2 frame 5")
    np.testing.assert_array_equal(corrected, frame.astype(np.float32) - np.float32(31.5))
    assert "FOV 2 frame 5" in caplog.text


def test_stack_from_zarr_names_fov_and_frame_in_warnings(caplog):
    frames = np.stack([fluorescence_frame(np.zeros((64, 64), dtype=bool), seed) for seed in range(3)])
    masks = np.zeros(frames.shape, dtype=bool)
    masks[2] = True
    source = zarr.create_array(store={}, shape=frames.shape, chunks=(2, 64, 64), dtype="uint16")
    source[:] = frames
    out = zarr.create_array(store={}, shape=frames.shape, chunks=(1, 64, 64), dtype="float32")
    with caplog.at_level(logging.WARNING):
        correct_background_stack(source, masks, out, fov=7, tile_size=32)
    for t in range(3):
        np.testing.assert_array_equal(out[t], correct_background(frames[t], masks[t], tile_size=32))
    assert "FOV 7 frame 2" in caplog.text


def test_mismatched_shapes_are_reported():
    with pytest.raises(ValueError, match="same shape"):
        correct_background(np.zeros((8, 8)), np.zeros((8, 9), dtype=bool))
    with pytest.raises(ValueError, match="masks has shape"):
        correct_background_stack(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)), np.zeros((2, 8, 8)))
