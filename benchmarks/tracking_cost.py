"""Segmentation and tracking time, and CTC accuracy, of each annotated sequence before and after issue 18.

Run ``python -m benchmarks.tracking_cost [--data ../shared/data] [--repeat 3] [--markdown]``.

Sequences: the two real laptrack fixtures (a transmitted-light crop and a
fluorescent-nuclei movie; ground-truth tracks derived by overlap), the
nuclei movie with five noise frames (:mod:`pyama_dask.synthetic.low_contrast`,
as in ``tests/algorithms/test_noise_frames.py``) and a synthetic FOV of
dividing cells under stage drift (FOV 0 of
``tests/test_accuracy_divisions_drift.py``; true tracks and lineage from the
generator). Real sequences are skipped when their files are absent.

Variants: PyAMA-core's defaults; the robust profile without division
tracking ("before": the robust profile as it was before lineage); the
robust profile (with lineage, "after"); on the noise movie also the robust
profile without the segmentation guard (every noise grain tracked); on the
drifting movie also the robust profile with the register step. For each it
prints the seconds of segmentation, registration and tracking (best of
``--repeat``, one core, laptrack's import excluded), the ratio of tracking
to segmentation, and DET, SEG, TRA and BC(0) (branching correctness, where
the truth has divisions) by py-ctcmetrics; ``--markdown`` prints the rows
of the README's table.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import tifffile  # noqa: E402

from benchmarks.machine import describe, machine_record  # noqa: E402
from pyama_dask.algorithms.registration import drift_stack  # noqa: E402
from pyama_dask.evaluation.ctc import write_ctc_result, write_ctc_truth  # noqa: E402
from pyama_dask.evaluation.scoring import CTC_METRICS, link_by_overlap, score_ctc  # noqa: E402
from pyama_dask.pipeline.choices import segment_stack, track_stack  # noqa: E402
from pyama_dask.pipeline.params import Params  # noqa: E402
from pyama_dask.synthetic import SyntheticSpec, render_fov, true_labels  # noqa: E402
from pyama_dask.synthetic.low_contrast import low_contrast_movie  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: The noise movie: the nuclei played forth and back, frames 5-9 of very low contrast.
NOISE_ORDER, NOISE_FRAMES = [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4], range(5, 10)
#: Dividing cells under stage drift larger than a cell: FOV 0 of tests/test_accuracy_divisions_drift.py.
DIVIDING_DRIFTING = SyntheticSpec(n_fovs=1, n_frames=20, size=512, n_cells=16, n_fluorescence=1, seed=2,
                                  divisions=True, stage_drift_px=35.0)
BEFORE = Params(profile="robust", track_divisions=False)
AFTER = Params(profile="robust")


@dataclass(frozen=True)
class Variant:
    """Parameters of a run and whether the register step comes first."""

    name: str
    params: Params
    register: bool = False


@dataclass(frozen=True)
class Sequence:
    """An annotated movie: the frames to segment, true tracks (ids consistent over time) and lineage."""

    name: str
    frames: np.ndarray
    tracks: np.ndarray
    segmentation: np.ndarray
    parents: dict[int, int] = field(default_factory=dict)
    extra_variants: tuple[Variant, ...] = ()


def sequences(data: Path) -> Iterator[Sequence]:
    """The sequences whose files are present (the synthetic one always)."""
    crop = data / "laptrack" / "cell_segmentation_data_small.npz"
    if crop.is_file():
        with np.load(crop) as movie:
            images, labels = movie["images"], movie["labels"]
        yield Sequence("transmitted-light crop", images, link_by_overlap(labels), labels)
    else:
        logging.warning("%s not found: sequence skipped", crop)
    nuclei = data / "laptrack" / "example_images.tif", data / "laptrack" / "example_label.tif"
    if all(path.is_file() for path in nuclei):
        images, labels = (tifffile.imread(path) for path in nuclei)
        yield Sequence("fluorescent nuclei", images, link_by_overlap(labels), labels)
        movie, truth = low_contrast_movie(images, labels, NOISE_ORDER, NOISE_FRAMES)
        no_guard = Variant("robust, no guard, no lineage", Params(profile="robust", segmentation_guard=False,
                                                                     track_divisions=False))
        yield Sequence("nuclei with 5 noise frames", movie, link_by_overlap(truth), truth, extra_variants=(no_guard,))
    else:
        logging.warning("%s not found: sequences skipped", nuclei[0])
    yield _synthetic_sequence(DIVIDING_DRIFTING)


def _synthetic_sequence(spec: SyntheticSpec) -> Sequence:
    frames, truth = render_fov(spec, 0)
    tracks = np.stack([true_labels(spec, 0, t) for t in range(spec.n_frames)])
    founders = truth.drop_duplicates("cell")
    parents = {int(cell): int(mother) for cell, mother in zip(founders["cell"], founders["parent"]) if mother}
    registered = Variant("robust + register", AFTER, register=True)
    return Sequence("synthetic dividing cells, stage drift", frames[:, 0], tracks, tracks, parents, (registered,))


def variants(sequence: Sequence) -> tuple[Variant, ...]:
    """The variants run on ``sequence``, in table order."""
    common = (Variant("PyAMA-core defaults", Params()), Variant("robust, no lineage (before)", BEFORE),
              Variant("robust (after)", AFTER))
    return common + sequence.extra_variants


def best_seconds(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Least wall time of ``repeat`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(sequence: Sequence, variant: Variant, truth_folder: Path, work: Path, repeat: int) -> dict[str, Any]:
    """Times and CTC scores of one variant on one sequence."""
    frames = sequence.frames
    masks, labels = np.zeros(frames.shape, dtype=bool), np.zeros(frames.shape, dtype=np.uint16)
    segment_s, _ = best_seconds(lambda: segment_stack(frames, masks, variant.params), repeat)
    register_s, drift = best_seconds(lambda: drift_stack(frames), repeat) if variant.register else (0.0, None)
    track_s, (_, parents) = best_seconds(lambda: track_stack(masks, labels, variant.params, drift=drift), repeat)
    result = work / f"{sequence.name}-{variant.name}".replace(" ", "_").replace(",", "")
    write_ctc_result(labels, result, parents)
    scores = score_ctc(result, truth_folder, metrics=(*CTC_METRICS, "BC"))
    return {"segment_s": segment_s, "register_s": register_s, "track_s": track_s,
            "ratio": track_s / segment_s if segment_s else float("nan"),
            "divisions": len(set((parents or {}).values())), **scores}


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    """Measure every sequence and variant and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder (laptrack/)")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--markdown", action="store_true", help="print the README table's rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("pyama_dask").setLevel(logging.ERROR)  # fallbacks and refusals are expected here
    warm_up = np.zeros((2, 8, 8), dtype=bool)
    track_stack(warm_up, np.zeros(warm_up.shape, dtype=np.uint16), AFTER)  # laptrack's import is no tracking time
    print(f"# {describe(machine_record())}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"best of {args.repeat}")
    columns = ("segment_s", "register_s", "track_s", "ratio", "DET", "SEG", "TRA", "BC(0)", "divisions")
    if args.markdown:
        print("| data | run | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 2))
    else:
        print(f"{'sequence':<40} {'run':<30} " + " ".join(f"{c:>10}" for c in columns))
    with tempfile.TemporaryDirectory() as scratch:
        for number, sequence in enumerate(sequences(args.data)):
            truth_folder = Path(scratch) / f"GT{number}"
            write_ctc_truth(sequence.tracks, truth_folder, segmentation=sequence.segmentation,
                            parents=sequence.parents)
            for variant in variants(sequence):
                row = measure(sequence, variant, truth_folder, Path(scratch), args.repeat)
                values = [_cell(row.get(c)) for c in columns]
                if args.markdown:
                    print(f"| {sequence.name} | {variant.name} | " + " | ".join(values) + " |", flush=True)
                else:
                    print(f"{sequence.name:<40} {variant.name:<30} " + " ".join(f"{v:>10}" for v in values),
                          flush=True)


if __name__ == "__main__":
    main()
