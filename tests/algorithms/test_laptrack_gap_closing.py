"""The numpy gap-closing candidates give laptrack's own candidates, costs and tracks."""

from __future__ import annotations

import numpy as np
import pytest
from laptrack import LapTrack
from laptrack._tracking import _get_segment_df

from pyama_dask.algorithms.laptrack_gap_closing import FastGapClosingLapTrack, directed

SETTINGS = {"metric": "sqeuclidean", "cutoff": 100.0, "gap_closing_metric": "sqeuclidean", "gap_closing_cutoff": 100.0,
            "gap_closing_max_frame_count": 3}


def _points(seed: int) -> list[np.ndarray]:
    """Points wandering a few px per frame, some frames missing some points, some new ones (segments galore)."""
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 200, (40, 2))
    frames = []
    for _ in range(12):
        positions = positions + rng.normal(0, 3, positions.shape)
        shown = positions[rng.random(len(positions)) < 0.8]
        frames.append(np.vstack([shown, rng.uniform(0, 200, (rng.integers(0, 4), 2))]))
    return frames


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_gap_closing_candidates_are_laptrack_s(seed):
    coords = _points(seed)
    tree = LapTrack(metric="sqeuclidean", cutoff=100.0, gap_closing_cutoff=False).predict(coords)
    forced = sorted(tree.nodes)[:5]  # a few nodes forced to end and start, as divisions make them
    matrices = []
    for tracker in (LapTrack(**SETTINGS), FastGapClosingLapTrack(**SETTINGS)):
        segments_df = _get_segment_df(coords, tree.to_undirected())
        segments, matrix = tracker._get_gap_closing_matrix(segments_df, force_end_nodes=forced,
                                                           force_start_nodes=forced)
        matrices.append((segments["gap_closing_candidates"], matrix.to_coo_matrix().toarray()))
    (expected_candidates, expected), (candidates, matrix) = matrices
    assert np.count_nonzero(expected) > 10  # gaps to close, not a vacuous comparison
    np.testing.assert_array_equal(matrix, expected)
    for (columns, costs), (expected_columns, expected_costs) in zip(candidates, expected_candidates):
        np.testing.assert_array_equal(columns, expected_columns)
        np.testing.assert_array_equal(costs, expected_costs)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_tracks_are_laptrack_s(seed):
    coords = _points(seed)
    settings = {**SETTINGS, "splitting_metric": "sqeuclidean", "splitting_cutoff": 60.0}
    expected = LapTrack(**settings).predict(coords)
    found = FastGapClosingLapTrack(**settings).predict(coords)
    assert sorted(found.edges) == sorted(expected.edges)


@pytest.mark.parametrize("seed", [0, 1])
def test_predicting_in_two_stages_gives_laptrack_s_tracks(seed):
    coords = _points(seed)
    settings = {**SETTINGS, "splitting_metric": "sqeuclidean", "splitting_cutoff": 60.0, "segment_start_cost": 50.0}
    expected = LapTrack(**settings).predict(coords)
    tracker = FastGapClosingLapTrack(**settings)
    links = tracker.frame_links(coords)
    frame_only = LapTrack(metric="sqeuclidean", cutoff=100.0, gap_closing_cutoff=False).predict(coords)
    assert sorted(directed(links).edges) == sorted(frame_only.edges)
    assert sorted(tracker.predict_from_links(coords, links).edges) == sorted(expected.edges)
