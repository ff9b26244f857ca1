"""benchmarks.tracking_cost: the synthetic sequence's ground truth (tracks and lineage) scores itself perfectly."""

from __future__ import annotations

import dataclasses

from benchmarks.tracking_cost import DIVIDING_DRIFTING, _synthetic_sequence, variants
from pyama_dask.evaluation.ctc import write_ctc_result, write_ctc_truth
from pyama_dask.evaluation.scoring import score_ctc


def test_the_synthetic_truth_and_its_lineage_score_themselves_perfectly(tmp_path):
    sequence = _synthetic_sequence(dataclasses.replace(DIVIDING_DRIFTING, n_frames=12))
    write_ctc_truth(sequence.tracks, tmp_path / "GT", segmentation=sequence.segmentation, parents=sequence.parents)
    write_ctc_result(sequence.tracks, tmp_path / "result", sequence.parents)
    scores = score_ctc(tmp_path / "result", tmp_path / "GT", metrics=("DET", "TRA", "BC"))
    assert scores["gt_divisions"] >= 3 and scores["BC(0)"] == 1.0 and scores["TRA"] == 1.0, scores
    assert [variant.register for variant in variants(sequence)] == [False, False, False, True]
