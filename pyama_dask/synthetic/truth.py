"""Ground truth of a synthetic dataset: the tidy per-cell table and label images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pyama_dask.synthetic.cells import CellPopulation, footprint, simulate_cells
from pyama_dask.synthetic.kinetics import kinetics_model
from pyama_dask.synthetic.spec import SyntheticSpec


def fluorescence_column(channel: int) -> str:
    """Truth column of a fluorescence channel, by its index in the image file (1, 2, ...)."""
    return f"fluorescence_ch{channel}"


def truth_table(spec: SyntheticSpec, fov: int, cells: CellPopulation, areas: np.ndarray) -> pd.DataFrame:
    """One row per cell and frame of one FOV, ordered by frame then cell.

    Parameters
    ----------
    spec : SyntheticSpec
        Dataset parameters.
    fov : int
        FOV index.
    cells : CellPopulation
        The FOV's cells.
    areas : numpy.ndarray
        Pixel count of every cell in every frame, shape (n_cells, n_frames).

    Returns
    -------
    pandas.DataFrame
        Columns ``fov``, ``cell`` (id from 1), ``frame``, ``time`` (minutes),
        ``present``, ``x`` and ``y`` (centre column and row, px), ``area``
        (pixels) and ``fluorescence_ch<c>`` for each fluorescence channel
        ``c`` (its index in the image, phase contrast being 0): the cell's
        total signal above background. Where a cell is absent, ``area`` is 0
        and the measurements are NaN. With ``spec.divisions`` a last column
        ``parent`` holds the cell's mother id (0 for founders).
    """
    n_frames = spec.n_frames
    # Arrays are (n_cells, n_frames); transposing gives frame-major order.
    present = cells.present.T.ravel()
    table = {
        "fov": np.full(present.size, fov, dtype=np.int64),
        "cell": np.tile(np.arange(1, cells.n_cells + 1), n_frames),
        "frame": np.repeat(np.arange(n_frames), cells.n_cells),
        "time": np.repeat(np.arange(n_frames) * spec.frame_interval_min, cells.n_cells),
        "present": present,
        "x": np.where(present, cells.x.T.ravel(), np.nan),
        "y": np.where(present, cells.y.T.ravel(), np.nan),
        "area": np.asarray(areas).T.ravel().astype(np.int64),
    }
    for c in range(spec.n_fluorescence):
        table[fluorescence_column(c + 1)] = np.where(present, cells.fluorescence[c].T.ravel(), np.nan)
    if spec.divisions:
        table["parent"] = np.tile(cells.parent, n_frames)
    return pd.DataFrame(table)


def kinetics_table(spec: SyntheticSpec, fov: int, cells: CellPopulation) -> pd.DataFrame:
    """One row per fluorescence channel and cell of one FOV: the model and the parameters its fluorescence follows.

    Columns ``fov``, ``channel`` (index in the image), ``cell``, ``model``,
    then every parameter of the model (times in hours, rates per hour).
    """
    model = kinetics_model(spec)
    tables = []
    for c, parameters in enumerate(cells.kinetic_parameters):
        table = pd.DataFrame({"fov": fov, "channel": c + 1, "cell": np.arange(1, cells.n_cells + 1),
                              "model": model.name})
        for name, values in zip(model.names, parameters):
            table[name] = values
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def true_labels(spec: SyntheticSpec, fov: int, frame: int) -> np.ndarray:
    """The true cells of one frame as a label image (cell id, 0 = background).

    The cells are drawn again from the spec, so this needs no file: it is the
    exact pixel set that the truth table's ``area`` counts.

    Parameters
    ----------
    spec : SyntheticSpec
        Parameters the dataset was generated with.
    fov, frame : int
        Which frame.

    Returns
    -------
    numpy.ndarray
        int32, shape ``spec.shape``.
    """
    if not 0 <= fov < spec.n_fovs or not 0 <= frame < spec.n_frames:
        raise ValueError(
            f"fov={fov}, frame={frame} outside the dataset ({spec.n_fovs} FOVs, {spec.n_frames} frames)"
        )
    cells = simulate_cells(spec, fov)
    labels = np.zeros(spec.shape, dtype=np.int32)
    for i in np.flatnonzero(cells.present[:, frame]):
        fp = footprint(cells, int(i), frame, spec.shape, reach=0.0)
        labels[fp.window][fp.inside] = i + 1
    return labels


def load_truth(path: str | Path) -> pd.DataFrame:
    """Read a truth table written by :func:`~pyama_dask.synthetic.generate_dataset`.

    Parameters
    ----------
    path : str or Path
        The ``<name>_truth.parquet`` file.

    Returns
    -------
    pandas.DataFrame
        As described in :func:`truth_table`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"synthetic truth table {path} does not exist")
    return pd.read_parquet(path)
