"""``pyama-dask score``: Cell Tracking Challenge metrics of tracked labels against ground truth.

The labels to score are a run's output directory (the tracked labels of one
FOV), a TIFF label stack (T, Y, X), or a folder already in CTC result layout.
They are written to CTC layout (:func:`pyama_dask.evaluation.ctc.write_ctc_result`)
and scored by py-ctcmetrics against a ground-truth folder in CTC layout.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import tifffile

from pyama_dask.evaluation.ctc import RESULT_TRACKS, write_ctc_result
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml
from pyama_dask.io.store import ImageRef, image_lineage, open_image
from pyama_dask.evaluation.scoring import score_ctc

#: The metrics printed first, in this order (all others follow by name).
HEADLINE = ("DET", "SEG", "TRA", "LNK", "CT", "TF", "IDF1", "MOTA")


def add_score_arguments(score: argparse.ArgumentParser) -> None:
    """The ``score`` subcommand's arguments."""
    score.add_argument("results", help="a run's output directory, a TIFF label stack, or a CTC result folder")
    score.add_argument("truth", help="ground truth in CTC layout (TRA/man_track.txt, TRA/ and SEG/ masks)")
    score.add_argument("--fov", type=int, default=0, help="FOV of a run's output directory (default 0)")
    score.add_argument("--ctc-out", help="keep the labels written in CTC layout in this folder")
    score.add_argument("--json", action="store_true", help="print JSON")


def score_command(args: argparse.Namespace) -> int:
    """Print the CTC metrics of ``args.results`` against ``args.truth``."""
    results, truth = Path(args.results), Path(args.truth)
    tracks = truth / "TRA" / "man_track.txt"
    if not tracks.is_file():
        raise ValueError(f"{truth} is no ground-truth folder in CTC layout: {tracks} is missing")
    if (results / RESULT_TRACKS).is_file():
        scores = score_ctc(results, truth)
    elif args.ctc_out:
        labels, parents = _labels(results, args.fov)
        write_ctc_result(labels, args.ctc_out, parents)
        scores = score_ctc(args.ctc_out, truth)
    else:
        labels, parents = _labels(results, args.fov)
        with tempfile.TemporaryDirectory(prefix="pyama-ctc-") as folder:
            write_ctc_result(labels, folder, parents)
            scores = score_ctc(folder, truth)
    print(json.dumps(scores, indent=2) if args.json else _table(scores))
    return 0


def _labels(results: Path, fov: int) -> tuple[Any, dict[int, int] | None]:
    """The (T, Y, X) tracked labels of a run's FOV with their lineage, or of a TIFF stack (no lineage)."""
    if results.is_file():
        labels = tifffile.imread(results)
        if labels.ndim != 3:
            raise ValueError(f"{results}: expected a (T, Y, X) label stack, got shape {labels.shape}")
        return labels, None
    if not (results / RESULTS_FILE).is_file():
        raise ValueError(f"{results} is neither a label TIFF, a CTC result folder nor a run's output directory "
                         f"(no {RESULTS_FILE})")
    pc_channel = int(read_results_yaml(results / RESULTS_FILE)["channels"]["pc"])
    ref = ImageRef(results, fov, "seg_labeled", pc_channel)
    return open_image(ref), image_lineage(ref)


def _table(scores: dict[str, float]) -> str:
    names = [name for name in HEADLINE if name in scores] + sorted(set(scores) - set(HEADLINE))
    return "\n".join(f"{name:<18} {scores[name]:.4g}" for name in names)
