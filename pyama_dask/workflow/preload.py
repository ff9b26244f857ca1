"""Worker start-up: ``dask worker --preload pyama_dask.workflow.preload``.

Every cluster :func:`pyama_dask.workflow.clusters.make_cluster` starts preloads this
module, so that a worker is ready when it joins: it has imported the steps and
the libraries they use (numpy, scipy, scikit-image, zarr, tifffile: about
1.4 s of a worker's time otherwise spent in its first task, while the run
waits) and has set its allocator (:mod:`pyama_dask.workflow.allocator`) before any
frame is allocated. Workers started without it work the same: each task
sets the allocator, and its first task does the imports.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import pyama_dask.workflow.run  # noqa: F401  (the task functions and everything they import)
from pyama_dask.workflow.allocator import keep_frames_on_heap

logger = logging.getLogger(__name__)

# What is imported lives as long as the process: frozen, the collector never walks it again. Above all,
# the interpreter's teardown skips it: the fork server this module is preloaded into
# (pyama_dask.workflow.fork_server) exits in 0.07 s instead of 0.6 s once the run ends, and a command whose
# output is piped (| tee, a benchmark's capture) is not over until then, as the fork server holds its stderr.
gc.freeze()


def dask_setup(worker: Any) -> None:
    """Called by distributed as the worker starts."""
    keep_frames_on_heap()
    logger.debug("worker %s preloaded pyama_dask", getattr(worker, "address", "?"))


def dask_teardown(worker: Any) -> None:
    """Called by distributed as the worker closes: its process ends next.

    Freezing the objects spares the interpreter's teardown from walking every
    one the libraries left (most of a second), which the cluster's closing,
    and so the end of a run, waits for.
    """
    gc.freeze()
