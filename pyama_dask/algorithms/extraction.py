"""Trace extraction: per-cell measurements of every frame (docs/algorithms.md, section 5).

All cells of a frame are measured together: the cell pixels are found in one
pass and grouped by cell id with one stable sort, then every column is a
``reduceat`` over the groups. The cost is linear in the number of pixels
whatever the number of cells; PyAMA-core compares the whole frame with each
cell id.

Numbers: ``position_x`` / ``position_y`` are the bounding-box centres with
inclusive ends, ``(first + last) / 2``; ``intensity_total`` is the sum of the
corrected fluorescence over the cell's pixels, accumulated in float64
(PyAMA-core sums in float32: the two differ by its rounding error only);
``area`` is the pixel count.

``good`` is True on every row unless ``good_from_qc`` asks for the QC: then
rows of the frames whose segmentation fell back (``fallback_frames``) and
rows of cells touching the frame border (only partly seen) are False.

With ``extra_features=True`` four columns follow: ``intensity_mean``
(``intensity_total / area``), ``background`` (mean background level
subtracted over the cell's pixels: the raw minus the corrected
fluorescence, so it needs the raw stack, else NaN) and ``centroid_x`` /
``centroid_y`` (mean pixel column / row).

With a lineage (``parents``, from tracking with divisions) a last column
``parent`` holds each cell's mother cell id, empty (NA) for founders;
without one the table has no such column, as PyAMA-core's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from pyama_dask.algorithms.options import min_frames
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

TRACE_COLUMNS: tuple[str, ...] = (
    "fov",
    "cell",
    "frame",
    "time",
    "good",
    "position_x",
    "position_y",
    "intensity_total",
    "area",
)
EXTRA_COLUMNS: tuple[str, ...] = ("intensity_mean", "background", "centroid_x", "centroid_y")
#: The column of the mother's cell id, when the lineage is known.
PARENT_COLUMN = "parent"
CELL_COLUMNS: tuple[str, ...] = ("cell", "position_x", "position_y", "intensity_total", "area")

COLUMN_DTYPES: dict[str, type] = {
    "fov": np.int64,
    "cell": np.int64,
    "frame": np.int64,
    "time": np.float64,
    "good": np.bool_,
    "position_x": np.float64,
    "position_y": np.float64,
    "intensity_total": np.float64,
    "area": np.int64,
    **{column: np.float64 for column in EXTRA_COLUMNS},
}


def measure_cells(
    labels: np.ndarray,
    fluorescence: np.ndarray,
    *,
    extra_features: bool = False,
    mask: np.ndarray | None = None,
    background: np.ndarray | None = None,
) -> pd.DataFrame:
    """Measure every cell of one frame.

    Parameters
    ----------
    labels : numpy.ndarray
        2-D integer cell ids (0 = background).
    fluorescence : numpy.ndarray
        2-D corrected fluorescence of the frame.
    extra_features : bool
        Add the columns ``intensity_mean``, ``background``, ``centroid_x``
        and ``centroid_y``.
    mask : numpy.ndarray, optional
        2-D boolean array: only pixels where it is True are measured (for
        instance an eroded foreground). Cells without such pixel get no row.
    background : numpy.ndarray, optional
        2-D background level that was subtracted from the fluorescence, for
        the ``background`` column (NaN without it).

    Returns
    -------
    pandas.DataFrame
        One row per cell id present, ascending; columns
        ``cell, position_x, position_y, intensity_total, area`` (+ extras).
    """
    columns = _measure(labels, fluorescence, extra_features=extra_features, mask=mask, background=background)
    return _frame(columns)


def extract_traces(
    labels: Any,
    fluorescence: Any,
    times: Any,
    fov: int,
    *,
    min_trace_length: int | float = 30,
    extra_features: bool = False,
    raw_fluorescence: Any | None = None,
    good_from_qc: bool = False,
    fallback_frames: Iterable[int] = (),
    parents: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """Trace table of one field of view and fluorescence channel.

    Parameters
    ----------
    labels : array-like
        (T, H, W) tracked cell ids (uint16), numpy or Zarr, read one chunk
        of frames at a time.
    fluorescence : array-like
        (T, H, W) corrected fluorescence.
    times : array-like
        T frame times in minutes.
    fov : int
        Field of view, written in the ``fov`` column.
    min_trace_length : int or float
        Keep only cells present in at least this many frames (int), or in
        at least this share of the frames (float in (0, 1]), see
        :func:`min_frames`.
    extra_features : bool
        Add the columns of ``EXTRA_COLUMNS`` after ``TRACE_COLUMNS``.
    raw_fluorescence : array-like, optional
        (T, H, W) fluorescence before correction, for the ``background``
        column of the extra features.
    good_from_qc : bool
        Set ``good`` to False on rows of ``fallback_frames`` and of cells
        touching the frame border.
    fallback_frames : iterable of int
        Frames whose segmentation fell back (see
        :class:`~pyama_dask.algorithms.segmentation_guard.SegmentationQC`).
    parents : mapping, optional
        Daughter cell id -> mother cell id: adds the ``parent`` column
        (nullable Int64, NA for cells without mother).

    Returns
    -------
    pandas.DataFrame
        Rows ordered by frame then cell; columns ``TRACE_COLUMNS`` (+
        ``EXTRA_COLUMNS``, + ``parent``), with the dtypes of
        ``COLUMN_DTYPES`` also when empty.
    """
    check_stack(labels, "labels")
    check_stack(fluorescence, "fluorescence", like=labels)
    if raw_fluorescence is not None:
        check_stack(raw_fluorescence, "raw_fluorescence", like=labels)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (labels.shape[0],):
        raise ValueError(f"FOV {fov}: {times.size} times for {labels.shape[0]} frames")
    per_frame = []
    for frames, label_block in frame_blocks(labels, "labels"):
        corrected = np.asarray(fluorescence[frames])
        raw = None if raw_fluorescence is None else np.asarray(raw_fluorescence[frames])
        for offset, frame_labels in enumerate(label_block):
            background = None if raw is None else raw[offset].astype(np.float32) - corrected[offset]
            columns = _measure(
                frame_labels,
                corrected[offset],
                extra_features=extra_features,
                background=background,
                border=good_from_qc,
            )
            t = frames.start + offset
            columns["frame"] = np.full(columns["cell"].size, t, dtype=np.int64)
            columns["time"] = np.full(columns["cell"].size, times[t])
            per_frame.append(columns)
    names = TRACE_COLUMNS + (EXTRA_COLUMNS if extra_features else ())
    measured = [name for name in names if name not in ("fov", "good")]
    table = {name: _concatenate([columns[name] for columns in per_frame], name) for name in measured}
    table["fov"] = np.full(table["cell"].size, fov, dtype=np.int64)
    table["good"] = np.ones(table["cell"].size, dtype=bool)
    if good_from_qc:
        on_border = _concatenate([columns["border"] for columns in per_frame], "good")
        table["good"] = ~(on_border | np.isin(table["frame"], list(fallback_frames)))
    keep = _long_enough(table["cell"], min_frames(min_trace_length, labels.shape[0]))
    traces = _frame({name: table[name][keep] for name in names})
    if parents is not None:
        traces[PARENT_COLUMN] = traces["cell"].map(dict(parents)).astype("Int64")
    logger.debug("FOV %d: %d rows of %d cells", fov, len(traces), traces["cell"].nunique())
    return traces


def _measure(
    labels: np.ndarray,
    fluorescence: np.ndarray,
    *,
    extra_features: bool,
    mask: np.ndarray | None = None,
    background: np.ndarray | None = None,
    border: bool = False,
) -> dict[str, np.ndarray]:
    """Columns of ``measure_cells`` as arrays (plus ``border``, whether a cell touches the frame edge, if asked)."""
    ids = np.asarray(labels)
    if ids.ndim != 2 or ids.dtype.kind not in "ui":
        raise ValueError(f"labels must be a 2-D integer array, got {ids.dtype} {ids.shape}")
    values = np.asarray(fluorescence)
    if values.shape != ids.shape:
        raise ValueError(f"fluorescence {values.shape} and labels {ids.shape} differ in shape")
    if mask is not None and np.shape(mask) != ids.shape:
        raise ValueError(f"mask {np.shape(mask)} and labels {ids.shape} differ in shape")
    pixels = CellPixels(ids, mask)
    first_column = pixels.reduce(np.minimum, pixels.column_of_pixel)
    last_column = pixels.reduce(np.maximum, pixels.column_of_pixel)
    # Pixels are in raster order within a cell: its first and last rows are at its ends.
    first_row = pixels.row_of_pixel[pixels.starts]
    last_row = pixels.row_of_pixel[pixels.stops - 1]
    columns = {
        "cell": pixels.cells,
        "position_x": (first_column + last_column) / 2,
        "position_y": (first_row + last_row) / 2,
        "intensity_total": pixels.sum(values),
        "area": pixels.areas,
    }
    if extra_features:
        columns["intensity_mean"] = columns["intensity_total"] / pixels.areas
        no_background = np.full(pixels.cells.size, np.nan)
        columns["background"] = no_background if background is None else pixels.sum(background) / pixels.areas
        columns["centroid_x"] = pixels.reduce(np.add, pixels.column_of_pixel) / pixels.areas
        columns["centroid_y"] = pixels.reduce(np.add, pixels.row_of_pixel) / pixels.areas
    if border:
        height, width = ids.shape
        on_rows = (first_row == 0) | (last_row == height - 1)
        columns["border"] = on_rows | (first_column == 0) | (last_column == width - 1)
    return columns


class CellPixels:
    """The cell pixels of a label frame, grouped by cell id with one sort.

    Parameters
    ----------
    ids : numpy.ndarray
        2-D integer cell ids (0 = background).
    mask : numpy.ndarray, optional
        2-D boolean array restricting the pixels taken.

    Attributes
    ----------
    cells, areas : numpy.ndarray
        Cell ids present (ascending) and their pixel counts.
    starts, stops : numpy.ndarray
        Each cell's run in the grouped pixel order.
    flat_index, row_of_pixel, column_of_pixel : numpy.ndarray
        The pixels in grouped order: raveled index, row and column.
    """

    def __init__(self, ids: np.ndarray, mask: np.ndarray | None = None) -> None:
        taken = ids != 0
        if mask is not None:
            taken &= np.asarray(mask, dtype=bool)
        flat_index = np.flatnonzero(taken)
        cell_of_pixel = ids.ravel()[flat_index]
        # A stable sort keeps each cell's pixels in raster order.
        order = np.argsort(cell_of_pixel, kind="stable")
        self.flat_index = flat_index[order]
        sorted_cells = cell_of_pixel[order]
        self.starts = np.flatnonzero(np.diff(sorted_cells, prepend=0))
        self.stops = np.append(self.starts[1:], sorted_cells.size) if self.starts.size else self.starts
        self.cells = sorted_cells[self.starts].astype(np.int64)
        self.areas = self.stops - self.starts
        self.row_of_pixel, self.column_of_pixel = np.divmod(self.flat_index, ids.shape[1])

    def reduce(self, ufunc: np.ufunc, per_pixel: np.ndarray) -> np.ndarray:
        """``ufunc`` reduced over each cell's run of ``per_pixel`` (values in grouped order)."""
        if not self.cells.size:
            return np.empty(0, dtype=per_pixel.dtype)
        return ufunc.reduceat(per_pixel, self.starts)

    def sum(self, image: np.ndarray) -> np.ndarray:
        """Per-cell sum of a 2-D image, accumulated in float64."""
        return self.reduce(np.add, image.ravel()[self.flat_index].astype(np.float64))


def _long_enough(cells: np.ndarray, min_length: int) -> np.ndarray:
    if cells.size == 0:
        return np.zeros(0, dtype=bool)
    return np.bincount(cells)[cells] >= min_length


def _concatenate(parts: list[np.ndarray], name: str) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=COLUMN_DTYPES[name])
    return np.concatenate(parts).astype(COLUMN_DTYPES[name], copy=False)


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    typed = {name: np.asarray(values, dtype=COLUMN_DTYPES[name]) for name, values in columns.items()}
    return pd.DataFrame(typed)
