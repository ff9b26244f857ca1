"""Fit tables: the traces as the fitter takes them, and the fits as files.

Each fit task writes, per FOV and fluorescence channel, two files beside the
traces: the full table (``..._fits_ch_<c>.parquet``: every fitted and fixed
parameter, each fitted parameter's ``at_bound_<name>`` flag, ``r_squared``,
``rmse``, ``n_points``, ``success``, ``reason``, ``time_unit``) and, last,
the CSV in PyAMA's fitted layout (``fov, cell, model_type, success,
r_squared``, then the fitted parameters), the output the step records as
complete. A run merges the full tables into ``fits.parquet``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyama_dask.algorithms.kinetics import KineticsModel
from pyama_dask.algorithms.kinetics_fit import CellFits
from pyama_dask.io.fov_files import traces_path
from pyama_dask.io.traces import write_traces_parquet
from pyama_dask.rundir.atomic import write_text_atomic
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, recorded_outputs

logger = logging.getLogger(__name__)

#: The merged fits of a run, in its output directory.
RUN_FITS_FILE = "fits.parquet"
#: Unit of the fitted times (t0) and of the rates' inverse.
TIME_UNIT = "h"
_VALUE = "intensity_total"


def fits_path(output_dir: Path, base_name: str, fov: int, channel: int) -> Path:
    """``<output_dir>/fov_000/<base_name>_fov_000_fits_ch_<channel>.csv``: the PyAMA-layout fits."""
    return fits_beside(traces_path(output_dir, base_name, fov, channel))


def fits_beside(traces: Path) -> Path:
    """The fits CSV of a trace CSV (``..._traces_ch_<c>.csv`` -> ``..._fits_ch_<c>.csv``)."""
    return Path(traces).with_name(Path(traces).name.replace("_traces_ch_", "_fits_ch_"))


def full_fits_path(csv: Path) -> Path:
    """The full fit table beside a PyAMA-layout fits CSV."""
    return Path(csv).with_suffix(".parquet")


def cell_series(traces: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's good rows as the fitter takes them: (cell ids, times in hours, values), NaN-padded.

    Times come from the ``time`` column (minutes), values from ``intensity_total``.
    """
    good = traces[traces["good"].astype(bool)] if "good" in traces else traces
    cells = np.unique(traces["cell"].to_numpy()) if len(traces) else np.empty(0, int)
    if not len(cells):
        return cells, np.empty((0, 0)), np.empty((0, 0))
    frames = np.unique(traces["frame"].to_numpy())
    t = np.full((len(cells), len(frames)), np.nan)
    y = np.full_like(t, np.nan)
    rows = np.searchsorted(cells, good["cell"].to_numpy())
    columns = np.searchsorted(frames, good["frame"].to_numpy())
    t[rows, columns] = good["time"].to_numpy(float) / 60.0
    y[rows, columns] = good[_VALUE].to_numpy(float)
    return cells, t, y


def fits_table(fits: CellFits, model: KineticsModel, fov: int, channel: int, cells: np.ndarray) -> pd.DataFrame:
    """The full fit table of one FOV and channel, one row per cell."""
    table = pd.DataFrame({"fov": fov, "channel": channel, "cell": cells.astype(int), "model": fits.model},
                         index=pd.RangeIndex(len(cells)))
    for name in model.names:
        table[name] = fits.values[name]
    for name, flags in fits.at_bound.items():
        table[f"at_bound_{name}"] = flags
    table["r_squared"], table["rmse"], table["n_points"] = fits.r_squared, fits.rmse, fits.n_points
    table["success"], table["reason"], table["time_unit"] = fits.success, fits.reason, TIME_UNIT
    return table


def pyama_layout(table: pd.DataFrame, model: KineticsModel) -> pd.DataFrame:
    """PyAMA's fitted layout: ``fov, cell, model_type, success, r_squared``, then the fitted parameters."""
    fitted = [p.name for p in model.free]
    out = table[["fov", "cell", "model", "success", "r_squared", *fitted]]
    return out.rename(columns={"model": "model_type"})


def write_fits(table: pd.DataFrame, model: KineticsModel, csv: Path, description: dict[str, Any]) -> None:
    """Write the full table (Parquet, ``description`` in its metadata), then the PyAMA-layout CSV, each atomically."""
    csv.parent.mkdir(parents=True, exist_ok=True)
    write_traces_parquet(table, full_fits_path(csv), description)
    write_text_atomic(csv, pyama_layout(table, model).to_csv(index=False, float_format="%.8g"))


def read_fits(csv: Path) -> pd.DataFrame:
    """The full fit table of a fits CSV written by :func:`write_fits`."""
    return pd.read_parquet(full_fits_path(csv))


def collect_fits(output_dir: Path) -> pd.DataFrame:
    """Every full fit table the results file of ``output_dir`` lists, in one table (empty without fits)."""
    results = read_results_yaml(Path(output_dir) / RESULTS_FILE)
    outputs = recorded_outputs(Path(output_dir), results) if results else {}
    tables = []
    for fov in sorted(outputs):
        for channel, csv in sorted((outputs[fov] or {}).get("fits_csv") or []):
            path = full_fits_path(Path(csv))
            if path.is_file():
                tables.append(pd.read_parquet(path))
            else:
                logger.warning("FOV %s channel %s: fit table %s is missing; left out", fov, channel, path)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def write_run_fits(output_dir: Path, description: dict[str, Any]) -> Path | None:
    """Write ``<output_dir>/fits.parquet`` from the listed fit tables; None when there are none."""
    table = collect_fits(output_dir)
    if table.empty:
        return None
    path = Path(output_dir) / RUN_FITS_FILE
    write_traces_parquet(table, path, description)
    logger.info("wrote %d fits of %d FOVs to %s", len(table), table["fov"].nunique(), path)
    return path


def read_run_fits(output_dir: Path) -> pd.DataFrame:
    """The run's fits: ``fits.parquet``, else the listed tables merged."""
    merged = Path(output_dir) / RUN_FITS_FILE
    return pd.read_parquet(merged) if merged.is_file() else collect_fits(output_dir)

