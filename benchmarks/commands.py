"""Whole commands timed as a user times them: from process start to exit.

Run ``python -m benchmarks.commands [--repeat 3]`` (``python -m benchmarks``
runs it too). Each round runs, in a fresh process each and alternating the
order every other round:

- ``pyama-dask --help`` and ``pyama-dask info FILE``;
- a tiny run (1 FOV x 32 frames x 512 px, 3 channels) and the full set
  (4 FOVs x 60 frames x 1024 px x 3 channels, that of the README's table),
  each ``pyama-dask run ... --workers 2`` into a fresh output directory;
- PyAMA-core's ``run_complete_workflow`` (2 workers) on the full set, when
  ``--pyama-core-python`` (or ``$PYAMA_CORE_PYTHON``) names a Python that
  imports ``pyama_core``; skipped with a message otherwise. The project never
  depends on PyAMA-core: it runs in that other interpreter;
- with ``--baseline TREE`` (another checkout of this project, e.g. a
  ``git worktree`` of main), every ``pyama-dask`` command above once more
  from that tree's code, named ``... (baseline)``: before and after, timed
  alternately in the same rounds.

Each ``pyama-dask`` command runs in the tree it times, its working directory
and ``PYTHONPATH``: ``python -m`` (and the workers' fork server, ``python
-c``) put the working directory first on ``sys.path``, so a command started
in one checkout would import that checkout's code whatever ``PYTHONPATH``
says.

Of each run, the run log gives when the first task started (the earliest
finish time of a task less its duration) and when the last task ended, hence
the *start* (process start to first task running) and the *tail* (last task
ended to process exit). The figures are medians over the rounds, printed with
the load average seen; the ratio to PyAMA-core is the median of the ratios of
each round's pair.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.datasets import cached_dataset
from pyama_dask.synthetic import SyntheticDataset, SyntheticSpec

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
#: The runs timed: a tiny one, and the set of the README's table (on which PyAMA-core runs too).
RUNS = {
    "tiny run": SyntheticSpec(n_fovs=1, n_frames=32, size=512, n_fluorescence=2, seed=0),
    "full run": SyntheticSpec(n_fovs=4, n_frames=60, size=1024, n_fluorescence=2, seed=0),
}
PYAMA_CORE_RUN = "PyAMA-core run"
WORKERS = 2
PYAMA_CORE_VARIABLE = "PYAMA_CORE_PYTHON"
# PyAMA-core's workflow on channel 0 (phase contrast) and the fluorescence channels, as a script for its Python.
PYAMA_CORE_SCRIPT = """\
import sys
from pathlib import Path
from pyama_core.io.microscopy import load_microscopy_file
from pyama_core.processing.workflow import run_complete_workflow
from pyama_core.processing.workflow.services.types import Channels, ProcessingContext

if __name__ == "__main__":
    path, out, n_fl, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    _, metadata = load_microscopy_file(path)
    channels = Channels(pc=0, fl_features={c: ["intensity_total"] for c in range(1, n_fl + 1)}, pc_features=["area"])
    context = ProcessingContext(output_dir=out, channels=channels, params={})
    sys.exit(0 if run_complete_workflow(metadata, context, batch_size=2, n_workers=workers) else 1)
"""


@dataclass
class CommandTiming:
    """One command's process, timed from its start to its exit (seconds)."""

    name: str
    wall_s: float
    load: float
    #: Process start to the first task running, and last task ended to exit (runs of pyama-dask only).
    start_s: float | None = None
    tail_s: float | None = None


def measure_commands(output_dir: Path, repeat: int, pyama_core_python: str | None,
                     runs: dict[str, SyntheticSpec] | None = None, baseline: Path | None = None) -> dict[str, Any]:
    """Time every command ``repeat`` times, alternating their order.

    Parameters
    ----------
    output_dir : Path
        Datasets (cached) and run outputs.
    repeat : int
        Rounds.
    pyama_core_python : str, optional
        A Python that imports pyama_core; None: PyAMA-core is skipped.
    runs : dict, optional
        Name -> dataset of each ``pyama-dask run`` (default `RUNS`). The last
        is the one ``info`` reads and PyAMA-core runs on.
    baseline : Path, optional
        Another checkout of the project whose ``pyama-dask`` commands are
        timed too (run in that tree: see :func:`in_tree`).

    Returns
    -------
    dict
        ``{"rounds": [[CommandTiming as dict, ...], ...], "pyama_core": str,
        "compared_with": str, "datasets": {name: str}}``: which PyAMA-core
        ran or why none did, the name of the run it is compared with, and
        each run's dataset in words.
    """
    datasets = {name: cached_dataset(output_dir, spec) for name, spec in (runs or RUNS).items()}
    largest = list(datasets.values())[-1]
    commands: dict[str, Callable[[], CommandTiming]] = {}
    output_dir = Path(output_dir).resolve()  # the commands run in their own trees
    for tree, suffix in [(REPO, ""), *([(Path(baseline).resolve(), " (baseline)")] if baseline else [])]:
        for name, args in (("pyama-dask --help", ["--help"]), ("pyama-dask info", ["info", str(largest.image_path)])):
            commands[name + suffix] = functools.partial(_time_process, name + suffix, _pyama_dask(*args), tree)
        for name, dataset in datasets.items():
            out = output_dir / "runs" / f"commands-{(name + suffix).replace(' ', '-').replace('(', '').replace(')', '')}"
            commands[name + suffix] = functools.partial(_time_run, name + suffix, dataset, out, tree)
    pyama_core = _pyama_core_status(pyama_core_python)
    if pyama_core_python and pyama_core.startswith("ran"):
        commands[PYAMA_CORE_RUN] = lambda: _time_pyama_core(pyama_core_python, largest,
                                                            output_dir / "runs" / "commands-pyama-core")
    rounds = []
    for index in range(repeat):
        order = list(commands) if index % 2 == 0 else list(reversed(commands))
        timings = []
        for name in order:
            timing = commands[name]()
            print(f"  round {index + 1} {name}: {timing.wall_s:.2f} s (load {timing.load:.1f})", flush=True)
            timings.append(asdict(timing))
        rounds.append(timings)
    return {"rounds": rounds, "pyama_core": pyama_core, "compared_with": list(datasets)[-1],
            "datasets": {name: _describe(dataset.spec) for name, dataset in datasets.items()}}


def _describe(spec: SyntheticSpec) -> str:
    height, width = spec.shape
    return (f"{spec.n_fovs} FOV(s) x {spec.n_frames} frames x {height} x {width} px x "
            f"{len(spec.channel_names)} channels")


def commands_markdown(measured: dict[str, Any]) -> str:
    """The medians of :func:`measure_commands` as a Markdown table and a ratio line."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for timings in measured["rounds"]:
        for timing in timings:
            by_name.setdefault(timing["name"], []).append(timing)
    lines = [*(f"{name}: {described}, `pyama-dask run --workers {WORKERS}`." for name, described in
               measured["datasets"].items()),
             "Start: process start to the first task running; tail: the last task ended to the process exit.",
             "",
             "| command (process start to exit) | median s | min s | start s | tail s | load |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, runs in by_name.items():
        walls = [run["wall_s"] for run in runs]
        lines.append(f"| {name} | {statistics.median(walls):.2f} | {min(walls):.2f} | "
                     f"{_median_of(runs, 'start_s')} | {_median_of(runs, 'tail_s')} | "
                     f"{statistics.median(run['load'] for run in runs):.1f} |")
    ratios = _ratios(measured)
    lines.append("")
    if ratios:
        lines.append(f"{PYAMA_CORE_RUN} / {measured['compared_with']}: {statistics.median(ratios):.1f}x "
                     f"(median of {len(ratios)} alternating pair(s))")
    else:
        lines.append(f"PyAMA-core: {measured['pyama_core']}")
    return "\n".join(lines)


def _ratios(measured: dict[str, Any]) -> list[float]:
    """PyAMA-core's wall time over pyama-dask's on the same set, in each round that ran both."""
    ratios = []
    for timings in measured["rounds"]:
        walls = {timing["name"]: timing["wall_s"] for timing in timings}
        if PYAMA_CORE_RUN in walls:
            ratios.append(walls[PYAMA_CORE_RUN] / walls[measured["compared_with"]])
    return ratios


def _median_of(runs: list[dict[str, Any]], field: str) -> str:
    values = [run[field] for run in runs if run[field] is not None]
    return f"{statistics.median(values):.2f}" if values else "-"


def _pyama_dask(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyama_dask", *args]


def in_tree(tree: Path) -> dict[str, Any]:
    """``subprocess.run`` keywords that make a Python command import the project from ``tree``."""
    return {"cwd": tree, "env": {**os.environ, "PYTHONPATH": str(tree)}}


def _time_process(name: str, argv: list[str], tree: Path | None = None) -> CommandTiming:
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, **(in_tree(tree) if tree else {}))
    wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(argv)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return CommandTiming(name, wall, os.getloadavg()[0])


def _time_run(name: str, dataset: SyntheticDataset, out: Path, tree: Path) -> CommandTiming:
    """A ``pyama-dask run`` into a fresh ``out`` (a kept one would be resumed, not run)."""
    shutil.rmtree(out, ignore_errors=True)
    channels = [str(channel) for channel in range(1, dataset.spec.n_fluorescence + 1)]
    argv = _pyama_dask("run", str(dataset.image_path), "--out", str(out), "--pc", "0", "--fl", *channels,
                       "--workers", str(WORKERS), "--no-progress")
    started = time.time()
    timing = _time_process(name, argv, tree)
    first_start, last_end = task_span(out / "run.log.jsonl")
    timing.start_s = first_start - started
    timing.tail_s = started + timing.wall_s - last_end
    return timing


def task_span(run_log: Path) -> tuple[float, float]:
    """(first task started, last task ended) of a run log, as POSIX times.

    A task's record is written when the driver hears that it ended, and holds
    its duration in ``seconds``.
    """
    from pyama_dask.rundir.runlog import read_records

    tasks = [record for record in read_records(run_log) if record["event"] == "task"]
    if not tasks:
        raise RuntimeError(f"{run_log}: no task records")
    ends = [datetime.fromisoformat(record["time"]).timestamp() for record in tasks]
    return min(end - record["seconds"] for end, record in zip(ends, tasks)), max(ends)


def _time_pyama_core(python: str, dataset: SyntheticDataset, out: Path) -> CommandTiming:
    shutil.rmtree(out, ignore_errors=True)
    argv = [python, "-c", PYAMA_CORE_SCRIPT, str(dataset.image_path), str(out),
            str(dataset.spec.n_fluorescence), str(WORKERS)]
    return _time_process(PYAMA_CORE_RUN, argv)


def _pyama_core_status(python: str | None) -> str:
    """"ran with PYTHON", or why PyAMA-core is not run."""
    if not python:
        return (f"skipped: no PyAMA-core environment given (--pyama-core-python or ${PYAMA_CORE_VARIABLE}: "
                "a Python that imports pyama_core)")
    try:
        subprocess.run([python, "-c", "import pyama_core"], capture_output=True, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"skipped: {python} cannot import pyama_core ({exc})"
    return f"ran with {python}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (shared with ``python -m benchmarks``)."""
    parser.add_argument("--pyama-core-python", default=os.environ.get(PYAMA_CORE_VARIABLE),
                        help=f"a Python that imports pyama_core, to time its workflow side by side "
                             f"(default ${PYAMA_CORE_VARIABLE}; none: skipped)")
    parser.add_argument("--baseline", type=Path, metavar="TREE",
                        help="another checkout of this project (e.g. a git worktree of main) whose pyama-dask "
                             "commands are timed alternately with this one's")


def main(argv: list[str] | None = None) -> None:
    """Parse the options, time the commands and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commands", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--output-dir", type=Path, default=REPO / "bench-output",
                        help="datasets and run outputs (default bench-output/)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    measured = measure_commands(args.output_dir, args.repeat, args.pyama_core_python, baseline=args.baseline)
    print(commands_markdown(measured))


if __name__ == "__main__":
    main()
