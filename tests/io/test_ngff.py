"""The store as OME-NGFF: what ome-zarr-py (napari's reader), bioio and ome-zarr-models see."""

from __future__ import annotations

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
    open_image,
    update_contrast_limits,
)


@pytest.fixture(scope="module")
def meta(tiny_dataset):
    return read_metadata(tiny_dataset.image_path)


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

    for kind, channel in [("pc", 0), ("fl", 1), ("seg", 0)]:
        Image.from_zarr(zarr.open_group(ImageRef(tiny_run, 0, kind, channel).location, mode="r"))
    label = ImageLabel.from_zarr(zarr.open_group(ImageRef(tiny_run, 0, "seg_labeled", 0).location, mode="r"))
    assert label.attributes.ome.image_label.source.image == "../../"


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
