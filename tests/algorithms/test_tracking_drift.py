"""Both trackers on drift-corrected positions: stage jumps larger than a cell keep every track."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.algorithms.tracking import track_iou
from pyama_dask.algorithms.tracking_laptrack import track_laptrack

#: Field displacement (row, column) of each frame, px: every jump exceeds the cells' 12 px side.
DRIFT = np.array([[0.0, 0.0], [25.4, -20.2], [-15.0, 30.0], [30.0, 30.0], [5.0, -28.6]])
SITES = [(50, 50), (50, 130), (130, 50), (130, 130)]
SIDE = 12


def _drifting_squares() -> np.ndarray:
    """Masks of four squares whose field moves by ``DRIFT`` (rounded to whole pixels)."""
    masks = np.zeros((len(DRIFT), 200, 200), dtype=bool)
    for t, (dy, dx) in enumerate(np.rint(DRIFT).astype(int)):
        for y, x in SITES:
            masks[t, y + dy:y + dy + SIDE, x + dx:x + dx + SIDE] = True
    return masks


def _cell_at_sites(labels: np.ndarray) -> np.ndarray:
    """(T, sites) cell id under each square's centre, frame by frame."""
    shifts = np.rint(DRIFT).astype(int)
    return np.array([[labels[t, y + dy + SIDE // 2, x + dx + SIDE // 2] for y, x in SITES]
                     for t, (dy, dx) in enumerate(shifts)])


def _laptrack_count(masks, out, **kwargs) -> int:
    return track_laptrack(masks, out, **kwargs).n_tracks


@pytest.mark.parametrize("track", [track_iou, _laptrack_count], ids=["iou", "laptrack"])
def test_drift_keeps_every_cell_on_its_track(track):
    masks = _drifting_squares()
    out = np.zeros(masks.shape, dtype=np.uint16)
    n_tracks = track(masks, out, drift=DRIFT)
    cells = _cell_at_sites(out)
    assert n_tracks == len(SITES)
    assert (cells == cells[0]).all() and sorted(cells[0]) == [1, 2, 3, 4]


def test_without_drift_the_iou_tracks_end_at_the_first_jump():
    masks = _drifting_squares()
    out = np.zeros(masks.shape, dtype=np.uint16)
    assert track_iou(masks, out) == len(SITES)
    assert (_cell_at_sites(out)[1:] == 0).all()


def test_without_drift_laptrack_breaks_every_track():
    masks = _drifting_squares()
    out = np.zeros(masks.shape, dtype=np.uint16)
    n_tracks = track_laptrack(masks, out, max_gap_frames=0).n_tracks
    cells = _cell_at_sites(out)
    assert n_tracks > len(SITES)
    assert not (cells == cells[0]).all(axis=0).any()


@pytest.mark.parametrize("track", [track_iou, track_laptrack])
def test_a_drift_of_the_wrong_length_is_refused(track):
    masks = _drifting_squares()
    with pytest.raises(ValueError, match=r"drift has shape \(3, 2\).*\(5, 2\)"):
        track(masks, np.zeros(masks.shape, dtype=np.uint16), drift=DRIFT[:3])
