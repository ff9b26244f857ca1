"""Each FOV's plan as a Dask task graph, and what runs around each task on a worker.

One task per planned task (:mod:`pyama_dask.pipeline.plan`), its arguments
the step's record, the job and references to the tasks whose outputs it
reads, so Dask runs a task only after them. The graph is built from Dask's
task specification (``dask.task_spec``), not ``dask.delayed``, which would
walk every field of the step and the job for nested Dask objects and pass
the graph through the collections' optimisation: most of the driver's time
per FOV, which a run over a thousand small FOVs pays a thousand times.

A small FOV (:data:`SMALL_FOV_PIXELS`) runs all its tasks in one Dask task
(:func:`run_graph`): its steps take milliseconds, about what the scheduler,
the client and the messages between them cost per task, so that one task
instead of seven or more per FOV keeps the orchestration of a run over
thousands of small FOVs below its computing. Each step still writes its
output, completion record and run-log record of its own, and a failing step
stops only the steps that read its output, as with a task per step.

Keys are readable by step and FOV:
``("segment-fov0003-<run>", <channel>)``. A tuple key's first element names
the task group, its step the task prefix: the scheduler attaches a whole
task group to one span, so each FOV needs groups of its own for its span
(``fov_003``) to hold its tasks, while the dashboard's progress bars and
metrics go by the prefix, the step.
"""

from __future__ import annotations

import importlib.util
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dask.dot import dot_graph
from dask.task_spec import Task, TaskRef

from pyama_dask.pipeline.plan import FovPlan, PlannedTask
from pyama_dask.pipeline.steps import STEPS, Step, StepResult, run_job
from pyama_dask.pipeline.jobs import TaskJob
from pyama_dask.workflow.allocator import keep_frames_on_heap

TaskKey = tuple[str, int]
#: FOVs of at most this many pixels per channel (frames x height x width: 64 frames of 128 x 128 px) run as one task.
SMALL_FOV_PIXELS = 1 << 20
#: The task prefix of a small FOV's single task (a step's name otherwise).
SMALL_FOV_PREFIX = "fov"


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


def run_graph(plan: FovPlan, run_id: str) -> tuple[dict[TaskKey, Task], dict[TaskKey, list[PlannedTask]]]:
    """What a run submits of a FOV: its pending tasks' graph and, by key, the planned tasks each Dask task runs.

    A FOV of at most :data:`SMALL_FOV_PIXELS` pixels per channel is one Dask
    task, :func:`run_small_fov`, whose result lists one :data:`TaskOutcome`
    per planned task; any other FOV is :func:`fov_graph`, a Dask task per
    planned task.
    """
    pending = plan.pending
    if not pending:
        return {}, {}
    frames, height, width = pending[0].job.source.shape
    if frames * height * width > SMALL_FOV_PIXELS:
        return fov_graph(plan, run_id), {task_key(task, run_id): [task] for task in pending}
    index = {task.id: position for position, task in enumerate(pending)}
    calls = tuple((STEPS[task.step], task.job, tuple(index[dep] for dep in task.deps if dep in index))
                  for task in pending)
    key = (f"{SMALL_FOV_PREFIX}-fov{plan.fov:04d}-{run_id}", 0)
    return {key: Task(key, run_small_fov, calls)}, {key: pending}


@dataclass(frozen=True)
class TaskFailure:
    """A planned task that raised: its exception and formatted traceback."""

    error: BaseException
    traceback: str

    @classmethod
    def of(cls, error: BaseException, trace: TracebackType | None) -> TaskFailure:
        """The failure of ``error`` raised at ``trace``, its traceback formatted (it travels as text)."""
        return cls(error, "".join(traceback.format_exception(type(error), error, trace)))


#: What became of one planned task of a small FOV: its result, its failure, or None when a task it reads failed.
TaskOutcome = StepResult | TaskFailure | None


def run_small_fov(calls: tuple[tuple[Step, TaskJob, tuple[int, ...]], ...]) -> list[TaskOutcome]:
    """Run a small FOV's tasks in order, each as :func:`run_task`, on a worker; one outcome per task.

    ``calls`` are (step, job, positions of the tasks it reads) in the step
    table's order, which puts every task after those it reads. A task whose
    input failed is not run (None), as Dask does not run a task whose
    dependency failed; the others are.
    """
    outcomes: list[TaskOutcome] = []
    for step, job, inputs in calls:
        if not all(isinstance(outcomes[position], StepResult) for position in inputs):
            outcomes.append(None)
            continue
        try:
            outcomes.append(run_task(step, job))
        except Exception as exc:
            outcomes.append(TaskFailure.of(exc, exc.__traceback__))
    return outcomes


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

