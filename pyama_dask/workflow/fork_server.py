"""The process local workers are forked from, its imports done once and early.

A local worker started the default way (``spawn``) is a fresh interpreter:
it imports distributed and, in its preload, every library the steps use,
about 2.5 s of CPU per worker, all while the run waits. Started from
multiprocessing's fork server instead, a worker is a fork of one process that
has done those imports already, so it is ready at once; and the fork server
can start as soon as ``pyama-dask run`` does (:func:`start_fork_server`), so
that its imports overlap with the driver's own imports and its reading of
the input's metadata.

What a worker must have from its first instruction, the fork server gets at
its start: :data:`~pyama_dask.workflow.allocator.WORKER_ENVIRONMENT` (glibc
reads it once, when the process starts, and forked workers inherit the
resulting malloc state) and an ignored SIGINT (a worker forked from it keeps
running on Ctrl-C while the driver cancels the tasks and closes the cluster
in order; see :func:`sigint_ignored`).

This module imports only the standard library and the allocator's settings:
the command line calls :func:`start_fork_server` before importing Dask.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator

from pyama_dask.workflow.allocator import WORKER_ENVIRONMENT

logger = logging.getLogger(__name__)

#: Modules the fork server imports before forking any worker: Dask's worker and the worker preload (the steps).
FORK_SERVER_PRELOAD = ("distributed", "pyama_dask.workflow.preload")
#: The start method of local workers where the fork server is available.
FORK_SERVER = "forkserver"


def start_fork_server() -> bool:
    """Start the fork server local workers come from, unless it runs already; return whether it does.

    Returns at once: the fork server imports :data:`FORK_SERVER_PRELOAD` in
    its own process while the caller goes on. False where there is no fork
    server (Windows), or, off the main thread (where SIGINT cannot be
    ignored), when none runs yet: local workers are then spawned.
    """
    if FORK_SERVER not in multiprocessing.get_all_start_methods():
        return False
    if threading.current_thread() is not threading.main_thread():
        # Started here, the server and its workers would take Ctrl-C.
        return _server_pid() is not None
    from multiprocessing import forkserver

    multiprocessing.get_context(FORK_SERVER).set_forkserver_preload(list(FORK_SERVER_PRELOAD))
    before = _server_pid()
    # Started once; started again only if it died.
    with sigint_ignored(), _environment(WORKER_ENVIRONMENT):
        forkserver.ensure_running()
    if _server_pid() != before:
        logger.debug("started the fork server of the local workers")
    return True


def _server_pid() -> int | None:
    """The process id of this process's fork server, None when it has none (or it was stopped)."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


@contextlib.contextmanager
def fork_server_for_command() -> Iterator[None]:
    """Start the fork server for one command; at its end, end the fork server too when it was not running before.

    Left alone, the fork server ends after the command does, but only once
    it has finished its imports (seconds, when the command failed at once)
    and its interpreter's teardown; a command whose output is piped (``|
    tee``, a test's ``capture_output``) is not over until then, as the fork
    server holds the same stdout and stderr. Its workers are closed by the
    time the command ends, so nothing of it is needed any more.
    """
    from multiprocessing import forkserver

    before = _server_pid()
    start_fork_server()
    started = _server_pid()
    try:
        yield
    finally:
        pid = _server_pid()
        if pid is not None and pid == started != before:  # started for this command
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            # Reaped and forgotten: the next start is a fresh one, with SIGINT ignored again.
            forkserver._forkserver._stop()
            logger.debug("ended the fork server of the local workers (pid %d)", pid)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process, and so in the worker processes started meanwhile.

    A terminal sends Ctrl-C's SIGINT to the whole process group; workers that
    inherit an ignored SIGINT keep running (no tracebacks, no half-written
    chunks) while the driver cancels the tasks and closes the cluster in order.
    Off the main thread, where signals cannot be set, nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the processes started in the block, then restore this process's."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
