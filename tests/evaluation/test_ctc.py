"""Cell Tracking Challenge layout: gaps become parent links, files py-ctcmetrics reads, scores of known cases."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from pyama_dask.evaluation.ctc import ctc_tracks, write_ctc_result, write_ctc_truth
from pyama_dask.evaluation.scoring import detection_scores, link_by_overlap, match_objects, score_ctc


def _moving_squares(n_frames=6, shape=(40, 60)):
    """Cell 1 moving right every frame; cell 2 absent in frames 2-3 (a gap); cell 3 from frame 3 on."""
    labels = np.zeros((n_frames, *shape), dtype=np.uint16)
    for t in range(n_frames):
        labels[t, 5:13, 5 + 2 * t : 13 + 2 * t] = 1
        if t not in (2, 3):
            labels[t, 25:33, 30:38] = 2
        if t >= 3:
            labels[t, 5:13, 45:53] = 3
    return labels


def test_a_gap_becomes_a_new_label_whose_parent_is_the_stretch_before():
    tracks, label_of = ctc_tracks([np.array([1, 2]), np.array([1, 2]), np.array([1]), np.array([1, 2])])
    assert [track.line() for track in tracks] == ["1 0 3 0", "2 0 1 0", "3 3 3 2"]
    assert label_of[(2, 0)] == 2 and label_of[(2, 3)] == 3


def test_a_daughter_s_parent_is_the_mother_s_last_stretch():
    # Cell 1 has a gap (frames 0-1, then 3); it divides into cells 2 and 3 after frame 3.
    presence = [np.array([1]), np.array([1]), np.array([], int), np.array([1]), np.array([2, 3])]
    tracks, _ = ctc_tracks(presence, parents={2: 1, 3: 1})
    assert [track.line() for track in tracks] == ["1 0 1 0", "2 4 4 4", "3 4 4 4", "4 3 3 1"]


def test_result_folder_holds_renamed_masks_and_the_track_table(tmp_path):
    labels = _moving_squares()
    write_ctc_result(labels, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.tif")) == [f"mask{t:03d}.tif" for t in range(6)]
    assert (tmp_path / "res_track.txt").read_text().splitlines() == ["1 0 5 0", "2 0 1 0", "3 3 5 0", "4 4 5 2"]
    frame4 = tifffile.imread(tmp_path / "mask004.tif")
    assert frame4.dtype == np.uint16 and set(np.unique(frame4)) == {0, 1, 3, 4}


def test_identical_labels_score_one_and_a_missing_cell_less(tmp_path):
    truth = _moving_squares()
    write_ctc_truth(truth, tmp_path / "gt", segmentation=truth)
    assert (tmp_path / "gt" / "TRA" / "man_track.txt").is_file()
    assert (tmp_path / "gt" / "SEG" / "man_seg000.tif").is_file()
    write_ctc_result(truth, tmp_path / "same")
    perfect = score_ctc(tmp_path / "same", tmp_path / "gt")
    assert perfect["Valid"] == 1 and perfect["DET"] == perfect["TRA"] == perfect["SEG"] == 1.0
    found = truth.copy()
    found[found == 3] = 0  # cell 3 never found
    write_ctc_result(found, tmp_path / "missing")
    worse = score_ctc(tmp_path / "missing", tmp_path / "gt")
    assert worse["DET"] < 1.0 and worse["TRA"] < 1.0 and worse["AOGM_FN"] == 3


def test_branching_correctness_needs_the_parents(tmp_path):
    labels = np.zeros((4, 30, 30), dtype=np.uint16)
    labels[:2, 10:18, 10:18] = 1
    labels[2:, 2:10, 10:18], labels[2:, 20:28, 10:18] = 2, 3
    write_ctc_truth(labels, tmp_path / "gt", segmentation=labels, parents={2: 1, 3: 1})
    assert (tmp_path / "gt" / "TRA" / "man_track.txt").read_text().splitlines() == ["1 0 1 0", "2 2 3 1", "3 2 3 1"]
    write_ctc_result(labels, tmp_path / "linked", parents={2: 1, 3: 1})
    write_ctc_result(labels, tmp_path / "unlinked")
    assert score_ctc(tmp_path / "linked", tmp_path / "gt", metrics=("TRA", "BC"))["BC(0)"] == 1.0
    assert score_ctc(tmp_path / "unlinked", tmp_path / "gt", metrics=("TRA", "BC"))["BC(0)"] == 0.0


def test_an_empty_result_scores_zero(tmp_path):
    truth = _moving_squares()
    write_ctc_truth(truth, tmp_path / "gt")
    write_ctc_result(np.zeros_like(truth), tmp_path / "res")
    assert score_ctc(tmp_path / "res", tmp_path / "gt")["TRA"] == 0.0


def test_a_folder_without_track_table_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="res_track.txt not found"):
        score_ctc(tmp_path, tmp_path)


def test_links_by_overlap_follow_a_moving_cell_and_start_new_ones():
    truth = _moving_squares()
    renumbered = np.where(truth > 0, 10 - truth, 0).astype(np.uint16)  # other ids, same objects
    renumbered[1][renumbered[1] == 9] = 42
    tracked = link_by_overlap(renumbered)
    assert len(np.unique(tracked[:, 5:13, 5:13][tracked[:, 5:13, 5:13] > 0])) == 1  # cell 1: one track
    # Cell 2's gap breaks its track: 4 tracks in all (1, 2 before and after its gap, 3).
    assert tracked.max() == 4


def test_detection_matches_need_more_than_half_of_the_true_object():
    truth = np.zeros((1, 20, 20), dtype=np.uint16)
    truth[0, 0:10, 0:10] = 1
    truth[0, 10:20, 10:20] = 2
    found = np.zeros_like(truth)
    found[0, 0:10, 0:6] = 7  # 60 % of object 1
    found[0, 10:20, 10:14] = 8  # 40 % of object 2
    assert match_objects(truth[0], found[0]) == [(1, 7)]
    score = detection_scores(truth, found)
    assert (score.matched, score.true_objects, score.found_objects, score.f1) == (1, 2, 2, 0.5)
