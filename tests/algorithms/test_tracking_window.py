"""laptrack over a sliding window: ids continue across batches as one pass over the movie would give them."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.algorithms.tracking_laptrack import track_laptrack
from pyama_dask.algorithms.tracking_window import link_window

WINDOW = 4


def _movie(n_frames=10, size=64):
    """Four square cells drifting right, one missing from frame 5 (a gap), one appearing at frame 6."""
    masks = np.zeros((n_frames, size, size), bool)
    for t in range(n_frames):
        for row, column in [(4, 4), (4, 34), (34, 4), (34, 34)]:
            if (row, column) == (34, 34) and t == 5:
                continue
            masks[t, row:row + 10, column + t:column + t + 10] = True
        if t >= 6:
            masks[t, 50:58, 50:58] = True
    return masks


def _by_window(masks, cuts):
    labels = np.zeros(masks.shape, np.uint16)
    next_id = 1
    for start, stop in zip(cuts, cuts[1:]):
        before = slice(max(0, start - WINDOW), start)
        labels[start:stop], next_id = link_window(np.concatenate([masks[before], masks[start:stop]]), labels[before],
                                                  next_id)
    return labels, next_id


def _same_partition(a, b):
    """Whether two label stacks split the pixels into the same tracks (ids aside)."""
    pairs = np.unique(np.stack([a[a > 0], b[a > 0]]), axis=1)
    return (a > 0).sum() == (b > 0).sum() and len(set(pairs[0])) == len(set(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("cuts", [[0, 10], [0, 3, 6, 10], list(range(11))])
def test_window_tracks_are_those_of_the_whole_movie(cuts):
    masks = _movie()
    whole = np.zeros(masks.shape, np.uint16)
    n_tracks = track_laptrack(masks, whole).n_tracks
    labels, next_id = _by_window(masks, cuts)
    assert n_tracks == 5 and next_id == 6
    assert _same_partition(labels, whole) and _same_partition(whole, labels)
    assert labels[4, 38, 38] == labels[6, 38, 40] != 0  # the cell missing from frame 5 keeps its id


def test_new_frames_without_labelled_ones_start_at_next_id():
    masks = _movie(3)
    labels, next_id = link_window(masks, np.zeros((0, 64, 64), np.uint16), 7)
    assert sorted(np.unique(labels[labels > 0]).tolist()) == [7, 8, 9, 10] and next_id == 11
