"""Background-corrected fluorescence, stored as its background model and computed on read.

A corrected frame is the raw frame minus a smooth background surface that
the frame's tile medians define entirely (docs/algorithms.md, section 3.7;
:func:`pyama_dask.algorithms.background.background_support`). The store keeps
those medians, a few dozen float32 numbers per frame, next to a reference to
the raw image, instead of the float32 frames (which compress to ~80 % of
4 bytes per pixel, more than the raw input). Reading gives the very float32
values that ``correct_background`` computes.

Layout of ``fov_000/fl_corrected_ch_1`` (a Zarr group)::

    tile_medians       (T, n_tiles_y, n_tiles_x) float32
    attrs["pyama"]     {"complete": <fingerprint or None>,
                        "corrected": {"raw": "../fl_ch_1", "tile_size": 256, ...}}

:func:`open_corrected` (given the group's path, as ``processing_results.yaml``
lists it) returns a read-only (T, H, W) float32 array-like
(:class:`~pyama_dask.algorithms.background.CorrectedStack`). Measuring cells
needs the corrected values on cell pixels only: ``image.where(labels)``
computes just those (the surface at every pixel costs several milliseconds
per 1024 px frame, at the cell pixels a fraction of that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from pyama_dask.algorithms.background import CorrectedStack
from pyama_dask.io.completion import COMPLETE_KEY, completed_fingerprint
from pyama_dask.io.store import STORE_NAME, ImageRef, StoreError, fov_group_name

TILE_MEDIANS = "tile_medians"


def write_corrected(ref: ImageRef, raw: ImageRef, tile_medians: np.ndarray, *, tile_size: int, **params: Any) -> None:
    """(Re)create the corrected image ``ref`` of the raw image ``raw``, marked incomplete.

    Parameters
    ----------
    ref
        The corrected image (kind ``fl_corrected``).
    raw
        The raw fluorescence image it corrects (same FOV).
    tile_medians
        (T, n_tiles_y, n_tiles_x) float32 tile medians of every frame.
    tile_size
        The tile size they were taken with.
    **params
        Further parameters of the correction, recorded for the reader's information.
    """
    root = zarr.open_group(Path(ref.output_dir) / STORE_NAME, mode="a", zarr_format=3)
    group = root.require_group(fov_group_name(ref.fov)).create_group(ref.name, overwrite=True)
    description = {"raw": f"../{raw.name}", "tile_size": int(tile_size), **params}
    group.attrs.put({"pyama": {COMPLETE_KEY: None, "corrected": description}})
    medians = np.asarray(tile_medians, dtype=np.float32)
    group.create_array(TILE_MEDIANS, data=medians, chunks=medians.shape, dimension_names=("t", "y", "x"))


def open_corrected(location: str | Path) -> CorrectedStack:
    """The corrected fluorescence at ``location`` (an ``fl_corrected_ch_<c>`` group), for reading.

    Raises
    ------
    StoreError
        If the group is missing, incomplete or not a corrected image.
    """
    location = Path(location)
    try:
        if completed_fingerprint(location) is None:
            raise KeyError(COMPLETE_KEY)
        group = zarr.open_group(location, mode="r", zarr_format=3)
        description = group.attrs["pyama"]["corrected"]
        tile_medians = np.asarray(group[TILE_MEDIANS][...])
        raw = zarr.open_array(Path(os.path.normpath(location / description["raw"])) / "0", mode="r", zarr_format=3)
        return CorrectedStack(raw, tile_medians, int(description["tile_size"]))
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError) as exc:
        raise StoreError(f"{location} is missing, incomplete or not a corrected image ({exc!r})") from exc
