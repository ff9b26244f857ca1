"""Fixtures for the integration tests: a real single-node Slurm."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCAL_SLURM = Path(__file__).resolve().parents[2] / "deploy" / "local-slurm"
SLURM_COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")
# start.sh's exit code when Slurm is missing and cannot be installed.
CANNOT_INSTALL = 3
START_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[Path]:
    """A single-node Slurm for the session; yields its slurm.conf.

    Starts it with deploy/local-slurm/start.sh (installing Slurm with apt-get
    when needed), sets ``SLURM_CONF`` for the session, and stops it at the end
    unless another test session is still using it or it was running before.
    Skips where it cannot be started: not root, not Debian, apt-get failing.
    """
    state_dir = Path(os.environ.get("PYAMA_SLURM_DIR", "/tmp/pyama-slurm"))
    conf = state_dir / "slurm.conf"
    reason = _why_not_startable(conf)
    if reason:
        pytest.skip(reason)
    state_dir.mkdir(parents=True, exist_ok=True)
    # Concurrent test sessions share one Slurm: each holds a shared lock while
    # it uses it, and only a session that can take the lock exclusively at its
    # end stops it.
    with open(state_dir / "test-sessions.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        started_by_tests = state_dir / "started-by-tests"
        was_running = _responds(conf)
        conf = _start(state_dir)
        if not was_running:
            started_by_tests.touch()
        previous = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(conf)
        try:
            yield conf
        finally:
            _restore_env("SLURM_CONF", previous)
            _stop_if_last(lock, state_dir, started_by_tests)


def _why_not_startable(conf: Path) -> str | None:
    if _responds(conf):
        return None
    if os.geteuid() != 0:
        return (
            "a local Slurm needs root to install and start its daemons; "
            f"running as uid {os.geteuid()}"
        )
    if all(shutil.which(command) for command in SLURM_COMMANDS):
        return None
    if not Path("/etc/debian_version").exists():
        return (
            "Slurm is not installed, and start.sh installs it only on Debian "
            "(no /etc/debian_version)"
        )
    if shutil.which("apt-get") is None:
        return "Slurm is not installed, and there is no apt-get to install it"
    return None


def _start(state_dir: Path) -> Path:
    env = {**os.environ, "PYAMA_SLURM_DIR": str(state_dir)}
    result = subprocess.run(
        [str(LOCAL_SLURM / "start.sh")],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        env=env,
    )
    if result.returncode == CANNOT_INSTALL:
        pytest.skip(f"could not install Slurm: {result.stderr.strip()[-1000:]}")
    if result.returncode != 0:
        pytest.fail(f"deploy/local-slurm/start.sh failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def _stop_if_last(lock, state_dir: Path, started_by_tests: Path) -> None:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another session still uses it
    if started_by_tests.exists():
        env = {**os.environ, "PYAMA_SLURM_DIR": str(state_dir)}
        subprocess.run([str(LOCAL_SLURM / "stop.sh")], env=env, timeout=120, check=False)
        started_by_tests.unlink(missing_ok=True)


def _responds(conf: Path) -> bool:
    if not conf.exists() or shutil.which("scontrol") is None:
        return False
    env = {**os.environ, "SLURM_CONF": str(conf)}
    result = subprocess.run(
        ["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=10
    )
    return result.returncode == 0 and "UP" in result.stdout


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
