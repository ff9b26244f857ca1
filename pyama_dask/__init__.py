"""pyama_dask: the PyAMA-core time-lapse workflow as per-FOV Dask task graphs over OME-Zarr.

The public API, with PyAMA-core's names::

    from pyama_dask import Channels, ProcessingContext, load_microscopy_file, run_complete_workflow

    image, metadata = load_microscopy_file("experiment.nd2")
    context = ProcessingContext(output_dir="results", channels=Channels(pc=0, fl=[1]))
    run_complete_workflow(metadata, context)
    traces = read_traces("results")
    # an acquisition still being written (open_growing: pyama_dask.io.inputs.growing):
    follow_workflow(open_growing("acquisition/"), context, FollowLimits(until_idle=1800))
    phase = open_image("results", fov=0, kind="pc", channel=0)   # lazy (t, y, x) xarray over dask

Names are imported on first use, so that ``import pyama_dask`` (and the
command line's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Channels",
    "FollowLimits",
    "Params",
    "ProcessingContext",
    "follow_workflow",
    "load_microscopy_file",
    "open_corrected",
    "open_image",
    "read_metadata",
    "read_traces",
    "run_complete_workflow",
]

# Public name -> the module that defines it.
_HOMES = {
    "Channels": "pyama_dask.pipeline.context",
    "ProcessingContext": "pyama_dask.pipeline.context",
    "Params": "pyama_dask.pipeline.params",
    "load_microscopy_file": "pyama_dask.io.inputs.microscopy",
    "read_metadata": "pyama_dask.io.inputs.microscopy",
    "open_corrected": "pyama_dask.io.corrected",
    "open_image": "pyama_dask.io.images",
    "read_traces": "pyama_dask.io.traces",
    "run_complete_workflow": "pyama_dask.workflow.run",
    "follow_workflow": "pyama_dask.workflow.live",
    "FollowLimits": "pyama_dask.workflow.live",
}

if TYPE_CHECKING:
    from pyama_dask.io.corrected import open_corrected
    from pyama_dask.io.images import open_image
    from pyama_dask.io.inputs.microscopy import load_microscopy_file, read_metadata
    from pyama_dask.io.traces import read_traces
    from pyama_dask.pipeline.context import Channels, ProcessingContext
    from pyama_dask.pipeline.params import Params
    from pyama_dask.workflow.live import FollowLimits, follow_workflow
    from pyama_dask.workflow.run import run_complete_workflow


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pyama_dask' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
