"""Local workers forked from the fork server: its imports made once, its environment and signals those of a worker."""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from distributed import Client

from pyama_dask.cli import _starts_local_workers
from pyama_dask.workflow.allocator import WORKER_ENVIRONMENT
from pyama_dask.workflow.clusters import make_cluster
from pyama_dask.workflow.fork_server import FORK_SERVER_PRELOAD, fork_server_for_command, start_fork_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the fork server is POSIX")


def test_local_workers_are_forked_from_one_fork_server_that_made_the_imports() -> None:
    driver_environment = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    assert start_fork_server()
    with make_cluster("local", n_workers=2, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        parents = set(client.run(os.getppid).values())
        preloaded = client.run(lambda: [name in sys.modules for name in ("distributed", "pyama_dask.pipeline.tasks")])
        # Frozen after the imports: the collector and the interpreter's teardown skip them.
        frozen = client.run(lambda: __import__("gc").get_freeze_count())
    assert len(parents) == 1 and os.getpid() not in parents
    server = parents.pop()
    command = Path(f"/proc/{server}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "multiprocessing.forkserver" in command
    assert all(name in command for name in FORK_SERVER_PRELOAD)
    environment = Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
    assert all(f"{name}={value}".encode() in environment for name, value in WORKER_ENVIRONMENT.items())
    assert list(preloaded.values()) == [[True, True]] * 2
    assert min(frozen.values()) > 100_000
    # The driver's own environment is left as it was.
    assert {name: os.environ.get(name) for name in WORKER_ENVIRONMENT} == driver_environment


def test_the_fork_server_ignores_ctrl_c_and_the_driver_does_not() -> None:
    driver_handler = signal.getsignal(signal.SIGINT)
    assert start_fork_server()
    with make_cluster("local", n_workers=1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        handlers = client.run(lambda: int(__import__("signal").getsignal(__import__("signal").SIGINT)))
    assert list(handlers.values()) == [int(signal.SIG_IGN)]
    assert signal.getsignal(signal.SIGINT) is driver_handler


def _server_pid() -> int | None:
    from multiprocessing import forkserver

    return forkserver._forkserver._forkserver_pid


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (neither gone nor a zombie waiting to be reaped)."""
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _ended(pid: int) -> bool:
    """Whether process ``pid`` ends within a few seconds."""
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def _exited_unreaped(pid: int) -> bool:
    """Whether child ``pid`` has exited within a few seconds, left for its parent's ``waitpid`` to reap.

    Its /proc entry says "zombie" before every thread has ended; ``waitpid``
    reports the exit only after.
    """
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


def test_a_command_ends_the_fork_server_it_started_and_leaves_one_running_before() -> None:
    assert start_fork_server()
    running = _server_pid()
    with fork_server_for_command():
        assert _server_pid() == running
    assert _running(running)
    os.kill(running, signal.SIGKILL)  # as if it had died: the command starts its own
    assert _exited_unreaped(running)
    with fork_server_for_command():
        started = _server_pid()
        assert started != running
    assert _ended(started)
    assert start_fork_server() and _server_pid() not in (running, started)  # started again when asked


def test_off_the_main_thread_a_fork_server_is_used_but_not_started() -> None:
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # none running: started off the main thread, it would take Ctrl-C
    with ThreadPoolExecutor(1) as thread:
        assert not thread.submit(start_fork_server).result()
        assert _server_pid() is None
        assert start_fork_server()  # on the main thread
        assert thread.submit(start_fork_server).result()
    with make_cluster("local", n_workers=1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        handlers = client.run(lambda: int(__import__("signal").getsignal(__import__("signal").SIGINT)))
    assert list(handlers.values()) == [int(signal.SIG_IGN)]


@pytest.mark.parametrize(("argv", "local"), [
    (["run", "in.tif", "--out", "o"], True),
    (["-v", "demo", "--workers", "3"], True),
    (["run", "in.tif", "--out", "o", "--cluster", "local"], True),
    (["run", "in.tif", "--out", "o", "--cluster=local"], True),
    (["run", "in.tif", "--out", "o", "--cluster", "slurm"], False),
    (["run", "in.tif", "--out", "o", "--cluster=pbs"], False),
    (["run", "in.tif", "--out", "o", "--scheduler", "tcp://127.0.0.1:8786"], False),
    (["run", "in.tif", "--out", "o", "--scheduler=tcp://127.0.0.1:8786"], False),
    (["run", "--help"], False),
    (["demo", "--dry-run"], False),
    (["info", "in.tif"], False),
    (["status", "o"], False),
])
def test_the_command_line_starts_the_fork_server_for_local_runs_only(argv: list[str], local: bool) -> None:
    assert _starts_local_workers(argv) is local
