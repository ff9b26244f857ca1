"""Write a synthetic dataset: one multi-scene OME-TIFF plus its ground truth."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from pyama_dask.rundir.atomic import replace_atomically, write_text_atomic
from pyama_dask.synthetic.cells import simulate_cells
from pyama_dask.synthetic.render import FovRenderer
from pyama_dask.synthetic.spec import SyntheticSpec
from pyama_dask.synthetic.truth import kinetics_table, truth_table

logger = logging.getLogger(__name__)

#: Called with (frames done, frames in total) after every frame.
ProgressCallback = Callable[[int, int], None]

#: Files above this size (before compression) need 64-bit offsets (BigTIFF).
_CLASSIC_TIFF_LIMIT = 2**31
#: Photon-counting noise makes deflate's higher levels slow for little gain.
_DEFLATE_LEVEL = 1


@dataclass(frozen=True)
class SyntheticDataset:
    """Where a generated dataset lives and what it was made from.

    Attributes
    ----------
    image_path : Path
        The multi-scene OME-TIFF (one scene per FOV, axes TCYX, uint16).
    truth_path : Path
        The truth table (Parquet), see :func:`~pyama_dask.synthetic.truth.truth_table`.
    params_path : Path
        JSON with the spec (key ``spec``) and derived facts.
    spec : SyntheticSpec
        The parameters.
    kinetics_path : Path or None
        With ``spec.kinetics``: each cell's true kinetics parameters
        (Parquet), see :func:`~pyama_dask.synthetic.truth.kinetics_table`.
    """

    image_path: Path
    truth_path: Path
    params_path: Path
    spec: SyntheticSpec
    kinetics_path: Path | None = None


def generate_dataset(
    out_dir: str | Path,
    spec: SyntheticSpec = SyntheticSpec(),
    *,
    name: str = "synthetic",
    progress: ProgressCallback | None = None,
    compression: str | None = None,
) -> SyntheticDataset:
    """Generate a time-lapse dataset with ground truth, FOV by FOV, frame by frame.

    Writes ``<out_dir>/<name>.ome.tiff``, ``<name>_truth.parquet`` and, last,
    ``<name>_params.json``: a dataset is complete when its parameter file
    exists. Each file is written under a temporary name and renamed when
    whole. Only one frame's pixels are held in memory at a time.

    Parameters
    ----------
    out_dir : str or Path
        Directory for the files; created if missing.
    spec : SyntheticSpec
        What to generate.
    name : str
        Base name of the files.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total)`` after every frame.
    compression : str or None
        TIFF compression of the image planes: ``None`` (uncompressed, as
        microscopes write, and fastest), ``"zlib"`` (deflate at level 1,
        about 0.57 of the size, about 1.7 times the time) or another tifffile
        codec name.

    Returns
    -------
    SyntheticDataset
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = SyntheticDataset(
        image_path=out_dir / f"{name}.ome.tiff",
        truth_path=out_dir / f"{name}_truth.parquet",
        params_path=out_dir / f"{name}_params.json",
        spec=spec,
        kinetics_path=None if spec.kinetics is None else out_dir / f"{name}_kinetics.parquet",
    )
    # Until the new parameter file is written, the old files do not form a dataset.
    dataset.params_path.unlink(missing_ok=True)
    truth = _write_image(dataset, progress, compression)
    replace_atomically(dataset.truth_path, lambda tmp: truth.to_parquet(tmp, index=False))
    if dataset.kinetics_path is not None:
        kinetics = pd.concat([kinetics_table(spec, fov, simulate_cells(spec, fov)) for fov in range(spec.n_fovs)],
                             ignore_index=True)
        replace_atomically(dataset.kinetics_path, lambda tmp: kinetics.to_parquet(tmp, index=False))
    write_text_atomic(dataset.params_path, json.dumps(_params(dataset), indent=2))
    logger.info("wrote synthetic dataset %s (%d FOVs)", dataset.image_path, spec.n_fovs)
    return dataset


def render_fov(spec: SyntheticSpec, fov: int) -> tuple[np.ndarray, pd.DataFrame]:
    """One FOV's frames and truth table, drawn in memory (no file): the same as :func:`generate_dataset` writes.

    Returns
    -------
    frames : numpy.ndarray
        (T, C, H, W) uint16, channels in ``spec.channel_names`` order.
    truth : pandas.DataFrame
        The FOV's rows of the truth table.
    """
    cells = simulate_cells(spec, fov)
    renderer = FovRenderer(spec, cells, fov)
    frames, areas = zip(*(renderer.frame(t) for t in range(spec.n_frames)))
    return np.stack(frames), truth_table(spec, fov, cells, np.stack(areas, axis=1))


def load_spec(params_path: str | Path) -> SyntheticSpec:
    """The spec of a generated dataset, from its ``<name>_params.json``."""
    params_path = Path(params_path)
    try:
        return SyntheticSpec.from_dict(json.loads(params_path.read_text())["spec"])
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{params_path} is not a synthetic dataset's parameter file: {error}") from error


def _write_image(
    dataset: SyntheticDataset, progress: ProgressCallback | None, compression: str | None
) -> pd.DataFrame:
    """Stream every FOV into the OME-TIFF; return the truth table gathered on the way."""
    tables: list[pd.DataFrame] = []
    replace_atomically(
        dataset.image_path, lambda tmp: tables.extend(_write_fovs(tmp, dataset.spec, progress, compression))
    )
    return pd.concat(tables, ignore_index=True)


def _write_fovs(
    path: Path, spec: SyntheticSpec, progress: ProgressCallback | None, compression: str | None
) -> list[pd.DataFrame]:
    """Write one scene per FOV to ``path``; return each FOV's truth table."""
    n_channels = len(spec.channel_names)
    height, width = spec.shape
    raw_bytes = spec.n_fovs * spec.n_frames * n_channels * height * width * 2
    frames_total = spec.n_fovs * spec.n_frames
    frames_done = 0

    def frame_done() -> None:
        nonlocal frames_done
        frames_done += 1
        if progress is not None:
            progress(frames_done, frames_total)

    tables = []
    with tifffile.TiffWriter(path, bigtiff=raw_bytes > _CLASSIC_TIFF_LIMIT, ome=True) as tif:
        for fov in range(spec.n_fovs):
            cells = simulate_cells(spec, fov)
            areas = np.zeros(cells.present.shape, dtype=np.int64)
            tif.write(
                _planes(FovRenderer(spec, cells, fov), areas, frame_done),
                shape=(spec.n_frames, n_channels, height, width),
                dtype=np.uint16,
                photometric="minisblack",
                compression=compression,
                compressionargs={"level": _DEFLATE_LEVEL} if compression == "zlib" else None,
                metadata=_ome_metadata(spec, fov),
            )
            tables.append(truth_table(spec, fov, cells, areas))
    return tables


def _planes(renderer: FovRenderer, areas: np.ndarray, frame_done: Callable[[], None]) -> Iterator[np.ndarray]:
    """The FOV's planes in file order (T, then C), recording cell areas as frames are drawn."""
    for t in range(areas.shape[1]):
        planes, areas[:, t] = renderer.frame(t)
        frame_done()
        yield from planes


def _ome_metadata(spec: SyntheticSpec, fov: int) -> dict[str, Any]:
    """OME-XML content of one scene, for tifffile.

    ``TimeIncrement`` is in minutes, the per-plane ``DeltaT`` time stamps in
    seconds (a reader has to honour the unit of each).
    """
    n_channels = len(spec.channel_names)
    n_planes = spec.n_frames * n_channels
    seconds = np.repeat(np.arange(spec.n_frames) * spec.frame_interval_min * 60.0, n_channels)
    return {
        "axes": "TCYX",
        # tifffile takes the document's UUID from the first scene: a fixed one
        # makes equal specs give byte-identical files.
        "UUID": str(_document_uuid(spec)),
        "Name": f"FOV{fov:03d}",
        "PhysicalSizeX": spec.pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": spec.pixel_size_um,
        "PhysicalSizeYUnit": "µm",
        "TimeIncrement": spec.frame_interval_min,
        "TimeIncrementUnit": "min",
        "Channel": {
            "Name": list(spec.channel_names),
            "ContrastMethod": ["Phase"] + ["Fluorescence"] * spec.n_fluorescence,
            "IlluminationType": ["Transmitted"] + ["Epifluorescence"] * spec.n_fluorescence,
        },
        "Plane": {"DeltaT": seconds.tolist(), "DeltaTUnit": ["s"] * n_planes},
    }


def _document_uuid(spec: SyntheticSpec) -> uuid.UUID:
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def _params(dataset: SyntheticDataset) -> dict[str, Any]:
    spec = dataset.spec
    return {
        "spec": spec.to_dict(),
        "shape": list(spec.shape),
        "cells_per_fov": spec.cells_per_fov,
        "channel_names": list(spec.channel_names),
        "image": dataset.image_path.name,
        "truth": dataset.truth_path.name,
        **({"kinetics": dataset.kinetics_path.name} if dataset.kinetics_path is not None else {}),
    }
