"""Tracking time versus objects per frame, for both trackers.

Run ``python -m benchmarks.tracking_density [--counts 100 300 1000 2000 5000 10000] [--frames 10]``.

Each movie has ``--frames`` frames of 1024 x 1024 px holding the given
number of small objects, 3 x 3 px grains at random places (overlapping
grains merge), of two kinds: "moving", the same grains moved a little from
frame to frame (cells: most link), and "noise", grains drawn anew in every
frame (a noise frame: nothing links, every grain is a track of one frame,
laptrack's costliest case, its gap closing looking at every track end). It
prints, per movie, tracker and count, the seconds of the whole tracking and
the microseconds per object: near-constant microseconds per object is
linear growth. Counts above ``max_objects_per_frame`` have their links
refused, so their cost is that of labelling the frames only; laptrack skips
gap closing when its candidate pairs exceed ``SEGMENT_PAIR_BUDGET``.
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
from pyama_dask.algorithms.tracking_laptrack import SEGMENT_PAIR_BUDGET, track_laptrack  # noqa: E402

SIDE = 1024
GRAIN = 3
STEP_PX = 2


def grain_movie(n_objects: int, n_frames: int, *, moving: bool, seed: int = 0) -> np.ndarray:
    """(n_frames, SIDE, SIDE) masks of about ``n_objects`` grains, drifting by up to STEP_PX per frame or redrawn."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, SIDE - GRAIN, size=(n_objects, 2))
    masks = np.zeros((n_frames, SIDE, SIDE), dtype=bool)
    for t in range(n_frames):
        if moving:
            corners = np.clip(corners + rng.integers(-STEP_PX, STEP_PX + 1, size=corners.shape), 0, SIDE - GRAIN)
        else:
            corners = rng.integers(0, SIDE - GRAIN, size=(n_objects, 2))
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
    print(f"max_objects_per_frame = {MAX_OBJECTS_PER_FRAME}, segment pair budget = {SEGMENT_PAIR_BUDGET}")
    warm_up = grain_movie(10, 2, moving=True)
    track_laptrack(warm_up, np.zeros(warm_up.shape, dtype=np.uint16))  # laptrack's import is no tracking time
    print(f"{'movie':<7} {'tracker':<9} {'objects/frame':>13} {'seconds':>8} {'us per object':>14}")
    for movie in ("moving", "noise"):
        for count in args.counts:
            masks = grain_movie(count, args.frames, moving=movie == "moving")
            labels = np.zeros(masks.shape, dtype=np.uint16)
            for name, track in (("iou", track_iou), ("laptrack", track_laptrack)):
                start = time.perf_counter()
                track(masks, labels)
                seconds = time.perf_counter() - start
                per_object = 1e6 * seconds / (count * args.frames)
                print(f"{movie:<7} {name:<9} {count:>13} {seconds:>8.2f} {per_object:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
