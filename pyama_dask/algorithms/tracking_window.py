"""laptrack over a sliding window of frames, continuing the ids of the frames already labelled.

A follow run (:mod:`pyama_dask.workflow.live`) with the laptrack tracker
labels each batch of new frames as they land: laptrack
(:func:`~pyama_dask.algorithms.tracking_laptrack.track_laptrack`) solves the
window of the last few labelled frames and the new ones, and each track of
the window that covers pixels of a labelled frame takes the id it has there
(the latest labelled frame it appears in decides; the most shared pixels
win); the window's other tracks take new ids. Gaps up to the window's
length are bridged, as laptrack's gap closing does over the whole movie.

It is a preview: the whole movie is linked again once, when the acquisition
ends (the batch run's tracking step), for the final labels.
"""

from __future__ import annotations

import numpy as np

from pyama_dask.algorithms.tracking import MAX_TRACKS
from pyama_dask.algorithms.tracking_laptrack import track_laptrack


def link_window(masks: np.ndarray, labelled: np.ndarray, next_id: int, **options: object) -> tuple[np.ndarray, int]:
    """Label the new frames of a window, continuing the ids of its labelled frames.

    Parameters
    ----------
    masks : numpy.ndarray
        (W + n, H, W) masks of the window: ``W`` frames labelled already,
        then ``n`` new frames.
    labelled : numpy.ndarray
        (W, H, W) uint16 labels of the first ``W`` frames (W may be 0).
    next_id : int
        The first id no track has yet.
    **options
        Options of :func:`~pyama_dask.algorithms.tracking_laptrack.track_laptrack`.

    Returns
    -------
    labels : numpy.ndarray
        (n, H, W) uint16 labels of the new frames.
    next_id : int
        The first id still unused after them.

    Raises
    ------
    ValueError
        When more ids than a uint16 label stack holds would be needed.
    """
    window = np.zeros(masks.shape, np.uint16)
    track_laptrack(masks, window, **options)
    known = len(labelled)
    ids = _known_ids(window[:known], labelled)
    new = window[known:]
    for track in np.unique(new[new > 0]).tolist():
        if track not in ids:
            ids[track] = next_id
            next_id += 1
    if next_id - 1 > MAX_TRACKS:
        raise ValueError(f"{next_id - 1} tracks exceed the {MAX_TRACKS} cell ids of a uint16 label stack")
    lookup = np.zeros(int(window.max()) + 1, np.uint16)
    for track, cell in ids.items():
        lookup[track] = cell
    return lookup[new], next_id


def _known_ids(window: np.ndarray, labelled: np.ndarray) -> dict[int, int]:
    """Window track -> the id it shares most pixels with in the latest labelled frame it appears in."""
    ids: dict[int, int] = {}
    for t in range(len(window)):  # later frames override: the latest one decides
        both = (window[t] > 0) & (labelled[t] > 0)
        if not both.any():
            continue
        pairs, counts = np.unique(np.stack([window[t][both], labelled[t][both]]), axis=1, return_counts=True)
        best: dict[int, tuple[int, int]] = {}
        for (track, cell), count in zip(pairs.T.tolist(), counts.tolist()):
            if count > best.get(track, (0, 0))[0]:
                best[track] = (count, cell)
        ids.update({track: cell for track, (_, cell) in best.items()})
    # One window track per id: where two claim the same id, the one sharing the latest frame keeps it (dict order).
    owners: dict[int, int] = {}
    for track, cell in ids.items():
        owners[cell] = track
    return {track: cell for cell, track in owners.items()}
