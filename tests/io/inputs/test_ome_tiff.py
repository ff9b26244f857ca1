"""OME-TIFF planes read by tifffile alone equal bioio's, whatever the axis order; other files go to bioio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from bioio import BioImage

from pyama_dask.io.inputs import microscopy
from pyama_dask.io.inputs.microscopy import MicroscopyError, open_fov_reader, read_frames, read_metadata


def _bioio_stack(path: Path, fov: int, channel: int) -> np.ndarray:
    image = BioImage(path)
    image.set_scene(fov)
    return image.get_image_data("TYX", C=channel, Z=0)


def _forbid_bioio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pixel read through bioio fail, to prove tifffile did the reading."""

    def refuse(path: Path, dim_order: str | None):
        raise AssertionError(f"{path} was opened with bioio")

    monkeypatch.setattr(microscopy, "_open_bioimage", refuse)


@pytest.fixture
def bioio_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_bioio(monkeypatch)


def _write(path: Path, data: np.ndarray, axes: str, **options) -> None:
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": axes, **options.pop("metadata", {})},
                     **options)


def _values(shape: tuple[int, ...], dtype=np.uint16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)


@pytest.mark.parametrize("axes, shape", [
    ("TCZYX", (3, 2, 2, 6, 5)),
    ("TZCYX", (3, 2, 2, 6, 5)),
    ("CTZYX", (2, 3, 2, 6, 5)),
    ("ZCTYX", (2, 2, 3, 6, 5)),
    ("TCYX", (4, 3, 6, 5)),
    ("CTYX", (3, 4, 6, 5)),
    ("TYX", (4, 6, 5)),
    ("CYX", (2, 6, 5)),
    ("YX", (6, 5)),
])
def test_planes_equal_bioio_for_every_axis_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, axes: str, shape: tuple[int, ...]
) -> None:
    path = tmp_path / "stack.ome.tiff"
    _write(path, _values(shape), axes)
    meta = read_metadata(path)
    expected = {channel: _bioio_stack(path, 0, channel) for channel in range(meta.n_channels)}
    assert len(expected) == (shape[axes.index("C")] if "C" in axes else 1)
    _forbid_bioio(monkeypatch)
    for channel, stack in expected.items():
        np.testing.assert_array_equal(read_frames(path, 0, channel), stack)
        np.testing.assert_array_equal(read_frames(path, 0, channel, slice(None, None, -2)), stack[::-2])


def test_scenes_compression_and_tiles_equal_bioio(tmp_path: Path, bioio_forbidden: None) -> None:
    path = tmp_path / "scenes.ome.tiff"
    first, second = _values((3, 2, 32, 48), seed=1), _values((2, 2, 16, 16), seed=2)
    with tifffile.TiffWriter(path, ome=True) as tiff:
        tiff.write(first, photometric="minisblack", metadata={"axes": "TCYX"}, compression="zlib", tile=(16, 16))
        tiff.write(second, photometric="minisblack", metadata={"axes": "TCYX"}, compression="lzw")
    for fov, data in enumerate((first, second)):
        for channel in (0, 1):
            np.testing.assert_array_equal(read_frames(path, fov, channel), data[:, channel])


def test_one_opening_reads_many_blocks(tmp_path: Path, bioio_forbidden: None) -> None:
    path = tmp_path / "blocks.ome.tiff"
    data = _values((7, 3, 8, 8))
    _write(path, data, "TCYX")
    with open_fov_reader(path, 0) as reader:
        blocks = [reader.read(channel, slice(start, start + 3)) for channel in (2, 0) for start in (0, 3, 6)]
    np.testing.assert_array_equal(np.concatenate(blocks[:3]), data[:, 2])
    np.testing.assert_array_equal(np.concatenate(blocks[3:]), data[:, 0])


def test_small_integers_cast_and_floats_refused(tmp_path: Path, bioio_forbidden: None) -> None:
    bytes_path, float_path = tmp_path / "bytes.ome.tif", tmp_path / "floats.ome.tif"
    _write(bytes_path, _values((2, 4, 4), np.uint8), "TYX")
    _write(float_path, np.full((2, 4, 4), 0.5, np.float32), "TYX")
    stack = read_frames(bytes_path, 0, 0)
    assert stack.dtype == np.uint16
    np.testing.assert_array_equal(stack, tifffile.imread(bytes_path))
    with pytest.raises(MicroscopyError, match=r"floats\.ome\.tif, FOV 0, channel 0: pixels are float32"):
        read_frames(float_path, 0, 0)


def test_out_of_range_requests_get_bioio_messages(tmp_path: Path) -> None:
    path = tmp_path / "two.ome.tiff"
    _write(path, _values((2, 2, 4, 4)), "TCYX", metadata={"Channel": {"Name": ["BF", "GFP"]}})
    with pytest.raises(MicroscopyError, match=r"channel index 2 is out of range: 2 channel\(s\) available \(0=BF, 1=GFP\)"):
        read_frames(path, 0, 2)
    with pytest.raises(MicroscopyError, match=r"FOV index 1 is out of range: 1 FOV\(s\) available"):
        read_frames(path, 1, 0)
    with pytest.raises(MicroscopyError, match=r"frames slice\(5, 9, None\) select none of the 2 frame"):
        read_frames(path, 0, 0, slice(5, 9))


def test_rgb_ome_tiff_is_left_to_bioio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rgb.ome.tiff"
    tifffile.imwrite(path, _values((2, 4, 4, 3), np.uint8), photometric="rgb", metadata={"axes": "TYXS"})
    opened = []
    original = microscopy._open_bioimage
    monkeypatch.setattr(microscopy, "_open_bioimage", lambda *args: opened.append(args) or original(*args))
    read_frames(path, 0, 0)  # read_metadata refuses RGB; reading it is bioio's business
    assert opened, "an RGB OME-TIFF must go through bioio"


def test_multi_file_ome_tiff_equals_bioio(tmp_path: Path) -> None:
    """Planes spread over two files (OME TiffData with UUIDs) are bioio's to read."""
    data = _values((2, 2, 6, 6))
    names = ["part0.ome.tif", "part1.ome.tif"]
    uuids = ["urn:uuid:11111111-1111-1111-1111-111111111111", "urn:uuid:22222222-2222-2222-2222-222222222222"]
    tiff_data = "".join(
        f'<TiffData FirstT="{t}" FirstC="0" IFD="0" PlaneCount="2"><UUID FileName="{names[t]}">{uuids[t]}</UUID></TiffData>'
        for t in range(2))
    for t, name in enumerate(names):
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{uuids[t]}">'
            '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" '
            'SizeX="6" SizeY="6" SizeC="2" SizeZ="1" SizeT="2">'
            '<Channel ID="Channel:0:0" SamplesPerPixel="1"/><Channel ID="Channel:0:1" SamplesPerPixel="1"/>'
            f'{tiff_data}</Pixels></Image></OME>')
        tifffile.imwrite(tmp_path / name, data[t], description=xml.encode(), metadata=None)
    path = tmp_path / names[0]
    for channel in (0, 1):
        np.testing.assert_array_equal(read_frames(path, 0, channel), _bioio_stack(path, 0, channel))


def test_a_file_is_mapped_once_per_process_and_afresh_once_rewritten(
        tmp_path: Path, bioio_forbidden: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyama_dask.io.inputs import ome_tiff

    path = tmp_path / "scenes.ome.tiff"
    first, second = _values((2, 4, 8, 8), seed=1), _values((2, 4, 8, 8), seed=2)
    _write(path, first, "TCYX")
    mapped = []
    monkeypatch.setattr(ome_tiff, "_map", lambda p: mapped.append(p) or ome_tiff._MappedTiff(
        tifffile.TiffFile(p), True))
    for _ in range(3):
        with open_fov_reader(path, 0) as reader:
            np.testing.assert_array_equal(reader.read(1), first[:, 1])
    assert mapped == [path]
    path.unlink()
    _write(path, np.concatenate([second, second]), "TCYX")  # another file, another size
    with open_fov_reader(path, 0) as reader:
        np.testing.assert_array_equal(reader.read(3), np.concatenate([second, second])[:, 3])
    assert mapped == [path, path]
