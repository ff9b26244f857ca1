"""The one place where parameters choose an algorithm.

The Dask tasks (:mod:`pyama_dask.pipeline.tasks`) and the in-memory path
(:mod:`pyama_dask.pipeline.serial`) both call these functions, so that the
two cannot choose differently. Each fills a caller's output stack (a NumPy
array or a Zarr array) chunk by chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyama_dask.algorithms.registration import drift_stack
from pyama_dask.algorithms.segmentation import segment_logstd_stack
from pyama_dask.algorithms.segmentation_guard import SegmentationQC, segment_guarded_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import track_laptrack
from pyama_dask.pipeline.params import Params


def segment_stack(source: Any, target: Any, params: Params, fov: int | None = None) -> SegmentationQC | None:
    """Segment ``source`` into ``target`` with the segmentation ``params`` choose.

    PyAMA-core's LOG-STD runs unless a segmentation switch is on (e.g.
    ``profile: robust``); then the guarded segmentation runs and its QC is
    returned.

    Parameters
    ----------
    source
        (T, H, W) frames to segment.
    target
        (T, H, W) bool stack to fill.
    params
        Algorithm parameters.
    fov
        FOV index, named in log messages.

    Returns
    -------
    SegmentationQC or None
        The guarded segmentation's QC (resolved image kind, fallback
        frames); None for PyAMA-core's segmentation.
    """
    if params.pyama_segmentation:
        segment_logstd_stack(source, target, **params.segmentation_kwargs())
        return None
    return segment_guarded_stack(source, target, fov=fov, **params.segmentation_kwargs())


def stack_drift(frames: Any, drift_reference: str | None) -> np.ndarray | None:
    """The (T, 2) drift of ``frames`` registered on ``drift_reference``; None (no registration) when it is None."""
    return None if drift_reference is None else drift_stack(frames, drift_reference=drift_reference)


def track_stack(masks: Any, labels: Any, params: Params,
                drift: np.ndarray | None = None) -> tuple[int, dict[int, int] | None]:
    """Track ``masks`` into the uint16 ``labels`` with the tracker ``params`` choose (IoU or laptrack).

    With ``drift`` ((T, 2) per-frame drift of the register step) the tracker
    matches drift-corrected positions.

    Returns
    -------
    n_tracks : int
        The number of tracks.
    parents : dict or None
        Daughter cell id -> mother cell id when divisions are tracked
        (laptrack's ``track_divisions``), else None: no lineage is known.
    """
    kwargs = params.tracking_kwargs()
    if params.tracker != "laptrack":
        return int(track_iou(masks, labels, **kwargs, drift=drift)), None
    tracks = track_laptrack(masks, labels, **kwargs, drift=drift)
    return tracks.n_tracks, (tracks.parents if kwargs.get("track_divisions") else None)
