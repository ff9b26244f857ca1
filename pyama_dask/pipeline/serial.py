"""The same five steps for one FOV in one process, in memory, without Dask or Zarr.

This is the floor the distributed run is measured against (benchmarks) and
the reference it must agree with (tests): the distributed path may change
where and when the algorithms run, never their numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pyama_dask.algorithms.background import CorrectedStack, background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.segmentation import segment_logstd_stack
from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import track_laptrack
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, read_frames
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels


def process_fov_serial(
    metadata: MicroscopyMetadata, fov: int, channels: Channels, params: Params = Params()
) -> dict[int, pd.DataFrame]:
    """Traces of one FOV per fluorescence channel, computed in this process.

    Parameters
    ----------
    metadata
        The input's metadata (its ``file_path`` is read).
    fov
        FOV index.
    channels
        Channel roles.
    params
        Algorithm parameters.

    Returns
    -------
    dict
        Fluorescence channel -> trace table.
    """
    path: Path = metadata.file_path
    phase = read_frames(path, fov, channels.pc, dim_order=metadata.dim_order)
    masks, labels, fallback_frames = segment_and_track(phase, params, fov)
    qc = {"fallback_frames": fallback_frames} if params.good_from_qc else {}
    times = list(metadata.timepoints[: phase.shape[0]])
    traces = {}
    correction = params.background_kwargs()
    tile_grid = tile_grid_shape(phase.shape[1:], correction["tile_size"])
    for channel in channels.fl:
        fluorescence = read_frames(path, fov, channel, dim_order=metadata.dim_order)
        medians = np.empty((phase.shape[0], *tile_grid), dtype=np.float32)
        background_support_stack(fluorescence, masks, medians, fov=fov, **correction)
        # As the workflow does: the corrected values are needed on the cells only.
        corrected = CorrectedStack(fluorescence, medians, correction["tile_size"]).where(labels)
        raw = {"raw_fluorescence": fluorescence} if params.extra_features else {}
        traces[channel] = extract_traces(labels, corrected, times, fov, **params.extraction_kwargs(), **qc, **raw)
    return traces


def segment_and_track(
    stack: np.ndarray, params: Params = Params(), fov: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Segment and track a (T, H, W) stack in memory with the algorithms ``params`` choose.

    Parameters
    ----------
    stack
        The frames to segment (phase contrast, or whatever the run segments).
    params
        Algorithm parameters (profile, switches).
    fov
        FOV index, named in log messages.

    Returns
    -------
    tuple
        Boolean masks, uint16 cell labels and the frames whose segmentation
        fell back (always empty for PyAMA-core's segmentation).
    """
    masks = np.zeros(stack.shape, dtype=bool)
    fallback_frames = []
    if params.pyama_segmentation:
        segment_logstd_stack(stack, masks, **params.segmentation_kwargs())
    else:
        qc = segment_guarded_stack(stack, masks, fov=fov, **params.segmentation_kwargs())
        fallback_frames = [record["frame"] for record in qc.fallback_frames]
    labels = np.zeros(stack.shape, dtype=np.uint16)
    track = track_laptrack if params.tracker == "laptrack" else track_iou
    track(masks, labels, **params.tracking_kwargs())
    return masks, labels, fallback_frames
