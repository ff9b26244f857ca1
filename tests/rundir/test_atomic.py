"""Atomic replacement: the old file or the new one, never half of one; stale temporaries removed."""

from __future__ import annotations

import os
import stat

import pytest

from pyama_dask.rundir.atomic import remove_stale_temporaries, replace_atomically, write_text_atomic


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.yaml"
    write_text_atomic(path, "old: 1\n")

    def write_half_then_fail(tmp):
        tmp.write_text("new: ")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        replace_atomically(path, write_half_then_fail)
    assert path.read_text() == "old: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.yaml"]


def test_an_unwritable_destination_is_named(tmp_path):
    path = tmp_path / "missing-dir" / "results.yaml"
    with pytest.raises(OSError, match=f"cannot write {path}: No such file or directory"):
        write_text_atomic(path, "x")


def test_only_the_temporaries_of_atomic_writes_are_removed(tmp_path):
    kept = [tmp_path / "results.yaml", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    stale = [tmp_path / ".results.yaml.k2j4.tmp", tmp_path / ".traces.parquet.x1.tmp"]
    for path in kept + stale:
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_replaced_file_is_readable_like_any_new_file(tmp_path):
    path = tmp_path / "traces.csv"
    write_text_atomic(path, "fov,cell\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
