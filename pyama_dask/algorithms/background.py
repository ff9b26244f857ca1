"""Tiled background correction of fluorescence frames (docs/algorithms.md, section 3).

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

A frame's correction is defined by its tile medians alone
(:func:`background_support`): :func:`subtract_background` recomputes the
corrected frame from them and the raw frame, bit for bit
(:func:`subtract_background_at` on chosen pixels only, :class:`CorrectedStack`
for a whole stack). The workflow stores those few numbers per frame instead
of the float32 frames.

Two steps are faster than PyAMA-core's, with the same numbers:

- A tile median is ``numpy.median`` of the tile's background pixels (what
  ``nanmedian`` reduces to, without the NaN bookkeeping). Of an integer
  frame (uint16 from the store) it is found by counting each value per
  block (one compiled pass, :mod:`pyama_dask.algorithms.background_kernels`);
  otherwise from one single-rank partition plus a maximum for the lower
  middle value.
- The spline surface is the product of the B-spline basis matrices and the
  FITPACK coefficients instead of FITPACK's per-pixel evaluation: the same
  polynomial summed in another order, computed and subtracted from the frame
  in one compiled pass. Its float32 rounding equals FITPACK's except where a
  float32 rounding boundary lies within float64 rounding error of the value;
  those few pixels (often exact ties) are evaluated by FITPACK itself.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy.interpolate import BSpline, InterpolatedUnivariateSpline, RectBivariateSpline

from pyama_dask.algorithms.morphology import dilate_square
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

_MAX_DEGREE = 3
# Tile medians are counted (not partitioned) while the counts to add up, value
# range times tiles, stay below this many per pixel: partitioning costs about
# as much as counting that many.
_COUNTING_MAX_BINS_PER_PIXEL = 1


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
    image = np.asarray(frame)  # integer frames have their medians counted, not sorted
    support = background_support(
        image, mask, tile_size=tile_size, dilation_size=dilation_size, frame_name=frame_name
    )
    return subtract_background(image, support, tile_size=tile_size)


def background_support(
    frame: np.ndarray,
    mask: np.ndarray,
    *,
    tile_size: int = 256,
    dilation_size: int = 21,
    frame_name: str = "frame",
) -> np.ndarray:
    """The tile medians that define a frame's background surface.

    :func:`subtract_background` turns them into the corrected frame, so a
    frame's correction is stored as these few numbers.

    Parameters
    ----------
    frame, mask, tile_size, dilation_size, frame_name
        As in :func:`correct_background`.

    Returns
    -------
    numpy.ndarray
        float32 ``tile_grid_shape(frame.shape, tile_size)``: the median of
        each tile's background pixels. A frame without any background pixel
        has its own median in every tile (a constant surface).
    """
    image = np.asarray(frame)
    cells = np.asarray(mask, dtype=bool)
    if image.ndim != 2 or image.shape != cells.shape:
        raise ValueError(
            f"{frame_name}: frame {image.shape} and mask {cells.shape} must be 2-D and of the same shape"
        )
    _check_tile_size(tile_size)
    background = ~dilate_square(cells, dilation_size)
    if not background.any():
        level = np.median(image.astype(np.float32, copy=False))
        logger.warning(
            "%s has no background pixel outside the dilated mask: subtracting its median %g as a constant",
            frame_name,
            level,
        )
        return np.full(tile_grid_shape(image.shape, tile_size), level, dtype=np.float32)
    edges_y = tile_edges(image.shape[0], tile_size)
    edges_x = tile_edges(image.shape[1], tile_size)
    return tile_medians(image, background, edges_y, edges_x)


def subtract_background(frame: np.ndarray, support: np.ndarray, *, tile_size: int = 256) -> np.ndarray:
    """The frame minus the background surface through its tile medians, float32.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D fluorescence image.
    support : numpy.ndarray
        Its tile medians (:func:`background_support` with the same ``tile_size``).
    tile_size : int
        Nominal tile side in pixels.

    Returns
    -------
    numpy.ndarray
        float32 corrected frame.
    """
    image = np.asarray(frame)
    centres_y, centres_x = _tile_centres(support, image.shape, tile_size)
    if min(support.shape) > 1:
        return _subtract_bivariate(image, support, centres_y, centres_x)
    surface = spline_surface(support, centres_y, centres_x, image.shape)
    # PyAMA-core rounds the surface to float32, then subtracts in float32.
    return np.subtract(image.astype(np.float32, copy=False), surface, dtype=np.float32, casting="same_kind")


def subtract_background_at(
    frame: np.ndarray, support: np.ndarray, pixels: np.ndarray, *, tile_size: int = 256
) -> np.ndarray:
    """``subtract_background(frame, support).ravel()[pixels]``, evaluating the surface at those pixels only.

    Measuring cells needs the corrected values on the cell pixels alone, a
    few percent of the frame.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D fluorescence image.
    support : numpy.ndarray
        Its tile medians.
    pixels : numpy.ndarray
        Flat (raveled) indices of the pixels wanted.
    tile_size : int
        Nominal tile side in pixels.

    Returns
    -------
    numpy.ndarray
        1-D float32 corrected values, one per entry of ``pixels``.
    """
    image = np.asarray(frame)
    values = image.ravel()[pixels].astype(np.float32, copy=False)
    levels = background_at(support, image.shape, pixels, tile_size=tile_size)
    return np.subtract(values, levels, dtype=np.float32, casting="same_kind")


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
    check_stack(out, "out", like=stack)
    for frames, corrected in _per_frame(correct_background, stack, masks, fov, kwargs):
        out[frames] = np.stack(corrected)


def background_support_stack(
    stack: Any, masks: Any, out: Any, *, fov: int | None = None, **kwargs: Any
) -> None:
    """The tile medians of every frame of a (T, H, W) fluorescence stack, into ``out``.

    Parameters
    ----------
    stack, masks, fov, **kwargs
        As in :func:`correct_background_stack`.
    out : array-like
        (T, n_tiles_y, n_tiles_x) float32 array (see :func:`tile_grid_shape`).
    """
    check_stack(out, "out")
    expected = (stack.shape[0], *tile_grid_shape(stack.shape[1:], kwargs.get("tile_size", 256)))
    if tuple(out.shape) != expected:
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {expected}")
    for frames, supports in _per_frame(background_support, stack, masks, fov, kwargs):
        out[frames] = np.stack(supports)


def _per_frame(
    function: Callable[..., np.ndarray], stack: Any, masks: Any, fov: int | None, kwargs: dict[str, Any]
) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """``function(frame, mask, **kwargs)`` of every frame, one block of frames at a time."""
    check_stack(stack, "stack")
    check_stack(masks, "masks", like=stack)
    prefix = "" if fov is None else f"FOV {fov} "
    for frames, block in frame_blocks(stack):
        cells = np.asarray(masks[frames])
        yield frames, [
            function(image, mask, frame_name=f"{prefix}frame {t}", **kwargs)
            for t, image, mask in zip(range(frames.start, frames.stop), block, cells)
        ]


class CorrectedStack:
    """(T, H, W) float32 corrected fluorescence, computed from the raw frames and their tile medians when read.

    Indexing along T (an index, a slice or a list of frames, then optionally
    Y and X) reads those raw frames (numpy or Zarr, one read per run of
    frames) and subtracts their background surfaces: the values of
    :func:`correct_background`. ``numpy.asarray`` gives the whole stack.
    ``chunks`` are the raw stack's (one frame when it has none), so stack
    functions read it a chunk of frames at a time.

    Parameters
    ----------
    raw : array-like
        (T, H, W) raw fluorescence.
    tile_medians : numpy.ndarray
        (T, n_tiles_y, n_tiles_x) float32 tile medians of every frame
        (:func:`background_support_stack`).
    tile_size : int
        The tile size they were taken with.
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, raw: Any, tile_medians: np.ndarray, tile_size: int, within: Any | None = None) -> None:
        check_stack(raw, "raw")
        expected = (raw.shape[0], *tile_grid_shape(raw.shape[1:], tile_size))
        if tuple(tile_medians.shape) != expected:
            raise ValueError(f"tile medians have shape {tuple(tile_medians.shape)}, expected {expected}")
        self._raw = raw
        self._tile_medians = tile_medians
        self._tile_size = tile_size
        self._within = within
        self.shape = tuple(raw.shape)
        self.chunks = tuple(getattr(raw, "chunks", None) or (1, *self.shape[1:]))

    @property
    def raw(self) -> Any:
        """The raw fluorescence stack this stack corrects."""
        return self._raw

    def where(self, within: Any) -> CorrectedStack:
        """The same stack with values computed where ``within`` is non-zero only, 0 elsewhere.

        Measuring cells needs the corrected values on the cell pixels alone
        (:func:`subtract_background_at`): a few percent of the cost of whole
        frames.

        Parameters
        ----------
        within : array-like
            (T, H, W) stack, e.g. the cell labels, read with the same blocks
            of frames as this stack.
        """
        check_stack(within, "within", like=self)
        return CorrectedStack(self._raw, self._tile_medians, self._tile_size, within)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        frames, *within = key if isinstance(key, tuple) else (key,)
        selected = np.arange(self.shape[0])[frames]
        if selected.ndim == 0:
            return self[[int(selected)]][0][tuple(within)]
        raw = _read_frames(self._raw, frames, selected)
        if self._within is None:
            stack = np.empty((selected.size, *self.shape[1:]), dtype=self.dtype)
            for index, t in enumerate(selected.tolist()):
                stack[index] = subtract_background(raw[index], self._tile_medians[t], tile_size=self._tile_size)
        else:
            cells = _read_frames(self._within, frames, selected)
            stack = np.zeros((selected.size, *self.shape[1:]), dtype=self.dtype)
            for index, t in enumerate(selected.tolist()):
                pixels = np.flatnonzero(cells[index] != 0)  # much faster on a boolean array than on labels
                stack[index].ravel()[pixels] = subtract_background_at(
                    raw[index], self._tile_medians[t], pixels, tile_size=self._tile_size
                )
        return stack[(slice(None), *within)]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        stack = self[:]
        return stack if dtype is None else stack.astype(dtype)


def _read_frames(stack: Any, frames: Any, selected: np.ndarray) -> np.ndarray:
    """``stack[frames]`` as numpy: one read for a run of frames, else one read per frame."""
    if isinstance(frames, slice) and (frames.step or 1) == 1:
        return np.asarray(stack[frames])
    return np.stack([np.asarray(stack[t]) for t in selected.tolist()])


def background_surface(support: np.ndarray, shape: tuple[int, int], *, tile_size: int = 256) -> np.ndarray:
    """Background level at every pixel of a frame, float64 (round it to float32 to match PyAMA-core).

    Parameters
    ----------
    support : numpy.ndarray
        float32 tile medians (:func:`background_support`).
    shape : tuple of int
        (H, W) of the frame.
    tile_size : int
        Nominal tile side in pixels.

    Returns
    -------
    numpy.ndarray
        float64 surface of the frame's shape.
    """
    centres_y, centres_x = _tile_centres(support, shape, tile_size)
    return spline_surface(support, centres_y, centres_x, shape)


def background_at(
    support: np.ndarray, shape: tuple[int, int], pixels: np.ndarray, *, tile_size: int = 256
) -> np.ndarray:
    """``background_surface(support, shape).ravel()[pixels]`` up to float64 rounding, same float32 rounding.

    Parameters
    ----------
    support, shape, tile_size
        As in :func:`background_surface`.
    pixels : numpy.ndarray
        Flat (raveled) indices of the pixels wanted.

    Returns
    -------
    numpy.ndarray
        1-D float64 background levels.
    """
    centres_y, centres_x = _tile_centres(support, shape, tile_size)
    rows, columns = np.divmod(np.asarray(pixels, dtype=np.intp), shape[1])
    return spline_values(support, centres_y, centres_x, shape, rows, columns)


def _tile_centres(support: np.ndarray, shape: tuple[int, int], tile_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile centres along Y and X, after checking that ``support`` has a median per tile."""
    _check_tile_size(tile_size)
    if support.shape != tile_grid_shape(shape, tile_size):
        raise ValueError(
            f"{support.shape} tile medians do not fit a {shape} frame with tile_size {tile_size} "
            f"({tile_grid_shape(shape, tile_size)} tiles)"
        )
    edges_y = tile_edges(shape[0], tile_size)
    edges_x = tile_edges(shape[1], tile_size)
    return (edges_y[:-2] + edges_y[2:]) * 0.5, (edges_x[:-2] + edges_x[2:]) * 0.5


def tile_grid_shape(shape: tuple[int, int], tile_size: int) -> tuple[int, int]:
    """(n_tiles_y, n_tiles_x) of a frame of ``shape`` (H, W)."""
    return tuple(tile_edges(length, tile_size).size - 2 for length in shape)


def _check_tile_size(tile_size: int) -> None:
    if tile_size < 1:
        raise ValueError(f"tile_size must be >= 1, got {tile_size}")


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
    pixels of the frame (``background`` must have at least one). The median
    is numpy's of the pixels as float32.

    Tile ``(i, j)`` is the 2 x 2 blocks between edges ``i .. i + 2`` and
    ``j .. j + 2``: each block's background pixels are gathered (or counted)
    once, not once per tile that holds them.

    Parameters
    ----------
    image : numpy.ndarray
        2-D frame, float32 or integer.
    background : numpy.ndarray
        2-D boolean array of the pixels to take medians over.
    edges_y, edges_x : numpy.ndarray
        Tile edges from :func:`tile_edges`.

    Returns
    -------
    numpy.ndarray
        float32 array (n_tiles_y, n_tiles_x).
    """
    value_range = _integer_range(image)
    if value_range is not None and (value_range[1] - value_range[0] + 1) * (edges_y.size - 2) * (
        edges_x.size - 2
    ) <= _COUNTING_MAX_BINS_PER_PIXEL * image.size:
        return _counted_tile_medians(image, background, edges_y, edges_x, value_range[0], value_range[1])
    image = image.astype(np.float32, copy=False)
    blocks = [
        [image[y0:y1, x0:x1][background[y0:y1, x0:x1]] for x0, x1 in zip(edges_x[:-1], edges_x[1:])]
        for y0, y1 in zip(edges_y[:-1], edges_y[1:])
    ]
    support = np.full((edges_y.size - 2, edges_x.size - 2), np.nan, dtype=np.float32)
    for i in range(support.shape[0]):
        for j in range(support.shape[1]):
            values = np.concatenate([blocks[i][j], blocks[i][j + 1], blocks[i + 1][j], blocks[i + 1][j + 1]])
            if values.size:
                support[i, j] = median(values)
    empty = np.isnan(support)
    if empty.any():
        support[empty] = median(image[background])
    return support


def _integer_range(image: np.ndarray) -> tuple[int, int] | None:
    """(lowest, highest) value of an integer frame of up to 16 bits; None for other frames.

    The whole frame's range, a superset of its background's, found much
    faster (no mask): counting over a wider range gives the same medians.
    """
    if image.dtype.kind not in "ui" or image.dtype.itemsize > 2:
        return None
    return int(image.min()), int(image.max())


def _counted_tile_medians(
    image: np.ndarray, background: np.ndarray, edges_y: np.ndarray, edges_x: np.ndarray, low: int, high: int
) -> np.ndarray:
    """:func:`tile_medians` of an integer frame, from counts of each value per block.

    The median of whole numbers is found by counting: the k-th smallest is
    where the running count passes k. A tile's counts are the sums of its
    four blocks', and the middle values and their float32 mean are those
    numpy's median picks, so the result is the same to the bit.
    """
    from pyama_dask.algorithms.background_kernels import block_value_counts  # noqa: PLC0415  (numba: on first use)
    from pyama_dask.algorithms.kernels import kernel_input  # noqa: PLC0415

    counts = block_value_counts(
        kernel_input(image), kernel_input(background), edges_y, edges_x, low, high - low + 1
    )
    tiles = counts[:-1, :-1] + counts[1:, :-1] + counts[:-1, 1:] + counts[1:, 1:]
    support = np.full(tiles.shape[:2], np.nan, dtype=np.float32)
    for index in np.ndindex(support.shape):
        if tiles[index].any():
            support[index] = _counted_median(tiles[index], low)
    empty = np.isnan(support)
    if empty.any():
        support[empty] = _counted_median(counts.sum(axis=(0, 1)), low)
    return support


def _counted_median(counts: np.ndarray, low: int) -> np.float32:
    """numpy's median of the whole numbers ``low + v`` counted ``counts[v]`` times, as float32."""
    running = np.cumsum(counts)
    half = int(running[-1]) // 2
    upper = np.float32(low + int(np.searchsorted(running, half, side="right")))
    if running[-1] % 2:
        return upper
    lower = np.float32(low + int(np.searchsorted(running, half - 1, side="right")))
    return (lower + upper) / 2


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


def spline_values(
    support: np.ndarray,
    centres_y: np.ndarray,
    centres_x: np.ndarray,
    shape: tuple[int, int],
    rows: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    """:func:`spline_surface` at the pixels ``(rows, columns)`` only, 1-D float64.

    Each value rounds to float32 as the surface's value at that pixel does.
    """
    n_y, n_x = support.shape
    if rows.size == 0:
        return np.empty(0, dtype=np.float64)
    if n_y > 1 and n_x > 1:
        return _bivariate_values(support, centres_y, centres_x, shape, rows, columns)
    if n_x > 1:
        return _univariate_line(centres_x, support[0], shape[1])[columns]
    if n_y > 1:
        return _univariate_line(centres_y, support[:, 0], shape[0])[rows]
    return np.full(rows.size, support[0, 0], dtype=np.float64)


def _bivariate_surface(
    support: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    spline, coefficients, basis_y, basis_x = _bivariate_fit(support, centres_y, centres_x, shape)
    surface = basis_y @ coefficients @ basis_x.T
    _fitpack_at_rounding_ties(surface, spline)
    return surface


def _bivariate_values(
    support: np.ndarray,
    centres_y: np.ndarray,
    centres_x: np.ndarray,
    shape: tuple[int, int],
    rows: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    spline, coefficients, basis_y, basis_x = _bivariate_fit(support, centres_y, centres_x, shape)
    # The surface's first product, then only the wanted rows of the second
    # (np.take: much faster than fancy indexing for gathering rows).
    along_y = basis_y @ coefficients
    values = np.einsum("ij,ij->i", np.take(along_y, rows, axis=0), np.take(basis_x, columns, axis=0))
    _fitpack_at_rounding_ties(values, spline, rows, columns)
    return values


def _bivariate_fit(
    support: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray, shape: tuple[int, int]
) -> tuple[RectBivariateSpline, np.ndarray, np.ndarray, np.ndarray]:
    """FITPACK's spline, its coefficients (n_y, n_x) and the basis matrices along Y and X at every pixel."""
    # PyAMA-core fits in (x, y) order: keep it, FITPACK's coefficients depend on it.
    n_y, n_x = support.shape
    spline = RectBivariateSpline(
        centres_x, centres_y, support.T, kx=min(_MAX_DEGREE, n_x - 1), ky=min(_MAX_DEGREE, n_y - 1), s=0
    )
    (knots_x, knots_y, coefficients), (degree_x, degree_y) = spline.tck, spline.degrees
    coefficients = coefficients.reshape(len(knots_x) - degree_x - 1, len(knots_y) - degree_y - 1).T
    return spline, coefficients, _basis(shape[0], knots_y, degree_y), _basis(shape[1], knots_x, degree_x)


def _univariate_line(centres: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """Interpolating spline through the medians of a one-tile-thick frame, clamped at the ends."""
    spline = InterpolatedUnivariateSpline(centres, values, k=min(_MAX_DEGREE, centres.size - 1), ext="const")
    return spline(np.arange(length, dtype=np.float64))


def _subtract_bivariate(
    image: np.ndarray, support: np.ndarray, centres_y: np.ndarray, centres_x: np.ndarray
) -> np.ndarray:
    """``float32(image) - float32(surface)`` in one compiled pass, FITPACK's values where rounding is in doubt."""
    from pyama_dask.algorithms.background_kernels import subtract_surface  # noqa: PLC0415  (numba: on first use)
    from pyama_dask.algorithms.kernels import kernel_input  # noqa: PLC0415

    spline, coefficients, basis_y, basis_x = _bivariate_fit(support, centres_y, centres_x, image.shape)
    corrected, doubtful = subtract_surface(
        kernel_input(image), basis_y @ coefficients, np.ascontiguousarray(basis_x.T), _tolerance(spline)
    )
    if doubtful.size:
        rows, columns = np.divmod(doubtful, image.shape[1])
        levels = _fitpack_at(spline, rows, columns).astype(np.float32)
        corrected.reshape(-1)[doubtful] = image.reshape(-1)[doubtful].astype(np.float32) - levels
    return corrected


def _fitpack_at_rounding_ties(
    values: np.ndarray,
    spline: RectBivariateSpline,
    rows: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> None:
    """Give FITPACK's own value to the values whose float32 rounding could differ from it.

    Parameters
    ----------
    values : numpy.ndarray
        float64 spline values, replaced in place: the whole (H, W) surface, or
        1-D values at the pixels ``(rows, columns)``.
    spline : RectBivariateSpline
        The spline they evaluate.
    rows, columns : numpy.ndarray, optional
        The pixels of 1-D ``values``.
    """
    flat = values.reshape(-1)
    tolerance = _tolerance(spline)
    doubtful = np.flatnonzero((flat - tolerance).astype(np.float32) != (flat + tolerance).astype(np.float32))
    if rows is None:
        rows, columns = np.divmod(doubtful, values.shape[1])
    else:
        rows, columns = rows[doubtful], columns[doubtful]
    flat[doubtful] = _fitpack_at(spline, rows, columns)


def _tolerance(spline: RectBivariateSpline) -> float:
    """How far our evaluation of ``spline`` may be from FITPACK's (generously).

    Our matrix products and FITPACK's evaluation sum the same terms in
    another order: they differ by a few float64 steps of the largest
    coefficient at most. A value can round to float32 differently from
    FITPACK's only where a float32 rounding boundary (a midpoint between two
    float32 numbers) lies within this distance; such values, often exact
    ties, are few.
    """
    return 256 * float(np.finfo(np.float64).eps) * float(np.abs(spline.get_coeffs()).max())


def _fitpack_at(spline: RectBivariateSpline, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """FITPACK's values at the pixels ``(rows, columns)``.

    Point by point (``bispeu``): FITPACK computes each point as on a grid
    (``bispev``, PyAMA-core's call), with the same arithmetic, without the
    grid of every row by every column of the points.
    """
    if rows.size == 0:
        return np.empty(0, dtype=np.float64)
    return spline.ev(columns.astype(np.float64), rows.astype(np.float64))


def _basis(length: int, knots: np.ndarray, degree: int) -> np.ndarray:
    """B-spline basis values at pixels 0..length-1, clamped into the knot span like FITPACK.

    The interpolating spline's knots are the tile centres, the same for every
    frame of a size: the (read-only) matrix is computed once per knot vector.
    """
    return _cached_basis(length, tuple(knots.tolist()), degree)


@functools.lru_cache(maxsize=16)
def _cached_basis(length: int, knots: tuple[float, ...], degree: int) -> np.ndarray:
    knots_array = np.asarray(knots, dtype=np.float64)
    positions = np.clip(np.arange(length, dtype=np.float64), knots_array[degree], knots_array[-degree - 1])
    basis = BSpline.design_matrix(positions, knots_array, degree).toarray()
    basis.flags.writeable = False
    return basis
