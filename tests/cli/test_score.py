"""``pyama-dask score``: a run, a label TIFF or a CTC folder against ground truth in CTC layout."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from pyama_dask.cli import main
from pyama_dask.evaluation.ctc import write_ctc_result, write_ctc_truth
from pyama_dask.synthetic import true_labels


def _truth_of_tiny(tiny_dataset, fov=0):
    spec = tiny_dataset.spec
    return np.stack([true_labels(spec, fov, t) for t in range(spec.n_frames)]).astype(np.uint16)


def test_scores_a_run_against_the_synthetic_truth(tiny_run, tiny_dataset, tmp_path, capsys):
    truth = _truth_of_tiny(tiny_dataset)
    write_ctc_truth(truth, tmp_path / "GT", segmentation=truth)
    assert main(["score", str(tiny_run), str(tmp_path / "GT"), "--json", "--ctc-out", str(tmp_path / "RES")]) == 0
    scores = json.loads(capsys.readouterr().out)
    # 9 well separated cells, tracked from frame 0 by PyAMA-core's defaults.
    assert scores["Valid"] == 1 and scores["DET"] > 0.9 and scores["TRA"] > 0.9, scores
    assert (tmp_path / "RES" / "res_track.txt").is_file() and (tmp_path / "RES" / "mask000.tif").is_file()


def test_scores_a_label_tiff_and_a_ctc_folder_alike(tmp_path, capsys):
    labels = np.zeros((4, 30, 30), dtype=np.uint16)
    for t in range(4):
        labels[t, 5:12, 5 + t : 12 + t] = 1
        labels[t, 18:26, 18:26] = 2
    write_ctc_truth(labels, tmp_path / "GT")
    tifffile.imwrite(tmp_path / "labels.tif", labels, photometric="minisblack")
    assert main(["score", str(tmp_path / "labels.tif"), str(tmp_path / "GT")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["DET", "1"] and table[1].split() == ["TRA", "1"]
    write_ctc_result(labels, tmp_path / "RES")
    assert main(["score", str(tmp_path / "RES"), str(tmp_path / "GT"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["TRA"] == 1.0


def test_bad_folders_are_named(tmp_path, capsys):
    assert main(["score", str(tmp_path), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere is no ground-truth folder in CTC layout" in err and "Traceback" not in err
    write_ctc_truth(np.ones((2, 4, 4), dtype=np.uint16), tmp_path / "GT")
    assert main(["score", str(tmp_path / "GT"), str(tmp_path / "GT")]) == 2
    assert "nor a run's output directory (no processing_results.yaml)" in capsys.readouterr().err
