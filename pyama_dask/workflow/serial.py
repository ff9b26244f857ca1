"""The same five steps for one FOV in one process, in memory, without Dask or Zarr.

This is the floor the distributed run is measured against (benchmarks) and
the reference it must agree with (tests): the distributed path may change
where and when the algorithms run, never their numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pyama_dask.algorithms.background import correct_background_stack
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.segmentation import segment_logstd_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.io.microscopy import MicroscopyMetadata, read_frames
from pyama_dask.params import Params
from pyama_dask.workflow.context import Channels


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
    masks = np.zeros(phase.shape, dtype=bool)
    segment_logstd_stack(phase, masks, **params.segmentation_kwargs())
    labels = np.zeros(phase.shape, dtype=np.uint16)
    track_iou(masks, labels, **params.tracking_kwargs())
    times = list(metadata.timepoints[: phase.shape[0]])
    traces = {}
    for channel in channels.fl:
        fluorescence = read_frames(path, fov, channel, dim_order=metadata.dim_order)
        corrected = np.zeros(phase.shape, dtype=np.float32)
        correct_background_stack(fluorescence, masks, corrected, **params.background_kwargs())
        traces[channel] = extract_traces(labels, corrected, times, fov, **params.extraction_kwargs())
    return traces
