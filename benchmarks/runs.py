"""One measured run: the workflow on a fresh local Dask cluster, or the serial floor.

A Dask run is timed end to end as a user meets it (read the metadata, start
the cluster, run, close the cluster), with the cluster start-up and shut-down
also reported on their own. Per-step seconds come from the scheduler's task
stream (compute time on the workers); peak memory is each worker's resident
set peak over the run (:mod:`benchmarks.memory`).

The serial floors run in a fresh process each, so their time and peak memory
are their own: the *algorithms* floor runs
:func:`pyama_dask.pipeline.serial.process_fov_serial` over every FOV (same
algorithms, in memory: no Dask, no store); the *tasks* floor runs the
workflow's own tasks of every FOV one after the other (same algorithms, same
store written, no Dask). Storage costs the difference between the two, Dask
the difference between the tasks floor and the cluster. The tasks floor also
runs in as many plain processes side by side as the largest cluster has
workers: the cluster's work without Dask, with what the machine loses to
running processes in parallel (shared caches and memory bandwidth).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, get_task_stream

from benchmarks.memory import cpu_seconds, peak_rss, reset_peak_rss
from benchmarks.outputs import output_bytes
from pyama_dask.workflow.clusters import make_cluster
from pyama_dask.workflow.allocator import keep_frames_on_heap
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.pipeline.serial import process_fov_serial, run_plan_serially
from pyama_dask.workflow.graph import step_of_key

logger = logging.getLogger(__name__)

# Set by Dask's nannies in the process that starts them (not by this benchmark).
_NANNY_ONLY_VARIABLES = ("MALLOC_TRIM_THRESHOLD_",)


@dataclass
class DaskRun:
    """What one workflow run on a local cluster measured (seconds, bytes)."""

    n_workers: int
    batch_size: int
    ok: bool
    metadata_s: float
    startup_s: float
    run_s: float
    shutdown_s: float
    step_seconds: dict[str, float]
    tasks: int
    busy_fraction: float  # compute time / (workers x run time)
    first_task_s: float  # from the run's start to the first task's start
    after_last_task_s: float  # from the last task's end to the run's end
    baseline_rss: list[int]
    peak_rss: list[int]
    memory_limit: list[int]  # of each worker, bytes
    worker_cpu_s: list[float]  # CPU time of each worker process during the run
    driver_cpu_s: float  # CPU time of this process (client, scheduler, run bookkeeping) during the run
    output_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def end_to_end_s(self) -> float:
        """Metadata, cluster start, run and cluster shut-down."""
        return self.metadata_s + self.startup_s + self.run_s + self.shutdown_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "end_to_end_s": self.end_to_end_s}


@dataclass
class SerialRun:
    """A serial floor: every FOV in plain processes (one, or a few side by side), without Dask."""

    seconds: float
    cpu_s: float
    peak_rss: int
    processes: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_channels(n_fluorescence: int) -> Channels:
    """Phase contrast in channel 0, fluorescence after it (the generator's order)."""
    return Channels(pc=0, fl=list(range(1, n_fluorescence + 1)))


def run_dask(image_path: Path, out_dir: Path, channels: Channels, n_workers: int, batch_size: int,
             memory_limit: str = "auto") -> DaskRun:
    """Run the whole workflow into an empty ``out_dir`` on a new LocalCluster of ``n_workers``.

    ``memory_limit`` is each worker's (distributed's ``memory_limit``: the
    nanny restarts a worker that goes past it).
    """
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    metadata = read_metadata(image_path)
    cluster_start = time.perf_counter()
    cluster = make_cluster("local", n_workers=n_workers, dashboard_address=":0", memory_limit=memory_limit)
    with cluster, Client(cluster) as client:
        run_start = time.perf_counter()
        baseline = client.run(reset_peak_rss)
        cpu_start = client.run(cpu_seconds)
        driver_start = cpu_seconds()
        epoch_start = time.time()
        with get_task_stream(client) as stream:
            ok = run_complete_workflow(metadata, ProcessingContext(out_dir, channels), batch_size=batch_size,
                                       client=client)
            run_end = time.perf_counter()
            epoch_end = time.time()
            driver_cpu = cpu_seconds() - driver_start
        cpu_end = client.run(cpu_seconds)
        peaks = client.run(peak_rss)
        limits = [worker["memory_limit"] for worker in client.scheduler_info()["workers"].values()]
        cluster_stop = time.perf_counter()
    closed = time.perf_counter()
    compute = _compute_intervals(stream.data)
    seconds_by_step: dict[str, float] = defaultdict(float)
    for step, begin, end in compute:
        seconds_by_step[step] += end - begin
    run_s = run_end - run_start
    return DaskRun(
        n_workers=n_workers,
        batch_size=batch_size,
        ok=ok,
        metadata_s=cluster_start - start,
        startup_s=run_start - cluster_start,
        run_s=run_s,
        shutdown_s=closed - cluster_stop,
        step_seconds=dict(seconds_by_step),
        tasks=len(compute),
        busy_fraction=sum(end - begin for _, begin, end in compute) / (n_workers * run_s),
        first_task_s=min((begin for _, begin, _ in compute), default=epoch_end) - epoch_start,
        after_last_task_s=epoch_end - max((end for _, _, end in compute), default=epoch_start),
        baseline_rss=sorted(baseline.values()),
        peak_rss=sorted(peaks.values()),
        memory_limit=sorted(limits),
        worker_cpu_s=[cpu_end[worker] - cpu_start[worker] for worker in sorted(cpu_end)],
        driver_cpu_s=driver_cpu,
        output_bytes=output_bytes(out_dir),
    )


def run_serial(image_path: Path, channels: Channels, out_dir: Path | None = None, processes: int = 1) -> SerialRun:
    """A serial floor, measured in fresh processes (their imports are done before the clock starts).

    With ``out_dir`` it is the tasks floor (the workflow's tasks writing their
    store into ``out_dir``, emptied first), else the algorithms floor. With
    ``processes`` > 1 as many plain processes share the FOVs (FOV ``i`` to
    process ``i % processes``), starting together: what the machine itself
    loses when several processes work at once, without Dask.

    A LocalCluster's nannies run in this process and leave their
    ``pre-spawn-environ`` (``MALLOC_TRIM_THRESHOLD_``) in its environment, which
    would make a process spawned afterwards ~2x slower (see
    :mod:`pyama_dask.workflow.allocator`): the floor is spawned without it.
    """
    if out_dir is not None:
        shutil.rmtree(out_dir, ignore_errors=True)
    context = multiprocessing.get_context("spawn")
    start_together = context.Barrier(processes)
    with _without_environment(_NANNY_ONLY_VARIABLES):
        pool = ProcessPoolExecutor(max_workers=processes, mp_context=context,
                                   initializer=_keep_barrier, initargs=(start_together,))
        futures = [pool.submit(_serial_floor, image_path, channels, out_dir, index, processes)
                   for index in range(processes)]  # spawns the processes
    with pool:
        parts = [future.result() for future in futures]
    return SerialRun(
        seconds=max(end for _, end, _ in parts) - min(begin for begin, _, _ in parts),
        cpu_s=sum(part.cpu_s for _, _, part in parts),
        peak_rss=max(part.peak_rss for _, _, part in parts),
        processes=processes,
    )


@contextmanager
def _without_environment(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


_start_together: Any = None


def _keep_barrier(barrier: Any) -> None:
    global _start_together
    _start_together = barrier


def _serial_floor(image_path: Path, channels: Channels, out_dir: Path | None, index: int,
                  processes: int) -> tuple[float, float, SerialRun]:
    """(epoch start, epoch end, measurements) of one floor process's share of the FOVs."""
    keep_frames_on_heap()  # as in a worker: the same allocator for the same work
    reset_peak_rss()
    _start_together.wait()
    begin, start, cpu_start = time.time(), time.perf_counter(), cpu_seconds()
    metadata = read_metadata(image_path)
    for fov in range(index, metadata.n_fovs, processes):
        if out_dir is None:
            process_fov_serial(metadata, fov, channels)
            continue
        run_plan_serially(plan_fov(metadata, out_dir, fov, channels, Params(), input_identity(image_path)))
    seconds = time.perf_counter() - start
    return begin, begin + seconds, SerialRun(seconds=seconds, cpu_s=cpu_seconds() - cpu_start, peak_rss=peak_rss())


def _compute_intervals(stream: list[dict]) -> list[tuple[str, float, float]]:
    """(step, start, stop) of every compute interval in a task stream (epoch seconds)."""
    intervals = []
    for record in stream:
        for interval in record.get("startstops", ()):
            if interval["action"] == "compute":
                intervals.append((step_of_key(record["key"]), interval["start"], interval["stop"]))
    return intervals

