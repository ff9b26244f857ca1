"""Watching files that are being written: when they have settled, and file-system events.

:class:`SettledFiles` tells when a file has stopped changing and remembers which
were read whole or found unreadable; :class:`EventWatcher` turns file-system
events (watchdog) into a flag to wait on; :func:`file_stats` lists files for polling.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

#: A file's (size, modification time in ns).
FileStat = tuple[int, int]
# File-system event kinds that mean new data (opening and reading files, ours included, are none).
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})
#: Shortest wait before looking again for data announced but not written yet (no loop spins).
_SHORTEST_RECHECK = 0.1


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


def file_stats(folder: Path, recursive: bool) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every file in ``folder`` (and below, if ``recursive``); none if it is missing."""
    stats = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file():
                    stat = entry.stat()
                    stats.append((entry.path, stat.st_size, stat.st_mtime_ns))
                elif recursive and entry.is_dir():
                    stats.extend(file_stats(Path(entry.path), recursive))
    except FileNotFoundError:  # not created yet (or removed): nothing in it
        pass
    return stats


class EventWatcher:
    """File-system events of some folders, as a flag :meth:`wait` blocks on (watchdog).

    Folders that do not exist yet are watched once they do (:meth:`watch`).
    Where events cannot be had (no inotify), it stays silent and
    :class:`~pyama_dask.io.inputs.growing.GrowingSource` relies on polling.
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
