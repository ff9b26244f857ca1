"""Per-FOV tasks: open inputs in the store, run one algorithm, write outputs, mark complete.

Every task takes plain picklable arguments (paths, indices, parameters, a
fingerprint), runs on a Dask worker, streams frames through the store chunk by
chunk and returns a small :class:`StepResult`. Pixels never travel through the
scheduler. A task whose output is already complete with the same fingerprint
returns at once (``status="skipped"``), so re-running a task, e.g. after a
worker died after finishing it, never rewrites finished data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyama_dask.workflow.allocator import keep_frames_on_heap
from pyama_dask.algorithms.background import background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.segmentation import segment_logstd_stack
from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import track_laptrack
from pyama_dask.io.corrected import open_corrected, write_corrected
from pyama_dask.io.inputs.microscopy import open_fov_reader
from pyama_dask.io.store import (
    ImageRef,
    completed_fingerprint,
    contrast_pixels,
    create_image,
    image_qc,
    image_scale,
    mark_complete,
    open_image,
    record_image_qc,
    update_contrast_limits,
)
from pyama_dask.io.traces import completed_traces_fingerprint, write_traces_csv
from pyama_dask.pipeline.params import Params

logger = logging.getLogger(__name__)

STEPS = ("copy", "segment", "correct", "track", "extract")

@dataclass(frozen=True)
class StepResult:
    """What a task reports back to the driver (small: travels through the scheduler)."""

    step: str
    fov: int
    channel: int
    status: str  # "done" or "skipped"
    seconds: float
    summary: dict = field(default_factory=dict)


def _timed(step: str, fov: int, channel: int, already_done: bool, work: Callable[[], dict]) -> StepResult:
    if already_done:
        return StepResult(step, fov, channel, "skipped", 0.0)
    keep_frames_on_heap()
    start = time.perf_counter()
    summary = work()
    return StepResult(step, fov, channel, "done", time.perf_counter() - start, summary)


def copy_channel(
    input_path: Path,
    fov: int,
    channel: int,
    out: ImageRef,
    shape: tuple[int, int, int],
    scale: Sequence[float],
    dim_order: str | None,
    channel_name: str,
    fingerprint: str,
) -> StepResult:
    """Copy one channel of one FOV from the microscopy file into the store as uint16.

    The image records ``channel_name`` and a contrast window fitted to its
    pixels, for viewers.
    """

    def work() -> dict:
        target = create_image(out, shape, np.uint16, scale=scale, channel_name=channel_name)
        chunk = target.chunks[0]  # whole chunks: each is encoded and written once
        contrast = []
        with open_fov_reader(input_path, fov, dim_order) as reader:
            for start in range(0, shape[0], chunk):
                frames = slice(start, min(start + chunk, shape[0]))
                block = reader.read(channel, frames)
                target[frames] = block
                contrast.append(contrast_pixels(block, frames, shape[0]))
        update_contrast_limits(out, contrast)
        mark_complete(out, fingerprint)
        return {}

    return _timed("copy", fov, channel, completed_fingerprint(out) == fingerprint, work)


def segment_fov(pc: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """LOG-STD segmentation of a FOV's phase contrast into a bool mask stack.

    With a segmentation switch on (e.g. ``profile: robust``) the guarded
    segmentation runs instead, and its QC (the resolved image kind and the
    frames that fell back) goes into the mask image's ``attrs["pyama"]``.
    """

    def work() -> dict:
        source = open_image(pc)
        target = create_image(out, source.shape, np.bool_, scale=image_scale(pc))
        summary = {}
        if params.pyama_segmentation:
            segment_logstd_stack(source, target, **params.segmentation_kwargs())
        else:
            qc = segment_guarded_stack(source, target, fov=pc.fov, **params.segmentation_kwargs())
            record_image_qc(out, qc.to_dict())
            summary = {"fallback_frames": len(qc.fallback_frames)}
        mark_complete(out, fingerprint)
        return summary

    return _timed("segment", pc.fov, pc.channel, completed_fingerprint(out) == fingerprint, work)


def correct_fov(fl: ImageRef, seg: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """Tiled background correction of one fluorescence channel of a FOV.

    The corrected image is stored as each frame's tile medians, from which
    :func:`pyama_dask.io.corrected.open_corrected` computes the corrected
    frames exactly (see :mod:`pyama_dask.io.corrected`).
    """

    def work() -> dict:
        source = open_image(fl)
        kwargs = params.background_kwargs()
        medians = np.empty((source.shape[0], *tile_grid_shape(source.shape[1:], kwargs["tile_size"])), np.float32)
        background_support_stack(source, open_image(seg), medians, fov=fl.fov, **kwargs)
        write_corrected(out, fl, medians, **kwargs)
        mark_complete(out, fingerprint)
        return {}

    return _timed("correct", fl.fov, fl.channel, completed_fingerprint(out) == fingerprint, work)


def track_fov(seg: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """Tracking (IoU, or laptrack by ``params.tracker``) of a FOV's masks into a uint16 label stack."""

    def work() -> dict:
        source = open_image(seg)
        target = create_image(out, source.shape, np.uint16, scale=image_scale(seg))
        track = track_laptrack if params.tracker == "laptrack" else track_iou
        n_tracks = track(source, target, **params.tracking_kwargs())
        mark_complete(out, fingerprint)
        return {"tracks": int(n_tracks)}

    return _timed("track", seg.fov, seg.channel, completed_fingerprint(out) == fingerprint, work)


def extract_fov(
    labels: ImageRef,
    corrected: ImageRef,
    csv_path: Path,
    times: Sequence[float],
    params: Params,
    fingerprint: str,
) -> StepResult:
    """Trace extraction of one fluorescence channel of a FOV into PyAMA-core's CSV.

    With ``good_from_qc`` the segmentation's fallback frames (recorded on the
    mask image the labels were tracked from) mark rows ``good=False``.
    """

    def work() -> dict:
        qc = {}
        if params.good_from_qc:
            masks = ImageRef(labels.output_dir, labels.fov, "seg", labels.channel)
            qc["fallback_frames"] = [record["frame"] for record in image_qc(masks).get("fallback_frames", [])]
        if params.extra_features:  # the per-cell background level is raw minus corrected
            qc["raw_fluorescence"] = open_image(ImageRef(labels.output_dir, labels.fov, "fl", corrected.channel))
        # Traces sum the corrected fluorescence over cell pixels: computing it there only is
        # enough. Extraction and the correction walk the labels block by block together.
        cells = _LastBlockKept(open_image(labels))
        table = extract_traces(
            cells, open_corrected(corrected.location).where(cells), times, labels.fov,
            **params.extraction_kwargs(), **qc,
        )
        write_traces_csv(table, csv_path, fingerprint)
        return {"cells": int(table["cell"].nunique()), "rows": len(table)}

    already = completed_traces_fingerprint(csv_path) == fingerprint
    return _timed("extract", labels.fov, corrected.channel, already, work)


class _LastBlockKept:
    """A read-only array that keeps its last block read, so that two readers of the same block decode it once."""

    def __init__(self, array: Any) -> None:
        self._array = array
        self.shape, self.dtype, self.chunks, self.ndim = array.shape, array.dtype, array.chunks, array.ndim
        self._key: Any = None
        self._block: np.ndarray | None = None

    def __getitem__(self, key: Any) -> np.ndarray:
        if not (isinstance(key, slice) and key == self._key):
            self._block = np.asarray(self._array[key])
            self._key = key if isinstance(key, slice) else None
        return self._block
