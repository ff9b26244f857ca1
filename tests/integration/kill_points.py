"""Kill a whole ``pyama-dask run`` (driver, scheduler and workers) at an exact point.

Used two ways, both steered by the environment variable ``PYAMA_KILL_AT``:

- as the driver: ``python kill_points.py run ...`` runs the ``pyama-dask``
  command with the driver's kill point armed;
- as a Dask worker preload (``DASK_DISTRIBUTED__WORKER__PRELOAD``): its
  ``dask_setup`` arms the workers' kill points.

Kill points (``PYAMA_KILL_AT``):

- ``frame:<array path in the store>:<frame>``: in a worker, right after that
  frame of that array has been written (the image is then half-written);
- ``replace:<file name>``: in a worker, when a file of that name is about to
  be moved into place (it is complete in its temporary file, not yet in place);
- ``driver-replace:<file name>``: the same, in the driver.

At the kill point the process SIGKILLs its whole process group, which is the
run's: the test starts the driver in a session of its own.
"""

from __future__ import annotations

import os
import signal
import sys

KILL_AT = "PYAMA_KILL_AT"


def _kill_the_run() -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _arm_replace(name: str) -> None:
    """Kill when ``os.replace`` is about to move a file called ``name`` into place."""
    original = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == name:
            _kill_the_run()
        return original(src, dst, *args, **kwargs)

    os.replace = replace


def _arm_frame(array_path: str, frame: int) -> None:
    """Kill right after frame ``frame`` of the Zarr array at ``array_path`` (inside the store) is written."""
    import zarr

    original = zarr.Array.__setitem__

    def setitem(self, key, value):
        original(self, key, value)
        first = key.start if isinstance(key, slice) else key
        if self.path == array_path and first == frame:
            _kill_the_run()

    zarr.Array.__setitem__ = setitem


def dask_setup(worker) -> None:
    """Dask preload hook: arm the worker's kill point."""
    kind, _, where = os.environ.get(KILL_AT, "").partition(":")
    if kind == "frame":
        array_path, _, frame = where.rpartition(":")
        _arm_frame(array_path, int(frame))
    elif kind == "replace":
        _arm_replace(where)


if __name__ == "__main__":
    kind, _, where = os.environ.get(KILL_AT, "").partition(":")
    if kind == "driver-replace":
        _arm_replace(where)
    from pyama_dask.cli import main

    sys.exit(main(sys.argv[1:]))
