"""One run per output directory: an exclusive lock held for the run's lifetime.

The lock is an ``fcntl.flock`` on ``<output_dir>/.pyama-run.lock``: the
operating system releases it when the run ends *or dies*, so a killed run
never blocks the next one. The file records who holds it (host, pid, start
time, input) so that a refused run can name the running one; only its owner
can read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyama_dask.rundir.private import open_private

LOCK_NAME = ".pyama-run.lock"


class RunLockedError(RuntimeError):
    """Another run is writing into the same output directory."""


@contextmanager
def run_lock(output_dir: Path, description: str = "") -> Iterator[None]:
    """Hold the output directory's run lock for the duration of the block.

    Parameters
    ----------
    output_dir
        Existing output directory.
    description
        What the run does (e.g. the input file), recorded for a refused run's message.

    Raises
    ------
    RunLockedError
        Naming the running run (host, pid, start time, input) when the lock is taken.
    """
    path = Path(output_dir) / LOCK_NAME
    # Private: it names the host and process of the run.
    handle = os.fdopen(open_private(path, os.O_RDWR | os.O_APPEND), "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown run"
            raise RunLockedError(
                f"{output_dir} is in use by another pyama-dask run ({holder}); wait for it to finish "
                "or choose another output directory"
            ) from None
        holder = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S"), "run": description})
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(holder)
            handle.flush()
        except OSError as exc:  # e.g. a full disk: a refused run could not name this one
            raise OSError(exc.errno, f"cannot write the run lock {path}: {exc.strerror}") from exc
        yield
    finally:
        handle.close()  # releases the lock


def is_locked(output_dir: Path) -> bool:
    """Whether a run holds the output directory's lock right now.

    Probes with a shared lock that is released at once, so a run starting in
    that same instant could be refused as if another run were going on.
    """
    path = Path(output_dir) / LOCK_NAME
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
