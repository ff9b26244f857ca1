"""What a follow run keeps beside the store: each FOV's progress, tile medians and trace rows so far.

A follow run (:mod:`pyama_dask.workflow.live`) processes an acquisition in
batches of landed frames (:mod:`pyama_dask.pipeline.incremental`). Its
images grow in the store (:mod:`pyama_dask.io.store`); the rest lives in
``<output_dir>/live/``:

- ``fov_000.json``: the FOV's progress (:class:`LiveState`: frames
  processed, the tracker's state after them), written last by each batch;
- ``fov_000/tile_medians_ch_1.npy``: the background's tile medians of the
  frames so far, from which the corrected image is made when the run ends;
- ``fov_000/rows_ch_1/000000-000008.csv``: the trace rows of each batch;
- ``traces_so_far.csv``: every row so far, rewritten at a modest cadence.

Rows and medians beyond the recorded frames (a run killed mid-batch) are
not read, and :func:`discard_unrecorded` removes them before the batch is
done again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from pyama_dask.io.store import ImageRef, fov_group_name, store_path
from pyama_dask.rundir.atomic import remove_stale_temporaries, replace_atomically, write_text_atomic

#: The follow run's own folder in the output directory.
LIVE_DIR = "live"
#: Every trace row measured so far, in :data:`LIVE_DIR`.
TRACES_SO_FAR = "traces_so_far.csv"


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


def write_rows(output_dir: Path, fov: int, channel: int, start: int, stop: int, table: pd.DataFrame) -> None:
    """Keep the trace rows of a batch of frames ``start..stop-1`` (atomically)."""
    folder = rows_dir(output_dir, fov, channel)
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / f"{start:06d}-{stop:06d}.csv", lambda tmp: table.to_csv(tmp, index=False))


def read_rows(output_dir: Path, fov: int, channel: int, frames: int) -> pd.DataFrame:
    """The trace rows measured so far of the first ``frames`` frames of a FOV's channel, by frame then cell."""
    parts = sorted(rows_dir(output_dir, fov, channel).glob("*.csv"))
    tables = [pd.read_csv(part) for part in parts if int(part.stem.split("-")[0]) < frames]
    if not tables:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    return table[table["frame"] < frames].reset_index(drop=True)


def append_tile_medians(output_dir: Path, fov: int, channel: int, start: int, medians: np.ndarray) -> None:
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


def write_traces_so_far(output_dir: Path, channels: list[int], processed: dict[int, int]) -> Path | None:
    """Rewrite ``live/traces_so_far.csv`` (atomically): the rows of the ``processed`` frames per FOV, with ``channel``.

    None (nothing written) before any row is measured.
    """
    parts = []
    for fov, frames in sorted(processed.items()):
        for channel in channels:
            rows = read_rows(output_dir, fov, channel, frames)
            if not rows.empty:
                parts.append(rows.assign(channel=channel))
    if not parts:
        return None
    path = live_dir(output_dir) / TRACES_SO_FAR
    table = pd.concat(parts, ignore_index=True)
    replace_atomically(path, lambda tmp: table.to_csv(tmp, index=False))
    return path
