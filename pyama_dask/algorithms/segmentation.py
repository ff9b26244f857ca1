"""LOG-STD segmentation of phase-contrast frames (docs/algorithms.md, section 2).

A pixel is foreground when the log of the local standard deviation exceeds
``mode + sigma_factor * sigma`` of the frame's log-std histogram; the mask is
then hole-filled, opened and closed with a square.

The default reproduces PyAMA-core bit for bit. Every step stays in float32
as numpy and scipy do for float32 input; two steps take a faster road to the
same bits:

- Box means: ``scipy.ndimage.uniform_filter`` is slow along axis 0. For
  integer frames of up to 16 bits its axis-0 window sums are exact in
  float64, so sums of shifted rows give the same bits (see
  ``_uniform_filter``). Other dtypes use scipy throughout.
- Morphology: opening with a ``s x s`` square ``n`` times is erosion then
  dilation by one ``n(s-1)+1`` square (square erosions and dilations compose,
  also with scipy's False border on a rectangular frame), and the opening's
  dilation followed by the closing's dilation is one dilation twice as wide.
  See :mod:`pyama_dask.algorithms.morphology`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import ndimage

from pyama_dask.algorithms.morphology import dilate_square, erode_square, fill_holes
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

# Integer frames up to this many bytes per pixel (and their float32 squares,
# at most 2**32) have window sums that are exact in float64.
_EXACT_SUM_MAX_ITEMSIZE = 2


def segment_logstd(
    frame: np.ndarray,
    *,
    window: int = 3,
    bins: int = 200,
    sigma_factor: float = 3.0,
    morph_size: int = 7,
    morph_iterations: int = 3,
) -> np.ndarray:
    """Segment one phase-contrast frame.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D image, any real dtype (uint16 from the store).
    window : int
        Side of the square over which the local standard deviation is taken
        (odd, >= 3).
    bins : int
        Number of equal-width histogram bins over the log-std range.
    sigma_factor : float
        Threshold = mode + ``sigma_factor`` * sigma.
    morph_size : int
        Side of the square structuring element of the cleanup (odd, >= 1).
    morph_iterations : int
        Iterations of the opening and of the closing (>= 1).

    Returns
    -------
    numpy.ndarray
        Boolean mask of the frame's shape, True on cells.
    """
    _check_odd("window", window, minimum=3)
    _check_odd("morph_size", morph_size, minimum=1)
    if morph_iterations < 1:
        raise ValueError(f"morph_iterations must be >= 1, got {morph_iterations}")
    image = np.asarray(frame)
    if image.ndim != 2:
        raise ValueError(f"frame must be 2-D, got shape {image.shape}")
    log_std = local_log_std(image, window)
    threshold = histogram_threshold(log_std, bins=bins, sigma_factor=sigma_factor)
    return clean_mask(log_std > threshold, morph_size, morph_iterations)


def segment_logstd_stack(stack: Any, out: Any, **kwargs: Any) -> None:
    """Segment every frame of a (T, H, W) stack into ``out``.

    Parameters
    ----------
    stack : array-like
        (T, H, W) phase-contrast stack; numpy or Zarr, read one chunk of
        frames at a time.
    out : array-like
        (T, H, W) boolean array written block by block.
    **kwargs
        Parameters of :func:`segment_logstd`.
    """
    check_stack(stack, "stack")
    check_stack(out, "out", like=stack)
    for frames, block in frame_blocks(stack):
        out[frames] = np.stack([segment_logstd(image, **kwargs) for image in block])
        logger.debug("segmented frames %d-%d", frames.start, frames.stop - 1)


def local_log_std(image: np.ndarray, window: int) -> np.ndarray:
    """Log of the local standard deviation, 0 where the variance is not positive.

    Parameters
    ----------
    image : numpy.ndarray
        2-D frame.
    window : int
        Side of the square window of the local moments.

    Returns
    -------
    numpy.ndarray
        float32 array ``0.5 * ln(var)`` (0 where ``var <= 0``).
    """
    values = image.astype(np.float32)
    squares = values * values
    bound = None
    if image.dtype.kind in "ui" and image.dtype.itemsize <= _EXACT_SUM_MAX_ITEMSIZE:
        bound = float(2 ** (8 * image.dtype.itemsize))
    mean = _uniform_filter(values, window, bound)
    mean_sq = _uniform_filter(squares, window, None if bound is None else bound * bound)
    variance = np.subtract(mean_sq, np.multiply(mean, mean, out=mean), out=mean_sq)
    # ln(1) = 0 gives the zeros where the variance is not positive (or NaN).
    np.copyto(variance, np.float32(1), where=~(variance > 0))
    log_std = np.log(variance, out=variance)
    log_std *= np.float32(0.5)
    return log_std


def histogram_threshold(values: np.ndarray, *, bins: int = 200, sigma_factor: float = 3.0) -> np.float32:
    """Threshold ``mode + sigma_factor * sigma`` of a histogram of ``values``.

    ``mode`` is the centre of the fullest of ``bins`` equal bins over
    [min, max] (the first on ties); ``sigma`` the population standard
    deviation of the values ``<= mode``. All arithmetic is in the dtype of
    ``values`` (float32), as numpy does.

    Parameters
    ----------
    values : numpy.ndarray
        The log-std frame.
    bins : int
        Number of histogram bins.
    sigma_factor : float
        Multiple of sigma above the mode.

    Returns
    -------
    numpy.float32
        The threshold. When the range of ``values`` is too narrow for
        ``bins`` distinct float32 edges (a frame without texture, where
        PyAMA-core crashes), the maximum: nothing is above it.
    """
    flat = values.ravel()
    try:
        counts, edges = np.histogram(flat, bins=bins)
    except ValueError:  # numpy: too many bins for the data range
        logger.warning(
            "log-std range [%g, %g] too narrow for %d bins: empty mask", flat.min(), flat.max(), bins
        )
        return flat.max()
    centres = (edges[:-1] + edges[1:]) * 0.5
    mode = centres[int(np.argmax(counts))]
    below = flat[flat <= mode]
    sigma = np.std(below) if below.size else np.float32(0)
    return mode + sigma_factor * sigma


def clean_mask(mask: np.ndarray, morph_size: int, morph_iterations: int) -> np.ndarray:
    """Fill holes, open then close with a square, as scipy.ndimage would.

    Equals ``binary_closing(binary_opening(binary_fill_holes(mask), s, n), s, n)``
    with ``s = np.ones((morph_size, morph_size))`` and ``n = morph_iterations``.

    Parameters
    ----------
    mask : numpy.ndarray
        2-D boolean mask.
    morph_size : int
        Odd side of the square.
    morph_iterations : int
        Iterations of the opening and of the closing.

    Returns
    -------
    numpy.ndarray
        The cleaned boolean mask.
    """
    width = morph_iterations * (morph_size - 1) + 1
    opened_core = erode_square(fill_holes(mask), width)
    return erode_square(dilate_square(opened_core, 2 * width - 1), width)


def _uniform_filter(values: np.ndarray, window: int, bound: float | None) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(values, window)`` for float32 ``values``.

    uniform_filter runs ``uniform_filter1d`` along axis 0 then axis 1,
    rounding to float32 in between. Each pass keeps a running window sum in
    float64 and divides it by ``window``. For whole numbers with
    ``|value| <= bound`` (None: not known to be whole) that running sum is
    exact, so the axis-0 pass (slow in scipy, which walks the frame column by
    column) can sum shifted rows instead with the same bits. The axis-1 pass
    sees fractions, where only scipy's own order of additions gives scipy's
    bits, and is fast in scipy anyway.
    """
    if bound is None:
        along_rows = ndimage.uniform_filter1d(values, window, axis=0)
    else:
        along_rows = _exact_mean_axis0(values, window, bound)
    return ndimage.uniform_filter1d(along_rows, window, axis=1)


def _exact_mean_axis0(values: np.ndarray, window: int, bound: float) -> np.ndarray:
    """Window mean along axis 0 with scipy's "reflect" edges, for whole numbers ``|v| <= bound``.

    The window sums are exact in float64, and already in float32 when
    ``window * bound <= 2**24``; the float32 quotient of an exact float32 sum
    then equals the float32 rounding of the float64 quotient (rounding twice
    is harmless for a division when 53 >= 2 * 24 + 2).
    """
    dtype = np.float32 if window * bound <= 2.0**24 else np.float64
    height = values.shape[0]
    before = window // 2
    n_inner = height - window + 1
    total = np.empty(values.shape, dtype=dtype)
    if n_inner > 0:
        inner = total[before : before + n_inner]
        np.add(values[:n_inner], values[1 : n_inner + 1], out=inner, dtype=dtype)
        for shift in range(2, window):
            inner += values[shift : shift + n_inner]
    # The sums are exact, so the few edge rows may add in any order.
    # scipy's "reflect" is numpy's "symmetric" padding (d c b a | a b c d | d c b a).
    source = np.pad(np.arange(height), (before, window - before - 1), mode="symmetric")
    edge_rows = range(height) if n_inner <= 0 else [*range(before), *range(before + n_inner, height)]
    for row in edge_rows:
        total[row] = values[source[row : row + window]].sum(axis=0, dtype=dtype)
    total /= window
    return total.astype(np.float32, copy=False)


def _check_odd(name: str, value: int, *, minimum: int) -> None:
    if value < minimum or value % 2 == 0:
        raise ValueError(f"{name} must be an odd integer >= {minimum}, got {value}")
