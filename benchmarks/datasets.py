"""Benchmark datasets: made once by the project's generator, then reused.

A dataset lives in ``<root>/datasets/<name>/`` where the name spells the
spec's sizes; it is reused when its parameter file (written last by the
generator) holds the same spec, so an interrupted generation is redone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyama_dask.synthetic import SyntheticDataset, SyntheticSpec, generate_dataset, load_spec

logger = logging.getLogger(__name__)

FILE_NAME = "synthetic"


def dataset_name(spec: SyntheticSpec) -> str:
    """Folder name of a spec, e.g. ``4fov-60t-1024px-2fl-seed0``."""
    height, width = spec.shape
    size = f"{height}px" if height == width else f"{height}x{width}px"
    cells = "" if spec.n_cells is None else f"-{spec.n_cells}cells"
    return f"{spec.n_fovs}fov-{spec.n_frames}t-{size}-{spec.n_fluorescence}fl{cells}-seed{spec.seed}"


def cached_dataset(root: Path, spec: SyntheticSpec) -> SyntheticDataset:
    """The dataset of ``spec`` under ``root``, generated when absent or made from another spec."""
    directory = Path(root) / "datasets" / dataset_name(spec)
    dataset = SyntheticDataset(
        image_path=directory / f"{FILE_NAME}.ome.tiff",
        truth_path=directory / f"{FILE_NAME}_truth.parquet",
        params_path=directory / f"{FILE_NAME}_params.json",
        spec=spec,
    )
    if dataset.params_path.exists() and dataset.image_path.exists() and load_spec(dataset.params_path) == spec:
        logger.info("reusing %s", dataset.image_path)
        return dataset
    logger.info("generating %s", dataset.image_path)
    return generate_dataset(directory, spec, name=FILE_NAME)


def megapixels(spec: SyntheticSpec) -> float:
    """Pixels of the whole dataset (every FOV, frame and channel), in millions."""
    height, width = spec.shape
    return spec.n_fovs * spec.n_frames * len(spec.channel_names) * height * width / 1e6
