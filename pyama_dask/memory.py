"""How much memory a task needs, and a clear refusal when its worker has less.

A task whose working set exceeds its worker's memory limit would make the
nanny restart the worker again and again until distributed gives up with a
``KilledWorker``. Checking the estimate first turns that loop into one error
that names the FOV, the memory needed and the memory available.

The per-pixel figures are peak Python-heap bytes per pixel of one frame,
measured with tracemalloc on 512 and 1024 px frames (they scale with the frame
area, not with the number of frames: every step streams frame chunks), with
headroom for the allocator; copy holds a block of frames being converted.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

#: Memory of a worker process before any task runs (interpreter, numpy,
#: scipy, zarr, bioio, distributed), measured at ~200 MB.
WORKER_BASELINE_BYTES = 250 * 2**20
#: Peak bytes per pixel of one frame, per step (measured: segment 26, track
#: 15, correct 11, extract 35-43; copy: 16-frame blocks of uint16 read and
#: converted), with about 50 % headroom.
BYTES_PER_PIXEL = {"copy": 96, "segment": 40, "correct": 24, "track": 24, "extract": 64}


class InsufficientMemoryError(MemoryError):
    """A FOV's task needs more memory than its worker may use."""


def task_memory_bytes(step: str, height: int, width: int) -> int:
    """Estimated peak memory of a worker running ``step`` on frames of ``height`` x ``width``."""
    return WORKER_BASELINE_BYTES + BYTES_PER_PIXEL[step] * height * width


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
