"""How much memory a task needs, and a clear refusal when its worker has less.

A task whose working set exceeds its worker's memory limit would make the
nanny restart the worker again and again until distributed gives up with a
``KilledWorker``. Checking the estimate first turns that loop into one error
that names the FOV, the memory needed and the memory available.

A step's peak is a number of chunk-sized blocks (every step streams its
images one chunk of frames at a time, and a chunk holds about
:data:`pyama_dask.io.store.CHUNK_BYTES` whatever the frame size) plus
per-frame temporaries that scale with the frame area; never with the number
of frames. The figures are peak Python-heap bytes measured with tracemalloc
on 512, 1024 and 2048 px frames, with 50-100 % headroom for the allocator.
"""

from __future__ import annotations

import logging

from pyama_dask.io.store import chunk_frames

logger = logging.getLogger(__name__)

#: Memory of a worker process before any task runs (interpreter, numpy,
#: scipy, zarr, bioio, distributed), measured at ~200 MB.
WORKER_BASELINE_BYTES = 250 * 2**20
#: Per step, blocks of one uint16 chunk held at its peak, and bytes per pixel
#: of one frame on top (measured at 1024 and 2048 px: copy 43 and 36 MB,
#: segment 56 and 116, track 44 and 72, correct 65 and 65, extract 116 and 147).
CHUNKS_PER_STEP = {"copy": 4, "segment": 4, "correct": 6, "track": 4, "extract": 12}
BYTES_PER_PIXEL = {"copy": 8, "segment": 36, "correct": 6, "track": 18, "extract": 24}


class InsufficientMemoryError(MemoryError):
    """A FOV's task needs more memory than its worker may use."""


def task_memory_bytes(step: str, height: int, width: int) -> int:
    """Estimated peak memory of a worker running ``step`` on frames of ``height`` x ``width``."""
    chunk_bytes = 2 * chunk_frames(height, width) * height * width
    return WORKER_BASELINE_BYTES + CHUNKS_PER_STEP[step] * chunk_bytes + BYTES_PER_PIXEL[step] * height * width


def require_memory(step: str, fov: int, height: int, width: int) -> None:
    """Raise when the current Dask worker's memory limit is below the task's estimate.

    Outside a worker, or on a worker without a memory limit, nothing is checked.

    Raises
    ------
    InsufficientMemoryError
        Naming the FOV, the step, the memory needed and the worker's limit.
    """
    limit = _worker_memory_limit()
    needed = task_memory_bytes(step, height, width)
    if limit and needed > limit:
        raise InsufficientMemoryError(
            f"FOV {fov} ({step}, {width} x {height} px frames) needs about {needed / 2**30:.2f} GiB per worker, "
            f"but workers may use {limit / 2**30:.2f} GiB: give workers more memory (e.g. --memory for "
            "batch-queue jobs, fewer --workers on this machine)"
        )


def _worker_memory_limit() -> int | None:
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not running in a worker
        return None
    return worker.memory_manager.memory_limit
