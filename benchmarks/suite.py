"""``python -m benchmarks``: throughput, memory and output size of the whole workflow.

Generates (once, then cached) a synthetic dataset with the project's
generator, then runs, alternating within each round: the floors without Dask
(the algorithms alone, the workflow's tasks writing their store, and those
tasks in as many plain processes as the largest cluster has workers; see
:mod:`benchmarks.runs`) and the workflow on a fresh local cluster of
each worker count. It prints a Markdown report and writes
the results as JSON (``<output-dir>/results/<time>.json`` and
``<output-dir>/latest.json``); ``--update-readme`` copies the report into
README's "Performance" section.

It also times whole commands as a user does, from process start to exit,
next to PyAMA-core's workflow when given its Python (:mod:`benchmarks.commands`;
``--no-commands`` skips them).

Many small FOVs (what orchestration costs per FOV, from 10 to 1,000 FOVs)
run apart: ``python -m benchmarks.many_fovs`` (:mod:`benchmarks.many_fovs`).
The milliseconds per frame of segmentation, correction and copy on one core,
this tree next to a baseline revision: ``python -m benchmarks.frame_steps``
(:mod:`benchmarks.frame_steps`).

Scaling sweeps (each point one run on the largest worker count, off by
default because they take long):

- ``--sweep frames``: 60, 120, 240 frames at the given size and FOVs
  (memory per worker should stay flat);
- ``--sweep size``: 512, 1024, 2048 px (time per pixel should stay flat);
- ``--sweep fovs``: 2, 4, 8, 16 FOVs (throughput flat, ``batch_size``
  bounding memory).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.commands import add_arguments as add_command_arguments
from benchmarks.commands import commands_markdown, measure_commands
from benchmarks.datasets import cached_dataset, megapixels
from benchmarks.machine import machine_record
from benchmarks.report import markdown, summarise, update_readme
from benchmarks.runs import default_channels, run_dask, run_serial
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.synthetic import SyntheticDataset, SyntheticSpec

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
#: The floors, without Dask: key in a round's results -> label.
SERIAL_FLOORS = {"serial": "serial floor, algorithms", "serial_tasks": "serial floor, workflow tasks",
                 "parallel_tasks": "workflow tasks in parallel plain processes"}
SWEEPS = {
    "frames": ("n_frames", (60, 120, 240)),
    "size": ("size", (512, 1024, 2048)),
    "fovs": ("n_fovs", (2, 4, 8, 16)),
}


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run every measurement, print and save the report."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        results = run_suite(args)
        _save(results, args.output_dir)
    report = markdown(results)
    if results.get("commands"):
        report += "\n" + commands_markdown(results["commands"]) + "\n"
    print(report)
    if args.update_readme:
        update_readme(REPO / "README.md", report)
        print("README.md: Performance section updated")


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Every run the options ask for, as a JSON-ready results document."""
    spec = SyntheticSpec(n_fovs=args.fovs, n_frames=args.frames, size=args.size,
                         n_fluorescence=args.fluorescence, n_cells=args.cells, seed=args.seed)
    dataset = cached_dataset(args.output_dir, spec)
    results: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_record(),
        "dataset": _dataset_record(dataset),
        "repeat": args.repeat,
        "batch_size": args.batch_size,
        "workers": args.workers,
    }
    # The first metadata read imports bioio (~1.5 s): done here, every run times the same work.
    read_metadata(dataset.image_path)
    rounds = []
    for index in range(args.repeat):
        rounds.append(_round(dataset, args, reverse=index % 2 == 1))
    results["rounds"] = rounds
    results["summary"] = summarise(rounds, results["dataset"]["megapixels"], results["dataset"]["input_bytes"])
    results["sweeps"] = {name: _sweep(spec, name, args) for name in args.sweep}
    if args.commands:
        results["commands"] = measure_commands(args.output_dir, args.repeat, args.pyama_core_python,
                                               baseline=args.baseline)
    results["load_after"] = list(os.getloadavg())
    return results


def _round(dataset: SyntheticDataset, args: argparse.Namespace, *, reverse: bool) -> dict[str, Any]:
    """One run of each configuration; every other round in the reverse order, so drifts cancel."""
    channels = default_channels(dataset.spec.n_fluorescence)
    floors: list[int | str] = list(SERIAL_FLOORS) if args.serial else []
    if max(args.workers) < 2:
        floors = [floor for floor in floors if floor != "parallel_tasks"]
    configurations = floors + sorted(args.workers)
    measured: dict[str, Any] = {"dask": {}}
    for workers in reversed(configurations) if reverse else configurations:
        started = time.perf_counter()
        if isinstance(workers, str):
            store = args.output_dir / "runs" / workers if workers.endswith("tasks") else None
            processes = max(args.workers) if workers == "parallel_tasks" else 1
            measured[workers] = run_serial(dataset.image_path, channels, store, processes).to_dict()
            label = SERIAL_FLOORS[workers]
        else:
            out = args.output_dir / "runs" / f"{workers}-workers"
            run = run_dask(dataset.image_path, out, channels, workers, args.batch_size, args.worker_memory)
            measured["dask"][str(workers)] = run.to_dict()
            label = f"{workers} worker(s)"
        print(f"  {label}: {time.perf_counter() - started:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    return measured


def _sweep(base: SyntheticSpec, name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    field, values = SWEEPS[name]
    workers = max(args.workers)
    points = []
    for value in values:
        spec = SyntheticSpec(**{**base.to_dict(), field: value})
        dataset = cached_dataset(args.output_dir, spec)
        out = args.output_dir / "runs" / f"sweep-{name}"
        run = run_dask(dataset.image_path, out, default_channels(spec.n_fluorescence), workers, args.batch_size,
                       args.worker_memory)
        print(f"  sweep {name}={value}: {run.end_to_end_s:.1f} s", flush=True)
        points.append({"value": value, **_dataset_record(dataset), "run": run.to_dict()})
    return points


def _dataset_record(dataset: SyntheticDataset) -> dict[str, Any]:
    return {
        "path": str(dataset.image_path),
        "spec": dataset.spec.to_dict(),
        "cells_per_fov": dataset.spec.cells_per_fov,
        "megapixels": megapixels(dataset.spec),
        "input_bytes": dataset.image_path.stat().st_size,
    }


def _save(results: dict[str, Any], output_dir: Path) -> None:
    stamp = results["started"].replace(":", "").replace("+0000", "Z")
    path = output_dir / "results" / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1)
    path.write_text(text)
    (output_dir / "latest.json").write_text(text)
    print(f"results: {path}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    data = parser.add_argument_group("dataset (generated once, cached in OUTPUT_DIR/datasets)")
    data.add_argument("--fovs", type=int, default=4, help="fields of view (default 4)")
    data.add_argument("--frames", type=int, default=60, help="frames per FOV (default 60)")
    data.add_argument("--size", type=int, default=1024, help="frame side in pixels (default 1024)")
    data.add_argument("--fluorescence", type=int, default=2, help="fluorescence channels (default 2)")
    data.add_argument("--cells", type=int, default=None, help="cells per FOV (default 40 per 1024 x 1024 px)")
    data.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    runs = parser.add_argument_group("runs")
    runs.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare (default 1 2)")
    runs.add_argument("--batch-size", type=int, default=2, help="FOVs in flight (default 2)")
    runs.add_argument("--worker-memory", default="auto",
                      help="memory limit of each worker, e.g. 2GB (default: distributed's share of this machine)")
    runs.add_argument("--repeat", type=int, default=1, help="alternating rounds (default 1)")
    runs.add_argument("--no-serial", dest="serial", action="store_false", help="skip the serial floors")
    runs.add_argument("--no-commands", dest="commands", action="store_false",
                      help="skip the whole commands timed from process start to exit (benchmarks.commands)")
    add_command_arguments(runs)
    runs.add_argument("--sweep", choices=sorted(SWEEPS), action="append", default=[],
                      help="add a scaling sweep (repeatable)")
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", type=Path, default=REPO / "bench-output",
                        help="datasets, run outputs and results (default bench-output/)")
    output.add_argument("--update-readme", action="store_true", help="write the report into README.md")
    output.add_argument("--from-json", metavar="PATH", help="show (and with --update-readme, copy) saved results")
    output.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser
