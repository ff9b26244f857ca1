"""Subcommands that look at a finished run: ``qc`` (figures), ``traces`` (one merged table), ``export``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from pyama_dask.io.pyama_export import export_pyama
from pyama_dask.io.store import StoreError
from pyama_dask.io.traces import export_traces
from pyama_dask.qc import QC_DIR, write_qc_figures


def qc_command(args: argparse.Namespace) -> int:
    """Write the QC figures of an output directory's FOVs."""
    write_qc(Path(args.out), args.fovs, args.frame)
    return 0


def write_qc(output_dir: Path, fovs: Iterable[int] | None = None, frame: int | None = None) -> None:
    """Write QC figures and say where they are."""
    try:
        paths = write_qc_figures(output_dir, fovs, frame)
    except StoreError as exc:
        raise ValueError(f"cannot draw QC figures: {exc}") from exc
    print(f"QC figures: {len(paths)} PNG files in {Path(output_dir) / QC_DIR}")


def traces_command(args: argparse.Namespace) -> int:
    """Merge an output directory's trace files into one CSV or Parquet file."""
    path = export_traces(Path(args.out), Path(args.output) if args.output else None, args.format)
    print(f"traces: {path}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write an output directory's results in another tool's layout (``pyama``: PyAMA's current one)."""
    try:
        path = export_pyama(Path(args.out), Path(args.to) if args.to else None)
    except StoreError as exc:
        raise ValueError(f"cannot export {args.out}: {exc}") from exc
    print(f"PyAMA layout: {path.parent} (open {path} in PyAMA, or merge it with its samples file)")
    return 0
