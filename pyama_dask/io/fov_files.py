"""Where a FOV's files lie in the output directory, beside its images: PyAMA-core's names.

Paths only, apart from the modules reading and writing the files (and
their pandas), so that a driver planning a run names every output without
loading them.
"""

from __future__ import annotations

from pathlib import Path

from pyama_dask.io.store import fov_group_name


def traces_path(output_dir: Path, base_name: str, fov: int, channel: int) -> Path:
    """``<output_dir>/fov_000/<base_name>_fov_000_traces_ch_<channel>.csv``, as in PyAMA-core."""
    return fov_file(output_dir, base_name, fov, "traces", channel)


def drift_path(output_dir: Path, base_name: str, fov: int, channel: int) -> Path:
    """``<output_dir>/fov_000/<base_name>_fov_000_drift_ch_<channel>.csv``, beside the FOV's traces."""
    return fov_file(output_dir, base_name, fov, "drift", channel)


def fov_file(output_dir: Path, base_name: str, fov: int, what: str, channel: int) -> Path:
    """``<output_dir>/fov_000/<base_name>_fov_000_<what>_ch_<channel>.csv``."""
    fov_dir = fov_group_name(fov)
    return Path(output_dir) / fov_dir / f"{base_name}_{fov_dir}_{what}_ch_{channel}.csv"
