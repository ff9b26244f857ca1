"""The tracks graph of a label stack: nodes per cell and frame, link and division edges."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.algorithms import tracks_graph as tracks_graph_module
from pyama_dask.algorithms.tracks_graph import frame_cells, tracks_graph


def _dividing_stack() -> tuple[np.ndarray, dict[int, int]]:
    """Cell 1 in frames 0-1 divides into 2 and 3 (frames 2-4); cell 4 in frames 0 and 2 (missed in frame 1)."""
    labels = np.zeros((5, 20, 30), np.uint16)
    labels[0:2, 2:6, 2:8] = 1             # 4 x 6 block: centroid (3.5, 4.5), area 24
    labels[2:5, 2:4, 2:8] = 2
    labels[2:5, 5:7, 2:8] = 3
    labels[[0, 2], 10:13, 20:23] = 4      # 3 x 3: centroid (11, 21)
    return labels, {2: 1, 3: 1}


def test_frame_cells_measure_area_and_centroid():
    labels, _ = _dividing_stack()
    cells = frame_cells(labels[0])
    assert cells.ids.tolist() == [1, 4] and cells.area.tolist() == [24, 9]
    np.testing.assert_allclose(cells.y, [3.5, 11.0])
    np.testing.assert_allclose(cells.x, [4.5, 21.0])


def test_a_frame_measured_in_bands_gives_what_it_gives_whole(monkeypatch):
    labels, _ = _dividing_stack()
    whole = frame_cells(labels[2])
    monkeypatch.setattr(tracks_graph_module, "BAND_PIXELS", 35)  # one row of 30 px per band
    banded = frame_cells(labels[2])
    for name in ("ids", "area", "y", "x"):
        np.testing.assert_array_equal(getattr(banded, name), getattr(whole, name), err_msg=name)


def test_nodes_follow_the_labels_and_edges_the_tracks_and_divisions():
    labels, parents = _dividing_stack()
    graph = tracks_graph(labels, parents)
    nodes = list(zip(graph.t.tolist(), graph.track_id.tolist()))
    # every (frame, cell) of the labels once, in frame then id order
    expected = [(t, int(cell)) for t in range(5) for cell in np.unique(labels[t]) if cell]
    assert nodes == expected
    assert graph.area.tolist() == [int((labels[t] == cell).sum()) for t, cell in expected]
    edges = {(nodes[a], nodes[b], bool(division)) for (a, b), division in zip(graph.edges, graph.is_division)}
    assert edges == {
        ((0, 1), (1, 1), False), ((0, 4), (2, 4), False),  # across cell 4's missed frame
        ((2, 2), (3, 2), False), ((3, 2), (4, 2), False), ((2, 3), (3, 3), False), ((3, 3), (4, 3), False),
        ((1, 1), (2, 2), True), ((1, 1), (2, 3), True),    # the mother's last node to each daughter's first
    }
    assert dict(zip(graph.track_id.tolist(), graph.lineage_id.tolist())) == {1: 1, 2: 1, 3: 1, 4: 4}
    assert graph.y_corrected is None and graph.x_corrected is None


def test_a_graph_without_divisions_has_links_only():
    labels, _ = _dividing_stack()
    graph = tracks_graph(labels)
    assert not graph.is_division.any() and len(graph.edges) == 6
    assert (graph.lineage_id == graph.track_id).all()


def test_the_drift_gives_positions_in_the_first_frames_coordinates():
    labels, parents = _dividing_stack()
    drift = np.array([[0, 0], [1.5, -2], [3, 1], [0, 0], [0, 0]], float)
    graph = tracks_graph(labels, parents, drift)
    np.testing.assert_allclose(graph.y_corrected, graph.y - drift[graph.t, 0])
    np.testing.assert_allclose(graph.x_corrected, graph.x - drift[graph.t, 1])
    with pytest.raises(ValueError, match="drift of 3 frames for a label stack of 5 frames"):
        tracks_graph(labels, parents, drift[:3])


def test_an_empty_stack_gives_an_empty_graph():
    graph = tracks_graph(np.zeros((3, 8, 8), np.uint16), {})
    assert graph.n_nodes == 0 and graph.edges.shape == (0, 2) and graph.is_division.shape == (0,)
