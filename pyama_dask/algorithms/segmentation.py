"""LOG-STD segmentation of phase-contrast frames (docs/algorithms.md, section 2).

A pixel is foreground when the log of the local standard deviation exceeds
``mode + sigma_factor * sigma`` of the frame's log-std histogram; the mask is
then hole-filled, opened and closed with a square.

The default reproduces PyAMA-core bit for bit. Every step stays in float32
as numpy and scipy do for float32 input, computed by compiled kernels
(:mod:`pyama_dask.algorithms.segmentation_kernels`) that make the same
operations in the same order in fewer passes:

- Local variance: both box means (scipy's ``uniform_filter``, running sums
  along axis 0 then axis 1) in one walk down the rows
  (:func:`~pyama_dask.algorithms.segmentation_kernels.box_variance`); the
  logarithm is numpy's.
- Threshold: numpy's bin edges, each value's bin found as numpy finds it,
  in one pass; sigma is numpy's standard deviation (its pairwise sums).
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

from pyama_dask.algorithms.morphology import dilate_square, erode_square, fill_holes
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)


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
    from pyama_dask.algorithms.kernels import kernel_input  # noqa: PLC0415  (numba: on first use)
    from pyama_dask.algorithms.segmentation_kernels import box_variance  # noqa: PLC0415

    # 1 where the variance is not positive: ln(1) = 0 there.
    variance = box_variance(kernel_input(image), window)
    log_std = np.log(variance, out=variance)
    log_std *= np.float32(0.5)
    return log_std


def histogram_threshold(values: np.ndarray, *, bins: int = 200, sigma_factor: float = 3.0) -> np.float32:
    """Threshold ``mode + sigma_factor * sigma`` of a histogram of ``values``.

    ``mode`` is the centre of the fullest of ``bins`` equal bins over
    [min, max] (the first on ties); ``sigma`` the population standard
    deviation of the values ``<= mode``. All arithmetic is in float32, as
    numpy does for float32 values.

    Parameters
    ----------
    values : numpy.ndarray
        The log-std frame (float32, as :func:`local_log_std` gives it).
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
    from pyama_dask.algorithms.segmentation_kernels import histogram_counts, std_at_most  # noqa: PLC0415

    if values.dtype != np.float32:
        raise ValueError(f"log-std values must be float32 (as local_log_std gives them), got {values.dtype}")
    flat = values.ravel()
    try:
        edges = np.histogram_bin_edges(flat, bins=bins)
    except ValueError:  # numpy: too many bins for the data range
        logger.warning(
            "log-std range [%g, %g] too narrow for %d bins: empty mask", flat.min(), flat.max(), bins
        )
        return flat.max()
    counts = histogram_counts(flat, edges)
    centres = (edges[:-1] + edges[1:]) * 0.5
    mode = centres[int(np.argmax(counts))]
    sigma = std_at_most(flat, mode)  # of the values <= mode
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


def _check_odd(name: str, value: int, *, minimum: int) -> None:
    if value < minimum or value % 2 == 0:
        raise ValueError(f"{name} must be an odd integer >= {minimum}, got {value}")
