"""Both profiles on the real annotated movies: detection F1 and Cell Tracking Challenge tracking scores.

Neither movie's labels carry track ids (they are renumbered in every
frame), so the ground-truth tracks come from the overlap of consecutive
frames' labels (:func:`pyama_dask.evaluation.scoring.link_by_overlap`: one to one,
largest overlap first, IoU >= 0.2). On the transmitted-light crop cells
move a few pixels per frame and nearly every cell links; the nuclei move
about half their spacing between frames, so only the links the annotation
supports unambiguously are kept (191 tracks for 273 objects) and TRA there
mostly measures detection. Measured numbers are in the README.
"""

from __future__ import annotations

import pytest

from pyama_dask.evaluation.ctc import write_ctc_result, write_ctc_truth
from pyama_dask.pipeline.params import Params
from pyama_dask.evaluation.scoring import detection_scores, link_by_overlap, score_ctc
from pyama_dask.pipeline.serial import segment_and_track


@pytest.fixture(scope="module")
def scores(laptrack_movie, nuclei_movie, tmp_path_factory):
    """(movie, profile) -> (DetectionScore, CTC metrics)."""
    results = {}
    for movie, (images, truth) in {"transmitted": laptrack_movie, "nuclei": nuclei_movie}.items():
        folder = tmp_path_factory.mktemp(movie)
        write_ctc_truth(link_by_overlap(truth), folder / "GT", segmentation=truth)
        for profile in ("pyama", "robust"):
            _, labels, _, _ = segment_and_track(images, Params(profile=profile))
            write_ctc_result(labels, folder / profile)
            results[movie, profile] = detection_scores(truth, labels), score_ctc(folder / profile, folder / "GT")
    return results


def test_pyama_core_finds_almost_nothing_on_either_movie(scores):
    # Its 19 px opening removes these small cells and nuclei.
    for movie in ("transmitted", "nuclei"):
        detection, ctc = scores[movie, "pyama"]
        assert detection.f1 <= 0.05 and ctc["TRA"] <= 0.05, (movie, detection, ctc)


def test_robust_profile_on_the_transmitted_light_crop(scores):
    detection, ctc = scores["transmitted", "robust"]
    assert detection.recall >= 0.75 and detection.f1 >= 0.45, detection  # measured 0.81 and 0.53
    assert ctc["Valid"] == 1 and ctc["DET"] >= 0.65 and ctc["TRA"] >= 0.65, ctc  # measured 0.72, 0.70


def test_robust_profile_on_the_nuclei(scores):
    detection, ctc = scores["nuclei", "robust"]
    assert detection.f1 >= 0.85 and min(detection.f1_per_frame) >= 0.8, detection  # measured 0.88, >= 0.86
    assert ctc["Valid"] == 1 and ctc["DET"] >= 0.8 and ctc["TRA"] >= 0.75, ctc  # measured 0.86, 0.82
