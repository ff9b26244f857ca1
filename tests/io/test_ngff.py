"""The store as OME-NGFF: what ome-zarr-py (napari's reader), bioio and ome-zarr-models see."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.completion import mark_complete
from pyama_dask.io.store import (
    ImageRef,
    StoreError,
    contrast_pixels,
    create_image,
    image_channel_name,
    image_qc,
    image_scale,
    open_image,
    record_image_qc,
    update_contrast_limits,
)

#: A run's output written before NGFF metadata went through ome-zarr-py.
OLD_OUTPUT = Path(__file__).resolve().parents[1] / "fixtures" / "store_before_step_table" / "output"
SCALE = (5.0, 0.65, 0.65)


@pytest.fixture(scope="module")
def meta(tiny_dataset):
    return read_metadata(tiny_dataset.image_path)


def _read(ref: ImageRef) -> list:
    """The nodes ome-zarr-py's reader (napari's) finds from an image."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    return list(Reader(parse_url(str(ref.location)))())


def test_ome_zarr_reader_reads_an_image_its_axes_scale_and_channel(tmp_path):
    from ome_zarr.reader import OMERO, Multiscales

    ref = ImageRef(tmp_path, 0, "fl", 1)
    data = np.random.default_rng(3).integers(100, 5000, size=(4, 16, 16), dtype=np.uint16)
    create_image(ref, data.shape, np.uint16, scale=SCALE, channel_name="GFP")[:] = data
    start, end = update_contrast_limits(ref)

    (node,) = _read(ref)
    assert {type(spec) for spec in node.specs} == {Multiscales, OMERO}
    assert node.zarr.version == "0.5"
    assert node.metadata["axes"] == [
        {"name": "t", "type": "time", "unit": "minute"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"}]
    assert node.metadata["coordinateTransformations"] == [[{"type": "scale", "scale": list(SCALE)}]]
    np.testing.assert_array_equal(np.asarray(node.data[0]), data)
    assert node.metadata["channel_names"] == ["GFP"]
    assert node.metadata["colormap"] == [[[0, 0, 0], [0.0, 1.0, 0.0]]]  # the first fluorescence channel is green
    assert node.metadata["contrast_limits"] == [[start, end]]
    (channel,) = node.zarr.root_attrs["omero"]["channels"]
    assert channel["window"] == {"min": 0.0, "max": 65535.0, "start": start, "end": end}


def test_ome_zarr_reader_finds_a_label_image_of_its_source_image(tmp_path):
    from ome_zarr.reader import Label, Labels

    pc, tracked = ImageRef(tmp_path, 0, "pc", 0), ImageRef(tmp_path, 0, "seg_labeled", 0)
    create_image(pc, (2, 8, 8), np.uint16, scale=SCALE, channel_name="Phase")
    create_image(tracked, (2, 8, 8), np.uint16, scale=SCALE)[:] = 3

    image, listing, label = _read(pc)
    assert listing.zarr.root_attrs == {"version": "0.5", "labels": ["seg_labeled_ch_0"]}
    assert any(isinstance(spec, Labels) for spec in listing.specs)
    assert any(isinstance(spec, Label) for spec in label.specs)
    assert label.zarr.root_attrs["image-label"]["source"] == {"image": "../../"}
    assert label.metadata["coordinateTransformations"] == [[{"type": "scale", "scale": list(SCALE)}]]
    assert np.asarray(label.data[0]).max() == 3

    source, *_ = _read(tracked)  # from the label image, its source image comes first
    assert Path(source.zarr.path).resolve() == Path(image.zarr.path).resolve() == pc.location.resolve()


def test_recreating_an_image_replaces_its_ngff_metadata_and_facts(tmp_path):
    ref = ImageRef(tmp_path, 0, "fl", 1)
    create_image(ref, (2, 8, 8), np.uint16, channel_name="GFP")
    record_image_qc(ref, {"fallback_frames": [1]})
    create_image(ref, (2, 8, 8), np.uint16, scale=SCALE)  # without a channel this time

    assert image_channel_name(ref) is None and image_scale(ref) == list(SCALE)
    assert image_qc(ref) == {"complete": None}


def test_a_store_written_before_ome_zarr_py_is_still_read_and_updated(tmp_path):
    shutil.copytree(OLD_OUTPUT / "pyama.zarr", tmp_path / "pyama.zarr")
    pc, fl = ImageRef(tmp_path, 0, "pc", 0), ImageRef(tmp_path, 0, "fl", 1)
    complete = image_qc(pc)["complete"]

    assert image_scale(pc) == image_scale(fl) == [5.0, 0.65, 0.65]
    assert (image_channel_name(pc), image_channel_name(fl)) == ("Phase", "GFP")
    start, end = update_contrast_limits(pc, quantiles=(0.0, 1.0))
    (node, *_) = _read(pc)
    assert node.metadata["contrast_limits"] == [[start, end]]
    assert image_qc(pc)["complete"] == complete


def test_ome_zarr_reader_finds_the_phase_contrast_and_its_tracked_labels(tiny_run, meta):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    pc = ImageRef(tiny_run, 1, "pc", 0)
    image, *others = list(Reader(parse_url(str(pc.location)))())
    assert any(isinstance(spec, Multiscales) for spec in image.specs)
    assert [(a["name"], a["unit"]) for a in image.metadata["axes"]] == [
        ("t", "minute"), ("y", "micrometer"), ("x", "micrometer")]
    assert image.metadata["channel_names"] == [meta.channel_names[0]]
    low, high = image.metadata["contrast_limits"][0]
    data = open_image(pc)[:]
    assert data.min() <= low < high <= data.max()
    scale = image.metadata["coordinateTransformations"][0][0]["scale"]
    interval = meta.timepoints[1] - meta.timepoints[0]
    assert scale == pytest.approx([interval, meta.pixel_size_um, meta.pixel_size_um])

    (label,) = [node for node in others if any(isinstance(spec, Label) for spec in node.specs)]
    np.testing.assert_array_equal(np.asarray(label.data[0]), open_image(ImageRef(tiny_run, 1, "seg_labeled", 0))[:])
    assert np.asarray(label.data[0]).max() > 0


def test_bioio_reads_channel_names_and_physical_sizes(tiny_run, meta):
    from bioio import BioImage
    from bioio_ome_zarr import Reader

    for kind, channel in [("pc", 0), ("fl", 1), ("fl", 2)]:
        image = BioImage(ImageRef(tiny_run, 0, kind, channel).location, reader=Reader)
        assert image.channel_names == [meta.channel_names[channel]]
        assert image.physical_pixel_sizes.X == pytest.approx(meta.pixel_size_um)
        assert image.dims.T == meta.n_frames


def test_images_and_label_image_validate_against_the_ngff_models(tiny_run):
    from ome_zarr_models.v05 import Image
    from ome_zarr_models.v05.image_label import ImageLabel
    from ome_zarr_models.v05.labels import Labels

    for kind, channel in [("pc", 0), ("fl", 1), ("seg", 0)]:
        Image.from_zarr(zarr.open_group(ImageRef(tiny_run, 0, kind, channel).location, mode="r"))
    label = ImageLabel.from_zarr(zarr.open_group(ImageRef(tiny_run, 0, "seg_labeled", 0).location, mode="r"))
    assert label.attributes.ome.image_label.source.image == "../../"
    listing = Labels.from_zarr(zarr.open_group(ImageRef(tiny_run, 0, "pc", 0).location / "labels", mode="r"))
    assert listing.attributes.ome.labels == ["seg_labeled_ch_0"]


def test_recreating_an_image_keeps_its_labels_listing(tmp_path):
    pc, labels = ImageRef(tmp_path, 0, "pc", 0), ImageRef(tmp_path, 0, "seg_labeled", 0)
    create_image(pc, (2, 8, 8), np.uint16, channel_name="Phase")[:] = 7
    mark_complete(pc, "a")
    create_image(labels, (2, 8, 8), np.uint16)
    create_image(pc, (3, 4, 4), np.uint16, channel_name="Phase")  # e.g. recopied after an interruption

    listing = zarr.open_group(pc.location / "labels", mode="r").attrs["ome"]
    assert listing == {"version": "0.5", "labels": ["seg_labeled_ch_0"]}
    array = zarr.open_array(pc.location / "0", mode="r")
    assert array.shape == (3, 4, 4) and array[:].max() == 0
    create_image(labels, (2, 8, 8), np.uint16)  # listed once, however often it is made
    assert zarr.open_group(pc.location / "labels", mode="r").attrs["ome"]["labels"] == ["seg_labeled_ch_0"]
    assert labels.location == pc.location / "labels" / "seg_labeled_ch_0"


def test_contrast_limits_follow_the_pixels(tmp_path):
    ref = ImageRef(tmp_path, 0, "fl", 1)
    data = np.random.default_rng(1).integers(100, 5000, size=(20, 64, 64), dtype=np.uint16)
    create_image(ref, data.shape, np.uint16, channel_name="GFP")[:] = data
    start, end = update_contrast_limits(ref, quantiles=(0.0, 1.0))
    assert data.min() <= start < end <= data.max()
    assert end - start > 0.9 * (data.max() - data.min())  # the sampled frames span the data
    window = zarr.open_group(ref.location, mode="r").attrs["ome"]["omero"]["channels"][0]["window"]
    assert (window["min"], window["max"], window["start"], window["end"]) == (0, 65535, start, end)
    assert image_channel_name(ref) == "GFP"


def test_contrast_limits_from_the_written_blocks_equal_those_read_back(tmp_path):
    ref = ImageRef(tmp_path, 0, "fl", 1)
    data = np.random.default_rng(2).gamma(2.0, 300.0, size=(23, 48, 40)).astype(np.uint16)
    create_image(ref, data.shape, np.uint16, frames_per_chunk=5, channel_name="GFP")[:] = data
    blocks = [slice(start, min(start + 7, 23)) for start in range(0, 23, 7)]  # not the chunks
    written = update_contrast_limits(ref, [contrast_pixels(data[frames], frames, 23) for frames in blocks])
    assert written == update_contrast_limits(ref)
    assert sum(contrast_pixels(data[f], f, 23).size for f in blocks) == 8 * 48 * 40  # 8 frames, all pixels


def test_contrast_limits_need_omero_metadata(tmp_path):
    ref = ImageRef(tmp_path, 2, "seg", 0)
    create_image(ref, (1, 4, 4), np.bool_)
    with pytest.raises(StoreError, match="fov_002/seg_ch_0 has no omero metadata"):
        update_contrast_limits(ref)
    assert image_channel_name(ref) is None
