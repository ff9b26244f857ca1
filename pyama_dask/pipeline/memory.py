"""How much memory a task needs.

A task whose working set exceeds its worker's memory limit would make the
nanny restart the worker again and again until distributed gives up with a
``KilledWorker``; the workflow checks this estimate first
(:func:`pyama_dask.workflow.graph.require_memory`).

A step's peak is a number of chunk-sized blocks (every step streams its
images one chunk of frames at a time, and a chunk holds about
:data:`pyama_dask.io.store.CHUNK_BYTES` whatever the frame size) plus
per-frame temporaries that scale with the frame area; never with the number
of frames. Each step's figures are in its record of the step table
(:mod:`pyama_dask.pipeline.steps`): peak Python-heap bytes measured with
tracemalloc on 512, 1024 and 2048 px frames, with 50-100 % headroom for the
allocator.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyama_dask.io.store import chunk_frames

#: Memory of a worker process before any task runs (interpreter, numpy,
#: scipy, zarr, bioio, distributed), measured at ~200 MB.
WORKER_BASELINE_BYTES = 250 * 2**20


@dataclass(frozen=True)
class MemoryModel:
    """Peak memory of a step's task: ``chunks`` uint16 chunk blocks plus ``bytes_per_pixel`` of one frame."""

    chunks: int
    bytes_per_pixel: int

    def task_bytes(self, height: int, width: int) -> int:
        """Estimated peak memory of a worker running the task on frames of ``height`` x ``width``."""
        chunk_bytes = 2 * chunk_frames(height, width) * height * width
        return WORKER_BASELINE_BYTES + self.chunks * chunk_bytes + self.bytes_per_pixel * height * width

