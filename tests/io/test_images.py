"""A run's images as lazy labelled arrays, and through bioio."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from pyama_dask import open_image
from pyama_dask.io.corrected import open_corrected
from pyama_dask.io.store import ImageRef, StoreError, image_scale
from pyama_dask.io.store import open_image as open_stored


@pytest.mark.parametrize("kind, channel", [("pc", 0), ("fl", 2), ("seg", 0), ("seg_labeled", 0)])
def test_an_image_opens_lazily_with_its_pixels_and_physical_coordinates(tiny_run, kind, channel):
    image = open_image(tiny_run, 1, kind, channel)
    stored = open_stored(ImageRef(tiny_run, 1, kind, channel))
    assert isinstance(image.data, da.Array) and image.dims == ("t", "y", "x") and image.shape == stored.shape
    np.testing.assert_array_equal(image.isel(t=3).values, stored[3])
    minutes, y_um, x_um = image_scale(ImageRef(tiny_run, 1, kind, channel))
    assert image["t"].values[2] == pytest.approx(2 * minutes) and image["x"].values[5] == pytest.approx(5 * x_um)
    assert image.attrs["location"].endswith(ImageRef(tiny_run, 1, kind, channel).group_path)


def test_the_corrected_fluorescence_opens_as_computed_on_read(tiny_run):
    image = open_image(tiny_run, 0, "fl_corrected", 1)
    assert image.dtype == np.float32 and image.data.chunks[0] == (1,) * image.shape[0]
    expected = open_corrected(ImageRef(tiny_run, 0, "fl_corrected", 1).location)[4]
    np.testing.assert_array_equal(image[4].values, expected)
    assert image.attrs["channel_name"] == open_image(tiny_run, 0, "fl", 1).attrs["channel_name"] is not None


def test_unknown_kinds_and_missing_images_are_named(tiny_run):
    with pytest.raises(ValueError, match="image kind must be one of pc, fl, seg, seg_labeled, fl_corrected, got 'raw'"):
        open_image(tiny_run, 0, "raw", 0)
    with pytest.raises(StoreError, match="fov_007/fl_ch_1 is missing or incomplete"):
        open_image(tiny_run, 7, "fl", 1)


def test_bioio_opens_an_image_group_with_the_ome_zarr_reader(tiny_run):
    BioImage = pytest.importorskip("bioio").BioImage
    reader = pytest.importorskip("bioio_ome_zarr").Reader
    location = ImageRef(tiny_run, 2, "fl", 1).location
    image = BioImage(location, reader=reader)
    assert image.dims.order == "TCZYX" and (image.dims.C, image.dims.Z) == (1, 1)
    np.testing.assert_array_equal(image.get_image_data("TYX"), open_image(tiny_run, 2, "fl", 1).values)
    assert image.channel_names == [open_image(tiny_run, 2, "fl", 1).attrs["channel_name"]]
    assert image.physical_pixel_sizes.X == pytest.approx(image_scale(ImageRef(tiny_run, 2, "fl", 1))[2])
    labels = BioImage(ImageRef(tiny_run, 2, "seg_labeled", 0).location, reader=reader)
    np.testing.assert_array_equal(labels.get_image_data("TYX"), open_image(tiny_run, 2, "seg_labeled", 0).values)
