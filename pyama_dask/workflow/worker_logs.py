"""Worker logging on the LocalCluster a run starts: a failed task is reported once, by the driver.

The driver names every failed task's FOV, step and reason on the terminal and
keeps its traceback in the run log (and in the debug log). distributed's
workers would repeat each failure as a ``Compute Failed`` record with the
traceback, on the same terminal, since a LocalCluster's workers share it.
"""

from __future__ import annotations

import logging

from distributed import Worker
from distributed.diagnostics.plugin import WorkerPlugin


class QuietTaskFailures(WorkerPlugin):
    """Drop distributed's ``Compute Failed`` records on every worker, including restarted ones."""

    name = "pyama-quiet-task-failures"

    def setup(self, worker: Worker) -> None:
        logging.getLogger("distributed.worker").addFilter(_not_compute_failed)


def _not_compute_failed(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Compute Failed")
