"""Inputs that grow: an acquisition read while the microscope still writes it.

:func:`open_growing` opens a folder of per-plane TIFF files
(:mod:`pyama_dask.io.inputs.growing_tiff`) or an OME-Zarr image whose T axis grows
(:mod:`pyama_dask.io.inputs.growing_zarr`) as a :class:`GrowingSource`:

- ``scan()`` says what has landed: a frame of a FOV counts only when every channel
  of it is complete (its file unchanged for ``settle_seconds`` and readable, or its
  Zarr chunks present and decodable), and frames count from 0 without gaps. A file
  that stays unreadable is reported in ``problems`` (and logged once), not raised;
- ``wait(timeout)`` blocks until the files change: on file-system events where the
  system delivers them (watchdog), and by comparing listings every
  ``poll_interval`` seconds in any case, because network file systems deliver none;
- the acquisition ends when a file named :data:`END_MARKER` appears in the folder
  (in or next to the Zarr).

FOVs and channels are learnt from the first time point: they are final once the
first FOV has a second frame, or the acquisition has ended.

ND2 files are refused: NIS-Elements writes an ND2's index at the end of the file,
so a growing ND2 cannot be read. When the acquisition is over, the batch readers
(:func:`~pyama_dask.io.inputs.microscopy.load_microscopy_file`) read the same
data and give the same channels, FOVs, frames, times and pixels.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from pyama_dask.io.inputs.common import MicroscopyError, MicroscopyMetadata, ZChoice
from pyama_dask.io.inputs.file_watch import EventWatcher, SettledFiles, file_stats

logger = logging.getLogger(__name__)

#: A file of this name in the acquisition's folder (in or next to its Zarr) ends the acquisition.
END_MARKER = "acquisition_complete"
#: The input layouts that can grow.
LAYOUTS = ("tiff-folder", "ome-zarr")
#: Default seconds between two listings when no file-system event arrives.
POLL_INTERVAL = 2.0
#: Default seconds a file's size and modification time must stay unchanged before it is read.
SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class Landed:
    """What a growing acquisition holds now.

    Attributes
    ----------
    fovs : tuple of int
        FOV indices seen so far (sorted); final once the first FOV has two frames or ``ended``.
    channels : tuple of str
        Channel names in the order the batch reader gives them (index = channel number);
        empty until the first frame can land.
    frames : dict of int to int
        Per FOV: number of complete frames 0..n-1 (contiguous from 0, every channel complete).
    ended : bool
        The acquisition's end marker is present.
    problems : tuple of str
        Bad frames seen (file, FOV, t, channel and what is wrong): reported, not fatal.
    """

    fovs: tuple[int, ...]
    channels: tuple[str, ...]
    frames: dict[int, int]
    ended: bool
    problems: tuple[str, ...]


class FrameRef(Protocol):
    """Where one landed frame of one channel lies: small and picklable, read in any process (a Dask worker)."""

    def read(self, z: ZChoice = 0) -> np.ndarray:
        """The frame as a 2-D uint16 array: Z plane ``z``, or the maximum over Z (``"max"``)."""


class GrowingSource(ABC):
    """An acquisition that grows while it is read; one subclass per layout.

    Parameters
    ----------
    path : Path
        The folder or the OME-Zarr.
    poll_interval : float
        Seconds between two listings in :meth:`wait` (the fallback when no
        file-system event arrives, e.g. on network file systems).
    use_events : bool
        Whether :meth:`wait` also listens to file-system events (watchdog).
    settle_seconds : float
        Seconds a file must stay unchanged before it is read.
    """

    layout: str

    def __init__(self, path: Path, *, poll_interval: float = POLL_INTERVAL, use_events: bool = True,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        if poll_interval <= 0:
            raise ValueError(f"{path}: poll_interval must be > 0 seconds, got {poll_interval}")
        self.path = path
        self.poll_interval = poll_interval
        self.files = SettledFiles(settle_seconds)
        self._watcher = EventWatcher(self._watched_folders()) if use_events else None
        self._listing = self._list_files()  # what polling compares with: the files as they were opened

    @abstractmethod
    def scan(self) -> Landed:
        """What has landed now; cheap enough to call every second."""

    @abstractmethod
    def frame_ref(self, fov: int, t: int, channel: int) -> FrameRef:
        """Where a landed frame of one channel lies (MicroscopyError when it has not landed)."""

    def read_frame(self, fov: int, t: int, channel: int, z: ZChoice = 0) -> np.ndarray:
        """One landed frame of one channel as a 2-D uint16 array (Z: the plane, or ``"max"``)."""
        return self.frame_ref(fov, t, channel).read(z)

    @abstractmethod
    def metadata(self) -> MicroscopyMetadata:
        """The metadata the batch reader gives, for the frames landed so far."""

    @abstractmethod
    def frame_times(self, fov: int, n: int) -> list[float]:
        """Minutes of frames 0..n-1 of ``fov``, by the batch reader's rules."""

    @abstractmethod
    def _watched_folders(self) -> list[tuple[Path, bool]]:
        """Folders whose changes :meth:`wait` listens to, each with whether its sub-folders count."""

    def end_marker_present(self) -> bool:
        """Whether the end marker is in the folder (in or next to the Zarr)."""
        return any((folder / END_MARKER).exists() for folder, _ in self._watched_folders())

    def wait(self, timeout: float) -> bool:
        """Block until something changed or ``timeout`` passed.

        Something changed: a file-system event came, a listing differs from the
        last one, or a file the last :meth:`scan` found still settling has now
        settled (the next scan may find a new frame).

        Returns
        -------
        bool
            True when something changed.
        """
        deadline = time.monotonic() + timeout
        settling = self.files.next_settled  # a file waiting to settle is news when it has
        if settling is not None:
            deadline = min(deadline, settling)
        if self._watcher is not None:
            self._watcher.watch(self._watched_folders())  # folders made since (the acquisition's, its arrays')
        while True:
            if settling is not None and time.monotonic() >= settling:
                return True
            remaining = deadline - time.monotonic()
            step = max(0.0, min(self.poll_interval, remaining))
            if self._watcher is not None and self._watcher.wait(step):
                self._listing = self._list_files()
                return True
            if self._watcher is None:
                time.sleep(step)
            listing = self._list_files()
            if listing != self._listing:
                self._listing = listing
                return True
            if time.monotonic() >= deadline:
                return settling is not None and time.monotonic() >= settling

    def close(self) -> None:
        """Stop listening to file-system events."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def __enter__(self) -> GrowingSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _list_files(self) -> frozenset[tuple[str, int, int]]:
        """(path, size, mtime) of every file of the watched folders: what polling compares."""
        listing = []
        for folder, recursive in self._watched_folders():
            listing.extend(file_stats(folder, recursive))
        return frozenset(listing)


def open_growing(path: str | Path, pattern: str | None = None, *, poll_interval: float = POLL_INTERVAL,
                 use_events: bool = True, settle_seconds: float = SETTLE_SECONDS) -> GrowingSource:
    """Open an acquisition that may still grow.

    Parameters
    ----------
    path : str or Path
        A folder of per-plane TIFF files (it may not exist yet, or be empty), or
        an OME-Zarr directory (``*.zarr``).
    pattern : str, optional
        Of a TIFF folder: the regular expression naming its files (named groups
        ``channel``, ``position``, ``time``); by default MetaMorph's or
        Micro-Manager's naming, whichever the files follow.
    poll_interval, use_events, settle_seconds
        See :class:`GrowingSource`.

    Raises
    ------
    MicroscopyError
        For an ND2 file (NIS-Elements writes its index at the end of the file, so
        a growing ND2 cannot be read) and any other single file: only a folder of
        per-plane TIFFs or an OME-Zarr can grow.
    """
    path = Path(path)
    options = {"poll_interval": poll_interval, "use_events": use_events, "settle_seconds": settle_seconds}
    if path.suffix.lower() == ".nd2":
        raise MicroscopyError(
            f"{path}: an ND2 file cannot be followed while it is acquired: NIS-Elements writes the file's index "
            "at its end, so a growing ND2 cannot be read. Acquire to a folder of TIFF files or an OME-Zarr to "
            "process while acquiring, or process the ND2 once it is complete"
        )
    if _is_zarr_path(path):
        from pyama_dask.io.inputs.growing_zarr import GrowingOmeZarr

        if pattern is not None:
            raise MicroscopyError(f"{path}: a file name pattern ({pattern!r}) applies to a TIFF folder, not an OME-Zarr")
        return GrowingOmeZarr(path, **options)
    if path.is_file():
        raise MicroscopyError(
            f"{path}: a single {path.suffix or 'extension-less'} file cannot be followed as it grows: only a "
            f"folder of per-plane TIFF files or an OME-Zarr image can ({', '.join(LAYOUTS)})"
        )
    from pyama_dask.io.inputs.growing_tiff import GrowingTiffFolder

    return GrowingTiffFolder(path, pattern, **options)


def _is_zarr_path(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or (path / "zarr.json").exists() or (path / ".zattrs").exists()
