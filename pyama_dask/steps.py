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

import numpy as np

from pyama_dask.algorithms.background import correct_background_stack
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.segmentation import segment_logstd_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.io.microscopy import open_fov_reader
from pyama_dask.io.store import (
    ImageRef,
    completed_fingerprint,
    create_image,
    image_scale,
    mark_complete,
    open_image,
    update_contrast_limits,
)
from pyama_dask.io.traces import completed_traces_fingerprint, write_traces_csv
from pyama_dask.params import Params

logger = logging.getLogger(__name__)

STEPS = ("copy", "segment", "correct", "track", "extract")

# Frames read from the input file per request during copy: large enough to
# amortise the reader's per-call overhead, small enough to bound memory
# (16 x 2048 x 2048 uint16 = 128 MB).
COPY_BLOCK_FRAMES = 16


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
        with open_fov_reader(input_path, fov, dim_order) as reader:
            for start in range(0, shape[0], COPY_BLOCK_FRAMES):
                frames = slice(start, min(start + COPY_BLOCK_FRAMES, shape[0]))
                target[frames] = reader.read(channel, frames)
        update_contrast_limits(out)
        mark_complete(out, fingerprint)
        return {}

    return _timed("copy", fov, channel, completed_fingerprint(out) == fingerprint, work)


def segment_fov(pc: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """LOG-STD segmentation of a FOV's phase contrast into a bool mask stack."""

    def work() -> dict:
        source = open_image(pc)
        target = create_image(out, source.shape, np.bool_, scale=image_scale(pc))
        segment_logstd_stack(source, target, **params.segmentation_kwargs())
        mark_complete(out, fingerprint)
        return {}

    return _timed("segment", pc.fov, pc.channel, completed_fingerprint(out) == fingerprint, work)


def correct_fov(fl: ImageRef, seg: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """Tiled background correction of one fluorescence channel of a FOV."""

    def work() -> dict:
        source = open_image(fl)
        target = create_image(out, source.shape, np.float32, scale=image_scale(fl))
        correct_background_stack(source, open_image(seg), target, **params.background_kwargs())
        mark_complete(out, fingerprint)
        return {}

    return _timed("correct", fl.fov, fl.channel, completed_fingerprint(out) == fingerprint, work)


def track_fov(seg: ImageRef, out: ImageRef, params: Params, fingerprint: str) -> StepResult:
    """IoU tracking of a FOV's masks into a uint16 label stack."""

    def work() -> dict:
        source = open_image(seg)
        target = create_image(out, source.shape, np.uint16, scale=image_scale(seg))
        n_tracks = track_iou(source, target, **params.tracking_kwargs())
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
    """Trace extraction of one fluorescence channel of a FOV into PyAMA-core's CSV."""

    def work() -> dict:
        table = extract_traces(
            open_image(labels), open_image(corrected), times, labels.fov, **params.extraction_kwargs()
        )
        write_traces_csv(table, csv_path, fingerprint)
        return {"cells": int(table["cell"].nunique()), "rows": len(table)}

    already = completed_traces_fingerprint(csv_path) == fingerprint
    return _timed("extract", labels.fov, corrected.channel, already, work)
