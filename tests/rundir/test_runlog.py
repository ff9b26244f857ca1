"""Run-log storage: appended JSON lines, read back tolerating a line being written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pyama_dask.rundir.runlog import RUN_LOG_FILE, append_record, read_records, run_log_path


def test_records_are_appended_one_line_each_with_a_utc_time(tmp_path):
    path = run_log_path(tmp_path)
    assert path == tmp_path / RUN_LOG_FILE
    before = datetime.now(UTC)
    append_record(path, "run-start", fovs=[0, 1], input_file=tmp_path / "x.nd2")
    returned = append_record(path, "task", step="copy", fov={0: 1}, error=None)
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["event"] == "run-start" and first["fovs"] == [0, 1] and first["input_file"] == str(tmp_path / "x.nd2")
    stamp = datetime.fromisoformat(first["time"])
    assert stamp.utcoffset() == timedelta(0) and before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
    assert read_records(path)[1] == {**json.loads(lines[1]), "error": None}
    assert returned == read_records(path)[1] and returned["fov"] == {"0": 1}  # as a reader of the log reads it


def test_a_line_still_being_written_is_left_out(tmp_path):
    path = tmp_path / RUN_LOG_FILE
    append_record(path, "task", fov=0)
    with open(path, "a") as log:
        log.write('{"time": "2026-01-01T00:00:00+00:00", "ev')
    assert [r["fov"] for r in read_records(path)] == [0]


@pytest.mark.parametrize("line, problem", [
    ("not json", "not a JSON record"),
    ('{"event": "task"}', "a run log record needs 'time'"),
])
def test_a_broken_line_is_named(tmp_path, line, problem):
    path = tmp_path / RUN_LOG_FILE
    append_record(path, "task", fov=0)
    with open(path, "a") as log:
        log.write(line + "\n")
    with pytest.raises(ValueError, match=rf"{RUN_LOG_FILE}, line 2: {problem}"):
        read_records(path)


def test_an_unwritable_log_is_named(tmp_path):
    path = tmp_path / "missing-dir" / RUN_LOG_FILE
    with pytest.raises(OSError, match=f"cannot append to the run log {path}"):
        append_record(path, "task")


@pytest.mark.parametrize("partial", ['{"time": "2026-01-01T00:00:00+00:00", "ev', "{"])
def test_a_record_left_half_written_is_dropped_by_the_next_append(tmp_path, partial):
    path = tmp_path / RUN_LOG_FILE
    append_record(path, "task", fov=0)
    with open(path, "a") as log:  # a run killed, or a disk filled, while writing a record
        log.write(partial)
    append_record(path, "task", fov=1)
    assert [r["fov"] for r in read_records(path)] == [0, 1]
    assert path.read_text().count("\n") == 2


def test_a_log_holding_only_a_partial_record_starts_afresh(tmp_path):
    path = tmp_path / RUN_LOG_FILE
    path.write_text('{"time": "2026')
    append_record(path, "run-start")
    assert [r["event"] for r in read_records(path)] == ["run-start"]
