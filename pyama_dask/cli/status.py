"""``pyama-dask status OUT``: the last run of an output directory, from its run log.

Apart from the other commands so that it imports only the run log, the lock
and the summary (a fraction of a second), not the workflow.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from pyama_dask.rundir.lock import is_locked
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.workflow.status import describe_status, summarise_run


def status_command(args: argparse.Namespace) -> int:
    """Summarise the last run of an output directory from its run log, while it runs or after."""
    path = run_log_path(args.out)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no run log there; no run has been started with --out {args.out}")
    status = summarise_run(read_records(path))
    print(describe_status(status, datetime.now(UTC), live=is_locked(Path(args.out))))
    return 0
