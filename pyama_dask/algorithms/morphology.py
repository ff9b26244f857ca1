"""Binary morphology with square structuring elements, fast and exact.

scipy.ndimage's binary erosion and dilation visit every pixel of the
structuring element for every pixel of the image, and fill_holes iterates a
dilation until nothing changes. On boolean masks the same results come much
cheaper:

- A square filter is separable, and the minimum (erosion) or maximum
  (dilation) over a run of ``w`` pixels is the AND/OR of two overlapping runs
  of ``2**k <= w`` pixels, each built by doubling. That is ``log2(w) + 1``
  vectorised boolean operations per axis, whatever ``w``.
- Pixels outside the frame count as False, which is scipy's ``border_value=0``
  for both operations.
- Holes are the 4-connected background regions that touch no frame edge,
  which one labelling of the background finds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

BooleanOp = Callable[[np.ndarray, np.ndarray], np.ndarray]


def erode_square(mask: np.ndarray, width: int) -> np.ndarray:
    """Erode a 2-D boolean mask by a ``width`` x ``width`` square.

    Equals ``scipy.ndimage.binary_erosion(mask, np.ones((width, width)))``
    (``border_value=0``: pixels closer than ``width // 2`` to the edge are
    eroded).

    Parameters
    ----------
    mask : numpy.ndarray
        2-D boolean array.
    width : int
        Odd side of the square, >= 1.

    Returns
    -------
    numpy.ndarray
        Boolean array of the shape of ``mask``.
    """
    return _square_filter(mask, width, np.logical_and)


def dilate_square(mask: np.ndarray, width: int) -> np.ndarray:
    """Dilate a 2-D boolean mask by a ``width`` x ``width`` square.

    Equals ``scipy.ndimage.binary_dilation(mask, np.ones((width, width)))``
    and ``maximum_filter(mask, width, mode="constant", cval=0)``.

    Parameters
    ----------
    mask : numpy.ndarray
        2-D boolean array.
    width : int
        Odd side of the square, >= 1.

    Returns
    -------
    numpy.ndarray
        Boolean array of the shape of ``mask``.
    """
    return _square_filter(mask, width, np.logical_or)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a 2-D boolean mask.

    Equals ``scipy.ndimage.binary_fill_holes(mask)`` (4-connected background).

    Parameters
    ----------
    mask : numpy.ndarray
        2-D boolean array.

    Returns
    -------
    numpy.ndarray
        ``mask`` with every background region that does not touch the frame
        edge set to True.
    """
    regions, n_regions = ndimage.label(~np.asarray(mask, dtype=bool))
    edge_labels = np.concatenate((regions[0], regions[-1], regions[:, 0], regions[:, -1]))
    touches_edge = np.zeros(n_regions + 1, dtype=bool)
    touches_edge[edge_labels] = True
    touches_edge[0] = False  # label 0 is the foreground itself
    return ~touches_edge.take(regions)


def _square_filter(mask: np.ndarray, width: int, op: BooleanOp) -> np.ndarray:
    if width < 1 or width % 2 == 0:
        raise ValueError(f"square width must be odd and >= 1, got {width}")
    reach = width // 2
    padded = np.pad(np.asarray(mask, dtype=bool), reach)
    rows_done = _run_reduce(padded, width, op, axis=0)
    return _run_reduce(rows_done, width, op, axis=1)


def _run_reduce(values: np.ndarray, width: int, op: BooleanOp, axis: int) -> np.ndarray:
    """``op`` over every run of ``width`` consecutive elements along ``axis``.

    The output is ``width - 1`` elements shorter than ``values`` along ``axis``.
    """
    runs, span = values, 1
    while 2 * span <= width:
        length = runs.shape[axis]
        runs = op(_cut(runs, 0, length - span, axis), _cut(runs, span, length, axis))
        span *= 2
    out_length = values.shape[axis] - width + 1
    head = _cut(runs, 0, out_length, axis)
    if span == width:
        return head
    # AND and OR are idempotent, so two overlapping runs of `span` cover `width`.
    offset = width - span
    return op(head, _cut(runs, offset, offset + out_length, axis))


def _cut(values: np.ndarray, start: int, stop: int, axis: int) -> np.ndarray:
    index = [slice(None)] * values.ndim
    index[axis] = slice(start, stop)
    return values[tuple(index)]
