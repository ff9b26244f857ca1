"""Per-frame cost of the four algorithms on realistic synthetic frames.

Run ``python -m benchmarks.algorithms [--sizes 1024 2048] [--repeat 3]``.

For each frame size it prints the milliseconds per frame of segmentation,
background correction, tracking and extraction (best and median of the
repeats), with the robust profile's segmentation (guarded Otsu, watershed
split) and tracking (laptrack, whole movie solved at once) next to the
default's, then where the time of segmentation and correction goes (each
numpy/scipy/skimage call made from our code, and our own inline numpy
arithmetic, from cProfile), and finally extraction of a 2048 x 2048 frame
with 200 cells measured in one pass versus PyAMA-core's loop that masks the
whole frame once per cell.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path

# One core per frame, as on a Dask worker (whose nanny sets these too); set
# before numpy loads BLAS, whose threads would blur the spline product.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from pyama_dask.algorithms import correct_background, measure_cells, segment_logstd, track_iou  # noqa: E402
from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack  # noqa: E402
from pyama_dask.algorithms.tracking_laptrack import track_laptrack  # noqa: E402
from pyama_dask.pipeline.params import Params  # noqa: E402
from pyama_dask.synthetic.cells import simulate_cells  # noqa: E402
from pyama_dask.synthetic.render import FovRenderer  # noqa: E402
from pyama_dask.synthetic.spec import SyntheticSpec  # noqa: E402
from pyama_dask.synthetic.truth import true_labels  # noqa: E402

PACKAGE_DIR = str(Path(__file__).resolve().parents[1] / "pyama_dask")
TRACKED_FRAMES = 4
EXTRACTION_SIZE = 2048
EXTRACTION_CELLS = 200
ROBUST = Params(profile="robust")


def main(argv: list[str] | None = None) -> None:
    """Parse the options and print every table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="frame sides in pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    args = parser.parse_args(argv)
    print(f"{'size':>6} {'step':<15} {'ms per frame: best':>19} {'median':>7} {'best CPU':>9}")
    profiles = {}
    for size in args.sizes:
        phase, fluorescence = _frames(size)
        masks = np.stack([segment_logstd(frame) for frame in phase])
        labels = np.zeros(masks.shape, dtype=np.uint16)
        track_iou(masks, labels)
        robust_masks = np.zeros(phase.shape, dtype=bool)
        segment_guarded_stack(phase, robust_masks, **ROBUST.segmentation_kwargs())
        steps: dict[str, Callable[[], object]] = {
            "segment": lambda: segment_logstd(phase[0]),
            "segment robust": lambda: segment_guarded_stack(
                phase[:1], np.empty((1, *phase.shape[1:]), dtype=bool), **ROBUST.segmentation_kwargs()
            ),
            "correct": lambda: correct_background(fluorescence[0], masks[0]),
            "track": lambda: track_iou(masks, np.empty_like(labels)),
            "track laptrack": lambda: track_laptrack(robust_masks, np.empty_like(labels), **ROBUST.tracking_kwargs()),
            "extract": lambda: measure_cells(labels[0], fluorescence[0]),
        }
        for step, run in steps.items():
            per_frame = TRACKED_FRAMES if step.startswith("track") else 1
            timings = np.array(_timings(run, args.repeat)) * 1000 / per_frame
            wall, cpu = timings[:, 0], timings[:, 1]
            print(f"{size:>6} {step:<15} {wall.min():>19.1f} {statistics.median(wall):>7.1f} {cpu.min():>9.1f}")
        profiles[size] = {step: _time_shares(steps[step], args.repeat) for step in ("segment", "correct")}
    for size, by_step in profiles.items():
        for step, calls in by_step.items():
            print(f"\n{step} {size} x {size}: share of the step's time (cProfile)")
            for name, share, milliseconds in calls:
                print(f"  {share:6.1%} {milliseconds:8.2f} ms  {name}")
    _compare_extraction(args.repeat)


def _frames(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``TRACKED_FRAMES`` phase-contrast and fluorescence frames of one synthetic FOV."""
    spec = SyntheticSpec(n_fovs=1, n_frames=TRACKED_FRAMES, size=size, n_fluorescence=1, seed=size)
    renderer = FovRenderer(spec, simulate_cells(spec, 0), 0)
    planes = np.stack([renderer.frame(t)[0] for t in range(TRACKED_FRAMES)])
    return planes[:, 0], planes[:, 1]


def _timings(run: Callable[[], object], repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each run after a warm-up (imports, caches, page faults).

    CPU time is what one core spends on the run, which on a busy machine is
    a steadier measure than wall time.
    """
    run()
    timings = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return timings


def _time_shares(run: Callable[[], object], repeat: int) -> list[tuple[str, float, float]]:
    """(name, share, ms per run) of where a step's time goes, from cProfile.

    Library calls made from pyama_dask count with their cumulative time, our
    own functions with their own time (the numpy arithmetic written inline),
    so the shares add up to about 100 %.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        run()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = max(cumulative for _, _, _, cumulative, _ in stats.values())
    rows = []
    for (file, _, name), (_, _, own, cumulative, callers) in stats.items():
        if file.startswith(PACKAGE_DIR):
            rows.append((_call_name(file, name) + " (own arithmetic)", own / total, own * 1000 / repeat))
        elif any(caller[0].startswith(PACKAGE_DIR) for caller in callers):
            rows.append((_call_name(file, name), cumulative / total, cumulative * 1000 / repeat))
    return sorted(rows, key=lambda row: -row[1])[:14]


def _call_name(file: str, name: str) -> str:
    if file == "~":  # a C function or method
        return name
    parts = Path(file).with_suffix("").parts
    roots = ("numpy", "scipy", "skimage", "pyama_dask")
    package = next((i for i, part in enumerate(parts) if part in roots), len(parts) - 1)
    return ".".join(parts[package:]) + f".{name}"


def _compare_extraction(repeat: int) -> None:
    spec = SyntheticSpec(
        n_fovs=1, n_frames=1, size=EXTRACTION_SIZE, n_cells=EXTRACTION_CELLS, n_fluorescence=1, seed=1
    )
    labels = true_labels(spec, 0, 0).astype(np.uint16)
    fluorescence = FovRenderer(spec, simulate_cells(spec, 0), 0).frame(0)[0][1].astype(np.float32)
    n_cells = len(np.unique(labels)) - 1
    one_pass = min(wall for wall, _ in _timings(lambda: measure_cells(labels, fluorescence), repeat))
    per_cell = min(wall for wall, _ in _timings(lambda: _per_cell_loop(labels, fluorescence), 1))
    print(f"\nextraction {EXTRACTION_SIZE} x {EXTRACTION_SIZE}, {n_cells} cells, ms per frame:")
    print(f"  one pass        {one_pass * 1000:9.1f}")
    print(f"  per-cell masks  {per_cell * 1000:9.1f}")
    print(f"  speed-up        {per_cell / one_pass:9.1f} x")


def _per_cell_loop(labels: np.ndarray, fluorescence: np.ndarray) -> list[tuple[float, ...]]:
    """PyAMA-core's extraction of one frame: a whole-frame comparison per cell."""
    rows = []
    for cell in np.unique(labels)[1:]:
        mask = labels == cell
        ys = np.flatnonzero(mask.any(axis=1))
        xs = np.flatnonzero(mask.any(axis=0))
        rows.append((cell, (xs[0] + xs[-1]) / 2, (ys[0] + ys[-1]) / 2, fluorescence[mask].sum(), mask.sum()))
    return rows


if __name__ == "__main__":
    main()
