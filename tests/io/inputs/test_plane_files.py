"""Namings of per-plane TIFF folders, and the batch reader's use of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyama_dask.io.inputs.microscopy import MicroscopyError, read_metadata
from pyama_dask.io.inputs.plane_files import (
    METAMORPH,
    MICRO_MANAGER,
    channel_order,
    detect_naming,
    naming_from_pattern,
)
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import simulate_acquisition

SPEC = SyntheticSpec(n_fovs=2, n_frames=2, size=128, n_cells=1)


@pytest.mark.parametrize(("naming", "name", "key"), [
    (METAMORPH, "YFP_Position4_time10.tif", (4, "YFP", 10, 0)),
    (METAMORPH, "Phase_contrast_Position12_time003.TIFF", (12, "Phase_contrast", 3, 0)),
    (MICRO_MANAGER, "img_channel001_position002_time000000013_z000.tif", (2, "001", 13, 0)),
    (MICRO_MANAGER, "img_channel000_position000_time000000000_z004.tif", (0, "000", 0, 4)),
    (METAMORPH, "img_channel000_position000_time000000000_z000.tif", None),
    (MICRO_MANAGER, "YFP_Position4_time10.tif", None),
    (METAMORPH, "notes.txt", None),
])
def test_names_give_position_channel_time_and_z(naming, name: str, key) -> None:
    assert naming.key(name) == key


def test_templates_name_files_the_naming_reads() -> None:
    assert METAMORPH.key(METAMORPH.describe(3, "GFP", 7)) == (3, "GFP", 7, 0)
    assert MICRO_MANAGER.key(Path(MICRO_MANAGER.describe(3, "002", 7)).name) == (3, "002", 7, 0)
    assert naming_from_pattern(r"(?P<channel>\w+)-(?P<position>\d+)-(?P<time>\d+)\.tif").describe(1, "BF", 2) == (
        "position 1 channel BF time 2")


def test_the_naming_most_files_follow_is_chosen() -> None:
    names = ["img_channel000_position000_time000000000_z000.tif", "img_channel001_position000_time000000000_z000.tif",
             "odd_Position1_time1.tif", "metadata.txt"]
    assert detect_naming(names) is MICRO_MANAGER
    assert detect_naming(["metadata.txt"]) is None


def test_channels_sort_by_number_only_when_all_are_numbers() -> None:
    assert channel_order({"010", "002", "1"}) == ("1", "002", "010")
    assert channel_order({"YFP", "BF", "2"}) == ("2", "BF", "YFP")


def test_micro_manager_folder_reads_channel_names_from_its_files(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "mm", SPEC, "tiff-folder", 0, naming="micro-manager", partial=None)
    meta = read_metadata(path)
    assert meta.channel_names == list(SPEC.channel_names)  # file order, named by each file's metadata
    assert (meta.file_type, meta.n_fovs, meta.n_frames, meta.time_source) == ("micro-manager-series", 2, 2,
                                                                               "micro-manager")
    assert meta.timepoints == [0.0, SPEC.frame_interval_min]


def test_micro_manager_z_planes_are_refused_by_name(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "mm", SPEC, "tiff-folder", 0, naming="micro-manager", partial=None)
    plane = path / "Pos1" / "img_channel000_position001_time000000001_z000.tif"
    plane.with_name(plane.name.replace("_z000", "_z001")).write_bytes(plane.read_bytes())
    with pytest.raises(MicroscopyError, match=r"_z001\.tif: Z plane 1 of position 1.*read without Z"):
        read_metadata(path)


def test_incomplete_micro_manager_folder_names_the_missing_file(tmp_path: Path) -> None:
    path = simulate_acquisition(tmp_path / "mm", SPEC, "tiff-folder", 0, naming="micro-manager", partial=None)
    (path / "Pos1" / "img_channel002_position001_time000000001_z000.tif").unlink()
    with pytest.raises(MicroscopyError, match=r"Micro-Manager series is incomplete: 1 of 12 files missing.*"
                                              r"Pos1/img_channel002_position001_time000000001_z000\.tif"):
        read_metadata(path)


def test_pattern_on_a_single_file_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "stack.tif"
    image.write_bytes(b"II*\0")
    with pytest.raises(MicroscopyError, match="applies to a folder of per-plane TIFFs only"):
        read_metadata(image, pattern=r"(?P<channel>\w)(?P<position>\d)(?P<time>\d)")
