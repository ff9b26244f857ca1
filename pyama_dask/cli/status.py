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
from pyama_dask.workflow.live_status import describe_live, summarise_live
from pyama_dask.workflow.status import describe_status, summarise_run


def status_command(args: argparse.Namespace) -> int:
    """Summarise the last run of an output directory from its run log, while it runs or after."""
    path = run_log_path(args.out)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no run log there; no run has been started with --out {args.out}")
    records, running = read_records(path), is_locked(Path(args.out))
    live = summarise_live(records)
    if live is not None:
        print(describe_live(live, running=running))
        if not live.finalised:
            return 0
    print(describe_status(summarise_run(records), datetime.now(UTC), live=running))
    return 0
