"""Latency of a follow run: from a frame landing to its trace rows being written, while keeping up or not.

Run ``python -m benchmarks.live [--size 1024] [--fovs 2] [--frames 40] [--intervals 20s,2s]``.
For each acquisition interval, the microscope simulator
(:mod:`pyama_dask.synthetic.acquisition`) renders a folder of TIFF planes
(phase contrast and 2 fluorescence channels) beforehand; a background thread
moves each time point's files into the acquisition folder at the interval
(rendering as it goes would take the CPU the workers need: the figures are
those of the processing alone), and a follow run
(:func:`pyama_dask.workflow.live.follow_workflow`, 2 local workers)
processes it as it lands. Its run log gives each frame's latency
(``live-batch`` records: landing seen by the driver to the batch's trace
rows written); the sustained rate is the frames processed per minute from
the first batch submitted to the last one done. Then a batch run of the
completed data, on the same cluster, gives the batch throughput to compare
with. Worker memory (resident set) is sampled at every ``live`` record.

An interval below what the cluster sustains shows bounded lag and the
sustained rate; above it, the latency is the processing time of a batch.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from distributed import Client, LocalCluster

from benchmarks.memory import current_rss
from pyama_dask.io.inputs.growing import END_MARKER, open_growing
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import parse_interval, simulate_acquisition
from pyama_dask.workflow.live import FollowLimits, follow_workflow
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.workflow.validate import resolve_channel

logger = logging.getLogger(__name__)

#: Traces kept from 5 frames on: the short benchmark movies keep theirs.
PARAMS = {"min_trace_length": 5}


@dataclass(frozen=True)
class LiveFigures:
    """What one follow run measured."""

    interval: float
    frames: int
    latency_median: float
    latency_p95: float
    max_lag_frames: int
    frames_per_minute: float
    batch_frames_per_minute: float
    worker_rss_mb: tuple[float, float]  # first and last sample, largest worker


def channels_of(acquisition: Path) -> Channels:
    """Phase contrast segmented, the fluorescence channels measured: found by name (a folder orders them by name)."""
    metadata = read_metadata(acquisition)
    pc = resolve_channel(metadata, "Phase", "segmented")
    return Channels(pc=pc, fl=[channel for channel in range(len(metadata.channel_names)) if channel != pc])


def _worker_rss(client: Client) -> float:
    return max(client.run(current_rss).values()) / 2**20


def measure(folder: Path, spec: SyntheticSpec, interval: float, client: Client) -> LiveFigures:
    """Simulate an acquisition at ``interval`` seconds per time point, follow it, then batch-run it."""
    staged = simulate_acquisition(folder / "staged", spec, "tiff-folder", 0, partial=None)
    channels = channels_of(staged)  # before its files are moved
    acquisition = Replay(staged, folder / "acquisition", interval)
    acquisition.start()
    out = folder / "live"
    memory: list[float] = []
    follow_workflow(open_growing(acquisition.path), ProcessingContext(out, channels, params=PARAMS),
                    FollowLimits(status_every=2.0), client=client,
                    on_status=lambda _: memory.append(_worker_rss(client)))
    acquisition.join()
    records = read_records(run_log_path(out))
    batches = [r for r in records if r["event"] == "live-batch"]
    latency = [value for r in batches for value in r["latency"]]
    first = min(_seconds(r) - r["seconds"] for r in batches)
    last = max(_seconds(r) for r in batches)
    frames = sum(r["stop"] - r["start"] for r in batches)
    batch_out = folder / "batch"
    started = time.perf_counter()
    run_complete_workflow(read_metadata(acquisition.path), ProcessingContext(batch_out, channels, params=PARAMS),
                          client=client)
    batch_minutes = (time.perf_counter() - started) / 60
    return LiveFigures(
        interval=interval, frames=frames, latency_median=statistics.median(latency),
        latency_p95=statistics.quantiles(latency, n=20, method="inclusive")[-1],
        max_lag_frames=max((r["lag_frames"] for r in records if r["event"] == "live"), default=0),
        frames_per_minute=frames / max((last - first) / 60, 1e-9),
        batch_frames_per_minute=frames / batch_minutes,
        worker_rss_mb=(memory[0], memory[-1]) if memory else (0.0, 0.0),
    )


class Replay(threading.Thread):
    """Moves the files of each time point of a rendered acquisition into ``target`` every ``interval`` seconds."""

    def __init__(self, staged: Path, target: Path, interval: float) -> None:
        super().__init__(name="replayed-acquisition", daemon=True)
        self.path, self.interval = target, interval
        self.points: dict[int, list[Path]] = {}
        for plane in staged.glob("*.tif"):
            self.points.setdefault(int(re.search(r"_time(\d+)", plane.name)[1]), []).append(plane)

    def run(self) -> None:
        self.path.mkdir(parents=True)
        started = time.monotonic()
        for index, t in enumerate(sorted(self.points)):
            time.sleep(max(0.0, started + index * self.interval - time.monotonic()))
            for plane in sorted(self.points[t]):
                os.replace(plane, self.path / plane.name)
        (self.path / END_MARKER).write_text("done\n")


def _seconds(record: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(record["time"]).timestamp()


def table(spec: SyntheticSpec, figures: list[LiveFigures]) -> str:
    """The README's latency table."""
    lines = [f"{spec.n_fovs} FOVs x {spec.n_frames} frames x {spec.size} px, 3 channels, 2 workers; "
             f"load average {os.getloadavg()[0]:.1f}",
             "",
             "| time point every | frames/min acquired | latency median | latency p95 | largest lag (frames) "
             "| sustained frames/min | batch frames/min | worker memory first -> last |",
             "|---|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(
            f"| {f.interval:g} s | {60 * spec.n_fovs / f.interval:.0f} | {f.latency_median:.1f} s "
            f"| {f.latency_p95:.1f} s | {f.max_lag_frames} | {f.frames_per_minute:.0f} "
            f"| {f.batch_frames_per_minute:.0f} | {f.worker_rss_mb[0]:.0f} -> {f.worker_rss_mb[1]:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--fovs", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--intervals", default="20s,2s", help="comma-separated time-point intervals")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spec = SyntheticSpec(n_fovs=args.fovs, n_frames=args.frames, size=args.size, n_fluorescence=2, seed=0)
    figures = []
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        for text in args.intervals.split(","):
            with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
                figures.append(measure(Path(folder), spec, parse_interval(text), client))
                print(table(spec, figures[-1:]).splitlines()[-1], flush=True)
    print(table(spec, figures))


if __name__ == "__main__":
    main()
