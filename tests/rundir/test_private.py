"""Files that reveal or grant access to a run are readable by their owner only."""

from __future__ import annotations

import os
import stat

from pyama_dask.rundir.lock import LOCK_NAME, run_lock
from pyama_dask.rundir.private import PRIVATE_MODE, open_private
from pyama_dask.rundir.runlog import append_record, read_records, run_log_path


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_private_file_is_for_its_owner_only_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        os.close(open_private(tmp_path / "secret", os.O_WRONLY))
    finally:
        os.umask(previous)
    assert mode(tmp_path / "secret") == PRIVATE_MODE == 0o600


def test_an_existing_readable_file_is_closed_to_others_and_keeps_its_content(tmp_path):
    path = tmp_path / "old"
    path.write_text("kept")
    path.chmod(0o644)
    fd = open_private(path, os.O_RDONLY)
    with os.fdopen(fd) as file:
        assert file.read() == "kept"
    assert mode(path) == 0o600


def test_the_run_lock_and_the_run_log_are_private(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")
    (tmp_path / LOCK_NAME).chmod(0o644)  # made by an earlier version
    with run_lock(tmp_path, "input.nd2"):
        append_record(run_log_path(tmp_path), "run-start", scheduler="tls://10.0.0.1:8786")
        assert mode(tmp_path / LOCK_NAME) == 0o600
    assert mode(run_log_path(tmp_path)) == 0o600
    assert read_records(run_log_path(tmp_path))[0]["scheduler"] == "tls://10.0.0.1:8786"
