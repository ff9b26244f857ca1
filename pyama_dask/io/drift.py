"""The drift table of a FOV: one row per frame, the drift (row, column) of its content relative to frame 0.

Written by the ``register`` step (:mod:`pyama_dask.algorithms.registration`)
as ``<output_dir>/fov_000/<base_name>_fov_000_drift_ch_<channel>.csv``
(columns ``frame``, ``drift_y``, ``drift_x``, pixels), listed in the results
file under ``drift_csv``; complete by its marker file
(:mod:`pyama_dask.io.completion`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pyama_dask.rundir.atomic import write_text_atomic

DRIFT_COLUMNS = ("drift_y", "drift_x")


def write_drift_csv(drift: np.ndarray, path: Path) -> None:
    """Write a (T, 2) drift as the FOV's drift table, atomically."""
    table = pd.DataFrame({"frame": np.arange(len(drift)), DRIFT_COLUMNS[0]: drift[:, 0], DRIFT_COLUMNS[1]: drift[:, 1]})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, table.to_csv(index=False, float_format="%.3f"))


def read_drift_csv(path: Path) -> np.ndarray:
    """The (T, 2) float drift of a drift table, row = frame.

    Raises
    ------
    ValueError
        Naming the file when its frames are not 0, 1, ... in order.
    """
    table = pd.read_csv(path)
    if not np.array_equal(table["frame"].to_numpy(), np.arange(len(table))):
        raise ValueError(f"{path}: the drift table's frames are not 0 ... {len(table) - 1} in order")
    return table[list(DRIFT_COLUMNS)].to_numpy(dtype=np.float64)
