"""The workflow on a real (single-node) Slurm through ``--cluster slurm``.

Worker jobs are submitted by dask-jobqueue; the test watches them in
``squeue`` while the run goes, cancels one in the middle, and compares the
traces with a LocalCluster run of the same data.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pyama_dask.synthetic import SyntheticSpec, generate_dataset

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    spec = SyntheticSpec(n_fovs=4, n_frames=16, size=256, n_cells=9, n_fluorescence=1, seed=5)
    folder = tmp_path_factory.mktemp("slurm-data")
    return generate_dataset(folder, spec, name="movie")


def _config(folder: Path, logs: Path) -> Path:
    path = folder / "run.yaml"
    # Loopback keeps scheduler-worker traffic on this machine; job logs stay out of the repo.
    path.write_text(f"params:\n  min_trace_length: 8\ncluster:\n  interface: lo\n  log_directory: {logs}\n")
    return path


def _run(dataset, out: Path, *extra: str, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pyama_dask", "run", str(dataset.image_path), "--pc", "0", "--fl", "1",
               "--out", str(out), "--config", str(_config(cwd, cwd / "logs")), "--no-progress",
               "--dashboard-address", ":0", *extra]
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
    proc = _run(dataset, folder / "out", "--workers", "2", cwd=folder)
    text, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, text
    return _traces(folder / "out")


def _slurm_run(dataset, tmp_path, cancel_one: bool):
    watcher = QueueWatcher(cancel_one)
    watcher.start()
    proc = _run(dataset, tmp_path / "out", "--cluster", "slurm", "--cores", "1", "--memory", "2GB",
                "--walltime", "00:10:00", "--workers", "2", cwd=tmp_path)
    try:
        text, _ = proc.communicate(timeout=300)
    finally:
        watcher.stop.set()
        watcher.join()
    return proc.returncode, text, watcher


def _wait_for_empty_queue(timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while _queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    return _queue()


def test_run_on_slurm_gives_the_local_traces(local_slurm, dataset, local_reference, tmp_path):
    code, text, watcher = _slurm_run(dataset, tmp_path, cancel_one=False)
    assert code == 0, text
    assert len(watcher.running) >= 2, f"expected two worker jobs in squeue, saw {watcher.running}"
    assert _traces(tmp_path / "out") == local_reference
    assert _wait_for_empty_queue() == []


def test_run_survives_a_cancelled_worker_job(local_slurm, dataset, local_reference, tmp_path):
    code, text, watcher = _slurm_run(dataset, tmp_path, cancel_one=True)
    assert watcher.cancelled is not None, "no job was running to cancel"
    assert code == 0, text
    assert _traces(tmp_path / "out") == local_reference
    assert _wait_for_empty_queue() == []
