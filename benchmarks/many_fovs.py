"""Many small FOVs: what orchestrating the workflow costs per FOV as their number grows.

Run ``python -m benchmarks.many_fovs [--fovs 10 100 1000]`` (default 10 and
100: short). For each number of FOVs, a generated dataset of that many small
FOVs (8 frames x 128 px, one fluorescence channel by default) is run by
:func:`~pyama_dask.workflow.run.run_complete_workflow` on a fresh local
cluster, with this process as the driver (it holds the scheduler too), and
the benchmark prints:

- the run's wall time over the summed task time (the tasks' own seconds
  from the run log, divided by the workers): 1.0 would be no orchestration;
- orchestration per FOV: the wall time the workers did not spend in tasks,
  ``(wall - summed task time / workers) / FOVs``, and this process's CPU time
  (driver and scheduler) per FOV; both should stay flat as FOVs grow
  (target <= 30 ms);
- the driver's peak resident memory during the run (flat);
- the sizes of ``processing_results.yaml`` and ``run.log.jsonl`` (linear);
- how long ``pyama-dask status OUT`` takes, as a user times it (a fresh process).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from benchmarks.datasets import cached_dataset
from benchmarks.memory import cpu_seconds, peak_rss, reset_peak_rss
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.rundir.results import RESULTS_FILE
from pyama_dask.rundir.runlog import RUN_LOG_FILE, read_records
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.workflow.clusters import connect
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.workflow.status import summarise_run

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
#: Target of the orchestration per FOV (driver and scheduler), seconds.
TARGET_PER_FOV_S = 0.030


@dataclass
class ManyFovsRun:
    """One run over ``n_fovs`` small FOVs (seconds, bytes)."""

    n_fovs: int
    n_workers: int
    ok: bool
    fovs_done: int
    wall_s: float
    task_s: float  # the tasks' own seconds, summed over every task
    driver_cpu_s: float  # this process (driver and scheduler) during the run
    driver_peak_rss: int
    results_bytes: int
    run_log_bytes: int
    status_s: float
    status_fovs: str  # the FOVs line ``status`` printed

    @property
    def wall_over_tasks(self) -> float:
        """Wall time over the summed task time shared by the workers."""
        return self.wall_s / (self.task_s / self.n_workers)

    @property
    def orchestration_per_fov_s(self) -> float:
        """Wall time not spent in tasks, per FOV."""
        return (self.wall_s - self.task_s / self.n_workers) / self.n_fovs

    @property
    def driver_cpu_per_fov_s(self) -> float:
        return self.driver_cpu_s / self.n_fovs


def small_fovs_spec(n_fovs: int, n_frames: int = 8, size: int = 128) -> SyntheticSpec:
    """A dataset of ``n_fovs`` small FOVs, one cell each, one fluorescence channel."""
    return SyntheticSpec(n_fovs=n_fovs, n_frames=n_frames, size=size, n_cells=1, n_fluorescence=1, seed=0)


def run_many_fovs(output_dir: Path, spec: SyntheticSpec, n_workers: int = 2, batch_size: int = 2) -> ManyFovsRun:
    """Run the workflow over the (cached) dataset of ``spec`` into a fresh output folder; measure it."""
    dataset = cached_dataset(output_dir, spec)
    out = output_dir / "runs" / f"many-fovs-{spec.n_fovs}"
    shutil.rmtree(out, ignore_errors=True)
    metadata = read_metadata(dataset.image_path)
    channels = Channels(pc=0, fl=list(range(1, spec.n_fluorescence + 1)))
    with connect(None, n_workers=n_workers, dashboard_address=None) as client:
        reset_peak_rss()
        cpu_start = cpu_seconds()
        started = time.perf_counter()
        # As `pyama-dask run` does by default: the report's rendering grows with the tasks (seconds at 1,000 FOVs).
        ok = run_complete_workflow(metadata, ProcessingContext(out, channels), batch_size=batch_size,
                                   client=client, performance_report=False)
        wall = time.perf_counter() - started
        driver_cpu = cpu_seconds() - cpu_start
        peak = peak_rss()
    status_s, status_text = time_status(out)
    tasks = [record for record in read_records(out / RUN_LOG_FILE) if record["event"] == "task"]
    return ManyFovsRun(
        n_fovs=spec.n_fovs, n_workers=n_workers, ok=ok, fovs_done=len(_fovs_done(out)), wall_s=wall,
        task_s=sum(record["seconds"] for record in tasks), driver_cpu_s=driver_cpu, driver_peak_rss=peak,
        results_bytes=(out / RESULTS_FILE).stat().st_size, run_log_bytes=(out / RUN_LOG_FILE).stat().st_size,
        status_s=status_s, status_fovs=next(line for line in status_text.splitlines() if line.startswith("FOVs:")),
    )


def _fovs_done(out: Path) -> tuple[int, ...]:
    return summarise_run(read_records(out / RUN_LOG_FILE)).fovs_done


def time_status(out: Path) -> tuple[float, str]:
    """Seconds ``pyama-dask status OUT`` takes, from process start to exit, and what it printed."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pyama_dask", "status", str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pyama-dask status {out} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def many_fovs_markdown(runs: list[ManyFovsRun]) -> str:
    """The runs as a Markdown table, one row per number of FOVs."""
    lines = [
        f"Many small FOVs ({runs[0].n_workers} workers; target: orchestration <= {TARGET_PER_FOV_S * 1e3:.0f} ms "
        "per FOV, flat):",
        "",
        "| FOVs | done | wall (s) | wall / task time per worker | orchestration per FOV (ms) "
        "| driver CPU per FOV (ms) | driver peak (MB) | results file (kB) | run log (kB) | status (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.n_fovs} | {run.fovs_done} | {run.wall_s:.1f} | {run.wall_over_tasks:.2f} "
            f"| {run.orchestration_per_fov_s * 1e3:.0f} | {run.driver_cpu_per_fov_s * 1e3:.0f} "
            f"| {run.driver_peak_rss / 1e6:.0f} | {run.results_bytes / 1e3:.1f} | {run.run_log_bytes / 1e3:.1f} "
            f"| {run.status_s:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run each number of FOVs and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_fovs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fovs", type=int, nargs="+", default=[10, 100],
                        help="numbers of FOVs to run (default 10 100; the issue's point is 1000)")
    parser.add_argument("--frames", type=int, default=8, help="frames per FOV (default 8)")
    parser.add_argument("--size", type=int, default=128, help="frame side in pixels (default 128)")
    parser.add_argument("--workers", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--output-dir", type=Path, default=REPO / "bench-output",
                        help="datasets and run outputs (default bench-output/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs = []
    for n_fovs in args.fovs:
        run = run_many_fovs(args.output_dir, small_fovs_spec(n_fovs, args.frames, args.size), args.workers)
        print(f"  {n_fovs} FOVs: {run.wall_s:.1f} s", flush=True)
        runs.append(run)
    print(many_fovs_markdown(runs))


if __name__ == "__main__":
    main()
