"""Corrected fluorescence stored as tile medians reads back as the very frames correct_background computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyama_dask.algorithms.background import background_support_stack, correct_background, tile_grid_shape
from pyama_dask.io.corrected import open_corrected, write_corrected
from pyama_dask.io.completion import mark_complete
from pyama_dask.io.store import ImageRef, StoreError, create_image

TILE_SIZE = 32
SHAPE = (5, 96, 80)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[ImageRef, np.ndarray, np.ndarray, np.ndarray]:
    """A raw fluorescence image, its masks and its stored correction."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[: SHAPE[1], : SHAPE[2]]
    slope = 200 + 0.8 * yy + 0.5 * xx
    frames = rng.poisson(slope + 30 * np.arange(SHAPE[0])[:, None, None]).astype(np.uint16)
    masks = np.zeros(SHAPE, dtype=bool)
    masks[:, 20:40, 30:50] = True
    masks[3] = True  # a frame without background pixel: its median, as a constant
    frames[:, 20:40, 30:50] += 500
    raw = ImageRef(tmp_path, 0, "fl", 1)
    create_image(raw, SHAPE, np.uint16)[:] = frames
    mark_complete(raw, "raw")
    medians = np.empty((SHAPE[0], *tile_grid_shape(SHAPE[1:], TILE_SIZE)), np.float32)
    background_support_stack(frames, masks, medians, tile_size=TILE_SIZE, dilation_size=5)
    corrected = ImageRef(tmp_path, 0, "fl_corrected", 1)
    write_corrected(corrected, raw, medians, tile_size=TILE_SIZE, dilation_size=5)
    mark_complete(corrected, "corrected")
    expected = np.stack([correct_background(f, m, tile_size=TILE_SIZE, dilation_size=5) for f, m in zip(frames, masks)])
    return corrected, expected, medians, frames


def test_reads_equal_correct_background_bit_for_bit(stored) -> None:
    ref, expected, _, frames = stored
    # Frame 3 has no background pixel: its own median is subtracted everywhere (through a 5 x 5 tile grid).
    level = np.median(frames[3].astype(np.float32))
    np.testing.assert_array_equal(expected[3], frames[3].astype(np.float32) - level)
    image = open_corrected(ref.location)
    assert image.shape == SHAPE and image.dtype == np.float32
    assert image.chunks == (SHAPE[0], *SHAPE[1:])  # the raw image's: small frames, one chunk
    np.testing.assert_array_equal(np.asarray(image), expected)
    np.testing.assert_array_equal(image[1:4], expected[1:4])
    np.testing.assert_array_equal(image[::-2], expected[::-2])
    np.testing.assert_array_equal(image[[4, 0]], expected[[4, 0]])
    np.testing.assert_array_equal(image[2], expected[2])
    np.testing.assert_array_equal(image[2, 10:20, 5], expected[2, 10:20, 5])
    np.testing.assert_array_equal(image[1:3, :, 7:9], expected[1:3, :, 7:9])


def test_store_holds_only_the_medians(stored) -> None:
    ref, expected, medians, _ = stored
    files = [path for path in ref.location.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) < medians.nbytes + 4096
    assert sum(path.stat().st_size for path in files) < expected.nbytes / 10


def test_incomplete_or_missing_corrected_images_are_refused(stored, tmp_path: Path) -> None:
    ref, _, medians, _ = stored
    write_corrected(ref, ImageRef(tmp_path, 0, "fl", 1), medians, tile_size=TILE_SIZE)  # as if interrupted
    with pytest.raises(StoreError, match="fl_corrected_ch_1 is missing, incomplete"):
        open_corrected(ref.location)
    with pytest.raises(StoreError, match="fl_corrected_ch_2 is missing"):
        open_corrected(ImageRef(tmp_path, 0, "fl_corrected", 2).location)


def test_values_within_cells_only(stored) -> None:
    ref, expected, _, _ = stored
    cells = np.zeros(SHAPE, dtype=np.uint16)
    cells[:, 25:35, 10:60] = 7
    cells[2] = 0  # a frame without cells
    within = open_corrected(ref.location).where(cells)
    np.testing.assert_array_equal(np.asarray(within), np.where(cells != 0, expected, np.float32(0)))
    with pytest.raises(ValueError, match="within has shape"):
        open_corrected(ref.location).where(cells[:2])
