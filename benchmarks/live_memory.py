"""Memory of a long follow run: each worker's resident set over a 500-frame acquisition.

Run ``python -m benchmarks.live_memory [--frames 500] [--fovs 2] [--size 256] [--interval 0.2s]``.
The microscope simulator renders the acquisition beforehand and its files are
moved into the acquisition folder one time point per interval
(:class:`benchmarks.live.Replay`); a follow run on the local cluster of
``pyama-dask run --follow`` (2 workers) processes it as it lands. At every
``live`` record (each ``--every`` seconds) the resident set of each worker
and of the driver (which holds the scheduler of the local cluster) is
sampled beside the time points processed so far.

Printed per process: the resident set at the start (first sample with a
frame processed), the middle and the end of the follow run, and the slope
of a least-squares line through the samples after the first ``--warm-up``
time points (imports, caches and the first chunks), in MiB per 100 time
points. A flat follow run has a slope near 0 whatever the acquisition's length.

Dask's statistical profiler keeps a profile of each worker's stacks per
second (``distributed.worker.profile.cycle``) for the last
``distributed.admin.low-level-log-length`` (1000) cycles: a worker's memory
grows by it for the first 17 minutes of any run, then stays flat.
``--no-profiler`` starts the workers without it
(``distributed.worker.profile.enabled: false``) to measure what the follow
run itself keeps. ``--trim`` has each process give its free heap memory back
to the system (glibc's ``malloc_trim``) before each sample: the workers keep
up to 128 MB of freed memory for the next frames
(:mod:`pyama_dask.workflow.allocator`), which the resident set counts.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dask.config
from distributed import Client

from benchmarks.live import PARAMS, Replay, channels_of
from benchmarks.memory import current_rss
from pyama_dask.io.inputs.growing import open_growing
from pyama_dask.pipeline.context import ProcessingContext
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import parse_interval, simulate_acquisition
from pyama_dask.workflow.clusters import make_cluster
from pyama_dask.workflow.live import FollowLimits, follow_workflow

DRIVER = "driver"
MIB = 2**20


@dataclass(frozen=True)
class Sample:
    """Time points processed (every FOV) and the resident set of each process then, MiB."""

    time_points: int
    rss_mib: dict[str, float]


def trimmed_rss() -> int:
    """Resident set size of this process, bytes, once its free heap memory is given back to the system (glibc)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return current_rss()


def sample(client: Client, fields: dict, trim: bool = False) -> Sample:
    """The resident sets now, beside the time points every FOV has processed (a ``live`` record's fields)."""
    rss = trimmed_rss if trim else current_rss
    workers = client.run(rss)
    sizes = {f"worker {i}": workers[address] / MIB for i, address in enumerate(sorted(workers))}
    sizes[DRIVER] = rss() / MIB
    return Sample(min(fields["processed"].values(), default=0), sizes)


def slope_per_100(samples: list[Sample], process: str, warm_up: int) -> float:
    """MiB per 100 time points of a least-squares line through the samples after ``warm_up`` time points."""
    points = [(s.time_points, s.rss_mib[process]) for s in samples if s.time_points >= warm_up and process in s.rss_mib]
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return 100 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else float("nan")


def follow(folder: Path, spec: SyntheticSpec, interval: float, every: float, client: Client,
           trim: bool = False) -> list[Sample]:
    """Replay a rendered acquisition at ``interval`` and follow it; the samples taken at each ``live`` record."""
    staged = simulate_acquisition(folder / "staged", spec, "tiff-folder", 0, partial=None)
    context = ProcessingContext(folder / "live", channels_of(staged), params=PARAMS)  # before its files move
    acquisition = Replay(staged, folder / "acquisition", interval)
    acquisition.start()
    samples: list[Sample] = []
    follow_workflow(open_growing(acquisition.path), context,
                    FollowLimits(status_every=every), client=client,
                    on_status=lambda fields: samples.append(sample(client, fields, trim)))
    acquisition.join()
    return [s for s in samples if s.time_points > 0]


def table(spec: SyntheticSpec, interval: float, samples: list[Sample], warm_up: int, *, profiler: bool = True,
          trim: bool = False) -> str:
    """The README's memory table: resident set at the start, middle and end, and the slope, per process."""
    first, middle, last = samples[0], samples[len(samples) // 2], samples[-1]
    lines = [f"{spec.n_fovs} FOV(s) x {spec.n_frames} frames x {spec.size} px, 3 channels, a time point every "
             f"{interval:g} s, 2 workers ({'with' if profiler else 'without'} Dask's profiler), "
             f"{os.cpu_count()} cores; {len(samples)} samples{', heaps trimmed first' if trim else ''}",
             "",
             f"| process | RSS at frame {first.time_points} | at frame {middle.time_points} "
             f"| at frame {last.time_points} | slope after frame {warm_up} (MiB / 100 frames) |",
             "|---|---|---|---|---|"]
    for process in last.rss_mib:
        lines.append(f"| {process} | {first.rss_mib[process]:.0f} MiB | {middle.rss_mib[process]:.0f} MiB "
                     f"| {last.rss_mib[process]:.0f} MiB | {slope_per_100(samples, process, warm_up):+.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--fovs", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cells", type=int, default=9, help="cells per FOV")
    parser.add_argument("--interval", default="0.2s", help="time between two time points landing")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between two samples")
    parser.add_argument("--warm-up", type=int, default=50, help="time points left out of the slope")
    parser.add_argument("--no-profiler", action="store_true", help="workers without Dask's statistical profiler")
    parser.add_argument("--trim", action="store_true", help="free heap memory given back before each sample")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spec = SyntheticSpec(n_fovs=args.fovs, n_frames=args.frames, size=args.size, n_cells=args.cells,
                         n_fluorescence=2, seed=0)
    interval = parse_interval(args.interval)
    profiler = dask.config.set({"distributed.worker.profile.enabled": False}) if args.no_profiler else (
        contextlib.nullcontext())
    with profiler, make_cluster("local", n_workers=2, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        with tempfile.TemporaryDirectory(prefix="live-memory-") as folder:
            samples = follow(Path(folder), spec, interval, args.every, client, args.trim)
    print(table(spec, interval, samples, args.warm_up, profiler=not args.no_profiler, trim=args.trim))


if __name__ == "__main__":
    main()
