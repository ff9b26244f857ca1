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
``<output_dir>/live/fov_<fov>.json`` (:class:`LiveState`): the frames
processed and the tracker's state. A run killed in the middle of a batch
left that record as it was before the batch, and a new run does the batch
again (it rewrites the same frames). The tile medians and the trace rows of
the batches so far are kept beside it, in ``live/fov_<fov>/``.

The batches of one FOV run one after the other (tracking links each frame to
the previous one, and they write the same chunks); FOVs run in parallel.
"""

from __future__ import annotations

import json
from collections import OrderedDict
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import zarr

from pyama_dask.algorithms.background import CorrectedStack, background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.tracking import IouTracker
from pyama_dask.algorithms.tracking_window import link_window
from pyama_dask.io.inputs.common import ZChoice
from pyama_dask.io.store import ImageRef, chunk_frames, create_image, fov_group_name, store_path
from pyama_dask.pipeline.choices import segment_stack
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import STEPS
from pyama_dask.rundir.atomic import remove_stale_temporaries, replace_atomically, write_text_atomic

if TYPE_CHECKING:
    from pyama_dask.io.inputs.growing import GrowingSource

logger = logging.getLogger(__name__)

#: The follow run's own folder in the output directory.
LIVE_DIR = "live"


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


@dataclass
class LiveState:
    """The progress of a FOV in a follow run: frames processed and the IoU tracker's state after them."""

    frames: int = 0
    tracker: dict[str, Any] | None = None


def live_dir(output_dir: Path) -> Path:
    """The follow run's folder of an output directory."""
    return Path(output_dir) / LIVE_DIR


def state_path(output_dir: Path, fov: int) -> Path:
    """Where a FOV's :class:`LiveState` is recorded."""
    return live_dir(output_dir) / f"{fov_group_name(fov)}.json"


def fov_live_dir(output_dir: Path, fov: int) -> Path:
    """A FOV's folder of tile medians and trace rows."""
    return live_dir(output_dir) / fov_group_name(fov)


def read_state(output_dir: Path, fov: int) -> LiveState:
    """A FOV's recorded progress; nothing processed when none is recorded."""
    path = state_path(output_dir, fov)
    if not path.is_file():
        return LiveState()
    record = json.loads(path.read_text())
    return LiveState(int(record["frames"]), record.get("tracker"))


def write_state(output_dir: Path, fov: int, state: LiveState) -> None:
    """Record a FOV's progress (atomically: the last write of a batch)."""
    state_path(output_dir, fov).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(state_path(output_dir, fov), json.dumps({"frames": state.frames, "tracker": state.tracker}))


def copy_images(channels: Channels) -> list[tuple[str, int]]:
    """(image kind, channel) of each copy a FOV's batches write: as the copy step's tasks."""
    copy = STEPS["copy"]
    return [(copy.writes[role], channel) for role, channel in copy.channels(channels)]


def tile_medians_path(output_dir: Path, fov: int, channel: int) -> Path:
    """Where the tile medians of a FOV's fluorescence channel grow (``.npy``, (T, tiles y, tiles x) float32)."""
    return fov_live_dir(output_dir, fov) / f"tile_medians_ch_{channel}.npy"


def read_tile_medians(output_dir: Path, fov: int, channel: int, frames: int) -> np.ndarray:
    """The tile medians of the first ``frames`` frames of a channel (fewer when fewer are recorded)."""
    path = tile_medians_path(output_dir, fov, channel)
    if not path.is_file():
        return np.empty((0, 0, 0), np.float32)
    return np.load(path)[:frames]


def rows_dir(output_dir: Path, fov: int, channel: int) -> Path:
    """The folder of a channel's trace rows, one CSV per batch named by its frames."""
    return fov_live_dir(output_dir, fov) / f"rows_ch_{channel}"


def read_rows(output_dir: Path, fov: int, channel: int, frames: int) -> pd.DataFrame:
    """The trace rows measured so far of the first ``frames`` frames of a FOV's channel, by frame then cell."""
    parts = sorted(rows_dir(output_dir, fov, channel).glob("*.csv"))
    tables = [pd.read_csv(part) for part in parts if int(part.stem.split("-")[0]) < frames]
    if not tables:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    return table[table["frame"] < frames].reset_index(drop=True)


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
    _append_tile_medians(out, fov.fov, channel, batch.start, medians)
    corrected = CorrectedStack(raw, medians, kwargs["tile_size"]).where(labels)
    extraction = {**fov.params.extraction_kwargs(), "min_trace_length": 1}  # traces so far: every row
    table = extract_traces(labels, corrected, list(batch.times), fov.fov, **extraction)
    table["frame"] += batch.start
    folder = rows_dir(out, fov.fov, channel)
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / f"{batch.start:06d}-{batch.stop:06d}.csv", lambda tmp: table.to_csv(tmp, index=False))
    return len(table)


def _append_tile_medians(output_dir: Path, fov: int, channel: int, start: int, medians: np.ndarray) -> None:
    """Put a batch's tile medians after the first ``start`` frames' (rewriting the small file atomically)."""
    before = read_tile_medians(output_dir, fov, channel, start)
    grown = np.concatenate([before, medians]) if len(before) else medians
    path = tile_medians_path(output_dir, fov, channel)
    path.parent.mkdir(parents=True, exist_ok=True)
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a file object: np.save would add ".npy" to a temporary name
            np.save(file, grown)

    replace_atomically(path, save)


def followed_frames(output_dir: Path) -> dict[int, int]:
    """Frames processed so far per FOV by a follow run of ``output_dir`` (empty when none followed it)."""
    return {int(path.stem.removeprefix("fov_")): read_state(output_dir, int(path.stem.removeprefix("fov_"))).frames
            for path in sorted(live_dir(output_dir).glob("fov_*.json"))}


def followed_channels(output_dir: Path, fov: int) -> tuple[int, list[int]]:
    """The segmented channel and the measured channels of a followed FOV, from what its batches wrote.

    Raises
    ------
    ValueError
        Naming the FOV when no batch of it wrote masks yet.
    """
    masks = sorted((store_path(output_dir) / fov_group_name(fov)).glob("seg_ch_*"))
    if not masks:
        raise ValueError(f"{output_dir}: FOV {fov} has no frame processed yet")
    rows = fov_live_dir(output_dir, fov).glob("rows_ch_*")
    measured = sorted(int(path.name.removeprefix("rows_ch_")) for path in rows)
    return int(masks[0].name.removeprefix("seg_ch_")), measured


class FirstFrames:
    """The first ``frames`` frames of a growing image, read on demand (the frames processed so far)."""

    def __init__(self, ref: ImageRef, frames: int) -> None:
        self._array = zarr.open_array(store_path(ref.output_dir) / ref.group_path / "0", mode="r", zarr_format=3)
        self.shape = (min(frames, self._array.shape[0]), *self._array.shape[1:])
        self.dtype, self.ndim = self._array.dtype, 3

    def __getitem__(self, frame: int) -> np.ndarray:
        if not 0 <= frame < self.shape[0]:
            raise IndexError(f"frame {frame} is not processed yet: frames 0-{self.shape[0] - 1} are")
        return np.asarray(self._array[frame])


def discard_unrecorded(output_dir: Path, fov: int, frames: int) -> list[Path]:
    """Remove what batches after the first ``frames`` frames left (a run killed before recording them).

    Their trace rows would otherwise stand beside the rows the batches
    doing those frames again write; temporary files of writes a killed run
    did not finish go too. Only call this while no batch of the FOV runs.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = fov_live_dir(output_dir, fov)
    stale = [part for part in folder.glob("rows_ch_*/*.csv") if int(part.stem.split("-")[0]) >= frames]
    for part in stale:
        part.unlink()
    for sub in [folder, *folder.glob("rows_ch_*")]:
        stale += remove_stale_temporaries(sub)
    return stale
