"""Trace tables on disk: PyAMA-core's per-FOV CSV files, and one table per output directory.

A trace file counts as complete by its marker file (:mod:`pyama_dask.io.completion`).

The per-FOV files of an output directory (every FOV its results file lists)
are also merged into one tidy table, ``traces.parquet``: PyAMA-core's columns
plus ``channel``, with the results file's channels, parameters and provenance
in the Parquet schema metadata (key ``pyama_dask``, JSON).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pyama_dask.rundir.atomic import replace_atomically, write_text_atomic
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, recorded_outputs

logger = logging.getLogger(__name__)

#: The merged table of an output directory.
RUN_TRACES_FILE = "traces.parquet"
#: Formats :func:`export_traces` writes.
EXPORT_FORMATS = ("parquet", "csv")
# Schema metadata key of the run's description in the Parquet file.
_METADATA_KEY = b"pyama_dask"


def write_traces_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a trace table as CSV (floats with 6 decimals), atomically.

    Parameters
    ----------
    table
        Trace rows with the columns of ``pyama_dask.algorithms.extraction``.
    path
        Destination CSV.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, table.to_csv(index=False, float_format="%.6f"))


def read_traces_csv(path: Path) -> pd.DataFrame:
    """Read a trace CSV written by :func:`write_traces_csv` (or by PyAMA-core)."""
    # A lineage's parent column is empty for founders: nullable integers.
    return pd.read_csv(path, dtype={"good": bool, "parent": "Int64"})


class NoTracesError(ValueError):
    """An output directory has no trace files to merge."""


def collect_traces(output_dir: Path, results: dict[str, Any], fovs: Iterable[int] | None = None) -> pd.DataFrame:
    """The trace CSVs a results document lists, as one table with a ``channel`` column.

    Rows keep the order of their files; files go by FOV, then channel. A
    listed file that does not exist is skipped with a warning.

    Parameters
    ----------
    output_dir
        The folder holding the results file: the listed paths are found
        there (:func:`pyama_dask.rundir.results.recorded_outputs`), whatever
        the working directory.
    results
        Its ``processing_results.yaml`` document (:func:`read_results_yaml`).
    fovs
        Only these FOVs; every listed FOV by default.

    Returns
    -------
    pandas.DataFrame
        PyAMA-core's trace columns with ``channel`` after ``fov``; empty (no
        columns) when no trace file exists.
    """
    tables = []
    outputs = recorded_outputs(Path(output_dir), results)
    for fov in sorted(outputs if fovs is None else set(fovs) & set(outputs)):
        for channel, csv in sorted((outputs[fov] or {}).get("traces_csv") or []):
            path = Path(csv)
            if not path.is_file():
                logger.warning("FOV %s channel %s: trace file %s is missing; left out", fov, channel, path)
                continue
            table = read_traces_csv(path)
            table.insert(1, "channel", int(channel))
            tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def write_traces_parquet(table: pd.DataFrame, path: Path, description: dict[str, Any]) -> None:
    """Write a trace table as Parquet with ``description`` (JSON) in its schema metadata, atomically."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), _METADATA_KEY: json.dumps(description, default=str).encode()}
    arrow = arrow.replace_schema_metadata(metadata)
    replace_atomically(Path(path), lambda tmp: pq.write_table(arrow, tmp))


def read_traces_parquet_description(path: Path) -> dict[str, Any]:
    """The run description stored in a Parquet trace table by :func:`write_traces_parquet`."""
    metadata = pq.read_schema(path).metadata or {}
    if _METADATA_KEY not in metadata:
        raise ValueError(f"{path} carries no pyama_dask metadata (not written by pyama-dask?)")
    return json.loads(metadata[_METADATA_KEY])


def export_traces(output_dir: Path, destination: Path | None = None, fmt: str = "parquet") -> Path:
    """Merge an output directory's trace CSVs into one file.

    Parameters
    ----------
    output_dir
        A run's output directory (holding ``processing_results.yaml``).
    destination
        File to write; ``<output_dir>/traces.<fmt>`` by default.
    fmt
        ``parquet`` (with the run's description in its metadata) or ``csv``
        (6 decimals, like the per-FOV files).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        For an unknown format, or when the output directory has no results file.
    NoTracesError
        When the results file lists no existing trace file.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"trace export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    output_dir = Path(output_dir)
    results, table = _listed_traces(output_dir)
    destination = Path(destination) if destination is not None else output_dir / f"traces.{fmt}"
    destination.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_text_atomic(destination, table.to_csv(index=False, float_format="%.6f"))
    else:
        description = {key: value for key, value in results.items() if key != "results_paths"}
        write_traces_parquet(table, destination, description)
    logger.info("wrote %d trace rows of %d FOVs to %s", len(table), table["fov"].nunique(), destination)
    return destination


def read_traces(output_dir: Path) -> pd.DataFrame:
    """Every trace of an output directory in one table (PyAMA-core's columns plus ``channel``).

    Reads ``traces.parquet`` when the run wrote it, else merges the trace
    files its results file lists.

    Raises
    ------
    ValueError
        When the directory holds no results file.
    NoTracesError
        When it holds no traces.
    """
    output_dir = Path(output_dir)
    merged = output_dir / RUN_TRACES_FILE
    if merged.is_file():
        return pd.read_parquet(merged)
    return _listed_traces(output_dir)[1]


def _listed_traces(output_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """An output directory's results document and the traces of the files it lists.

    Raises
    ------
    ValueError
        When the directory holds no results file.
    NoTracesError
        When it lists no existing trace file.
    """
    results = read_results_yaml(output_dir / RESULTS_FILE)
    if not results:
        raise ValueError(f"{output_dir} holds no {RESULTS_FILE}: is it the output directory of a run?")
    table = collect_traces(output_dir, results)
    if table.empty:
        why = ("lists trace files without rows: no cell was kept (see min_trace_length)" if len(table.columns)
               else "lists no existing trace files (no fluorescence channel?)")
        raise NoTracesError(f"{output_dir / RESULTS_FILE} {why}")
    return results, table


def write_run_traces(output_dir: Path) -> Path | None:
    """Write ``<output_dir>/traces.parquet`` (see :func:`export_traces`); None when there are no traces."""
    try:
        return export_traces(output_dir, Path(output_dir) / RUN_TRACES_FILE, "parquet")
    except NoTracesError as exc:
        logger.info("no %s written: %s", RUN_TRACES_FILE, exc)
        return None
