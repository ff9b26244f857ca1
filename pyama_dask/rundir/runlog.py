"""The run log of an output directory: ``run.log.jsonl``, one JSON record per line.

Every run appends to it as it goes (a ``run-start`` record, one ``task``
record per finished, skipped or failed task, a ``run-end`` record), and each
line is flushed as soon as it is written, so ``tail -f run.log.jsonl`` follows
a run and ``pyama-dask status`` can summarise it while it is going. Every
record has ``time`` (ISO 8601, UTC) and ``event``; the other fields depend on
the event. The log is readable by its owner only: it records the address of
the run's scheduler.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from pyama_dask.rundir.private import open_private

RUN_LOG_FILE = "run.log.jsonl"
# How far back from the end a half-written record's start is looked for; a
# record (a failed task's with its traceback) stays well below this.
_LONGEST_RECORD = 1 << 20


def run_log_path(output_dir: Path | str) -> Path:
    """Where the run log of ``output_dir`` lives."""
    return Path(output_dir) / RUN_LOG_FILE


def append_record(path: Path, event: str, **fields: Any) -> dict[str, Any]:
    """Append one record, stamped with the current UTC time, and flush it; return it as a reader reads it.

    A record left half-written (by a run killed while writing it, or a full
    disk) is dropped first, so that it is not glued to the new one.

    Raises
    ------
    OSError
        With the log's path in the message when it cannot be written.
    """
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
    line = json.dumps(record, default=str) + "\n"
    try:
        with os.fdopen(open_private(path, os.O_RDWR | os.O_APPEND), "ab+") as log:
            _drop_partial_record(log)
            log.write(line.encode("utf-8"))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot append to the run log {path}: {exc.strerror}") from exc
    return json.loads(line)


def _drop_partial_record(log: BinaryIO) -> None:
    """Cut an append-mode log back to its last newline (the part after it is an unfinished record)."""
    size = log.seek(0, os.SEEK_END)
    if size == 0:
        return
    log.seek(size - 1)
    if log.read(1) == b"\n":
        return
    start = max(0, size - _LONGEST_RECORD)
    log.seek(start)
    tail = log.read()
    newline = tail.rfind(b"\n")
    if newline >= 0 or start == 0:
        log.truncate(start + newline + 1)
    else:  # no record is that long: keep the line apart rather than guess where it began
        log.write(b"\n")


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a run log, oldest first.

    A last line without its newline is a record still being written and is
    left out; any other line that is not a JSON object is an error.

    Raises
    ------
    FileNotFoundError
        When there is no run log at ``path``.
    ValueError
        Naming the file and line number of a line that is not a JSON record.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete (or empty)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not a JSON record ({exc.msg})") from None
        if not isinstance(record, dict) or "event" not in record or "time" not in record:
            raise ValueError(f"{path}, line {number}: a run log record needs 'time' and 'event'")
        records.append(record)
    return records
