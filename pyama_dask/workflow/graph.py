"""Each FOV's plan as a Dask task graph, and what runs around each task on a worker.

One task per planned task (:mod:`pyama_dask.pipeline.plan`), its arguments
the step's record, the job and references to the tasks whose outputs it
reads, so Dask runs a task only after them. The graph is built from Dask's
task specification (``dask.task_spec``), not ``dask.delayed``, which would
walk every field of the step and the job for nested Dask objects and pass
the graph through the collections' optimisation: most of the driver's time
per FOV, which a run over a thousand small FOVs pays a thousand times. Keys are readable by step and FOV:
``("segment-fov0003-<run>", <channel>)``. A tuple key's first element names
the task group, its step the task prefix: the scheduler attaches a whole
task group to one span, so each FOV needs groups of its own for its span
(``fov_003``) to hold its tasks, while the dashboard's progress bars and
metrics go by the prefix, the step.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from dask.dot import dot_graph
from dask.task_spec import Task, TaskRef

from pyama_dask.pipeline.plan import FovPlan, PlannedTask
from pyama_dask.pipeline.steps import STEPS, Step, StepResult, run_job
from pyama_dask.pipeline.jobs import TaskJob
from pyama_dask.workflow.allocator import keep_frames_on_heap

TaskKey = tuple[str, int]


class InsufficientMemoryError(MemoryError):
    """A FOV's task needs more memory than its worker may use."""


def task_key(task: PlannedTask, run_id: str) -> TaskKey:
    """The Dask key of a planned task in the run ``run_id``, e.g. ``("segment-fov0003-1a2b3c4d", 0)``."""
    return (f"{task.step}-fov{task.fov:04d}-{run_id}", task.channel)


def step_of_key(key: object) -> str:
    """The step of a task key made by :func:`task_key`."""
    name = key[0] if isinstance(key, tuple) else str(key)
    return str(name).split("-fov")[0]


def fov_graph(plan: FovPlan, run_id: str, *, pending_only: bool = True) -> dict[TaskKey, Task]:
    """A FOV's tasks (its pending ones only by default), by key, each depending on the tasks it reads.

    The graph is whole: ``client.get(graph, list(graph), sync=False)``
    submits it.
    """
    key_by_id: dict[tuple, TaskKey] = {}
    graph: dict[TaskKey, Task] = {}
    for task in plan.pending if pending_only else plan.tasks:
        deps = [TaskRef(key_by_id[dep]) for dep in task.deps if dep in key_by_id]
        key = key_by_id[task.id] = task_key(task, run_id)
        graph[key] = Task(key, run_task, STEPS[task.step], task.job, *deps)
    return graph


class GraphvizMissingError(ValueError):
    """Drawing a graph needs graphviz, which is not installed."""


def render_fov_graph(plan: FovPlan, path: Path) -> Path:
    """Draw every task of a FOV and its dependencies into ``path`` (PNG, SVG or PDF by its suffix).

    Raises
    ------
    GraphvizMissingError
        Saying what to install, when the ``graphviz`` Python package or its
        ``dot`` program is missing.
    """
    advice = ("drawing the graph needs graphviz: `pip install graphviz` and the Graphviz programs "
              "(`apt-get install graphviz`, `conda install graphviz` or `brew install graphviz`)")
    if importlib.util.find_spec("graphviz") is None or shutil.which("dot") is None:
        raise GraphvizMissingError(advice)
    graph = fov_graph(plan, "dry-run", pending_only=False)
    path = Path(path)
    dot_graph(graph, filename=str(path.with_suffix("")), format=path.suffix.lstrip(".") or "png")
    return path


def run_task(step: Step, job: TaskJob, *dependencies: StepResult) -> StepResult:
    """Run the task of ``step`` on a worker, once its ``dependencies`` (resolved by Dask) are done.

    The step's record travels with the task, so a worker runs the table the
    driver planned with. A task that cannot fit in its worker's memory fails
    at once with a clear message instead of making the nanny restart the
    worker over and over.
    """
    require_memory(step, job)
    keep_frames_on_heap()
    return run_job(step.task, job)


def require_memory(step: Step, job: TaskJob) -> None:
    """Raise when the current Dask worker's memory limit is below the task's estimate.

    Outside a worker, or on a worker without a memory limit, nothing is checked.

    Raises
    ------
    InsufficientMemoryError
        Naming the FOV, the step, the memory needed and the worker's limit.
    """
    limit = _worker_memory_limit()
    height, width = job.source.shape[1:]
    needed = step.memory.task_bytes(height, width)
    if limit and needed > limit:
        raise InsufficientMemoryError(
            f"FOV {job.fov} ({job.step}, {width} x {height} px frames) needs about {needed / 2**30:.2f} GiB per "
            f"worker, but workers may use {limit / 2**30:.2f} GiB: give workers more memory (e.g. --memory for "
            "batch-queue jobs, fewer --workers on this machine)"
        )


def _worker_memory_limit() -> int | None:
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not running in a worker
        return None
    return worker.memory_manager.memory_limit

