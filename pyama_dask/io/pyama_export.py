"""A run's results in the layout of PyAMA's current tools (pyama-core 0.1, pyama-pro), for their merge and fitting.

PyAMA reads a folder holding a ``processing_results.yaml`` of this form::

    channels:
      pc: [0, [area]]                      # channel, its features
      fl: [[1, [intensity_total]], ...]
    results:
      '0': {traces: fov_000/<name>_fov_000_traces.csv}
    time_units: min

and per FOV one wide trace CSV: ``fov, cell, frame, time, good, position_x,
position_y, bbox_x0, bbox_y0, bbox_x1, bbox_y1``, then one
``<feature>_ch_<channel>`` column per channel and feature (``area_ch_0``,
``intensity_total_ch_1``, ...). Bounding boxes are in pixels, with the last
row and column of the cell included. Paths are relative to the folder of the
YAML file.

Rows come from the run's per-channel trace files, one per (cell, frame):
``good`` is True where it is True in every channel, ``area`` is the cell's
area in pixels (the same in every channel), positions are the run's. The
images stay in the run's Zarr store: PyAMA's viewer reads NumPy stacks, so
the results list no image.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import ndimage

from pyama_dask.io.store import ImageRef, fov_group_name, open_image
from pyama_dask.io.traces import NoTracesError, read_traces_csv
from pyama_dask.rundir.atomic import write_text_atomic
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, recorded_outputs

logger = logging.getLogger(__name__)

#: Where :func:`export_pyama` writes by default, inside the output directory.
PYAMA_DIR = "pyama"
#: Columns every wide trace CSV starts with, in PyAMA's order.
WIDE_COLUMNS = ("fov", "cell", "frame", "time", "good", "position_x", "position_y",
                "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")
#: Features exported for the phase-contrast channel and for each fluorescence channel.
PC_FEATURES = ("area",)
FL_FEATURES = ("intensity_total",)
# Rows are identified by these columns in every per-channel trace file.
_ROW_KEY = ["fov", "cell", "frame", "time"]
# A run's per-channel trace file name: <base>_fov_000_traces_ch_<channel>.csv.
_TRACE_FILE = re.compile(r"^(?P<base>.+)_fov_\d+_traces_ch_\d+\.csv$")


def export_pyama(output_dir: Path, destination: Path | None = None) -> Path:
    """Write a run's results in PyAMA's current layout.

    Parameters
    ----------
    output_dir
        A run's output directory (holding ``processing_results.yaml``).
    destination
        Folder to write into; ``<output_dir>/pyama`` by default. It must not
        be the output directory itself, whose results file has the schema of
        PyAMA-core's workflow.

    Returns
    -------
    Path
        The ``processing_results.yaml`` written (open its folder in PyAMA).

    Raises
    ------
    ValueError
        When ``output_dir`` holds no results file, or ``destination`` is it.
    NoTracesError
        When no FOV has trace files (no fluorescence channel was processed).
    """
    output_dir = Path(output_dir)
    destination = output_dir / PYAMA_DIR if destination is None else Path(destination)
    if destination.resolve() == output_dir.resolve():
        raise ValueError(f"cannot export into {output_dir} itself: its {RESULTS_FILE} would be replaced; "
                         f"choose another folder (default {output_dir / PYAMA_DIR})")
    document = read_results_yaml(output_dir / RESULTS_FILE)
    if not document:
        raise ValueError(f"{output_dir} holds no {RESULTS_FILE}: is it the output directory of a run?")
    pc = int(document["channels"]["pc"])
    fl = [int(channel) for channel in document["channels"]["fl"]]
    results = {}
    for fov, outputs in sorted(recorded_outputs(output_dir, document).items()):
        csvs = {int(channel): Path(path) for channel, path in (outputs or {}).get("traces_csv") or []}
        if not csvs or not all(path.is_file() for path in csvs.values()):
            logger.warning("FOV %d has no (or not every) trace file; left out of the PyAMA export", fov)
            continue
        table = wide_traces(csvs, ImageRef(output_dir, fov, "seg_labeled", pc))
        relative = Path(fov_group_name(fov)) / f"{_base_name(csvs)}_{fov_group_name(fov)}_traces.csv"
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(destination / relative, table.to_csv(index=False, float_format="%.6f"))
        results[str(fov)] = {"traces": relative.as_posix()}
    if not results:
        raise NoTracesError(f"{output_dir / RESULTS_FILE} lists no FOV with trace files (no fluorescence channel?)")
    path = destination / RESULTS_FILE
    write_text_atomic(path, yaml.safe_dump(_pyama_results(pc, fl, results, document), sort_keys=False))
    logger.info("wrote the PyAMA layout of %d FOVs to %s", len(results), destination)
    return path


def wide_traces(csvs: dict[int, Path], labels: ImageRef) -> pd.DataFrame:
    """One FOV's per-channel trace files as PyAMA's wide table.

    Parameters
    ----------
    csvs
        Fluorescence channel -> its trace CSV (of the same FOV).
    labels
        The FOV's tracked labels (``seg_labeled``), for the bounding boxes.

    Returns
    -------
    pandas.DataFrame
        :data:`WIDE_COLUMNS`, ``area_ch_<pc>`` and ``intensity_total_ch_<fl>``
        per channel; rows by cell, then frame.
    """
    tables = {channel: read_traces_csv(path) for channel, path in sorted(csvs.items())}
    first = next(iter(tables.values()))
    wide = first[_ROW_KEY + ["position_x", "position_y"]].copy()
    wide["good"] = np.logical_and.reduce([table["good"].to_numpy() for table in tables.values()])
    for channel, table in tables.items():
        if not table[_ROW_KEY].equals(first[_ROW_KEY]):
            raise ValueError(f"{csvs[channel]} does not hold the cells and frames of {next(iter(csvs.values()))}")
        for feature in FL_FEATURES:
            wide[f"{feature}_ch_{channel}"] = table[feature].to_numpy()
    for feature in PC_FEATURES:
        wide[f"{feature}_ch_{labels.channel}"] = first[feature].to_numpy()
    wide = wide.join(label_boxes(labels), on=["frame", "cell"])
    ordered = list(WIDE_COLUMNS) + [column for column in wide.columns if column not in WIDE_COLUMNS]
    return wide[ordered].sort_values(["cell", "frame"], kind="stable").reset_index(drop=True)


def label_boxes(labels: ImageRef) -> pd.DataFrame:
    """Bounding box of every cell in every frame of a label image, first and last pixel included.

    Returns
    -------
    pandas.DataFrame
        Indexed by (frame, cell); columns ``bbox_x0, bbox_y0, bbox_x1, bbox_y1``.
    """
    stack = open_image(labels)
    rows = []
    for frame in range(stack.shape[0]):
        for index, box in enumerate(ndimage.find_objects(np.asarray(stack[frame]))):
            if box is not None:
                rows.append((frame, index + 1, box[1].start, box[0].start, box[1].stop - 1, box[0].stop - 1))
    columns = ["frame", "cell", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]
    return pd.DataFrame(rows, columns=columns).astype(float).astype({"frame": int, "cell": int}).set_index(
        ["frame", "cell"])


def _base_name(csvs: dict[int, Path]) -> str:
    """The input's base name, as the run named its trace files."""
    name = next(iter(csvs.values())).name
    match = _TRACE_FILE.match(name)
    if match is None:
        raise ValueError(f"{name} is not named like a run's trace file (<name>_fov_000_traces_ch_1.csv)")
    return match["base"]


def _pyama_results(pc: int, fl: list[int], results: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    return {
        "channels": {"pc": [pc, list(PC_FEATURES)], "fl": [[channel, list(FL_FEATURES)] for channel in fl]},
        "results": results,
        "time_units": document.get("time_units", "min"),
    }
