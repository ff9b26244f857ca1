"""Fixtures of the algorithm tests: generated frames and the real microscopy files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile


@pytest.fixture(scope="session")
def brightfield_frames(shared_data: Path) -> list[np.ndarray]:
    """The three real yeast brightfield frames (1040 x 1392 uint16) of rcell2-examples."""
    paths = sorted((shared_data / "rcell2-examples").glob("TFP_Position4_time*.tif"))
    if not paths:
        pytest.skip("rcell2-examples brightfield TIFFs not found")
    return [tifffile.imread(path) for path in paths]


@pytest.fixture(scope="session")
def fluorescence_frames(shared_data: Path) -> list[np.ndarray]:
    """The three real YFP frames matching ``brightfield_frames``."""
    paths = sorted((shared_data / "rcell2-examples").glob("YFP_Position4_time*.tif"))
    if not paths:
        pytest.skip("rcell2-examples YFP TIFFs not found")
    return [tifffile.imread(path) for path in paths]


@pytest.fixture(scope="session")
def laptrack_movie(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real 10-frame transmitted-light crop (uint8) and its instance labels (ids renumbered in every frame)."""
    path = shared_data / "laptrack" / "cell_segmentation_data_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with np.load(path) as data:
        return data["images"], data["labels"]


@pytest.fixture(scope="session")
def nuclei_movie(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real 6-frame fluorescent-nuclei movie (200 x 200 uint16) and its instance labels (ids per frame)."""
    images, labels = shared_data / "laptrack" / "example_images.tif", shared_data / "laptrack" / "example_label.tif"
    if not (images.is_file() and labels.is_file()):
        pytest.skip(f"{images} or {labels} not found")
    return tifffile.imread(images), tifffile.imread(labels)
