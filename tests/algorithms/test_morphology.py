"""Square erosion/dilation and hole filling equal scipy.ndimage's, borders included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from pyama_dask.algorithms.morphology import dilate_square, erode_square, fill_holes

masks = st.tuples(st.integers(1, 40), st.integers(1, 40)).flatmap(
    lambda shape: arrays(np.bool_, shape, elements=st.booleans())
)
widths = st.sampled_from([1, 3, 5, 7, 19, 37])


@settings(max_examples=60, deadline=None)
@given(masks, widths)
def test_erosion_and_dilation_equal_scipy(mask, width):
    square = np.ones((width, width), dtype=bool)
    assert np.array_equal(erode_square(mask, width), ndimage.binary_erosion(mask, square))
    assert np.array_equal(dilate_square(mask, width), ndimage.binary_dilation(mask, square))


@settings(max_examples=60, deadline=None)
@given(masks)
def test_fill_holes_equals_scipy(mask):
    assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_erosion_eats_the_frame_edge_like_scipy_border_value_0():
    mask = np.ones((12, 12), dtype=bool)
    eroded = erode_square(mask, 5)
    assert not eroded[:2].any() and not eroded[:, -2:].any()
    assert eroded[2:10, 2:10].all()


def test_fill_holes_keeps_edge_touching_background_and_fills_a_ring():
    mask = np.zeros((9, 9), dtype=bool)
    mask[1:6, 1:6] = True
    mask[2:5, 2:5] = False  # a hole enclosed by the ring
    mask[0:3, 7] = True  # a bay open to the edge: not a hole
    filled = fill_holes(mask)
    assert filled[1:6, 1:6].all()
    assert filled.sum() == 25 + 3


@pytest.mark.parametrize("width", [0, 2, -1])
def test_even_or_non_positive_width_is_rejected(width):
    with pytest.raises(ValueError, match="odd"):
        erode_square(np.ones((4, 4), dtype=bool), width)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (5, 4)])
@pytest.mark.parametrize("fill", [False, True])
def test_constant_and_tiny_masks_equal_scipy(shape, fill):
    mask = np.full(shape, fill)
    for width in (1, 3, 19, 37):  # wider than the frame too
        square = np.ones((width, width), dtype=bool)
        assert np.array_equal(erode_square(mask, width), ndimage.binary_erosion(mask, square))
        assert np.array_equal(dilate_square(mask, width), ndimage.binary_dilation(mask, square))
    assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_nested_rings_and_a_spiral_equal_scipy():
    # Holes inside holes, and a corridor that winds back up through the rows:
    # the background runs join in every direction.
    mask = np.zeros((61, 61), dtype=bool)
    for ring in range(2, 30, 4):
        mask[ring : 61 - ring, ring : 61 - ring] = not mask[ring, ring]
    spiral = np.ones((40, 40), dtype=bool)
    spiral[1:-1, 1:-1] = False
    spiral[2:-2:4, 1:-3] = True
    spiral[4:-2:4, 3:-1] = True
    closed = spiral.copy()  # the corridor winds through the rows, enclosed: one hole
    spiral[20, 0] = False  # open to the edge: no hole
    assert fill_holes(closed).all()
    for case in (mask, spiral, closed, ~spiral):
        assert np.array_equal(fill_holes(case), ndimage.binary_fill_holes(case))


def test_real_masks_equal_scipy(brightfield_frames):
    for frame in brightfield_frames:
        # Dark and bright structure of a real frame: many holes, ragged edges.
        for mask in (frame < np.percentile(frame, 20), frame > np.percentile(frame, 70)):
            assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
            for width in (19, 37):
                square = np.ones((width, width), dtype=bool)
                assert np.array_equal(erode_square(mask, width), ndimage.binary_erosion(mask, square))
                assert np.array_equal(dilate_square(mask, width), ndimage.binary_dilation(mask, square))
