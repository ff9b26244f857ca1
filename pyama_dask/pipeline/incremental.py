"""The steps of a follow run on a batch of newly landed frames of one FOV.

A follow run (:mod:`pyama_dask.workflow.live`) processes an acquisition
while it grows. Each task here takes the frames ``start..stop-1`` of one FOV
that landed since the last batch, and runs on them what the batch tasks
(:mod:`pyama_dask.pipeline.tasks`) run on the whole movie, with the same
per-frame functions: it copies every channel into the store, whose images
grow along T, segments, takes the background's tile medians, links the
frames to the previous ones with the IoU tracker continued from its recorded
state (laptrack: over a window of the last labelled frames,
:mod:`pyama_dask.algorithms.tracking_window`), and measures the cells of the
batch (its trace rows).

What the next batch needs is recorded, as a batch's very last write, in
``<output_dir>/live/fov_<fov>.json`` (:class:`~pyama_dask.io.live.LiveState`):
the frames processed and the tracker's state. A run killed in the middle of
a batch left that record as it was before the batch, and a new run does the
batch again (it rewrites the same frames). The tile medians and the trace
rows of the batches so far are kept beside it (:mod:`pyama_dask.io.live`).

The batches of one FOV run one after the other (tracking links each frame to
the previous one, and they write the same chunks); FOVs run in parallel.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from pyama_dask.algorithms.background import CorrectedStack, background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.tracking import IouTracker
from pyama_dask.algorithms.tracking_window import link_window
from pyama_dask.io.inputs.common import ZChoice
from pyama_dask.io.live import LiveState, append_tile_medians, read_state, write_rows, write_state
from pyama_dask.io.store import ImageRef, chunk_frames, create_image, store_path
from pyama_dask.pipeline.choices import segment_stack
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import STEPS

if TYPE_CHECKING:
    from pyama_dask.io.inputs.growing import GrowingSource

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class LiveFov:
    """What every batch of one FOV needs: plain, picklable values.

    ``open_source`` opens the growing acquisition where the batch runs (a
    worker), e.g. ``functools.partial(open_growing, path, pattern,
    use_events=False)``; ``z`` is the Z plane copied (or ``"max"``), as in
    a batch run.
    """

    output_dir: Path
    fov: int
    channels: Channels
    params: Params
    frame_shape: tuple[int, int]
    channel_names: tuple[str, ...]
    open_source: Callable[[], GrowingSource]
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    space_unit: str | None = None
    z: ZChoice = 0


@dataclass(frozen=True)
class FrameBatch:
    """Frames ``start..stop-1`` of a FOV, and their times (minutes since the first frame)."""

    fov: LiveFov
    start: int
    stop: int
    times: tuple[float, ...]


@dataclass(frozen=True)
class BatchDone:
    """What a batch reports back to the driver (small)."""

    fov: int
    start: int
    stop: int
    seconds: float
    rows: int
    tracks: int


def copy_images(channels: Channels) -> list[tuple[str, int]]:
    """(image kind, channel) of each copy a FOV's batches write: as the copy step's tasks."""
    copy = STEPS["copy"]
    return [(copy.writes[role], channel) for role, channel in copy.channels(channels)]


def process_batch(batch: FrameBatch, *previous: BatchDone | None) -> BatchDone:
    """Copy, segment, correct, track and measure frames ``batch.start..stop-1`` of a FOV (on a worker).

    ``previous`` is the FOV's previous batch (resolved by Dask), which must
    have finished: the batch continues where it left off.

    Raises
    ------
    RuntimeError
        Naming the FOV when its recorded progress is not where the batch starts.
    """
    began = time.perf_counter()
    fov, out = batch.fov, batch.fov.output_dir
    state = read_state(out, fov.fov)
    if state.frames == batch.stop and batch.stop > batch.start:  # run again after a lost worker had recorded it
        return BatchDone(fov.fov, batch.start, batch.stop, 0.0, 0, _tracks(state))
    if state.frames != batch.start:
        raise RuntimeError(f"FOV {fov.fov}: the batch of frames {batch.start}-{batch.stop - 1} follows "
                           f"{state.frames} processed frames, {batch.start} expected")
    source = _opened(fov.open_source)
    landed = source.scan().frames.get(fov.fov, 0)  # a source reads the frames its own scan found landed
    if landed < batch.stop:
        raise RuntimeError(f"{source.path}, FOV {fov.fov}: frames {batch.start}-{batch.stop - 1} were landed, "
                           f"but the worker finds {landed} frame(s)")
    frames = {channel: _write_copy(fov, kind, channel, batch, source) for kind, channel in copy_images(fov.channels)}
    masks = np.zeros((batch.stop - batch.start, *fov.frame_shape), bool)
    segment_stack(frames[fov.channels.pc], masks, fov.params, fov=fov.fov)
    _grown(fov, ImageRef(out, fov.fov, "seg", fov.channels.pc), np.bool_, batch)[batch.start:batch.stop] = masks
    labels, tracked = _track(fov, masks, state, batch)
    _grown(fov, ImageRef(out, fov.fov, "seg_labeled", fov.channels.pc), np.uint16, batch)[batch.start:] = labels
    rows = sum(_correct_and_measure(fov, channel, frames[channel], masks, labels, batch) for channel in fov.channels.fl)
    write_state(out, fov.fov, tracked)
    seconds = time.perf_counter() - began
    logger.debug("FOV %d: frames %d-%d processed in %.2f s", fov.fov, batch.start, batch.stop - 1, seconds)
    return BatchDone(fov.fov, batch.start, batch.stop, seconds, rows, _tracks(tracked))


#: The sources this process opened, by their opener, the last used last: a source checks each file once,
#: so a worker that keeps it checks only the new files of each batch (not the whole acquisition again).
_OPENED: OrderedDict[str, GrowingSource] = OrderedDict()
_OPENED_KEPT = 4


def _opened(open_source: Callable[[], GrowingSource]) -> GrowingSource:
    """The source ``open_source`` opens, kept open in this process for the next batches."""
    key = repr(open_source)  # a partial's repr names its function and arguments
    source = _OPENED.pop(key, None) or open_source()
    _OPENED[key] = source
    while len(_OPENED) > _OPENED_KEPT:
        _OPENED.popitem(last=False)
    return source


def _write_copy(fov: LiveFov, kind: str, channel: int, batch: FrameBatch, source: GrowingSource) -> np.ndarray:
    """Read frames ``start..stop-1`` of a channel from the acquisition and write them into its growing copy."""
    block = np.stack([np.asarray(source.read_frame(fov.fov, t, channel, fov.z), np.uint16)
                      for t in range(batch.start, batch.stop)])
    image = _grown(fov, ImageRef(fov.output_dir, fov.fov, kind, channel), np.uint16, batch,
                   channel_name=fov.channel_names[channel])
    image[batch.start:batch.stop] = block
    return block


def _grown(fov: LiveFov, ref: ImageRef, dtype: Any, batch: FrameBatch, channel_name: str | None = None) -> zarr.Array:
    """The level-0 array of a growing image, ``batch.stop`` frames long; created (empty) by a FOV's first batch.

    Its chunks hold :func:`~pyama_dask.io.store.chunk_frames` frames, as a
    batch run's of a movie at least that long.
    """
    location = store_path(ref.output_dir) / ref.group_path / "0"
    height, width = fov.frame_shape
    if batch.start == 0 or not (location / "zarr.json").is_file():
        array = create_image(ref, (chunk_frames(height, width), height, width), dtype, scale=fov.scale,
                             channel_name=channel_name, space_unit=fov.space_unit)
    else:
        array = zarr.open_array(location, mode="r+", zarr_format=3)
    if array.shape[0] != batch.stop:
        array.resize((batch.stop, height, width))
    return array


def _track(fov: LiveFov, masks: np.ndarray, state: LiveState, batch: FrameBatch) -> tuple[np.ndarray, LiveState]:
    """The batch's labels and the FOV's progress after it: IoU tracking continued, or laptrack over a window."""
    options = fov.params.tracking_kwargs()
    if fov.params.tracker == "laptrack":
        known = min(laptrack_window(options), batch.start)
        before = slice(batch.start - known, batch.start)
        labelled = _stored(fov, "seg_labeled", before, np.uint16)
        window = np.concatenate([_stored(fov, "seg", before, bool), masks])
        next_id = 1 if state.tracker is None else int(state.tracker["next_id"])
        labels, next_id = link_window(window, labelled, next_id, **options)
        return labels, LiveState(batch.stop, {"next_id": next_id})
    tracker = IouTracker(**options) if state.tracker is None else IouTracker.resumed(state.tracker, **options)
    labels = np.stack([tracker.step(mask) for mask in masks])
    return labels, LiveState(batch.stop, tracker.state())


def laptrack_window(options: dict[str, Any]) -> int:
    """Labelled frames laptrack links a batch's frames to: enough to bridge its gaps, at least 4."""
    return max(4, int(options.get("max_gap_frames", 2)) + 2)


def _tracks(state: LiveState) -> int:
    """Tracks so far of a FOV's progress record."""
    tracker = state.tracker or {}
    return int(tracker["n_tracks"]) if "n_tracks" in tracker else int(tracker.get("next_id", 1)) - 1


def _stored(fov: LiveFov, kind: str, frames: slice, dtype: Any) -> np.ndarray:
    """Frames of a FOV's growing mask or label image, as written by its earlier batches."""
    height, width = fov.frame_shape
    if frames.start == frames.stop:
        return np.zeros((0, height, width), dtype)
    ref = ImageRef(fov.output_dir, fov.fov, kind, fov.channels.pc)
    return np.asarray(zarr.open_array(store_path(ref.output_dir) / ref.group_path / "0", mode="r")[frames], dtype)


def _correct_and_measure(fov: LiveFov, channel: int, raw: np.ndarray, masks: np.ndarray, labels: np.ndarray,
                         batch: FrameBatch) -> int:
    """Take the tile medians of a fluorescence channel's frames and measure their cells; the rows written."""
    out, kwargs = fov.output_dir, fov.params.background_kwargs()
    medians = np.empty((len(raw), *tile_grid_shape(fov.frame_shape, kwargs["tile_size"])), np.float32)
    background_support_stack(raw, masks, medians, fov=fov.fov, **kwargs)
    append_tile_medians(out, fov.fov, channel, batch.start, medians)
    corrected = CorrectedStack(raw, medians, kwargs["tile_size"]).where(labels)
    extraction = {**fov.params.extraction_kwargs(), "min_trace_length": 1}  # traces so far: every row
    table = extract_traces(labels, corrected, list(batch.times), fov.fov, **extraction)
    table["frame"] += batch.start
    write_rows(out, fov.fov, channel, batch.start, batch.stop, table)
    return len(table)


