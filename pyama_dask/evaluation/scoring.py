"""Accuracy against annotated data: detection F1, tracks linked by overlap, Cell Tracking Challenge metrics.

- :func:`detection_scores`: objects matched one to one per frame with the
  CTC's criterion (a found object matches a true one when it covers more
  than half of its pixels), then precision, recall and F1, per frame and
  over the movie.
- :func:`link_by_overlap`: ground truth given as instance labels renumbered
  in every frame (no track ids) gets its links from the overlap of
  consecutive frames' objects: one to one, largest overlap first
  (``scipy.optimize.linear_sum_assignment`` on the pixel counts), kept when
  the pair's IoU is at least ``min_iou``. Unlinked objects start new tracks.
- :func:`score_ctc`: the CTC metrics (DET, SEG, TRA, LNK, ...) of a result
  folder against a ground-truth folder, both in CTC layout (see
  :mod:`pyama_dask.evaluation.ctc`), computed by py-ctcmetrics.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

#: The CTC metrics :func:`score_ctc` computes (SEG only when the truth has SEG/).
CTC_METRICS = ("Valid", "DET", "SEG", "TRA", "LNK", "CT", "TF", "IDF1", "MOTA")


@dataclass(frozen=True)
class DetectionScore:
    """Objects found against true objects.

    Attributes
    ----------
    true_objects, found_objects, matched : int
        Over all frames.
    precision, recall, f1 : float
        ``matched / found``, ``matched / true`` and their harmonic mean.
    f1_per_frame : list of float
        F1 of each frame (NaN where a frame has no true nor found object).
    """

    true_objects: int
    found_objects: int
    matched: int
    precision: float
    recall: float
    f1: float
    f1_per_frame: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def overlap_counts(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object ids of two label frames and their pixel overlaps.

    Returns
    -------
    ids_first, ids_second : numpy.ndarray
        Non-zero ids present, ascending.
    counts : numpy.ndarray
        (len(ids_first) + 1, len(ids_second) + 1) pixel counts; row and
        column 0 are the background.
    """
    a, b = np.asarray(first).ravel(), np.asarray(second).ravel()
    ids_a, index_a = np.unique(a, return_inverse=True)
    ids_b, index_b = np.unique(b, return_inverse=True)
    # Row/column 0 is the background even when a frame has none.
    index_a = index_a + (ids_a[0] != 0)
    index_b = index_b + (ids_b[0] != 0)
    ids_a, ids_b = ids_a[ids_a != 0], ids_b[ids_b != 0]
    shape = (ids_a.size + 1, ids_b.size + 1)
    counts = np.bincount(index_a * shape[1] + index_b, minlength=shape[0] * shape[1]).reshape(shape)
    return ids_a, ids_b, counts


def match_objects(truth: np.ndarray, found: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (true id, found id) pairs where the found object covers > half the true one."""
    true_ids, found_ids, counts = overlap_counts(truth, found)
    overlap = counts[1:, 1:]
    candidate = 2 * overlap > counts[1:].sum(axis=1, keepdims=True)
    rows, columns = linear_sum_assignment(np.where(candidate, overlap, 0), maximize=True)
    return [(int(true_ids[r]), int(found_ids[c])) for r, c in zip(rows, columns) if candidate[r, c]]


def detection_scores(truth: Any, found: Any) -> DetectionScore:
    """Detection precision, recall and F1 of (T, H, W) found labels against true labels.

    Parameters
    ----------
    truth, found : array-like
        (T, H, W) instance labels (ids need not agree over time).
    """
    check_stack(truth, "truth")
    check_stack(found, "found", like=truth)
    n_true = n_found = n_matched = 0
    per_frame = []
    for frames, true_block in frame_blocks(truth, "truth"):
        for true_frame, found_frame in zip(true_block, np.asarray(found[frames])):
            true_count = np.unique(true_frame[true_frame > 0]).size
            found_count = np.unique(found_frame[found_frame > 0]).size
            matched = len(match_objects(true_frame, found_frame))
            per_frame.append(_f1(matched, true_count, found_count))
            n_true, n_found, n_matched = n_true + true_count, n_found + found_count, n_matched + matched
    return DetectionScore(
        true_objects=n_true,
        found_objects=n_found,
        matched=n_matched,
        precision=n_matched / n_found if n_found else float("nan"),
        recall=n_matched / n_true if n_true else float("nan"),
        f1=_f1(n_matched, n_true, n_found),
        f1_per_frame=per_frame,
    )


def link_by_overlap(labels: Any, min_iou: float = 0.2) -> np.ndarray:
    """Track ids for instance labels renumbered per frame, linked by the overlap of consecutive frames.

    Parameters
    ----------
    labels : array-like
        (T, H, W) instance labels, ids arbitrary in each frame.
    min_iou : float
        Least IoU of a link.

    Returns
    -------
    numpy.ndarray
        uint16 (T, H, W) labels whose ids follow the links (1, 2, ... in
        order of appearance).
    """
    check_stack(labels, "labels")
    tracked = np.zeros(labels.shape, dtype=np.uint16)
    previous, previous_tracks = None, {}
    n_tracks = 0
    for t in range(labels.shape[0]):
        frame = np.asarray(labels[t])
        ids = np.unique(frame[frame > 0])
        tracks = {}
        if previous is not None and ids.size:
            old_ids, new_ids, counts = overlap_counts(previous, frame)
            union = counts[1:].sum(axis=1)[:, None] + counts[:, 1:].sum(axis=0)[None, :] - counts[1:, 1:]
            rows, columns = linear_sum_assignment(counts[1:, 1:], maximize=True)
            for r, c in zip(rows, columns):
                if counts[r + 1, c + 1] >= min_iou * union[r, c] and counts[r + 1, c + 1] > 0:
                    tracks[int(new_ids[c])] = previous_tracks[int(old_ids[r])]
        for object_id in ids:
            if int(object_id) not in tracks:
                n_tracks += 1
                tracks[int(object_id)] = n_tracks
        track_of_id = np.zeros(int(frame.max()) + 1, dtype=np.uint16)
        for object_id, track in tracks.items():
            track_of_id[object_id] = track
        tracked[t] = track_of_id.take(frame)
        previous, previous_tracks = frame, tracks
    return tracked


def score_ctc(result: str | Path, truth: str | Path, metrics: tuple[str, ...] = CTC_METRICS) -> dict[str, float]:
    """CTC metrics of a result folder against a ground-truth folder (both in CTC layout).

    Parameters
    ----------
    result : str or Path
        Folder with ``maskTTT.tif`` and ``res_track.txt``.
    truth : str or Path
        Folder with ``TRA/man_trackTTT.tif``, ``TRA/man_track.txt`` and
        optionally ``SEG/man_segTTT.tif``.
    metrics : tuple of str
        py-ctcmetrics names; SEG is dropped when the truth has no SEG folder.

    Returns
    -------
    dict
        Metric name -> value (py-ctcmetrics' names, e.g. ``DET``, ``TRA``,
        ``AOGM``, ``LNK``); a result without any track scores 0 throughout.

    Raises
    ------
    FileNotFoundError
        When either folder lacks its track file.
    """
    from ctc_metrics.scripts.evaluate import calculate_metrics, load_data

    result, truth = Path(result), Path(truth)
    tracks_file = result / "res_track.txt"
    for required, what in ((tracks_file, "result"), (truth / "TRA" / "man_track.txt", "ground-truth")):
        if not required.is_file():
            raise FileNotFoundError(f"{required} not found: {required.parents[0]} is no CTC {what} folder")
    chosen = [m for m in metrics if m != "SEG" or (truth / "SEG").is_dir()]
    if not tracks_file.read_text().strip():
        logger.warning("%s has no track: every score is 0", result)
        return {m: 0.0 for m in chosen}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        computed, reference, trajectories, segmentation, _, valid = load_data(
            str(result), str(truth), trajectory_data=True, segmentation_data="SEG" in chosen, threads=1
        )
        scores = calculate_metrics(computed, reference, trajectories, segmentation, list(chosen), valid)
    for warning in caught:
        logger.info("py-ctcmetrics: %s", warning.message)
    return {name: float(value) for name, value in scores.items() if value is not None}


def _f1(matched: int, n_true: int, n_found: int) -> float:
    return 2 * matched / (n_true + n_found) if n_true + n_found else float("nan")
