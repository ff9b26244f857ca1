"""The Zarr store: layout, NGFF metadata, completion markers."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pyama_dask.io.completion import completed_fingerprint, mark_complete
from pyama_dask.io.store import (
    STORE_NAME,
    ImageRef,
    StoreError,
    chunk_frames,
    create_image,
    image_scale,
    open_image,
    remove_stale_partials,
)


def test_image_roundtrip_and_layout(tmp_path):
    ref = ImageRef(tmp_path, 3, "fl_corrected", 1)
    data = np.random.default_rng(0).normal(size=(4, 20, 30)).astype(np.float32)
    arr = create_image(ref, data.shape, np.float32, scale=(5.0, 0.65, 0.65))
    arr[:] = data
    mark_complete(ref, "abc")

    assert ref.location == tmp_path / STORE_NAME / "fov_003" / "fl_corrected_ch_1"
    assert (ref.location / "0" / "zarr.json").is_file()
    np.testing.assert_array_equal(open_image(ref)[:], data)
    assert open_image(ref).chunks == (4, 20, 30)  # small frames: the whole stack in one chunk
    assert image_scale(ref) == [5.0, 0.65, 0.65]


def test_chunks_hold_whole_frames_of_about_16_mb():
    assert [chunk_frames(side, side) for side in (256, 512, 1024, 2048, 4096)] == [128, 32, 8, 2, 1]
    assert chunk_frames(1200, 1600) == 4  # 15.4 MB


def test_ngff_metadata_has_axes_units_and_scale(tmp_path):
    ref = ImageRef(tmp_path, 0, "pc", 0)
    create_image(ref, (2, 8, 8), np.uint16, scale=(2.5, 0.3, 0.3))
    ome = zarr.open_group(ref.location, mode="r").attrs["ome"]
    assert ome["version"] == "0.5"
    (ms,) = ome["multiscales"]
    assert [(a["name"], a["type"], a["unit"]) for a in ms["axes"]] == [
        ("t", "time", "minute"), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    assert ms["datasets"][0]["path"] == "0"
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.5, 0.3, 0.3]


def test_ngff_image_opens_with_bioio_ome_zarr(tmp_path):
    from bioio import BioImage
    from bioio_ome_zarr import Reader

    ref = ImageRef(tmp_path, 0, "pc", 0)
    data = np.arange(3 * 16 * 24, dtype=np.uint16).reshape(3, 16, 24)
    create_image(ref, data.shape, np.uint16, scale=(5.0, 0.65, 0.65))[:] = data
    mark_complete(ref, "x")
    img = BioImage(ref.location, reader=Reader)
    assert img.dims.T == 3 and img.dims.Y == 16 and img.dims.X == 24
    assert img.physical_pixel_sizes.X == pytest.approx(0.65)
    np.testing.assert_array_equal(img.get_image_data("TYX"), data)


def test_incomplete_image_is_not_trusted(tmp_path):
    ref = ImageRef(tmp_path, 0, "seg", 0)
    arr = create_image(ref, (3, 4, 4), np.bool_)
    arr[0] = True  # a run killed here leaves a partial image
    assert completed_fingerprint(ref) is None
    with pytest.raises(StoreError, match="fov_000/seg_ch_0.*incomplete"):
        open_image(ref)
    mark_complete(ref, "fp1")
    assert completed_fingerprint(ref) == "fp1"


def test_recreating_an_image_clears_its_marker(tmp_path):
    ref = ImageRef(tmp_path, 0, "seg_labeled", 0)
    create_image(ref, (1, 4, 4), np.uint16)
    mark_complete(ref, "old")
    create_image(ref, (1, 4, 4), np.uint16)
    assert completed_fingerprint(ref) is None


def test_absent_or_corrupt_image_is_not_complete(tmp_path):
    ref = ImageRef(tmp_path, 1, "pc", 0)
    assert completed_fingerprint(ref) is None
    create_image(ref, (1, 4, 4), np.uint16)
    mark_complete(ref, "fp")
    (ref.location / "zarr.json").write_text("{ truncated")
    assert completed_fingerprint(ref) is None


def test_masks_and_labels_are_stored_compactly(tmp_path):
    ref = ImageRef(tmp_path, 0, "seg", 0)
    mask = np.zeros((4, 256, 256), bool)
    mask[:, 50:90, 60:100] = True
    create_image(ref, mask.shape, np.bool_)[:] = mask
    stored = sum(p.stat().st_size for p in (ref.location / "0").rglob("*") if p.is_file())
    assert stored < mask.nbytes / 20


def test_stale_partial_metadata_files_are_removed_and_chunks_kept(tmp_path):
    ref = ImageRef(tmp_path, 2, "fl", 1)
    labels = ImageRef(tmp_path, 2, "seg_labeled", 0)
    create_image(ref, (3, 8, 8), np.uint16)[:] = 7
    mark_complete(ref, "abc")
    create_image(labels, (3, 8, 8), np.uint16)
    fov = tmp_path / STORE_NAME / "fov_002"
    hexdigits = "0123456789abcdef" * 2
    stale = [fov / f"zarr.{hexdigits}.partial", ref.location / f"zarr.{hexdigits}.partial",
             ref.location / "0" / f"zarr.{hexdigits}.partial", labels.location / f"zarr.{hexdigits}.partial"]
    kept = [ref.location / "notes.partial", fov / f"zarr.{hexdigits[:8]}.partial"]  # not zarr's temporaries
    for path in stale + kept:
        path.write_bytes(b"{")

    assert remove_stale_partials(tmp_path, 2) == sorted(stale)
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
    assert (open_image(ref)[:] == 7).all()  # chunks untouched
    assert remove_stale_partials(tmp_path, 5) == []  # a FOV not in the store
