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
  (or next to the Zarr).

ND2 files are refused: NIS-Elements writes an ND2's index at the end of the file,
so a growing ND2 cannot be read. When the acquisition is over, the batch readers
(:func:`~pyama_dask.io.inputs.microscopy.load_microscopy_file`) read the same
data and give the same channels, FOVs, frames, times and pixels.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from pyama_dask.io.inputs.common import MicroscopyError, MicroscopyMetadata, ZChoice

logger = logging.getLogger(__name__)

#: A file of this name in the acquisition's folder (or next to its Zarr) ends the acquisition.
END_MARKER = "acquisition_complete"
#: The input layouts that can grow.
LAYOUTS = ("tiff-folder", "ome-zarr")
#: Default seconds between two listings when no file-system event arrives.
POLL_INTERVAL = 2.0
#: Default seconds a file's size and modification time must stay unchanged before it is read.
SETTLE_SECONDS = 1.0
#: Shortest wait before looking again for data announced but not written yet (no loop spins).
_SHORTEST_RECHECK = 0.1
# File-system event kinds that mean new data (opening and reading files, ours included, are none).
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})
#: A file's (size, modification time in ns).
FileStat = tuple[int, int]


@dataclass(frozen=True)
class Landed:
    """What a growing acquisition holds now.

    Attributes
    ----------
    fovs : tuple of int
        FOV indices seen so far (sorted).
    channels : tuple of str
        Channel names in the order the batch reader gives them (index = channel number).
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


class SettledFiles:
    """Tells which files have stayed unchanged for ``settle_seconds``, and remembers those read whole.

    A file still being written changes size or modification time; one left
    unchanged that long and readable is complete (reading it whole is the
    check that matters: a writer that stalls longer leaves a file that fails
    to read, and is looked at again when it changes). A file that is settled
    but unreadable is a problem, logged once per state of the file.
    """

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._first_seen: dict[str, tuple[FileStat, float]] = {}
        self._verified: dict[str, FileStat] = {}
        self._problems: dict[str, tuple[FileStat, str]] = {}
        #: When the earliest file the last scan found unsettled will have settled (monotonic clock), or None.
        self.next_settled: float | None = None

    def begin_scan(self) -> None:
        """Forget when the files of the previous scan were due to settle."""
        self.next_settled = None

    def settled(self, path: str, stat: FileStat) -> bool:
        """Whether ``path`` has had this non-empty ``stat`` for ``settle_seconds``.

        Either its modification time is that old (files found on opening, or
        after a restart, need no wait), or it was seen unchanged that long (a
        writer whose clock runs behind ours).
        """
        now = time.monotonic()
        seen = self._first_seen.get(path)
        if seen is None or seen[0] != stat:
            self._first_seen[path] = seen = (stat, now)
        if stat[0] == 0:
            return False
        modified_ago = time.time() - stat[1] / 1e9
        due = min(seen[1], now - max(modified_ago, 0.0)) + self.settle_seconds
        if now >= due:
            return True
        self._due(due)
        return False

    def expect_soon(self) -> None:
        """Data is announced but not written yet (a Zarr's shape ahead of its chunks): look again shortly."""
        self._due(time.monotonic() + max(self.settle_seconds, _SHORTEST_RECHECK))

    def _due(self, moment: float) -> None:
        self.next_settled = moment if self.next_settled is None else min(self.next_settled, moment)

    def verified(self, path: str, stat: FileStat) -> bool:
        """Whether ``path`` was read whole in this very state."""
        return self._verified.get(path) == stat

    def mark_verified(self, path: str, stat: FileStat) -> None:
        """Record that ``path`` was read whole; a problem it had is gone."""
        self._verified[path] = stat
        self._problems.pop(path, None)

    def mark_problem(self, path: str, stat: FileStat, problem: str) -> None:
        """Record that ``path``, settled, cannot be read; logged once per state of the file."""
        if self._problems.get(path, (None, ""))[0] != stat:
            logger.warning("%s", problem)
        self._problems[path] = (stat, problem)

    @property
    def problems(self) -> tuple[str, ...]:
        """Current problems, by file path."""
        return tuple(problem for _, (_, problem) in sorted(self._problems.items()))


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
        self._watcher = _EventWatcher(self._watched_folders()) if use_events else None
        self._listing = self._list_files()  # what polling compares with: the files as they were opened

    @abstractmethod
    def scan(self) -> Landed:
        """What has landed now; cheap enough to call every second."""

    @abstractmethod
    def read_frame(self, fov: int, t: int, channel: int, z: ZChoice = 0) -> np.ndarray:
        """One landed frame of one channel as a 2-D uint16 array (Z: the plane, or ``"max"``)."""

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
        """Whether the end marker is in the folder (or next to the Zarr)."""
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
            listing.extend(_file_stats(folder, recursive))
        return frozenset(listing)


def _file_stats(folder: Path, recursive: bool) -> list[tuple[str, int, int]]:
    stats = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file():
                    stat = entry.stat()
                    stats.append((entry.path, stat.st_size, stat.st_mtime_ns))
                elif recursive and entry.is_dir():
                    stats.extend(_file_stats(Path(entry.path), recursive))
    except FileNotFoundError:  # not created yet (or removed): nothing in it
        pass
    return stats


class _EventWatcher:
    """File-system events of some folders, as a flag :meth:`wait` blocks on (watchdog).

    Folders that do not exist yet are watched once they do (:meth:`watch`).
    Where events cannot be had (no inotify), it stays silent and
    :class:`GrowingSource` relies on polling.
    """

    def __init__(self, folders: list[tuple[Path, bool]]) -> None:
        self._changed = threading.Event()
        self._observer = None
        self._watched: set[tuple[Path, bool]] = set()
        try:
            from watchdog.observers import Observer

            observer = Observer()
            observer.daemon = True
            observer.start()
            self._observer = observer
        except Exception as error:  # events are an optimisation: polling still sees every change
            logger.info("no file-system events for %s (%s); polling instead", folders[0][0], error)
        self.watch(folders)

    def watch(self, folders: list[tuple[Path, bool]]) -> None:
        """Listen to those of ``folders`` that exist and are not listened to yet."""
        if self._observer is None:
            return
        from watchdog.events import FileSystemEventHandler

        changed = self._changed

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001 (watchdog's event type)
                if event.event_type in _CHANGE_EVENTS:
                    changed.set()

        for folder, recursive in folders:
            if (folder, recursive) in self._watched or not folder.is_dir():
                continue
            try:
                self._observer.schedule(_Handler(), str(folder), recursive=recursive)
            except OSError as error:  # e.g. no inotify watch left: polling sees this folder's changes
                logger.info("no file-system events for %s (%s); polling instead", folder, error)
            self._watched.add((folder, recursive))

    def wait(self, timeout: float) -> bool:
        """Whether an event came within ``timeout`` seconds (the flag is cleared)."""
        if self._observer is None:
            time.sleep(timeout)
            return False
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    @property
    def delivers_events(self) -> bool:
        """Whether events come at all (else :meth:`wait` only sleeps)."""
        return self._observer is not None

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


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
