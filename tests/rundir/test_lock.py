"""One run per output directory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pyama_dask.rundir.lock import RunLockedError, is_locked, run_lock


def test_second_run_is_refused_naming_the_first(tmp_path):
    with run_lock(tmp_path, "first.nd2"):
        with pytest.raises(RunLockedError, match=r"in use by another pyama-dask run.*pid.*first\.nd2"):
            with run_lock(tmp_path, "second.nd2"):
                pass
    with run_lock(tmp_path, "third.nd2"):  # released at the end of the first
        pass


def test_lock_of_a_killed_run_is_released(tmp_path):
    code = textwrap.dedent(f"""
        import os, signal
        from pyama_dask.rundir.lock import run_lock
        with run_lock({str(tmp_path)!r}, "doomed"):
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    with run_lock(tmp_path, "next"):
        pass


def test_is_locked_only_while_a_run_holds_the_lock(tmp_path):
    assert not is_locked(tmp_path)  # no run ever
    with run_lock(tmp_path, "running.nd2"):
        assert is_locked(tmp_path)
    assert not is_locked(tmp_path)  # the lock file stays, the lock does not
    with run_lock(tmp_path, "next.nd2"):  # probing left nothing behind
        pass
