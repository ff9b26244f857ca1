"""The workflow on a real (single-node) Slurm through ``--cluster slurm``.

Worker jobs are submitted by dask-jobqueue; the test watches them in
``squeue`` while the run goes, cancels one in the middle, and compares the
traces with a LocalCluster run of the same data. While one run goes, it also
tries to get into its scheduler and dashboard the ways someone else on the
cluster could.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from distributed import Client
from distributed.security import Security

from pyama_dask.rundir.lock import LOCK_NAME
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.synthetic import SyntheticSpec, generate_dataset
from pyama_dask.workflow.security import CERT_FILE, KEY_FILE

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    spec = SyntheticSpec(n_fovs=4, n_frames=16, size=256, n_cells=9, n_fluorescence=1, seed=5)
    folder = tmp_path_factory.mktemp("slurm-data")
    return generate_dataset(folder, spec, name="movie")


def _config(folder: Path, logs: Path) -> Path:
    path = folder / "run.yaml"
    # Loopback keeps scheduler-worker traffic on this machine; job logs and the
    # run's TLS credentials stay out of the repo and the home directory.
    _shared(folder).mkdir(exist_ok=True)
    path.write_text(f"params:\n  min_trace_length: 8\ncluster:\n  interface: lo\n  log_directory: {logs}\n"
                    f"  shared_temp_directory: {_shared(folder)}\n")
    return path


def _shared(folder: Path) -> Path:
    """Where a run in `folder` makes its credentials folder."""
    return folder / "shared"


def _run(dataset, out: Path, *extra: str, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pyama_dask", "run", str(dataset.image_path), "--pc", "0", "--fl", "1",
               "--out", str(out), "--config", str(_config(cwd, cwd / "logs")), "--no-progress", *extra]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _queue() -> list[tuple[str, str]]:
    """(job id, state) of every job in the queue."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True).stdout
    return [tuple(line.split()) for line in out.splitlines()]


class QueueWatcher(threading.Thread):
    """Records every job seen running while a run goes; can cancel one of them once."""

    def __init__(self, cancel_one: bool = False):
        super().__init__(daemon=True)
        self.running: set[str] = set()
        self.cancelled: str | None = None
        self.cancel_one = cancel_one
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            running = {job for job, state in _queue() if state == "RUNNING"}
            self.running |= running
            if self.cancel_one and self.cancelled is None and len(running) >= 2:
                self.cancelled = sorted(running)[0]
                subprocess.run(["scancel", self.cancelled], check=True)
            time.sleep(0.2)


def _traces(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.glob("fov_*/*.csv"))}


@pytest.fixture(scope="module")
def local_reference(dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("local-run")
    proc = _run(dataset, folder / "out", "--workers", "2", "--dashboard-address", ":0", cwd=folder)
    text, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, text
    return _traces(folder / "out")


def _slurm_run(dataset, tmp_path, cancel_one: bool, while_running: Callable[[psutil.Process], None] | None = None):
    """Run on Slurm (dashboard at its default address); call `while_running` on the driver once the run has started."""
    watcher = QueueWatcher(cancel_one)
    watcher.start()
    proc = _run(dataset, tmp_path / "out", "--cluster", "slurm", "--cores", "1", "--memory", "2GB",
                "--walltime", "00:10:00", "--workers", "2", cwd=tmp_path)
    try:
        if while_running is not None:
            _wait_for_run_start(tmp_path / "out", proc)
            while_running(psutil.Process(proc.pid))
        text, _ = proc.communicate(timeout=300)
    finally:
        watcher.stop.set()
        watcher.join()
    return proc.returncode, text, watcher


def _wait_for_run_start(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        log = run_log_path(out)
        if log.exists() and any(record["event"] == "run-start" for record in read_records(log)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no run-start in {run_log_path(out)} (driver exit code {proc.poll()})")


class AccessProbe:
    """Tries to get into a running run's scheduler and dashboard, and records what it found."""

    def __init__(self, out: Path, shared: Path):
        self.out, self.shared = out, shared
        self.found: dict = {}

    def __call__(self, driver: psutil.Process) -> None:
        start = next(r for r in read_records(run_log_path(self.out)) if r["event"] == "run-start")
        scheduler, dashboard = start["scheduler"], urlsplit(start["dashboard"])
        [folder] = self.shared.iterdir()
        cert, key = str(folder / CERT_FILE), str(folder / KEY_FILE)
        the_runs = Security(require_encryption=True, tls_ca_file=cert, tls_client_cert=cert, tls_client_key=key)
        self.found = {
            "scheduler": scheduler,
            "dashboard host": dashboard.hostname,
            "dashboard listens on": {c.laddr.ip for c in driver.net_connections("inet")
                                     if c.status == psutil.CONN_LISTEN and c.laddr.port == dashboard.port},
            "dashboard from the network": _accepts(_network_address(), dashboard.port),
            "modes": {"credentials folder": _mode(folder), "certificate": _mode(folder / CERT_FILE),
                      "key": _mode(folder / KEY_FILE), "lock": _mode(self.out / LOCK_NAME),
                      "run log": _mode(run_log_path(self.out))},
            "with the run's credentials": _connects(scheduler, the_runs),
            "with other credentials": _connects(scheduler, Security.temporary()),
            "over plain TCP": _connects(scheduler.replace("tls://", "tcp://"), Security()),
        }


def _connects(address: str, security: Security) -> bool:
    """Whether a dask client gets into the scheduler at `address` with `security`."""
    try:
        with Client(address, security=security, timeout="3s") as client:
            return client.run_on_scheduler(lambda: True)
    except OSError:
        return False


def _network_address() -> str | None:
    """An IPv4 address of this machine other than loopback, if it has one."""
    return next((a.address for addresses in psutil.net_if_addrs().values() for a in addresses
                 if a.family == socket.AF_INET and not a.address.startswith("127.")), None)


def _accepts(host: str | None, port: int) -> bool | None:
    if host is None:
        return None
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _wait_for_empty_queue(timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while _queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    return _queue()


def test_run_on_slurm_gives_the_local_traces_and_lets_in_only_its_own(local_slurm, dataset, local_reference,
                                                                       tmp_path):
    probe = AccessProbe(tmp_path / "out", _shared(tmp_path))
    code, text, watcher = _slurm_run(dataset, tmp_path, cancel_one=False, while_running=probe)
    assert code == 0, text
    assert len(watcher.running) >= 2, f"expected two worker jobs in squeue, saw {watcher.running}"
    assert _traces(tmp_path / "out") == local_reference
    assert _wait_for_empty_queue() == []

    found = probe.found
    # Only a client holding the run's credentials gets into its scheduler.
    assert found["scheduler"].startswith("tls://")
    assert found["with the run's credentials"] is True
    assert found["with other credentials"] is False
    assert found["over plain TCP"] is False
    # The dashboard is on loopback only, out of the network's reach.
    assert found["dashboard host"] == "127.0.0.1"
    assert found["dashboard listens on"] == {"127.0.0.1"}
    assert found["dashboard from the network"] in (False, None)  # None: this machine has no other address
    # The credentials, the lock and the run log are the user's alone; the credentials are gone afterwards.
    assert found["modes"] == {"credentials folder": 0o700, "certificate": 0o600, "key": 0o600, "lock": 0o600,
                              "run log": 0o600}
    assert list(_shared(tmp_path).iterdir()) == []


def test_run_survives_a_cancelled_worker_job(local_slurm, dataset, local_reference, tmp_path):
    code, text, watcher = _slurm_run(dataset, tmp_path, cancel_one=True)
    assert watcher.cancelled is not None, "no job was running to cancel"
    assert code == 0, text
    assert _traces(tmp_path / "out") == local_reference
    assert _wait_for_empty_queue() == []
