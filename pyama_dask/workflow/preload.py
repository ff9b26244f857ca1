"""Worker start-up: ``dask worker --preload pyama_dask.workflow.preload``.

Every cluster :func:`pyama_dask.workflow.clusters.make_cluster` starts preloads this
module, so that a worker is ready when it joins: it has imported the steps and
the libraries they use (numpy, scipy, scikit-image, zarr, tifffile: about
1.4 s of a worker's time otherwise spent in its first task, while the run
waits), has loaded the algorithms' compiled kernels (:func:`load_kernels`:
numba and its cache, about a second of the first segmentation otherwise) and
has set its allocator (:mod:`pyama_dask.workflow.allocator`) before any
frame is allocated. Workers started without it work the same: each task
sets the allocator, and its first task does the imports.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import numpy as np
import ome_zarr.writer  # noqa: F401  (the images' metadata: pyama_dask.io.ngff imports it on first use)

import pyama_dask.pipeline.tasks  # noqa: F401  (the task functions and everything they import)
import pyama_dask.workflow.graph  # noqa: F401  (what runs around each task)
from pyama_dask.algorithms.background import correct_background
from pyama_dask.algorithms.segmentation import segment_logstd
from pyama_dask.pipeline.params import Params
from pyama_dask.workflow.allocator import keep_frames_on_heap

logger = logging.getLogger(__name__)
# A frame larger than a background tile, so that every kernel of segmentation and correction is called.
_KERNEL_FRAME_PX = 300


def load_kernels() -> None:
    """Segment and correct one synthetic uint16 frame, so that numba loads (or compiles) every kernel they use.

    uint16 is what the copy step stores: the kernels are loaded for the
    types the tasks pass them. Loaded once in the fork server, the kernels
    are there in every worker forked from it.
    """
    frame = np.random.default_rng(0).integers(0, 4096, (_KERNEL_FRAME_PX, _KERNEL_FRAME_PX), dtype=np.uint16)
    params = Params()
    correct_background(frame, segment_logstd(frame, **params.segmentation_kwargs()), **params.background_kwargs())


load_kernels()

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
