"""Per-frame cost on one core of segmentation, correction and copy: this tree's code next to another revision's.

Run ``python -m benchmarks.frame_steps [--size 1024] [--rounds 3] [--repeat 10] [--baseline main]``.

The baseline revision's ``pyama_dask`` is exported with ``git archive``.
Each round runs one fresh process per code, alternating (one BLAS thread,
one core's work), on the same generated OME-TIFF frames. Each process
reports its best CPU milliseconds per frame of:

- ``segment``: :func:`segment_logstd` of a phase-contrast frame;
- ``correct``: :func:`correct_background` of a fluorescence frame (tile
  medians, surface, subtraction);
- ``copy``: a chunk of frames read from the OME-TIFF input and written to
  the store (encoded and stored), per frame;

and what its first segmentation and correction cost beyond a later one (for
this tree: loading numba and the kernels). The table shows the median over
rounds next to the targets. Last, the first calls of this tree's code with
an empty numba cache (the kernels compiled, once per installation) and
then with that cache filled (once per worker process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = ("segment", "correct", "copy")
#: Milliseconds per frame at 1024 px the project aims at (issue 19).
TARGETS_MS = {"segment": 15.0, "correct": 8.0, "copy": 5.0}
N_FRAMES = 8


def main(argv: list[str] | None = None) -> None:
    """Measure both codes round by round and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="frame side in pixels")
    parser.add_argument("--rounds", type=int, default=3, help="processes per code, alternating")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per step in each process")
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a measuring process's input file
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(_measure(args.measure, args.repeat)))
        return
    with tempfile.TemporaryDirectory(prefix="frame-steps-") as scratch:
        root = Path(scratch)
        image = _dataset(root, args.size)
        baseline = _export(args.baseline, root / "baseline")
        codes = {f"baseline ({args.baseline})": baseline, "this tree": REPO}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        for _ in range(args.rounds):
            for name, tree in codes.items():
                runs[name].append(_run(tree, image, args.repeat))
        _print_table(runs, args.size)
        cache = root / "numba-cache"
        cold = _run(REPO, image, 1, {"NUMBA_CACHE_DIR": str(cache)})
        warm = _run(REPO, image, 1, {"NUMBA_CACHE_DIR": str(cache)})
    print("\nfirst call beyond a later one, this tree (s): empty numba cache / filled cache")
    for step in ("segment", "correct"):
        print(f"  {step:<8} {cold[step + ' first'] / 1000:6.2f} / {warm[step + ' first'] / 1000:6.2f}")


def _dataset(root: Path, size: int) -> Path:
    """A one-FOV OME-TIFF of ``N_FRAMES`` frames (phase contrast, fluorescence), made by this tree's generator."""
    from benchmarks.datasets import cached_dataset  # noqa: PLC0415
    from pyama_dask.synthetic.spec import SyntheticSpec  # noqa: PLC0415

    spec = SyntheticSpec(n_fovs=1, n_frames=N_FRAMES, size=size, n_fluorescence=1, seed=size)
    return cached_dataset(root, spec).image_path


def _export(revision: str, directory: Path) -> Path:
    """The ``pyama_dask`` package of ``revision``, extracted into ``directory``."""
    directory.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "pyama_dask"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


def _run(tree: Path, image: Path, repeat: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """One measuring process importing ``pyama_dask`` from ``tree`` (the benchmarks from this tree)."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(REPO)]),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **(env or {}),
    }
    command = [sys.executable, "-m", "benchmarks.frame_steps", "--measure", str(image), "--repeat", str(repeat)]
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True, cwd=tree)
    return json.loads(output.stdout.splitlines()[-1])


def _measure(image: Path, repeat: int) -> dict[str, float]:
    """Milliseconds per frame of each step (best CPU time), and the first calls' extra cost."""
    import numpy as np  # noqa: PLC0415

    from pyama_dask.algorithms import correct_background, segment_logstd  # noqa: PLC0415
    from pyama_dask.io.inputs.microscopy import open_fov_reader  # noqa: PLC0415
    from pyama_dask.io.store import ImageRef, create_image  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="frame-steps-store-") as output, open_fov_reader(image, 0) as reader:
        phase, fluorescence = reader.read(0, slice(0, 1))[0], reader.read(1, slice(0, 1))[0]
        first_segment = _cpu_seconds(lambda: segment_logstd(phase))
        mask = segment_logstd(phase)
        first_correct = _cpu_seconds(lambda: correct_background(fluorescence, mask))
        target = create_image(ImageRef(Path(output), 0, "pc", 0), (N_FRAMES, *phase.shape), np.uint16)
        frames = slice(0, target.chunks[0])

        def copy() -> None:  # as the copy task does, a chunk at a time from an open input
            target[frames] = reader.read(0, frames)

        steps: dict[str, Callable[[], object]] = {
            "segment": lambda: segment_logstd(phase),
            "correct": lambda: correct_background(fluorescence, mask),
            "copy": copy,
        }
        per_frame = {"segment": 1, "correct": 1, "copy": frames.stop}
        result = {
            step: min(_cpu_seconds(run) for _ in range(repeat)) * 1000 / per_frame[step] for step, run in steps.items()
        }
    result["segment first"] = (first_segment - result["segment"] / 1000) * 1000
    result["correct first"] = (first_correct - result["correct"] / 1000) * 1000
    return result


def _cpu_seconds(run: Callable[[], object]) -> float:
    """CPU seconds of one call: on a busy machine a steadier measure of one core's work than wall time."""
    start = time.process_time()
    run()
    return time.process_time() - start


def _print_table(runs: dict[str, list[dict[str, float]]], size: int) -> None:
    (old_name, old), (new_name, new) = runs.items()
    print(f"ms per frame at {size} px, one core (median over {len(new)} processes of each one's best CPU time)")
    print(f"{'step':<9} {old_name:>18} {new_name:>12} {'speed-up':>9} {'target':>7}")
    for step in STEPS:
        before = statistics.median(run[step] for run in old)
        after = statistics.median(run[step] for run in new)
        print(f"{step:<9} {before:>18.1f} {after:>12.1f} {before / after:>8.1f}x {TARGETS_MS[step]:>7.1f}")
    for step in ("segment", "correct"):
        extra = statistics.median(run[step + " first"] for run in new)
        print(f"first {step} of a process (numba cache filled), beyond a later one: {extra:.0f} ms")


if __name__ == "__main__":
    main()
