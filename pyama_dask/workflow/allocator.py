"""glibc malloc settings for processes that churn through frame-sized numpy arrays.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (config
``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the
operating system at once. Setting it also freezes glibc's mmap threshold at
128 kB, so every frame-sized temporary (4 MB for a 1024 px float32 frame)
becomes a fresh ``mmap`` whose pages fault in one by one and are zeroed by the
kernel: the steps ran about three times slower in a worker than in a plain
process (segmentation 130 instead of 40 ms per 1024 px frame).

:func:`keep_frames_on_heap` sets this process's thresholds instead: arrays
below 32 MB (glibc's largest mmap threshold) come from the heap and up to
128 MB of freed memory stays there for the next frame. Peak memory is that of
the working set either way; a worker only holds on to its largest free block.
Each task calls it, so it holds whichever way the worker was started.

It also keeps every thread on one malloc arena. Zarr decodes and encodes
chunks in its own threads; with glibc's default of one arena per thread,
each of them kept its own freed chunk buffers (16 MB each) and a worker's
peak grew from 365 to 525 MB. An arena limit only binds threads that have not
allocated yet, so the workers :func:`pyama_dask.workflow.clusters.make_cluster` starts
also get :data:`WORKER_ENVIRONMENT` from their first instruction.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 * 2**20
TRIM_THRESHOLD_BYTES = 128 * 2**20

#: Environment of worker processes: one malloc arena from the start.
WORKER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "1"}

_done = False


def keep_frames_on_heap() -> bool:
    """Set glibc's mmap and trim thresholds of this process (once; a no-op elsewhere than glibc).

    Returns
    -------
    bool
        Whether the thresholds are set.
    """
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as error:  # musl and other libcs have no mallopt
        logger.debug("no glibc mallopt (%s); malloc thresholds left as they are", error)
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    ) and bool(mallopt(_M_ARENA_MAX, 1))
    return _done
