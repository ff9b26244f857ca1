"""Reading microscopy inputs: metadata, pixels, laziness and bad input.

Expected values come from /work/shared/data/README.md (metadata verified there
independently of this package), not from this package's own output.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from dataclasses import dataclass, fields
from pathlib import Path

import aicspylibczi
import bioio_tifffile
import nd2
import numpy as np
import pytest
import tifffile
from bioio import BioImage
from bioio_ome_zarr.writers import OMEZarrWriter

from pyama_dask.io.inputs.metamorph import MetaMorphSeries
from pyama_dask.io.inputs.microscopy import (
    MicroscopyError,
    MicroscopyMetadata,
    load_microscopy_file,
    read_frames,
    read_metadata,
    require_uniform_shape,
)

SERIES = "rcell2-examples"
SERIES_FILES = [f"{channel}_Position4_time{time}.tif" for channel in ("TFP", "YFP") for time in (10, 20, 30)]


@dataclass(frozen=True)
class Expected:
    """What data/README.md says about one input."""

    path: str
    file_type: str
    fov_shapes: list[tuple[int, int, int]]
    channel_names: list[str] | None
    pixel_size_um: float | None
    time_source: str
    seconds: list[float]  # time stamps of the first frames, seconds since the first
    seconds_tol: float
    fov_names: list[str] | None = None
    dim_order: str | None = None


CASES = [
    Expected("arcadia-microscopy-tools/example-multichannel.nd2", "nd2", [(1, 256, 256)],
             ["Mono", "DAPI", "FITC BP", "TRITC BP"], 0.3234, "ome-deltat", [0.0], 0, ["XYPos:0"]),
    Expected("arcadia-microscopy-tools/example-pbmc.nd2", "nd2", [(1, 256, 256)],
             ["Mono", "DAPI", "FITC BP", "TRITC BP"], 0.6468, "ome-deltat", [0.0], 0, ["XYPos:0"]),
    Expected("arcadia-microscopy-tools/example-cerevisiae.nd2", "nd2", [(1, 256, 256)],
             ["DIC", "FITC BP"], 0.1083, "ome-deltat", [0.0], 0, ["XYPos:0"]),
    # DeltaT 4227.2, 4727.4, 5227.5 ms
    Expected("arcadia-microscopy-tools/example-timelapse.nd2", "nd2", [(53, 64, 64)],
             ["GFP 488 nm"], 0.325, "ome-deltat", [0.0, 0.5002, 1.0003], 0.001, ["XYPos:0"]),
    Expected("arcadia-microscopy-tools/example-zstack.nd2", "nd2", [(1, 128, 128)],
             ["FITC BP"], 0.3234, "ome-deltat", [0.0], 0, ["XYPos:0"]),
    # DeltaT 445, 11086, 21740 ms
    Expected("pims/cluster.nd2", "nd2", [(3, 31, 38)], ["5-FAM/pH 9.0", "FM 4-64/2% CHAPS"], 0.1678,
             "ome-deltat", [0.0, 10.641, 21.295], 0.002, ["XYPos:0"]),
    # AcquisitionTime 06:09:43.03Z then 06:10:16.44Z
    Expected("czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi", "czi", [(2, 122, 295), (2, 64, 64), (2, 237, 352)],
             ["DAPI", "EGFP"], 1.6, "czi-subblock", [0.0, 33.41], 0.02, ["TR1", "P1", "TR2"]),
    Expected("czitools/WellD6-7_S2.czi", "czi", [(1, 440, 544), (1, 440, 544)], ["AF488"], 0.1,
             "czi-subblock", [0.0], 0, ["D6-D6", "D7-D7"]),
    # 09:47:08.28Z, 09:48:08.30Z, 09:49:08.37Z
    Expected("czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi", "czi", [(3, 170, 240)], ["LED555", "LED470"],
             0.0906, "czi-subblock", [0.0, 60.02, 120.09], 0.02),
    # acquisition-time-local 17:12:41.180, 18:02:42.776, 18:52:43.45
    Expected(SERIES, "metamorph-series", [(3, 1040, 1392)], ["TFP", "YFP"], None, "metamorph",
             [0.0, 3001.596, 6002.27], 0.01, ["Position4"]),
    Expected("laptrack/example_images.tif", "tiff", [(6, 200, 200)], None, None, "frame-index",
             [0.0, 60.0, 120.0, 180.0, 240.0, 300.0], 0, dim_order="TYX"),
    Expected("laptrack/example_label.tif", "tiff", [(6, 200, 200)], None, None, "frame-index",
             [0.0, 60.0, 120.0, 180.0, 240.0, 300.0], 0, dim_order="TYX"),
]
CASE_IDS = [Path(case.path).name for case in CASES]


def _reference_stack(path: Path, fov: int, channel: int, dim_order: str | None) -> np.ndarray:
    """bioio's own (T, H, W) pixels at Z 0; for the series, each file read by bioio."""
    if path.is_dir():
        channel_name = ("TFP", "YFP")[channel]
        return np.stack(
            [BioImage(path / f"{channel_name}_Position4_time{time}.tif").get_image_data("YX") for time in (10, 20, 30)]
        )
    options = {"reader": bioio_tifffile.Reader, "dim_order": dim_order} if dim_order else {}
    image = BioImage(path, **options)
    image.set_scene(fov)
    return image.get_image_data("TYX", C=channel, Z=0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_metadata_matches_readme(shared_data: Path, case: Expected) -> None:
    meta = read_metadata(shared_data / case.path, dim_order=case.dim_order)
    assert meta.file_type == case.file_type
    assert meta.fov_shapes == case.fov_shapes
    assert (meta.n_fovs, meta.n_frames, meta.height, meta.width) == (len(case.fov_shapes), *case.fov_shapes[0])
    if case.fov_names is not None:
        assert meta.fov_names == case.fov_names
    assert len(meta.fov_names) == meta.n_fovs
    if case.channel_names is not None:
        assert meta.channel_names == case.channel_names
    assert meta.n_channels == len(meta.channel_names)
    assert meta.dtype == "uint16"
    assert meta.dim_order == case.dim_order
    if case.pixel_size_um is None:
        assert meta.pixel_size_um is None
    else:
        assert meta.pixel_size_um == pytest.approx(case.pixel_size_um, rel=1e-3)
    assert meta.time_source == case.time_source
    assert len(meta.timepoints) == meta.n_frames
    seconds = [minutes * 60 for minutes in meta.timepoints[: len(case.seconds)]]
    assert seconds == pytest.approx(case.seconds, abs=case.seconds_tol)


def test_timelapse_nd2_interval_is_500_ms(shared_data: Path) -> None:
    meta = read_metadata(shared_data / "arcadia-microscopy-tools/example-timelapse.nd2")
    intervals_s = np.diff(meta.timepoints) * 60
    assert np.median(intervals_s) == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_read_frames_returns_bioio_pixels(shared_data: Path, case: Expected) -> None:
    path = shared_data / case.path
    meta = read_metadata(path, dim_order=case.dim_order)
    for fov in range(meta.n_fovs):
        for channel in range(meta.n_channels):
            stack = read_frames(path, fov, channel, dim_order=case.dim_order)
            expected = _reference_stack(path, fov, channel, case.dim_order)
            assert stack.dtype == np.uint16
            assert stack.shape == meta.fov_shapes[fov]
            np.testing.assert_array_equal(stack, expected)


def test_read_frames_slices_frames(shared_data: Path) -> None:
    path = shared_data / "arcadia-microscopy-tools/example-timelapse.nd2"
    full = read_frames(path, 0, 0)
    np.testing.assert_array_equal(read_frames(path, 0, 0, slice(10, 13)), full[10:13])
    np.testing.assert_array_equal(read_frames(path, 0, 0, slice(None, None, -5)), full[::-5])
    assert full.max() == 65535  # README: saturated pixels are kept, not clipped or wrapped


def test_zstack_reads_plane_zero(shared_data: Path) -> None:
    path = shared_data / "arcadia-microscopy-tools/example-zstack.nd2"
    z_stack = BioImage(path).get_image_data("ZYX", T=0, C=0)
    assert z_stack.shape[0] == 11
    np.testing.assert_array_equal(read_frames(path, 0, 0)[0], z_stack[0])


@pytest.mark.parametrize("name", ["arcadia-microscopy-tools/example-zstack.nd2", "pims/cluster.nd2",
                                  "czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi",
                                  "czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi"])
def test_z_plane_and_maximum_projection(shared_data: Path, name: str) -> None:
    path = shared_data / name
    meta = read_metadata(path)
    stack = BioImage(path).get_image_data("TZYX", C=meta.n_channels - 1)
    assert meta.n_z == stack.shape[1] > 1
    channel, last = meta.n_channels - 1, meta.n_z - 1
    np.testing.assert_array_equal(read_frames(path, 0, channel, z=last), stack[:, last])
    np.testing.assert_array_equal(read_frames(path, 0, channel, z="max"), stack.max(axis=1))
    np.testing.assert_array_equal(read_frames(path, 0, channel, slice(-1, None), z="max"), stack[-1:].max(axis=1))
    with pytest.raises(MicroscopyError, match=rf"Z plane {meta.n_z} is out of range: it has {meta.n_z} Z plane"):
        read_frames(path, 0, channel, z=meta.n_z)


def test_ome_tiff_z_plane_and_maximum_projection(tmp_path: Path) -> None:
    path = tmp_path / "stack.ome.tif"
    data = np.random.default_rng(1).integers(0, 4000, (3, 2, 4, 8, 8), dtype=np.uint16)
    tifffile.imwrite(path, data, metadata={"axes": "TCZYX"})
    assert read_metadata(path).n_z == 4
    np.testing.assert_array_equal(read_frames(path, 0, 1, z=2), data[:, 1, 2])
    np.testing.assert_array_equal(read_frames(path, 0, 1, slice(1, 3), z="max"), data[1:3, 1].max(axis=1))
    with pytest.raises(MicroscopyError, match="Z plane 4 is out of range"):
        read_frames(path, 0, 0, z=4)


def test_series_has_no_z(shared_data: Path) -> None:
    path = shared_data / SERIES
    assert read_metadata(path).n_z == 1
    np.testing.assert_array_equal(read_frames(path, 0, 1, z="max"), read_frames(path, 0, 1))
    with pytest.raises(MicroscopyError, match="Z plane 1 is out of range: it has 1 Z plane"):
        read_frames(path, 0, 1, z=1)


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list:
    original = getattr(owner, name)
    calls = []

    def counting(*args, **kwargs):
        calls.append((args[1:], kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


# (input, dim_order, low-level read counted, FOV, channel, frames, reads needed, reads of the whole FOV/channel)
LAZY_CASES = [
    ("arcadia-microscopy-tools/example-timelapse.nd2", None, (nd2.ND2File, "read_frame"), 0, 0, slice(10, 13), 3, 53),
    ("pims/cluster.nd2", None, (nd2.ND2File, "read_frame"), 0, 1, slice(1, 3), 2, 3),
    ("czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi", None, (aicspylibczi.CziFile, "read_image"), 0, 1,
     slice(2, 3), 1, 3),
    ("laptrack/example_images.tif", "TYX", (bioio_tifffile.Reader, "_get_image_data"), 0, 0, slice(2, 4), 2, 6),
    (SERIES, None, (tifffile.TiffFile, "asarray"), 0, 1, slice(1, 2), 1, 3),
]


@pytest.mark.parametrize(
    "relative, dim_order, target, fov, channel, frames, needed, whole",
    LAZY_CASES,
    ids=[Path(case[0]).name for case in LAZY_CASES],
)
def test_read_frames_reads_only_the_selection(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, relative, dim_order, target, fov, channel, frames, needed, whole
) -> None:
    path = shared_data / relative
    calls = _count_calls(monkeypatch, *target)
    stack = read_frames(path, fov, channel, frames, dim_order=dim_order)
    assert len(stack) == len(calls) == needed
    calls.clear()
    read_frames(path, fov, channel, dim_order=dim_order)
    assert len(calls) == whole


def test_mosaic_czi_reads_only_requested_plane(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, aicspylibczi.CziFile, "read_mosaic")
    read_frames(shared_data / "czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi", 2, 1, slice(1, 2))
    assert calls
    assert {(kwargs["T"], kwargs["C"], kwargs["Z"]) for _, kwargs in calls} == {(1, 1, 0)}


def test_load_returns_opened_image(shared_data: Path) -> None:
    image, meta = load_microscopy_file(shared_data / "czitools/WellD6-7_S2.czi")
    assert isinstance(image, BioImage) and image.current_scene_index == 0
    assert meta.fov_names == list(image.scenes)
    series, series_meta = load_microscopy_file(shared_data / SERIES)
    assert isinstance(series, MetaMorphSeries)
    assert series_meta.file_type == "metamorph-series"


def test_metadata_to_dict_is_json_ready(shared_data: Path) -> None:
    meta = read_metadata(shared_data / "czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi")
    record = json.loads(json.dumps(meta.to_dict()))
    assert set(record) == {field.name for field in fields(MicroscopyMetadata)}
    assert record["file_path"] == str(shared_data / "czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi")
    assert record["fov_shapes"][2] == [2, 237, 352]


def test_metadata_and_error_survive_pickling(shared_data: Path) -> None:
    # Dask ships both between client and workers.
    meta = read_metadata(shared_data / "pims/cluster.nd2")
    assert pickle.loads(pickle.dumps(meta)) == meta
    error = pickle.loads(pickle.dumps(MicroscopyError("x.nd2: broken")))
    assert isinstance(error, MicroscopyError) and str(error) == "x.nd2: broken"


def test_require_uniform_shape(shared_data: Path) -> None:
    assert require_uniform_shape(read_metadata(shared_data / "czitools/WellD6-7_S2.czi")) == (1, 440, 544)
    mosaic = read_metadata(shared_data / "czitools/S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi")
    with pytest.raises(MicroscopyError) as error:
        require_uniform_shape(mosaic)
    message = str(error.value)
    assert str(mosaic.file_path) in message
    for part in ("FOV 0 ('TR1') (2, 122, 295)", "FOV 1 ('P1') (2, 64, 64)", "FOV 2 ('TR2') (2, 237, 352)"):
        assert part in message


def test_laptrack_tiff_without_dim_order_is_z(shared_data: Path) -> None:
    # README: bioio reports the 6 frames as Z; dim_order="TYX" is what makes them time.
    meta = read_metadata(shared_data / "laptrack/example_images.tif")
    assert meta.fov_shapes == [(1, 200, 200)]


# MetaMorph series -------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [SERIES, f"{SERIES}/YFP_Position4_time20.tif", f"{SERIES}/*_Position4_time*.tif"])
def test_series_inputs_are_one_series(shared_data: Path, given: str) -> None:
    meta = read_metadata(shared_data / given)
    assert (meta.file_type, meta.base_name, meta.channel_names) == ("metamorph-series", "Position4", ["TFP", "YFP"])
    assert meta.fov_shapes == [(3, 1040, 1392)]
    np.testing.assert_array_equal(
        read_frames(meta.file_path, 0, 1, slice(2, 3))[0],
        tifffile.imread(shared_data / SERIES / "YFP_Position4_time30.tif"),
    )


def test_series_glob_selects_channels(shared_data: Path) -> None:
    meta = read_metadata(shared_data / SERIES / "YFP_*.tif")
    assert meta.channel_names == ["YFP"]
    assert meta.time_source == "metamorph"
    # YFP 17:12:43.978 -> 18:02:45.591 -> 18:52:45.791
    assert [minutes * 60 for minutes in meta.timepoints] == pytest.approx([0.0, 3001.613, 6001.813], abs=0.01)


def _link_series(shared_data: Path, directory: Path, names: list[str]) -> Path:
    directory.mkdir()
    for name in names:
        os.symlink(shared_data / SERIES / name, directory / name)
    return directory


def test_incomplete_series_names_missing_file(shared_data: Path, tmp_path: Path) -> None:
    series = _link_series(shared_data, tmp_path / "series", SERIES_FILES[:-1])
    with pytest.raises(MicroscopyError, match=r"incomplete.*1 of 6 files missing.*YFP_Position4_time30") as error:
        read_metadata(series)
    assert str(series) in str(error.value)


def test_series_positions_sort_numerically(shared_data: Path, tmp_path: Path) -> None:
    series = _link_series(shared_data, tmp_path / "series", [])
    for position in (10, 9):
        for time in (1, 2):
            source = shared_data / SERIES / f"TFP_Position4_time{time}0.tif"
            os.symlink(source, series / f"BF_Position{position}_time{time}.tif")
    meta = read_metadata(series)
    assert meta.fov_names == ["Position9", "Position10"]
    assert meta.base_name == "series"


# Other formats, written here ----------------------------------------------------------------------


def test_ome_tiff_deltat_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "timed.ome.tif"
    data = np.arange(3 * 2 * 8 * 8, dtype=np.uint16).reshape(3, 2, 8, 8)
    tifffile.imwrite(path, data, metadata={
        "axes": "TCYX",
        "PhysicalSizeX": 0.5,
        "PhysicalSizeXUnit": "µm",
        "Channel": {"Name": ["BF", "GFP"]},
        "Plane": {"DeltaT": [0, 0, 30, 30, 60, 60], "DeltaTUnit": ["s"] * 6},
    })
    meta = read_metadata(path)
    assert (meta.file_type, meta.base_name, meta.time_source) == ("ome-tiff", "timed", "ome-deltat")
    assert meta.timepoints == pytest.approx([0.0, 0.5, 1.0])
    assert meta.channel_names == ["BF", "GFP"]
    assert meta.pixel_size_um == pytest.approx(0.5)
    np.testing.assert_array_equal(read_frames(path, 0, 1), data[:, 1])


# (OME Pixels/Plane attributes written, time source expected, minutes expected, a disagreement noted)
TIME_TABLE = {
    "deltat-only": ({"Plane": {"DeltaT": [0, 90, 180], "DeltaTUnit": ["s"] * 3}},
                    "ome-deltat", [0.0, 1.5, 3.0], False),
    "increment-s": ({"TimeIncrement": 600.0, "TimeIncrementUnit": "s"}, "ome-time-increment", [0.0, 10.0, 20.0], False),
    "increment-ms": ({"TimeIncrement": 1500.0, "TimeIncrementUnit": "ms"}, "ome-time-increment",
                     [0.0, 0.025, 0.05], False),
    "increment-min": ({"TimeIncrement": 5.0, "TimeIncrementUnit": "min"}, "ome-time-increment",
                      [0.0, 5.0, 10.0], False),
    "increment-h": ({"TimeIncrement": 2.0, "TimeIncrementUnit": "h"}, "ome-time-increment",
                    [0.0, 120.0, 240.0], False),
    "both-agree": ({"TimeIncrement": 90.0, "TimeIncrementUnit": "s",
                    "Plane": {"DeltaT": [0, 91, 180], "DeltaTUnit": ["s"] * 3}}, "ome-deltat", [0.0, 91 / 60, 3.0], False),
    "both-disagree": ({"TimeIncrement": 10.0, "TimeIncrementUnit": "min",
                       "Plane": {"DeltaT": [0, 90, 180], "DeltaTUnit": ["s"] * 3}}, "ome-deltat", [0.0, 1.5, 3.0], True),
    "neither": ({}, "frame-index", [0.0, 1.0, 2.0], False),
}


@pytest.mark.parametrize("name", TIME_TABLE)
def test_ome_tiff_time_sources(tmp_path: Path, name: str) -> None:
    attributes, source, minutes, disagree = TIME_TABLE[name]
    path = tmp_path / f"{name}.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint16), metadata={"axes": "TYX", **attributes})
    meta = read_metadata(path)
    assert meta.time_source == source
    assert meta.timepoints == pytest.approx(minutes)
    assert any("disagree" in note for note in meta.time_notes) == disagree
    assert any("frame index stands in for time" in note for note in meta.time_notes) == (source == "frame-index")
    if disagree:
        assert "ome-time-increment gives a mean interval of 10 min, ome-deltat gives a mean interval of 1.5 min" in \
            meta.time_notes[0]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_real_files_warn_only_when_time_is_the_frame_index(shared_data: Path, case: Expected) -> None:
    meta = read_metadata(shared_data / case.path, dim_order=case.dim_order)
    if meta.time_source == "frame-index" and meta.n_frames > 1:
        assert len(meta.time_notes) == 1 and "frame index stands in for time" in meta.time_notes[0]
    else:
        assert meta.time_notes == []  # every time source the file carries agrees with the one used


def test_nd2_frame_times_agree_with_deltat(shared_data: Path) -> None:
    from pyama_dask.io.inputs.timestamps import nd2_frame_minutes

    for name, n_frames in [("arcadia-microscopy-tools/example-timelapse.nd2", 53), ("pims/cluster.nd2", 3)]:
        path = shared_data / name
        assert nd2_frame_minutes(str(path), 0, n_frames) == pytest.approx(read_metadata(path).timepoints, abs=1e-6)


def test_ome_tiff_with_two_positions(tmp_path: Path) -> None:
    path = tmp_path / "positions.ome.tiff"
    first = np.arange(2 * 6 * 5, dtype=np.uint16).reshape(2, 6, 5)
    second = np.arange(3 * 4 * 7, dtype=np.uint16).reshape(3, 4, 7) + 1000
    with tifffile.TiffWriter(path, ome=True) as tiff:
        tiff.write(first, metadata={"axes": "TYX", "Plane": {"DeltaT": [0.0, 250.0], "DeltaTUnit": ["ms"] * 2}})
        tiff.write(second, metadata={"axes": "TYX"})
    meta = read_metadata(path)
    assert (meta.file_type, meta.n_fovs, meta.fov_shapes) == ("ome-tiff", 2, [(2, 6, 5), (3, 4, 7)])
    assert (meta.time_source, meta.timepoints) == ("ome-deltat", pytest.approx([0.0, 0.25 / 60]))
    np.testing.assert_array_equal(read_frames(path, 1, 0), second)
    np.testing.assert_array_equal(read_frames(path, 0, 0, slice(1, 2)), first[1:])


@pytest.mark.parametrize("name", ["plate.ome.zarr", "store_without_suffix"])
def test_ome_zarr_directory(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    data = np.arange(4 * 2 * 16 * 16, dtype=np.uint16).reshape(4, 2, 1, 16, 16)
    writer = OMEZarrWriter(
        str(path), level_shapes=data.shape, dtype="uint16", axes_names=["t", "c", "z", "y", "x"],
        axes_units=["minute", None, "micrometer", "micrometer", "micrometer"],
        physical_pixel_size=[5.0, 1.0, 1.0, 0.25, 0.25],
    )
    writer.write_full_volume(data)
    meta = read_metadata(path)
    assert (meta.file_type, meta.fov_shapes, meta.n_channels) == ("ome-zarr", [(4, 16, 16)], 2)
    assert meta.pixel_size_um == pytest.approx(0.25)
    assert (meta.time_source, meta.timepoints) == ("bioio-interval", pytest.approx([0.0, 5.0, 10.0, 15.0]))
    np.testing.assert_array_equal(read_frames(path, 0, 1, slice(1, 3)), data[1:3, 1, 0])


@pytest.mark.parametrize("values", [
    np.array([[0, 7], [200, 255]], dtype=np.uint8),
    np.array([[0, 7], [30000, 32767]], dtype=np.int16),
    np.array([[0, 7], [40000, 65535]], dtype=np.int64),
    np.array([[False, True], [True, False]]),
], ids=lambda values: values.dtype.name)
def test_integer_pixels_cast_to_uint16_exactly(tmp_path: Path, values: np.ndarray) -> None:
    path = tmp_path / "plane.tif"
    tifffile.imwrite(path, values)
    stack = read_frames(path, 0, 0)
    assert stack.dtype == np.uint16
    np.testing.assert_array_equal(stack[0], values.astype(np.int64))


# Bad input ---------------------------------------------------------------------------------------


def _half_copy(shared_data: Path, tmp_path: Path, relative: str) -> Path:
    source = shared_data / relative
    target = tmp_path / f"half_{source.name}"
    target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return target


def _tiff(tmp_path: Path, name: str, data: np.ndarray, **options) -> Path:
    tifffile.imwrite(tmp_path / name, data, **options)
    return tmp_path / name


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _text(path: Path) -> Path:
    path.write_text("this is not an image\n")
    return path


# (id, make the input, call, message pattern); the message must also name the input's path.
BAD_INPUTS = [
    ("missing", lambda d, t: t / "missing.nd2", read_metadata, r"no such file"),
    ("empty", lambda d, t: (t / "empty.nd2").touch() or t / "empty.nd2", read_metadata, r"empty \(0 bytes\)"),
    ("text-as-nd2", lambda d, t: _text(t / "notes.nd2"), read_metadata, r"not a valid \.nd2 file"),
    ("text-as-tif", lambda d, t: _text(t / "notes.tif"), read_metadata, r"not a readable TIFF file"),
    ("truncated-nd2", lambda d, t: _half_copy(d, t, "arcadia-microscopy-tools/example-timelapse.nd2"),
     read_metadata, r"truncated or damaged"),
    ("truncated-tiff", lambda d, t: _half_copy(d, t, "laptrack/example_images.tif"),
     lambda p: read_frames(p, 0, 0, dim_order="TYX"), r"FOV 0, channel 0: cannot read the pixels.*truncated"),
    ("truncated-czi", lambda d, t: _half_copy(d, t, "czitools/CellDivision_T3_Z5_CH2_X240_Y170.czi"),
     lambda p: read_frames(p, 0, 1), r"FOV 0, channel 1: cannot read the pixels.*truncated"),
    ("unsupported-extension", lambda d, t: _text(t / "image.xyz"), read_metadata, r"unsupported format '\.xyz'"),
    ("npz", lambda d, t: d / "laptrack/cell_segmentation_data_small.npz", read_metadata,
     r"unsupported format '\.npz'"),
    ("plain-directory", lambda d, t: _dir(t / "folder"), read_metadata,
     r"neither an OME-Zarr nor a MetaMorph series"),
    ("glob-matching-nothing", lambda d, t: t / "*_Position*_time*.tif", read_metadata, r"pattern matches no MetaMorph"),
    ("channel-too-high", lambda d, t: d / "pims/cluster.nd2", lambda p: read_frames(p, 0, 2),
     r"channel index 2 is out of range: 2 channel\(s\) available \(0=5-FAM/pH 9.0, 1=FM 4-64/2% CHAPS\)"),
    ("channel-negative", lambda d, t: d / "pims/cluster.nd2", lambda p: read_frames(p, 0, -1),
     r"channel index -1 is out of range"),
    ("fov-too-high", lambda d, t: d / "czitools/WellD6-7_S2.czi", lambda p: read_frames(p, 2, 0),
     r"FOV index 2 is out of range: 2 FOV\(s\) available \(0=D6-D6, 1=D7-D7\)"),
    ("series-channel-too-high", lambda d, t: d / SERIES, lambda p: read_frames(p, 0, 2),
     r"channel index 2 is out of range: 2 channel\(s\) available \(0=TFP, 1=YFP\)"),
    ("series-fov-too-high", lambda d, t: d / SERIES, lambda p: read_frames(p, 1, 0), r"FOV index 1 is out of range"),
    ("no-frames-selected", lambda d, t: d / "pims/cluster.nd2", lambda p: read_frames(p, 0, 0, slice(5, 9)),
     r"FOV 0: frames slice\(5, 9, None\) select none of the 3 frame"),
    ("float-tiff", lambda d, t: _tiff(t, "float.tif", np.full((8, 8), 0.5, np.float32)),
     lambda p: read_frames(p, 0, 0), r"FOV 0, channel 0: pixels are float32; uint16 required"),
    ("int32-over-65535", lambda d, t: _tiff(t, "int32.tif", np.array([[1, 70000], [0, 5]], np.int32)),
     lambda p: read_frames(p, 0, 0), r"FOV 0, channel 0: pixel values 0\.\.70000 \(int32\) lie outside 0\.\.65535"),
    ("negative-int16", lambda d, t: _tiff(t, "int16.tif", np.array([[-3, 7]], np.int16)),
     lambda p: read_frames(p, 0, 0), r"pixel values -3\.\.7 \(int16\) lie outside"),
    ("rgb-tiff", lambda d, t: _tiff(t, "rgb.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb"),
     read_metadata, r"unsupported axes \{'S': 3\}"),
    ("bad-dim-order", lambda d, t: d / "laptrack/example_images.tif",
     lambda p: read_metadata(p, dim_order="TQX"), r"dim_order 'TQX'"),
    ("dim-order-on-series", lambda d, t: d / SERIES, lambda p: read_metadata(p, dim_order="TYX"),
     r"dim_order='TYX' applies to plain TIFF files"),
]


@pytest.mark.parametrize("make, call, pattern", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_clearly(shared_data: Path, tmp_path: Path, make, call, pattern: str) -> None:
    path = make(shared_data, tmp_path)
    with pytest.raises(MicroscopyError) as error:
        call(path)
    message = str(error.value)
    assert str(path) in message
    assert re.search(pattern, message), message
