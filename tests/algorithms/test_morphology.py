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
