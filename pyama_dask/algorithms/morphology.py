"""Binary morphology with square structuring elements, fast and exact.

scipy.ndimage's binary erosion and dilation visit every pixel of the
structuring element for every pixel of the image, and fill_holes iterates a
dilation until nothing changes. On boolean masks the same results come in a
few compiled passes (:mod:`pyama_dask.algorithms.kernels`):

- A square filter is separable. Along a line, a pixel is eroded unless the
  run of True ending ``width // 2`` pixels further on is at least ``width``
  long, and dilated when the last True up to ``width // 2`` pixels further on
  is at most ``width - 1`` pixels back: one pass per axis, whatever ``width``
  (columns are walked row by row, a counter per column).
- Pixels outside the frame count as False, which is scipy's ``border_value=0``
  for both operations.
- Holes are the 4-connected background regions that touch no frame edge: a
  scanline flood fill of the background from the edge reaches all the rest.
"""

from __future__ import annotations

import numpy as np


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
    return _square_filter(mask, width, erode=True)


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
    return _square_filter(mask, width, erode=False)


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
    from pyama_dask.algorithms.morphology_kernels import fill_holes_by_runs  # noqa: PLC0415  (numba: on first use)

    return fill_holes_by_runs(_as_mask(mask))


def _square_filter(mask: np.ndarray, width: int, *, erode: bool) -> np.ndarray:
    if width < 1 or width % 2 == 0:
        raise ValueError(f"square width must be odd and >= 1, got {width}")
    image = _as_mask(mask)
    from pyama_dask.algorithms import morphology_kernels as kernels  # noqa: PLC0415  (numba: on first use)

    if erode:
        return kernels.erode_columns(kernels.erode_rows(image, width), width)
    return kernels.dilate_columns(kernels.dilate_rows(image, width), width)


def _as_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` as a C-contiguous 2-D boolean array (the kernels' input)."""
    image = np.ascontiguousarray(mask, dtype=bool)
    if image.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {image.shape}")
    return image
