"""Trace tables on disk: PyAMA-core's per-FOV CSV files, written atomically.

A trace file counts as complete only when its marker ``<csv>.done`` (holding
the fingerprint of what produced it) exists: the marker is removed before a
rewrite and written after the CSV has been atomically moved into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pyama_dask.io.atomic import write_text_atomic
from pyama_dask.io.store import fov_group_name


def traces_path(output_dir: Path, base_name: str, fov: int, channel: int) -> Path:
    """``<output_dir>/fov_000/<base_name>_fov_000_traces_ch_<channel>.csv``, as in PyAMA-core."""
    fov_dir = fov_group_name(fov)
    return Path(output_dir) / fov_dir / f"{base_name}_{fov_dir}_traces_ch_{channel}.csv"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def write_traces_csv(table: pd.DataFrame, path: Path, fingerprint: str) -> None:
    """Write a trace table as CSV (floats with 6 decimals) and mark it complete.

    Parameters
    ----------
    table
        Trace rows with the columns of ``pyama_dask.algorithms.extraction``.
    path
        Destination CSV.
    fingerprint
        Recorded in the completion marker; see :func:`completed_traces_fingerprint`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _marker(path).unlink(missing_ok=True)
    write_text_atomic(path, table.to_csv(index=False, float_format="%.6f"))
    write_text_atomic(_marker(path), fingerprint)


def completed_traces_fingerprint(path: Path) -> str | None:
    """Fingerprint of a complete trace file, or None if absent or incomplete."""
    marker = _marker(path)
    if not (marker.is_file() and path.is_file()):
        return None
    return marker.read_text().strip() or None


def read_traces_csv(path: Path) -> pd.DataFrame:
    """Read a trace CSV written by :func:`write_traces_csv` (or by PyAMA-core)."""
    return pd.read_csv(path, dtype={"good": bool})


def remove_traces(path: Path) -> None:
    """Remove a trace file and its marker (used before recomputing)."""
    for p in (_marker(path), path):
        if os.path.lexists(p):
            p.unlink()
