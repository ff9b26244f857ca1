"""A growing source for the follow run's tests until the simulator writes one: a finished synthetic file whose frames are revealed one by one."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyama_dask.io.inputs.common import MicroscopyError
from pyama_dask.io.inputs.microscopy import open_fov_reader, read_metadata


@dataclass(frozen=True)
class Landed:
    fovs: tuple[int, ...]
    channels: tuple[str, ...]
    frames: dict[int, int]
    ended: bool
    problems: tuple[str, ...] = ()


class RevealedSource:
    """The frames of ``path`` landing one time point (every FOV) per ``scan``, the end marker with the last.

    ``start`` time points have landed before the first scan; at ``pause_at``
    time points the acquisition pauses for ``pause`` seconds.
    """

    layout = "test-reveal"

    def __init__(self, path: Path, start: int = 1, pause_at: int | None = None, pause: float = 0.0) -> None:
        self.path = Path(path)
        self._metadata = read_metadata(self.path)
        self.revealed = start
        self.pause_at, self.pause, self._paused_since = pause_at, pause, None

    def scan(self) -> Landed:
        n = min(self.revealed, self._metadata.n_frames)
        if n == self.pause_at and (self._paused_since is None or time.monotonic() - self._paused_since < self.pause):
            self._paused_since = self._paused_since or time.monotonic()  # the acquisition stops for a while
        else:
            self.revealed += 1
        return Landed(tuple(range(self._metadata.n_fovs)), tuple(self._metadata.channel_names),
                      {fov: n for fov in range(self._metadata.n_fovs)}, n >= self._metadata.n_frames)

    def read_frame(self, fov: int, t: int, channel: int, z=0) -> np.ndarray:
        with open_fov_reader(self.path, fov) as reader:
            return reader.read(channel, slice(t, t + 1), z)[0]

    def metadata(self):
        """The batch reader's metadata of the frames landed so far (all of them once the acquisition ended)."""
        n = min(self.revealed, self._metadata.n_frames)
        return dataclasses.replace(self._metadata, n_frames=n, timepoints=list(self._metadata.timepoints[:n]),
                                   fov_shapes=[(n, *shape[1:]) for shape in self._metadata.fov_shapes])

    def frame_times(self, fov: int, n: int) -> list[float]:
        return list(self._metadata.timepoints[:n])

    def wait(self, timeout: float) -> bool:
        """Something may change while frames are left to land."""
        time.sleep(min(timeout, 0.05))
        return self.revealed <= self._metadata.n_frames


class FailingSource(RevealedSource):
    """A :class:`RevealedSource` whose frames of ``fov`` from ``frame`` on cannot be read."""

    def __init__(self, path: Path, fov: int, frame: int, **options) -> None:
        super().__init__(path, **options)
        self.fov, self.frame = fov, frame

    def read_frame(self, fov: int, t: int, channel: int, z=0) -> np.ndarray:
        if fov == self.fov and t >= self.frame:
            raise OSError(f"{self.path}: FOV {fov}, frame {t} cannot be read")
        return super().read_frame(fov, t, channel, z)


class LateStampsSource(RevealedSource):
    """A :class:`RevealedSource` whose time stamps of a FOV's newest frame are known only one scan later.

    As a source taking every FOV's stamps from FOV 0, when another FOV's frame lands first.
    """

    def frame_times(self, fov: int, n: int) -> list[float]:
        if fov > 0 and n >= min(self.revealed, self._metadata.n_frames + 1) - 1 and n < self._metadata.n_frames:
            raise MicroscopyError(f"{self.path}: times of {n} frames asked, FOV 0 has fewer")
        return super().frame_times(fov, n)
