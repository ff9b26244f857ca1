"""A plain OME-TIFF's metadata read from its OME-XML equals bioio's, without importing bioio; other files go to bioio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyama_dask.io.inputs import microscopy
from pyama_dask.io.inputs.microscopy import load_microscopy_file, read_metadata


def _write_fovs(path: Path, fovs: list[tuple[tuple[int, ...], dict]]) -> Path:
    """An OME-TIFF of one series per (shape, OME metadata) given, of small random uint16 planes."""
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path, ome=True) as tiff:
        for shape, metadata in fovs:
            tiff.write(rng.integers(0, 4000, shape, dtype=np.uint16), photometric="minisblack", metadata=metadata)
    return path


def _planes(n_frames: int, n_channels: int, n_z: int, values: list[float], unit: str) -> dict:
    """Per-plane DeltaT for planes in T, C, Z order, the frame's value on each."""
    n_planes = n_frames * n_channels * n_z
    return {"DeltaT": [values[t] for t in range(n_frames) for _ in range(n_channels * n_z)],
            "DeltaTUnit": [unit] * n_planes}


def _fast(path: Path):
    """The metadata read_metadata gives, with bioio unable to open anything."""
    return microscopy._plain_ome_tiff_metadata(path)


CASES = {
    # Like the synthetic datasets: names, pixel size, TimeIncrement in minutes and DeltaT in seconds.
    "named channels, two time sources": [((5, 2, 16, 16), {
        "axes": "TCYX", "Name": "FOV0", "PhysicalSizeX": 0.65, "TimeIncrement": 2.0, "TimeIncrementUnit": "min",
        "Channel": {"Name": ["Phase", "GFP"]}, "Plane": _planes(5, 2, 1, [0, 120, 240, 360, 480], "s")})],
    # Z planes, no channel names (bioio gives the channel IDs), no pixel size, DeltaT in milliseconds.
    "Z, unnamed channels, DeltaT in ms": [((4, 3, 2, 8, 8), {
        "axes": "TZCYX", "Plane": {"DeltaT": [t * 1500.0 for t in range(4) for _ in range(6)],
                                   "DeltaTUnit": ["ms"] * 24}})],
    # Several FOVs of different lengths; TimeIncrement without a unit (seconds).
    "FOVs of different lengths": [((6, 2, 8, 8), {"axes": "TCYX", "TimeIncrement": 30.0}),
                                  ((3, 2, 8, 8), {"axes": "TCYX", "TimeIncrement": 30.0})],
    # No time stamps at all: the frame index, with its note.
    "no time stamps": [((3, 1, 8, 8), {"axes": "TCYX"})],
    # DeltaT and TimeIncrement disagree: DeltaT wins, with a note.
    "time sources disagree": [((4, 1, 8, 8), {
        "axes": "TCYX", "TimeIncrement": 1.0, "TimeIncrementUnit": "min",
        "Plane": _planes(4, 1, 1, [0, 10, 20, 30], "min")})],
    # One frame.
    "one frame": [((1, 2, 8, 8), {"axes": "TCYX", "Channel": {"Name": ["BF", "YFP"]}})],
}


@pytest.mark.parametrize("case", CASES)
def test_a_plain_ome_tiff_s_metadata_is_bioio_s(case: str, tmp_path: Path) -> None:
    path = _write_fovs(tmp_path / "movie.ome.tif", CASES[case])
    fast = _fast(path)
    assert fast is not None
    assert fast == load_microscopy_file(path)[1]
    assert read_metadata(path) == fast


def test_the_synthetic_dataset_s_metadata_is_bioio_s(tiny_dataset) -> None:
    path = tiny_dataset.image_path
    assert _fast(path) == load_microscopy_file(path)[1]


def test_a_time_unit_outside_the_table_is_left_to_bioio(tmp_path: Path) -> None:
    path = _write_fovs(tmp_path / "days.ome.tif", [((3, 1, 8, 8), {
        "axes": "TCYX", "Plane": _planes(3, 1, 1, [0, 1, 2], "d")})])
    assert _fast(path) is None
    assert read_metadata(path) == load_microscopy_file(path)[1]


def test_files_that_are_not_plain_ome_tiffs_are_left_to_bioio(tmp_path: Path) -> None:
    plain_tiff = tmp_path / "plain.tif"
    tifffile.imwrite(plain_tiff, np.zeros((3, 8, 8), np.uint16), photometric="minisblack")
    empty = tmp_path / "empty.ome.tif"
    empty.write_bytes(b"")
    not_a_tiff = tmp_path / "text.ome.tif"
    not_a_tiff.write_text("no TIFF here")
    for path in (plain_tiff, empty, not_a_tiff, tmp_path / "missing.ome.tif"):
        assert _fast(path) is None


def test_reading_a_plain_ome_tiff_s_metadata_imports_no_bioio(tiny_dataset) -> None:
    code = ("import sys\nfrom pyama_dask.io.inputs.microscopy import read_metadata\n"
            f"read_metadata({str(tiny_dataset.image_path)!r})\n"
            "print(' '.join(name for name in ('bioio', 'ome_types', 'xmlschema') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
