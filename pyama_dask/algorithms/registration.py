"""Stage drift of a movie by phase cross-correlation (docs/algorithms.md, drift correction).

Stage drift moves every cell of a frame at once. Its displacement is found by
``skimage.registration.phase_cross_correlation`` of the segmented channel's
frames: each frame against the previous one, the displacements summed along
the movie (``drift_reference="previous"``: follows slow changes of the cells), or
each frame against the first (``drift_reference="first"``: no accumulated error,
but the cells must still look alike).

The result is the *drift* of every frame: the (row, column) displacement of
its content relative to frame 0, float pixels, ``(0, 0)`` for frame 0. A
position ``p`` of frame ``t`` in raw coordinates is ``p - drift[t]`` in
drift-corrected coordinates (those of frame 0).

Frames are read one chunk at a time; only the reference frame's Fourier
transform is kept, and every frame is transformed once.

Trace tables keep their positions in raw coordinates and gain the
drift-corrected ones (:func:`with_corrected_positions`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.fft
from skimage.registration import phase_cross_correlation

from pyama_dask.algorithms.options import REFERENCES
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

Reference = Literal["previous", "first"]


@dataclass(frozen=True)
class FrameSpectrum:
    """A frame's Fourier transform (complex64), computed once for every registration it takes part in.

    ``flat`` frames (one grey level) have nothing to correlate.
    """

    spectrum: np.ndarray
    flat: bool

    @classmethod
    def of(cls, frame: np.ndarray) -> FrameSpectrum:
        frame = np.asarray(frame, dtype=np.float32)  # float32: half the transform's time and memory
        spread = float(frame.std())
        # Standardised, so that the spectrum's total power stays within float32 (the correlation
        # is normalised by it anyway).
        standard = (frame - frame.mean()) / spread if spread > 0 else frame
        return cls(scipy.fft.fft2(standard), spread == 0)


def frame_drift(reference: np.ndarray, moving: np.ndarray, *, upsample_factor: int = 10) -> np.ndarray:
    """Displacement (row, column) of the content of ``moving`` relative to ``reference``, float pixels.

    Parameters
    ----------
    reference, moving : numpy.ndarray
        2-D frames of the same shape.
    upsample_factor : int
        Sub-pixel precision: 1 / ``upsample_factor`` pixel.

    Returns
    -------
    numpy.ndarray
        (2,) float64; ``(0, 0)`` when a frame is flat (nothing to correlate).
    """
    return _spectrum_drift(FrameSpectrum.of(reference), FrameSpectrum.of(moving), upsample_factor)


def _spectrum_drift(reference: FrameSpectrum, moving: FrameSpectrum, upsample_factor: int) -> np.ndarray:
    if reference.flat or moving.flat:
        return np.zeros(2)
    # The shift returned registers ``moving`` onto ``reference``: minus the content's displacement.
    shift, _, _ = phase_cross_correlation(reference.spectrum, moving.spectrum, space="fourier",
                                          upsample_factor=upsample_factor)
    return -np.asarray(shift, dtype=np.float64)


def drift_stack(frames: Any, *, drift_reference: Reference = "previous", upsample_factor: int = 10) -> np.ndarray:
    """The drift of every frame of a movie relative to frame 0.

    Parameters
    ----------
    frames : array-like
        (T, H, W) frames (numpy or Zarr), read one chunk at a time.
    drift_reference : {"previous", "first"}
        Register each frame on the previous one (displacements summed) or
        on frame 0.
    upsample_factor : int
        Sub-pixel precision: 1 / ``upsample_factor`` pixel.

    Returns
    -------
    numpy.ndarray
        (T, 2) float64 drift (row, column) of each frame, to 1/1000 px;
        row 0 is zero.

    Raises
    ------
    ValueError
        On an unknown ``drift_reference``, or frames that are no (T, H, W) stack.
    """
    if drift_reference not in REFERENCES:
        raise ValueError(f"drift_reference {drift_reference!r} is none of {', '.join(REFERENCES)}")
    check_stack(frames, "frames")
    drift = np.zeros((frames.shape[0], 2))
    anchor: FrameSpectrum | None = None  # the frame registered against, and its drift
    anchor_drift = np.zeros(2)
    for selection, block in frame_blocks(frames, "frames"):
        for t, frame in enumerate(block, start=selection.start):
            spectrum = FrameSpectrum.of(frame)
            if anchor is not None:
                drift[t] = anchor_drift + _spectrum_drift(anchor, spectrum, upsample_factor)
            if anchor is None or drift_reference == "previous":
                anchor, anchor_drift = spectrum, drift[t]
    logger.debug("drift over %d frames: largest %.1f px", len(drift), float(np.abs(drift).max(initial=0)))
    # To the thousandth of a pixel the drift table stores: a run reading it back and
    # one holding it in memory match the same positions.
    return np.round(drift, 3)


def largest_drift(drift: np.ndarray) -> float:
    """The largest distance (px, to 0.1) of a frame from its position in frame 0."""
    return round(float(np.hypot(drift[:, 0], drift[:, 1]).max(initial=0.0)), 1)


#: Position columns of a trace table (x, y pairs) that get drift-corrected twins.
POSITION_PREFIXES = ("position", "centroid")


def with_corrected_positions(traces: pd.DataFrame, drift: np.ndarray) -> pd.DataFrame:
    """``traces`` with ``<prefix>_x_corrected`` / ``<prefix>_y_corrected`` after its position columns.

    Each row's position minus its frame's drift: the cell's position in the
    coordinates of frame 0. Columns of :data:`POSITION_PREFIXES` absent from
    the table (``centroid`` without extra features) get no twin.

    Raises
    ------
    ValueError
        When a row's frame has no drift.
    """
    frames = traces["frame"].to_numpy()
    if frames.size and (frames.min() < 0 or frames.max() >= len(drift)):
        raise ValueError(f"trace rows of frames up to {frames.max()}, drift of {len(drift)} frames only")
    corrected = traces.copy()
    for prefix in POSITION_PREFIXES:
        if f"{prefix}_x" in traces:
            corrected[f"{prefix}_x_corrected"] = traces[f"{prefix}_x"].to_numpy() - drift[frames, 1]
            corrected[f"{prefix}_y_corrected"] = traces[f"{prefix}_y"].to_numpy() - drift[frames, 0]
    return corrected
