"""Tiled background correction of fluorescence frames (ALGORITHMS.md, section 3).

The background level is the median of the pixels away from cells (outside
the segmentation mask dilated by a square) over overlapping tiles, spread
over the frame by an interpolating spline through the tile centres, and
subtracted from the frame.

PyAMA-core's numbers are kept (float32 tile medians, spline fitted by
FITPACK, surface rounded to float32 before the subtraction), with its known
defect fixed: an axis with fewer than 4 tiles gets a spline of degree
``n_tiles - 1`` (PyAMA-core crashes), an axis with one tile a constant, and a
frame without any background pixel its own median as a constant (PyAMA-core
gives NaN everywhere).

Two steps are faster than PyAMA-core's, with the same numbers:

- A tile median is ``numpy.median`` of the tile's background pixels (what
  ``nanmedian`` reduces to, without the NaN bookkeeping), from one
  single-rank partition plus a maximum for the lower middle value.
- The spline surface is the product of the B-spline basis matrices and the
  FITPACK coefficients (two small matrix products) instead of FITPACK's
  per-pixel evaluation: the same polynomial summed in another order. Its
  float32 rounding equals FITPACK's except where a value lies within float64
  rounding error of a float32 rounding boundary; those few pixels (often
  exact ties) are found from their bits and evaluated by FITPACK itself.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy.interpolate import BSpline, InterpolatedUnivariateSpline, RectBivariateSpline

from pyama_dask.algorithms.morphology import dilate_square
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

_MAX_DEGREE = 3
# A float64 is a float32 rounding boundary when its 29 mantissa bits below
# float32 precision are 1 followed by zeros.
_LOW_BITS = (1 << 29) - 1
_FLOAT32_TIE = 1 << 28


def correct_background(
    frame: np.ndarray,
    mask: np.ndarray,
    *,
    tile_size: int = 256,
    dilation_size: int = 21,
    frame_name: str = "frame",
) -> np.ndarray:
    """Subtract the tiled-median background surface from one frame.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D fluorescence image (finite values).
    mask : numpy.ndarray
        2-D segmentation mask of the frame (non-zero = cell).
    tile_size : int
        Nominal tile side in pixels; tiles overlap by half.
    dilation_size : int
        Odd side of the square by which the mask is dilated before the
        background pixels are taken.
    frame_name : str
        How the frame is named in the warning about a frame without
        background pixels (e.g. ``"FOV 3 frame 17"``).

    Returns
    -------
    numpy.ndarray
        float32 frame minus background (negative values kept).
    """
    image = np.asarray(frame)
    cells = np.asarray(mask, dtype=bool)
    if image.ndim != 2 or image.shape != cells.shape:
        raise ValueError(
            f"{frame_name}: frame {image.shape} and mask {cells.shape} must be 2-D and of the same shape"
        )
    if tile_size < 1:
        raise ValueError(f"tile_size must be >= 1, got {tile_size}")
    image = image.astype(np.float32, copy=False)
    background = ~dilate_square(cells, dilation_size)
    surface = background_surface(image, background, tile_size=tile_size, frame_name=frame_name)
    # PyAMA-core rounds the surface to float32, then subtracts in float32.
    return np.subtract(image, surface, dtype=np.float32, casting="same_kind")


def correct_background_stack(
    stack: Any, masks: Any, out: Any, *, fov: int | None = None, **kwargs: Any
) -> None:
    """Correct every frame of a (T, H, W) fluorescence stack into ``out``.

    Parameters
    ----------
    stack : array-like
        (T, H, W) fluorescence stack (numpy or Zarr, read one chunk of frames
        at a time).
    masks : array-like
        (T, H, W) segmentation masks of the same field of view.
    out : array-like
        (T, H, W) float32 array written block by block.
    fov : int, optional
        Field of view, named in warnings.
    **kwargs
        ``tile_size`` and ``dilation_size`` of :func:`correct_background`.
    """
    check_stack(stack, "stack")
    check_stack(masks, "masks", like=stack)
    check_stack(out, "out", like=stack)
    prefix = "" if fov is None else f"FOV {fov} "
    for frames, block in frame_blocks(stack):
        cells = np.asarray(masks[frames])
        out[frames] = np.stack(
            [
                correct_background(image, mask, frame_name=f"{prefix}frame {t}", **kwargs)
                for t, image, mask in zip(range(frames.start, frames.stop), block, cells)
            ]
        )


def background_surface(
    image: np.ndarray, background: np.ndarray, *, tile_size: int = 256, frame_name: str = "frame"
) -> np.ndarray:
    """Background level at every pixel, float64 (round it to float32 to match PyAMA-core).

    Parameters
    ----------
    image : numpy.ndarray
        2-D float32 frame.
    background : numpy.ndarray
        2-D boolean array, True on the pixels the medians are taken over.
    tile_size : int
        Nominal tile side in pixels.
    frame_name : str
        Name of the frame in the warning about a frame without background.

    Returns
    -------
    numpy.ndarray
        float64 surface of the frame's shape.
    """
    if not background.any():
        level = np.median(image)
        logger.warning(
            "%s has no background pixel outside the dilated mask: subtracting its median %g as a constant",
            frame_name,
            level,
        )
        return np.full(image.shape, level, dtype=np.float64)
    edges_y = tile_edges(image.shape[0], tile_size)
    edges_x = tile_edges(image.shape[1], tile_size)
    support = tile_medians(image, background, edges_y, edges_x)
    centres_y = (edges_y[:-2] + edges_y[2:]) * 0.5
    centres_x = (edges_x[:-2] + edges_x[2:]) * 0.5
    return spline_surface(support, centres_y, centres_x, image.shape)


def tile_edges(length: int, tile_size: int) -> np.ndarray:
    """Tile boundaries along one axis: tile ``i`` spans ``edges[i]:edges[i + 2]``.

    Parameters
    ----------
    length : int
        Number of pixels along the axis.
    tile_size : int
        Nominal tile side.

    Returns
    -------
    numpy.ndarray
        Integer edges, ``2 * divs - 1`` of them with
        ``divs = max(ceil(length / tile_size) + 1, 2)``.
    """
    divs = max(int(np.ceil(length / tile_size)) + 1, 2)
    return np.rint(np.linspace(0, length, 2 * divs - 1)).astype(int)


def tile_medians(
    image: np.ndarray, background: np.ndarray, edges_y: np.ndarray, edges_x: np.ndarray
) -> np.ndarray:
    """Median of the background pixels of every tile, float32.

    A tile without background pixel takes the median of all background
    pixels of the frame (``background`` must have at least one).

    Parameters
    ----------
    image : numpy.ndarray
        2-D float32 frame.
    background : numpy.ndarray
        2-D boolean array of the pixels to take medians over.
    edges_y, edges_x : numpy.ndarray
        Tile edges from :func:`tile_edges`.

    Returns
    -------
    numpy.ndarray
        float32 array (n_tiles_y, n_tiles_x).
    """
    support = np.full((edges_y.size - 2, edges_x.size - 2), np.nan, dtype=np.float32)
    for i in range(support.shape[0]):
        rows = slice(edges_y[i], edges_y[i + 2])
        for j in range(support.shape[1]):
            columns = slice(edges_x[j], edges_x[j + 2])
            values = image[rows, columns][background[rows, columns]]
            if values.size:
                support[i, j] = median(values)
    empty = np.isnan(support)
    if empty.any():
        support[empty] = median(image[background])
    return support


def median(values: np.ndarray) -> np.float32:
    """``numpy.median`` of a 1-D float32 array, which it reorders in place.

    Same value as numpy: the middle element, or the float32 mean of the two
    middle elements. One partition around the upper middle rank plus a
    maximum is much faster than numpy's partition around two ranks.

    Parameters
    ----------
    values : numpy.ndarray
        Non-empty 1-D float32 array without NaN; reordered.

    Returns
    -------
    numpy.float32
        The median.
    """
    half = values.size // 2
    values.partition(half)
    upper = values[half]
    if values.size % 2:
        return upper
    lower = values[:half].max()
    return (lower + upper) / 2


def spline_surface(
    support: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Interpolating spline through the tile medians, evaluated at every pixel.

    Degree ``min(3, n_tiles - 1)`` per axis; beyond the outermost tile
    centres the surface keeps its boundary value (FITPACK's evaluation
    clamps there). An axis with one tile is constant.

    Parameters
    ----------
    support : numpy.ndarray
        float32 tile medians (n_tiles_y, n_tiles_x).
    centres_y, centres_x : numpy.ndarray
        Tile centres in pixels, increasing.
    shape : tuple of int
        (H, W) of the frame.

    Returns
    -------
    numpy.ndarray
        float64 surface (H, W).
    """
    n_y, n_x = support.shape
    if n_y > 1 and n_x > 1:
        return _bivariate_surface(support, centres_y, centres_x, shape)
    if n_x > 1:
        return np.broadcast_to(_univariate_line(centres_x, support[0], shape[1]), shape)
    if n_y > 1:
        return np.broadcast_to(_univariate_line(centres_y, support[:, 0], shape[0])[:, np.newaxis], shape)
    return np.full(shape, support[0, 0], dtype=np.float64)


def _bivariate_surface(
    support: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    # PyAMA-core fits in (x, y) order: keep it, FITPACK's coefficients depend on it.
    n_y, n_x = support.shape
    spline = RectBivariateSpline(
        centres_x, centres_y, support.T, kx=min(_MAX_DEGREE, n_x - 1), ky=min(_MAX_DEGREE, n_y - 1), s=0
    )
    (knots_x, knots_y, coefficients), (degree_x, degree_y) = spline.tck, spline.degrees
    coefficients = coefficients.reshape(len(knots_x) - degree_x - 1, len(knots_y) - degree_y - 1).T
    surface = _basis(shape[0], knots_y, degree_y) @ coefficients @ _basis(shape[1], knots_x, degree_x).T
    _fitpack_at_rounding_ties(surface, spline)
    return surface


def _univariate_line(centres: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """Interpolating spline through the medians of a one-tile-thick frame, clamped at the ends."""
    spline = InterpolatedUnivariateSpline(centres, values, k=min(_MAX_DEGREE, centres.size - 1), ext="const")
    return spline(np.arange(length, dtype=np.float64))


def _fitpack_at_rounding_ties(surface: np.ndarray, spline: RectBivariateSpline) -> None:
    """Give FITPACK's own value to the pixels whose float32 rounding could differ from it.

    Our matrix product and FITPACK's evaluation differ by a few float64 steps
    of the largest coefficient at most (``tolerance`` is generous). Only a
    value that close to a float32 rounding boundary (a midpoint between two
    float32 numbers, whose float64 low 29 bits are ``1 << 28``) can round
    differently. Such pixels, often exact ties, are few: FITPACK evaluates
    them itself on the small grid of their rows and columns.
    """
    tolerance = 256 * float(np.finfo(np.float64).eps) * float(np.abs(spline.get_coeffs()).max())
    lowest, highest = float(surface.min()), float(surface.max())
    smallest = 0.0 if lowest <= 0.0 <= highest else min(abs(lowest), abs(highest))
    # The float64 step at the smallest magnitude: no value has a finer one.
    step = float(np.spacing(smallest))
    if tolerance >= (_FLOAT32_TIE // 2) * step:  # values near zero: let FITPACK do every pixel
        height, width = surface.shape
        surface[...] = spline(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)).T
        return
    # low bits within `steps` of the tie <=> (low bits - tie + steps) mod 2**29 <= 2 * steps
    steps = math.ceil(tolerance / step)
    distance = np.add(surface.view(np.uint64), np.uint64((steps - _FLOAT32_TIE) % (_LOW_BITS + 1)))
    distance &= np.uint64(_LOW_BITS)
    # flatnonzero: much faster than a 2-D nonzero on a mostly-False array.
    rows, columns = np.divmod(np.flatnonzero(distance <= 2 * steps), surface.shape[1])
    if rows.size:
        unique_rows, row_index = np.unique(rows, return_inverse=True)
        unique_columns, column_index = np.unique(columns, return_inverse=True)
        exact = spline(unique_columns.astype(np.float64), unique_rows.astype(np.float64))
        surface[rows, columns] = exact[column_index, row_index]


def _basis(length: int, knots: np.ndarray, degree: int) -> np.ndarray:
    """B-spline basis values at pixels 0..length-1, clamped into the knot span like FITPACK."""
    positions = np.clip(np.arange(length, dtype=np.float64), knots[degree], knots[-degree - 1])
    return BSpline.design_matrix(positions, knots, degree).toarray()
