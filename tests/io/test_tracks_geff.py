"""The tracks graph written as geff inside the FOV's group, and read back."""

from __future__ import annotations

from pathlib import Path

import geff
import numpy as np
import pytest

from pyama_dask.algorithms.tracks_graph import tracks_graph
from pyama_dask.io.store import ImageRef, create_image
from pyama_dask.io.tracks_geff import TRACKS_KIND, read_tracks_geff, write_tracks_geff

SCALE = (5.0, 0.65, 0.65)


def _labels(tmp_path: Path) -> tuple[ImageRef, np.ndarray, dict[int, int]]:
    """A label image in a store: cell 1 (frames 0-1) divides into 2 and 3 (frames 2-3)."""
    stack = np.zeros((4, 16, 16), np.uint16)
    stack[0:2, 2:6, 2:6] = 1
    stack[2:4, 2:4, 2:6] = 2
    stack[2:4, 5:8, 2:6] = 3
    ref = ImageRef(tmp_path, 0, "seg_labeled", 0)
    create_image(ref, stack.shape, np.uint16, scale=SCALE)[:] = stack
    create_image(ImageRef(tmp_path, 0, "pc", 0), stack.shape, np.uint16, scale=SCALE)
    return ref, stack, {2: 1, 3: 1}


def test_the_graph_is_a_valid_geff_beside_the_labels_and_reads_back(tmp_path):
    labels, stack, parents = _labels(tmp_path)
    drift = np.array([[0, 0], [1, 2], [2, 4], [3, 6]], float)
    graph = tracks_graph(stack, parents, drift)
    ref = ImageRef(tmp_path, 0, TRACKS_KIND, 0)
    write_tracks_geff(graph, ref, labels, SCALE)

    assert ref.location == tmp_path / "pyama.zarr" / "fov_000" / "tracks_ch_0"
    geff.validate_structure(str(ref.location))
    back, metadata = read_tracks_geff(ref.location)
    for name in ("t", "y", "x", "area", "track_id", "lineage_id", "y_corrected", "x_corrected"):
        np.testing.assert_array_equal(getattr(back, name), getattr(graph, name), err_msg=name)
    np.testing.assert_array_equal(back.edges, graph.edges)
    np.testing.assert_array_equal(back.is_division, graph.is_division)

    axes = {axis.name: axis for axis in metadata.axes}
    assert [axis.name for axis in metadata.axes] == ["t", "y", "x"]
    assert (axes["t"].unit, axes["t"].scale, axes["t"].scaled_unit) == ("frame", 5.0, "minute")
    assert (axes["x"].unit, axes["x"].scale, axes["x"].scaled_unit) == ("pixel", 0.65, "micrometer")
    assert metadata.track_node_props == {"tracklet": "track_id", "lineage": "lineage_id"}
    related = {obj.type: obj for obj in metadata.related_objects}
    assert related["labels"].node_prop == "track_id"
    assert (ref.location / related["labels"].path).resolve() == labels.location.resolve()
    assert (ref.location / related["image"].path).resolve() == ImageRef(tmp_path, 0, "pc", 0).location.resolve()


def test_writing_again_replaces_the_graph(tmp_path):
    labels, stack, parents = _labels(tmp_path)
    ref = ImageRef(tmp_path, 0, TRACKS_KIND, 0)
    write_tracks_geff(tracks_graph(stack, parents), ref, labels, SCALE)
    write_tracks_geff(tracks_graph(stack[:2]), ref, labels, SCALE, space_unit=None)
    back, metadata = read_tracks_geff(ref.location)
    assert back.n_nodes == 2 and not back.is_division.any() and back.y_corrected is None
    assert metadata.axes[1].scaled_unit is None and metadata.axes[1].unit == "pixel"


def test_a_group_that_is_no_tracks_graph_is_named(tmp_path):
    labels, _, _ = _labels(tmp_path)
    with pytest.raises(ValueError, match="seg_labeled_ch_0: not a geff group of tracks"):
        read_tracks_geff(labels.location)
