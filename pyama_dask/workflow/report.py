"""The dashboard's performance report of a run, saved as HTML in the output directory."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distributed import Client, performance_report

from pyama_dask.rundir.atomic import TEMPORARY_SUFFIX
from pyama_dask.rundir.private import PRIVATE_MODE

logger = logging.getLogger(__name__)

#: File name of the report of the latest run, in the output directory.
PERFORMANCE_REPORT = "performance_report.html"


@contextmanager
def saved_performance_report(client: Client, path: Path) -> Iterator[None]:
    """Record the dashboard's plots (task stream, worker profiles, ...) while the block runs.

    The report is written to ``path``, readable by its owner only (it names
    the cluster's addresses), when the block ends normally, through
    a temporary file, so that a full disk never leaves half a report. It is a
    by-product: when the scheduler cannot make it, a warning is logged and the
    run goes on. ``client`` is made current for the report, so another default
    client (or none) does not matter.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TEMPORARY_SUFFIX}")
    report = performance_report(filename=str(partial))
    with client.as_current():
        try:
            client.run(quiet_sizeof_warnings)
            report.__enter__()
        except Exception as exc:  # a missing dashboard must not stop the run
            logger.warning("no performance report: the scheduler cannot start one (%s)", exc)
            yield
            return
        yield
        try:
            report.__exit__(None, None, None)
            # The report names the scheduler's and workers' addresses.
            os.chmod(partial, PRIVATE_MODE)
            os.replace(partial, path)
            logger.info("performance report: %s", path)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            logger.warning("cannot write the performance report %s: %s", path, exc)


def quiet_sizeof_warnings() -> None:
    """Silence distributed's sizeof warnings in this (worker) process.

    A report collects the workers' call-tree profiles, nested deeper than
    ``sizeof`` can recurse: each worker sending its profile would log a
    harmless warning (dask/distributed#8578) into the run's output.
    """
    logging.getLogger("distributed.sizeof").setLevel(logging.ERROR)
