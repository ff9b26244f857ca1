"""Pure array algorithms of the five workflow steps: numpy in, numpy out; no I/O, no Dask.

Names are imported on first use: a process that imports one algorithm module
(a driver reading an option's names, say) pays for that module alone, not for
every algorithm's scientific libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "TRACE_COLUMNS",
    "correct_background",
    "correct_background_stack",
    "extract_traces",
    "measure_cells",
    "segment_logstd",
    "segment_guarded_stack",
    "segment_logstd_stack",
    "track_iou",
    "track_laptrack",
]

# Public name -> the module that defines it.
_HOMES = {
    "TRACE_COLUMNS": "extraction",
    "correct_background": "background",
    "correct_background_stack": "background",
    "extract_traces": "extraction",
    "measure_cells": "extraction",
    "segment_logstd": "segmentation",
    "segment_guarded_stack": "segmentation_guard",
    "segment_logstd_stack": "segmentation",
    "track_iou": "tracking",
    "track_laptrack": "tracking_laptrack",
}

if TYPE_CHECKING:
    from pyama_dask.algorithms.background import correct_background, correct_background_stack
    from pyama_dask.algorithms.extraction import TRACE_COLUMNS, extract_traces, measure_cells
    from pyama_dask.algorithms.segmentation import segment_logstd, segment_logstd_stack
    from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack
    from pyama_dask.algorithms.tracking import track_iou
    from pyama_dask.algorithms.tracking_laptrack import track_laptrack


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
