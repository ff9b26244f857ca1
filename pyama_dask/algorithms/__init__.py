"""Pure array algorithms of the five workflow steps: numpy in, numpy out; no I/O, no Dask."""

from pyama_dask.algorithms.background import correct_background, correct_background_stack
from pyama_dask.algorithms.extraction import TRACE_COLUMNS, extract_traces, measure_cells
from pyama_dask.algorithms.segmentation import segment_logstd, segment_logstd_stack
from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack
from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import track_laptrack

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
