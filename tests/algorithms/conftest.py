"""Fixtures of the algorithm tests: generated frames, the real microscopy files, a kinetics model package."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyama_dask.algorithms.kinetics import ENTRY_POINT_GROUP


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


#: A model package's module: an exponential rise after an onset.
EXPONENTIAL_RISE = """
    import numpy as np
    from pyama_dask.algorithms.kinetics import KineticsModel, ParameterSpec

    def exponential_rise(t, t0, amplitude, rate, offset):
        dt = np.maximum(t - t0, 0.0)
        return offset + amplitude * (1 - np.exp(-rate * dt))

    MODEL = KineticsModel("exponential_rise", exponential_rise, (
        ParameterSpec("t0", 1.0, 0.0, 5.0),
        ParameterSpec("amplitude", 1.0, 0.0, 1e6),
        ParameterSpec("rate", 0.5, 1e-3, 10.0),
        ParameterSpec("offset", 0.0, -1e3, 1e3),
    ), gain="amplitude", level="offset", start_grid={"t0": 5})
"""


@pytest.fixture
def install_model_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Installs a tiny distribution (a module and its dist-info on ``sys.path``) declaring one kinetics model.

    Called with the module's body (by default :data:`EXPONENTIAL_RISE`) and the
    entry point's name; the module is named after the entry point, so that no
    test imports another test's module.
    """

    def install(module_body: str = EXPONENTIAL_RISE, entry: str = "rise") -> None:
        module = f"kinetics_{entry}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_body))
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry} = {module}:MODEL\n")
        monkeypatch.syspath_prepend(str(tmp_path))

    return install
