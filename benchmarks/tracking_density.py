"""Tracking time versus objects per frame, for both trackers.

Run ``python -m benchmarks.tracking_density [--counts 100 300 1000 2000 5000 10000] [--frames 10]``.

Each movie has ``--frames`` frames of 1024 x 1024 px holding the given
number of small objects (3 x 3 px grains at random places, moved a little
from frame to frame, as in a noise frame; overlapping grains merge). It
prints, per tracker and count, the seconds of the whole tracking and the
microseconds per object: near-constant microseconds per object is linear
growth. Counts above ``max_objects_per_frame`` have their links refused, so
their cost is that of labelling the frames only.
"""

from __future__ import annotations

import argparse
import os
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import logging  # noqa: E402

import numpy as np  # noqa: E402

from pyama_dask.algorithms.tracking import MAX_OBJECTS_PER_FRAME, track_iou  # noqa: E402
from pyama_dask.algorithms.tracking_laptrack import track_laptrack  # noqa: E402

SIDE = 1024
GRAIN = 3
STEP_PX = 2


def grain_movie(n_objects: int, n_frames: int, seed: int = 0) -> np.ndarray:
    """(n_frames, SIDE, SIDE) masks of about ``n_objects`` grains drifting by up to STEP_PX per frame."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, SIDE - GRAIN, size=(n_objects, 2))
    masks = np.zeros((n_frames, SIDE, SIDE), dtype=bool)
    for t in range(n_frames):
        corners = np.clip(corners + rng.integers(-STEP_PX, STEP_PX + 1, size=corners.shape), 0, SIDE - GRAIN)
        for dy in range(GRAIN):
            for dx in range(GRAIN):
                masks[t, corners[:, 0] + dy, corners[:, 1] + dx] = True
    return masks


def main(argv: list[str] | None = None) -> None:
    """Time both trackers over the counts and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 300, 1000, 2000, 5000, 10000])
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args(argv)
    logging.getLogger("pyama_dask").setLevel(logging.ERROR)  # the refusals are expected here
    print(f"max_objects_per_frame = {MAX_OBJECTS_PER_FRAME}")
    print(f"{'tracker':<9} {'objects/frame':>13} {'seconds':>8} {'us per object':>14}")
    for count in args.counts:
        masks = grain_movie(count, args.frames)
        labels = np.zeros(masks.shape, dtype=np.uint16)
        for name, track in (("iou", track_iou), ("laptrack", track_laptrack)):
            start = time.perf_counter()
            track(masks, labels)
            seconds = time.perf_counter() - start
            print(f"{name:<9} {count:>13} {seconds:>8.2f} {1e6 * seconds / (count * args.frames):>14.1f}")


if __name__ == "__main__":
    main()
