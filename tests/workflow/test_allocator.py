"""Frame-sized arrays come from the heap again in a process started the way Dask starts workers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Page faults of allocating, filling and freeing a 3 MB array 50 times, before
# and after keep_frames_on_heap(). Below 4 MiB: numpy asks for transparent huge
# pages from there on, and where the kernel has them a fresh array faults in a
# couple of 2 MB pages instead of hundreds of 4 kB ones.
_PROBE = """
import resource
import numpy as np
from pyama_dask.workflow.allocator import keep_frames_on_heap

def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(3 << 18, dtype=np.float32)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
assert keep_frames_on_heap() and keep_frames_on_heap()
print(before, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings are Linux-only")
def test_frame_sized_arrays_stop_faulting_in_pages() -> None:
    # Dask's nanny sets this before starting a worker (distributed.nanny.pre-spawn-environ).
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    before, after = (int(value) for value in result.stdout.split())
    assert before > 10_000  # every 3 MB array mapped afresh, its 768 pages faulted in again
    assert after < before / 20
