"""A growing folder of per-plane TIFF files (MetaMorph, Micro-Manager or a custom naming).

FOVs are the positions by rank, channels and frames as the batch series reader
(:mod:`pyama_dask.io.inputs.metamorph`) numbers them. The channels are those of
the first position's first time point, known once the microscope has moved on
(a file of another position or time point exists) or the acquisition ended: a
frame cannot land before every channel of it has been written.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyama_dask.io.inputs.common import (
    MicroscopyError,
    MicroscopyMetadata,
    ZChoice,
    check_index,
    check_z,
    location,
    to_uint16,
)
from pyama_dask.io.inputs.growing import GrowingSource, Landed
from pyama_dask.io.inputs.metamorph import (
    MetaMorphSeries,
    PlaneStamps,
    frame_times_from_stamps,
    inspect_plane_file,
    read_plane,
    series_metadata,
)
from pyama_dask.io.inputs.plane_files import (
    PlaneNaming,
    channel_order,
    detect_naming,
    naming_from_pattern,
    plane_file_entries,
)
from pyama_dask.io.inputs.timestamps import FrameTimes

#: (position, channel part of the name, time index) of one plane's file.
PlaneKey = tuple[int, str, int]


@dataclass(frozen=True)
class TiffPlaneRef:
    """One landed plane's file, its FOV and channel (for messages)."""

    path: Path
    shape: tuple[int, int]
    fov: int
    channel: int

    def read(self, z: ZChoice = 0) -> np.ndarray:
        """The plane, 2-D uint16 (a TIFF folder has no Z: ``z`` must be 0)."""
        check_z(self.path, self.fov, z, 1)
        return to_uint16(read_plane(self.path, self.shape), location(self.path, self.fov, self.channel))


class GrowingTiffFolder(GrowingSource):
    """A folder of per-plane TIFFs that grows; see :mod:`pyama_dask.io.inputs.growing`.

    Parameters
    ----------
    path : Path
        The folder (it may not exist yet).
    pattern : str or None
        Regular expression naming the files; by default the known naming the files follow.
    **options
        ``poll_interval``, ``use_events``, ``settle_seconds`` of :class:`GrowingSource`.
    """

    layout = "tiff-folder"

    def __init__(self, path: Path, pattern: str | None = None, **options: float | bool) -> None:
        self._pattern = pattern
        self._naming: PlaneNaming | None = naming_from_pattern(pattern) if pattern else None
        self._channels: tuple[str, ...] | None = None
        self._channel_names: dict[str, str] = {}
        self._shape: tuple[int, int] | None = None
        self._files: dict[PlaneKey, Path] = {}
        self._stamps: dict[Path, PlaneStamps] = {}
        self._positions: list[int] = []
        self._times: list[int] = []
        self._frames: dict[int, int] = {}  # by position
        super().__init__(path, **options)

    def _watched_folders(self) -> list[tuple[Path, bool]]:
        return [(self.path, True)]  # Micro-Manager writes one sub-folder per position

    def scan(self) -> Landed:
        """What has landed now (see :class:`~pyama_dask.io.inputs.growing.Landed`)."""
        self.files.begin_scan()
        planes = self._list_planes()
        ended = self.end_marker_present()
        self._positions = sorted({position for position, _, _ in planes})
        self._times = sorted({time for _, _, time in planes})
        if self._channels is None:
            self._channels = self._first_channels(planes, ended)
        self._files = planes
        for position in self._positions:
            self._frames[position] = self._count_frames(position)
        return Landed(
            fovs=tuple(range(len(self._positions))),
            channels=self._named_channels(),
            frames={fov: self._frames[position] for fov, position in enumerate(self._positions)},
            ended=ended,
            problems=self.files.problems,
        )

    def frame_ref(self, fov: int, t: int, channel: int) -> TiffPlaneRef:
        """The file of a landed frame of one channel."""
        return TiffPlaneRef(self._landed_file(fov, t, channel), self._shape, fov, channel)

    def metadata(self) -> MicroscopyMetadata:
        """The batch reader's metadata of the frames landed so far (FOVs with at least one frame).

        Raises
        ------
        MicroscopyError
            When no frame has landed yet.
        """
        landed = [position for position in self._positions if self._frames.get(position, 0)]
        if not landed or not self._frames.get(self._positions[0], 0):
            raise MicroscopyError(f"{self.path}: no frame of the first position has landed yet")
        # The batch reader's metadata of the first time point (a few file headers), with the times of every frame
        # from the time stamps read as the files landed: no file is opened again per frame.
        first_time = self._times[0]
        files = {key: path for key, path in self._files.items() if key[0] in landed and key[2] == first_time}
        meta = series_metadata(MetaMorphSeries(self.path, tuple(landed), self._channels, (first_time,), files,
                                               self._naming), self._pattern)
        n_frames = self._frames[self._positions[0]]
        times = self._frame_times(self._positions[0], n_frames)
        return dataclasses.replace(
            meta, n_frames=n_frames, timepoints=times.minutes, time_source=times.source, time_notes=list(times.notes),
            fov_shapes=[(self._frames[position], *self._shape) for position in landed],
        )

    def frame_times(self, fov: int, n: int) -> list[float]:
        """Minutes of frames 0..n-1: the time stamps of the first FOV's first channel, as the batch reader takes them.

        While the first FOV has fewer frames (one of them unreadable), those of ``fov`` itself.

        Raises
        ------
        MicroscopyError
            When fewer than ``n`` frames of ``fov`` have landed.
        """
        check_index(self.path, "FOV", fov, len(self._positions))
        position = next((position for position in (self._positions[0], self._positions[fov])
                         if self._frames.get(position, 0) >= n), None)
        if position is None:
            raise MicroscopyError(f"{location(self.path, fov, 0)}: times of {n} frames asked, "
                                  f"{self._frames.get(self._positions[fov], 0)} landed")
        return self._frame_times(position, n).minutes if n else []

    def _frame_times(self, position: int, n: int) -> FrameTimes:
        """Times of the first ``n`` frames from the time stamps of ``position``'s first channel, read as they landed."""
        return frame_times_from_stamps([self._stamps[self._files[position, self._channels[0], time]]
                                        for time in self._times[:n]])

    def _list_planes(self) -> dict[PlaneKey, Path]:
        """The plane files by key, from their names alone (only files of frames not landed yet are looked at)."""
        if not self.path.is_dir():
            return {}
        entries = plane_file_entries(self.path)
        if self._naming is None:
            self._naming = detect_naming([entry.name for entry in entries])
            if self._naming is None:
                return {}
        planes = {}
        for entry in entries:
            key = self._naming.key(entry.name)
            if key is not None and key[3] == 0:  # Z planes above 0: the batch reader refuses them, and so the run
                planes[key[:3]] = Path(entry.path)
        return planes

    def _first_channels(self, planes: dict[PlaneKey, Path], ended: bool) -> tuple[str, ...] | None:
        """The channels of the first (time, position), once a file of another one exists or the acquisition ended."""
        if not planes:
            return None
        points = {(time, position) for position, _, time in planes}
        first = min(points)
        if len(points) == 1 and not ended:
            return None
        return channel_order({channel for position, channel, time in planes if (time, position) == first})

    def _count_frames(self, position: int) -> int:
        """Frames of ``position`` complete from 0, checking only those beyond the last count."""
        if self._channels is None:
            return 0
        count = self._frames.get(position, 0)
        while count < len(self._times) and all(
            self._plane_complete(position, channel, count) for channel in self._channels
        ):
            count += 1
        return count

    def _plane_complete(self, position: int, channel: str, frame: int) -> bool:
        path = self._files.get((position, channel, self._times[frame]))
        if path is None:
            return False
        try:
            status = path.stat()
        except FileNotFoundError:  # removed since listed
            return False
        stat = (status.st_size, status.st_mtime_ns)
        key = os.fspath(path)
        if self.files.verified(key, stat):
            return True
        if not self.files.settled(key, stat):
            return False
        try:
            shape, stamps, name = inspect_plane_file(path)
            if self._shape is not None and shape != self._shape:
                raise MicroscopyError(f"{path}: plane shape {shape} differs from {self._shape} of the first file")
        except MicroscopyError as error:
            fov = self._positions.index(position)
            self.files.mark_problem(key, stat, f"FOV {fov} (position {position}), frame {frame} "
                                               f"(time {self._times[frame]}), channel {channel}: {error}")
            return False
        self._shape = self._shape or shape
        self._stamps[path] = stamps
        self._channel_names.setdefault(channel, name or channel)
        self.files.mark_verified(key, stat)
        return True

    def _named_channels(self) -> tuple[str, ...]:
        """Channel names once a file of every channel has been read (a Micro-Manager file names its channel)."""
        channels = self._channels or ()
        if not all(channel in self._channel_names for channel in channels):
            return ()
        return tuple(self._channel_names[channel] for channel in channels)

    def _landed_file(self, fov: int, t: int, channel: int) -> Path:
        check_index(self.path, "FOV", fov, len(self._positions))
        channels = self._channels or ()
        check_index(self.path, "channel", channel, len(channels), list(channels))
        position = self._positions[fov]
        if not 0 <= t < self._frames.get(position, 0):
            raise MicroscopyError(f"{location(self.path, fov, channel)}: frame {t} has not landed "
                                  f"({self._frames.get(position, 0)} frame(s) have)")
        return self._files[position, channels[channel], self._times[t]]
