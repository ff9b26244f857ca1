"""Runs killed or interrupted in the middle resume to the outputs of an uninterrupted run.

The driver runs as a separate process (``pyama-dask run``) in its own process
group, so the test can kill it, and its LocalCluster, at a chosen moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from run_outputs import assert_same_outputs

from pyama_dask.io.store import STORE_NAME
from pyama_dask.synthetic import SyntheticSpec, generate_dataset

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    spec = SyntheticSpec(n_fovs=3, n_frames=16, size=256, n_cells=9, n_fluorescence=1, seed=3)
    folder = tmp_path_factory.mktemp("interrupt")
    (folder / "run.yaml").write_text("params:\n  min_trace_length: 8\n")
    return generate_dataset(folder, spec, name="movie")


def _command(dataset, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pyama_dask", "run", str(dataset.image_path), "--pc", "0", "--fl", "1",
            "--out", str(out), "--config", str(dataset.image_path.parent / "run.yaml"), "--batch-size", "1", "--workers", "1", "--no-progress",
            "--dashboard-address", ":0", *extra]


def _run(dataset, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_command(dataset, out, *extra), capture_output=True, text=True, timeout=240,
                          env=None if env is None else {**os.environ, **env})


def _start(dataset, out: Path) -> subprocess.Popen:
    return subprocess.Popen(_command(dataset, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for(path_glob: str, root: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(root.glob(path_glob)):
            return
        assert proc.poll() is None, f"run ended before {path_glob} appeared:\n{proc.stdout.read()}"
        time.sleep(0.05)
    raise AssertionError(f"{path_glob} did not appear within {timeout} s")


def _live_processes(group: int, within: float) -> list[str]:
    """Processes of a process group still alive (not zombies) after waiting up to ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        ps = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(group)], capture_output=True, text=True)
        live = [line for line in ps.stdout.splitlines() if "Z" not in line.split()[1]]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.2)


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    result = _run(dataset, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_killed_run_resumes_to_identical_outputs(dataset, reference, tmp_path):
    out = tmp_path / "out"
    proc = _start(dataset, out)
    # Kill driver and workers once the second FOV's copy is under way.
    _wait_for(f"{STORE_NAME}/fov_001/pc_ch_0/zarr.json", out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _live_processes(proc.pid, within=10) == [], "worker processes outlived the killed run"
    assert not (out / "fov_002").exists(), "the run was meant to be killed before its end"

    result = _run(dataset, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already complete, skipped" in result.stdout
    assert_same_outputs(out, reference)
    doc = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert list(doc["results_paths"]) == ["0", "1", "2"]


def test_ctrl_c_cancels_closes_the_cluster_and_keeps_complete_outputs(dataset, reference, tmp_path):
    out = tmp_path / "out"
    proc = _start(dataset, out)
    _wait_for(f"{STORE_NAME}/fov_001/pc_ch_0/zarr.json", out, proc)
    os.killpg(proc.pid, signal.SIGINT)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, text
    assert "interrupted" in text and "Traceback" not in text
    assert _live_processes(proc.pid, within=10) == [], "worker processes left behind"

    result = _run(dataset, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_outputs(out, reference)


def _test_certificates(folder: Path) -> tuple[list[str], dict[str, str]]:
    """A certificate and key made for the test: the options of a TLS scheduler and worker, and a client's config."""
    from distributed.security import Security

    made = Security.temporary()
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_text(made.tls_scheduler_cert)
    key.write_text(made.tls_scheduler_key)
    options = ["--protocol", "tls", "--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    client_config = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
                     "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
                     "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key),
                     "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
    return options, client_config


@pytest.mark.parametrize("protocol", ["tcp", "tls"])
def test_run_on_a_separately_started_scheduler(dataset, reference, tmp_path, protocol):
    tls_options, client_config = _test_certificates(tmp_path) if protocol == "tls" else ([], {})
    scheduler_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen([*dask, "--scheduler-file", str(scheduler_file), "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", *tls_options], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                   str(scheduler_file), "--nthreads", "1", "--nworkers", "2", *tls_options],
                                  start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import json

            address = json.loads(scheduler_file.read_text())["address"]
            out = tmp_path / "out"
            result = _run(dataset, out, "--scheduler", address, env=client_config)
            assert result.returncode == 0, result.stdout + result.stderr
            assert_same_outputs(out, reference)
            assert address.startswith(f"{protocol}://")
            # A plain TCP scheduler reachable from the network is named in a warning; a TLS one is not.
            warned = f"the scheduler at {address} takes plain TCP connections without credentials" in result.stderr
            assert warned == (protocol == "tcp" and not address.startswith("tcp://127."))
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=30)
