"""The step table: every step of a FOV's processing, declared once.

A :class:`Step` says what the step is: its task function, the outputs of
other steps it reads (by role), what it writes for which channels, whether
its parameter group enters its fingerprint, its memory model, what else its
output depends on and what its summary reports. Everything else derives from
:data:`STEPS`: the plan and its fingerprints (:mod:`pyama_dask.pipeline.plan`),
the task graph, keys and spans (:mod:`pyama_dask.workflow.graph`), progress
counts and the CLI summary (:mod:`pyama_dask.cli.progress`), ``status``, the
memory check, the in-memory path (:mod:`pyama_dask.pipeline.serial`) and the
results file's paths.

Channels have roles: the *segmented* channel (``Channels.pc``, phase
contrast as a rule) and the *fluorescence* channels (``Channels.fl``), the
channels measured. A step runs once per channel of each role it writes for.
An input read from a step that writes for the same role comes from the same
channel; otherwise from the segmented channel (e.g. correcting fluorescence
channel 2 reads the copy of channel 2 and the masks of the segmented
channel). A channel both segmented and measured (a fluorescence-only movie)
gets one task of a step writing for both roles (the copy), under its first
role; both roles read its output (:meth:`Step.shared`).

Adding a step is adding a record here, its task function
(:mod:`pyama_dask.pipeline.tasks`) and its algorithm; ``docs/architecture.md``
shows how.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pyama_dask.algorithms.options import REFERENCES
from pyama_dask.io.completion import Output, clear_complete, completed_fingerprint, mark_complete
from pyama_dask.io.fov_files import drift_path, traces_path
from pyama_dask.io.store import open_image
from pyama_dask.io.tracks_geff import TRACKS_KIND
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.jobs import FovSource, TaskJob
from pyama_dask.pipeline.memory import MemoryModel

#: Channel roles a step may write for.
SEGMENTED, FLUORESCENCE = "segmented", "fluorescence"
#: The module of the task functions the table names (:class:`TaskByName`).
TASKS_MODULE = "pyama_dask.pipeline.tasks"


@dataclass(frozen=True)
class TaskByName:
    """A task function of :data:`TASKS_MODULE`, by name, with keyword arguments bound: called like the function.

    The module is imported where the task runs, on first call: it imports
    every algorithm and the libraries they use, which the driver, planning
    and following the tasks, never needs (nor waits for).
    """

    name: str
    keywords: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, job: TaskJob) -> dict:
        return getattr(importlib.import_module(TASKS_MODULE), self.name)(job, **self.keywords)


@dataclass(frozen=True)
class Step:
    """One step of a FOV's processing.

    Attributes
    ----------
    name
        The step's name, used in task keys, progress, the run log and
        ``Params.for_step``.
    task
        The task function: takes a :class:`~pyama_dask.pipeline.jobs.TaskJob`,
        writes ``job.output``, returns a small summary dict. The table's
        own are :class:`TaskByName`.
    writes
        Channel role -> kind of output written for each channel of that role:
        an image kind of the store (``seg``, ``fl_corrected``...) or, when
        ``file`` is given, the results-file key of a file.
    inputs
        Role of an input in the task (``job.inputs[role]``) and in the
        fingerprint -> the step whose output it is.
    memory
        Peak memory of a task (:mod:`pyama_dask.pipeline.memory`).
    params
        True when the step has a parameter group (``Params.for_step(name)``),
        which then enters its fingerprint.
    file
        For a step writing files: ``(output_dir, base_name, fov, channel)`` -> path.
    facts
        What else the output depends on, beyond its inputs and parameters:
        ``(source, channel, input_identity)`` -> values for the fingerprint.
    summary
        The key of the task's summary shown per FOV in the CLI's summary
        (e.g. ``tracks``), if any.
    summary_label
        How the CLI's summary names it, when not by its key.
    recount
        Reads the summary value back from a complete output, for the
        summary of a resumed run, whose skipped tasks report nothing.
    """

    name: str
    task: Callable[[TaskJob], dict]
    writes: Mapping[str, str]
    inputs: Mapping[str, str] = field(default_factory=dict)
    memory: MemoryModel = MemoryModel(4, 8)
    params: bool = True
    file: Callable[[Path, str, int, int], Path] | None = None
    facts: Callable[[FovSource, int, dict], dict[str, Any]] | None = None
    summary: str | None = None
    summary_label: str | None = None
    recount: Callable[[Output], float] | None = None

    def channels(self, channels: Channels) -> list[tuple[str, int]]:
        """The (role, channel) of each task of this step for one FOV; a channel of two roles has one task."""
        tasks = self._by_role(channels)
        return [(role, channel) for index, (role, channel) in enumerate(tasks)
                if channel not in {c for _, c in tasks[:index]}]

    def shared(self, channels: Channels) -> list[tuple[str, int, str]]:
        """(role, channel, role of its task) of each channel this step writes for under a second role.

        The task of the channel's first role serves the second: e.g. the copy
        of a channel both segmented and measured is made once.
        """
        owners: dict[int, str] = {}
        shared = []
        for role, channel in self._by_role(channels):
            if channel in owners:
                shared.append((role, channel, owners[channel]))
            owners.setdefault(channel, role)
        return shared

    def _by_role(self, channels: Channels) -> list[tuple[str, int]]:
        by_role = {SEGMENTED: [channels.pc], FLUORESCENCE: list(channels.fl)}
        return [(role, channel) for role in self.writes for channel in by_role[role]]

    def input_channel(self, dependency: Step, role: str, channel: int, channels: Channels) -> tuple[str, int]:
        """The (role, channel) of the ``dependency`` task that a task of ours for ``(role, channel)`` reads."""
        return (role, channel) if role in dependency.writes else (SEGMENTED, channels.pc)


def _copy_facts(source: FovSource, channel: int, identity: dict) -> dict[str, Any]:
    facts = {"input": identity, "fov": source.fov, "channel": channel, "dims": source.dim_order}
    if source.n_z > 1:  # only then: copies of files without Z keep their fingerprints
        facts["z"] = source.z
    if source.file_pattern is not None:  # only then, likewise: another pattern may read other files
        facts["pattern"] = source.file_pattern
    return facts


def _extract_facts(source: FovSource, channel: int, identity: dict) -> dict[str, Any]:
    return {"times": list(source.times)}


def _tracks_in(labels: Output) -> int:
    """Tracks of a complete label stack: its largest id, as trackers number tracks 1, 2, ... (read frame by frame)."""
    stack = open_image(labels)
    return max((int(np.max(stack[t])) for t in range(stack.shape[0])), default=0)


def _cells_in(traces: Output) -> int:
    """Cells of a complete trace file."""
    from pyama_dask.io.traces import read_traces_csv  # noqa: PLC0415  (pandas: for a resumed run's summary only)

    return int(read_traces_csv(traces)["cell"].nunique())


# Memory models: blocks of one uint16 chunk held at a task's peak, and bytes per
# pixel of one frame on top, measured with tracemalloc at 1024 and 2048 px:
# copy 43 and 36 MB, segment 56 and 116, track 44 and 72, correct 65 and 65,
# extract 116 and 147; graph: one chunk read, then bands of a frame's pixels (3 B/px at
# 2048 px with every pixel a cell).
_TABLE = (
    Step("copy", TaskByName("copy_channel"), writes={SEGMENTED: "pc", FLUORESCENCE: "fl"}, memory=MemoryModel(4, 8),
         params=False, facts=_copy_facts),
    Step("segment", TaskByName("segment_fov"), writes={SEGMENTED: "seg"}, inputs={"source": "copy"},
         memory=MemoryModel(4, 36)),
    Step("correct", TaskByName("correct_fov"), writes={FLUORESCENCE: "fl_corrected"},
         inputs={"source": "copy", "mask": "segment"}, memory=MemoryModel(6, 6)),
    Step("track", TaskByName("track_fov"), writes={SEGMENTED: "seg_labeled"}, inputs={"source": "segment"},
         memory=MemoryModel(4, 18), summary="tracks", recount=_tracks_in),
    Step("graph", TaskByName("graph_fov"), writes={SEGMENTED: TRACKS_KIND}, inputs={"labels": "track"},
         memory=MemoryModel(2, 6), params=False),
    Step("extract", TaskByName("extract_fov"), writes={FLUORESCENCE: "traces_csv"},
         inputs={"labels": "track", "corrected": "correct"}, memory=MemoryModel(12, 24), file=traces_path,
         facts=_extract_facts, summary="cells", summary_label="traces kept (cells)", recount=_cells_in),
)

#: Every step by name, in an order where each step comes after the steps it reads.
STEPS: dict[str, Step] = {step.name: step for step in _TABLE}


def _fit_facts(settings: FitParams, source: FovSource, channel: int, identity: dict) -> dict[str, Any]:
    return {"fit": settings.record()}


def _fitted_in(fits: Output) -> int:
    """Cells fitted successfully in a complete fits output."""
    from pyama_dask.io.fits import read_fits  # noqa: PLC0415  (the kinetics models: for runs that fit only)

    return int(read_fits(fits)["success"].sum())


def fit_step(settings: FitParams) -> Step:
    """The record of the fit step for ``settings``, after extraction, per FOV and fluorescence channel.

    It is in the table only in runs that ask for a model (:func:`registered`),
    so other runs keep their plan and fingerprints. The settings' record
    (model, every parameter's initial value, bounds and fixed flag,
    ``min_points``) enters its fingerprint: changing a bound refits, and
    nothing else is made again. Memory: the cells of a FOV are fitted in
    chunks whatever the frame size.
    """
    from pyama_dask.io.fits import fits_path  # noqa: PLC0415  (see _fitted_in)

    return Step("fit", TaskByName("fit_fov", {"settings": settings}), writes={FLUORESCENCE: "fits_csv"},
                inputs={"traces": "extract"}, memory=MemoryModel(0, 0), params=False, file=fits_path,
                facts=partial(_fit_facts, settings), summary="fitted", summary_label="cells fitted",
                recount=_fitted_in)


def fit_registered(settings: FitParams | None) -> contextlib.AbstractContextManager[None]:
    """The table with the fit step of ``settings`` after extraction, for a block; unchanged when None."""
    return registered(None if settings is None else fit_step(settings), after="extract")


@contextlib.contextmanager
def registered(step: Step | None, after: str | None = None) -> Iterator[None]:
    """The table with ``step`` (after ``after``) for the duration of the block; unchanged when ``step`` is None.

    A step of that name registered already (by an enclosing block) is
    replaced for the block and put back after it.
    """
    if step is None:
        yield
        return
    previous = STEPS.get(step.name)
    if previous is not None:
        unregister_step(step.name)
    register_step(step, after=after)
    try:
        yield
    finally:
        unregister_step(step.name)
        if previous is not None:
            register_step(previous, after=after)


#: The steps that read the register step's drift table: tracking matches drift-corrected
#: positions, the tracks graph and extraction add them to their nodes and traces.
DRIFT_READERS = ("track", "graph", "extract")


def _largest_drift_in(table: Output) -> float:
    """The largest drift of a complete drift table."""
    from pyama_dask.algorithms.registration import largest_drift  # noqa: PLC0415  (scikit-image: not in a driver)
    from pyama_dask.io.drift import read_drift_csv  # noqa: PLC0415  (pandas: see _cells_in)

    return largest_drift(read_drift_csv(table))


def _register_facts(drift_reference: str, source: FovSource, channel: int, identity: dict) -> dict[str, Any]:
    return {"drift_reference": drift_reference}


def drift_step(drift_reference: str) -> Step:
    """The record of the register step (drift correction) on ``drift_reference``, before tracking.

    It reads the segmented channel's frames and writes the FOV's drift
    table. As the fit step's settings, ``drift_reference`` enters its
    fingerprint. Memory: the spectra of two frames and the correlation,
    40 B/px measured with tracemalloc at 1024 and 2048 px.
    """
    return Step("register", TaskByName("register_fov", {"drift_reference": drift_reference}),
                writes={SEGMENTED: "drift_csv"}, inputs={"source": "copy"}, memory=MemoryModel(4, 48), params=False,
                file=drift_path, facts=partial(_register_facts, drift_reference), summary="drift_px",
                recount=_largest_drift_in)


@contextlib.contextmanager
def drift_registered(drift_reference: str | None) -> Iterator[None]:
    """The table with the register step on ``drift_reference``, its drift read by :data:`DRIFT_READERS`.

    Unchanged when ``drift_reference`` is None, so other runs keep their
    plan and fingerprints (as the fit step's); with it, the fingerprints of
    the steps of :data:`DRIFT_READERS` include the drift table's (input
    ``drift``). Unchanged too inside a block that set it already.

    Raises
    ------
    ValueError
        When ``drift_reference`` is none of ``"previous"``, ``"first"``.
    """
    if drift_reference is not None and drift_reference not in REFERENCES:
        raise ValueError(f"drift reference {drift_reference!r} is none of {', '.join(REFERENCES)}")
    if drift_reference is None or "register" in STEPS:
        yield
        return
    readers = {name: STEPS[name] for name in DRIFT_READERS}
    with registered(drift_step(drift_reference), after="segment"):
        for name, step in readers.items():
            STEPS[name] = dataclasses.replace(step, inputs={**step.inputs, "drift": "register"})
        try:
            yield
        finally:
            STEPS.update(readers)


def register_step(step: Step, after: str | None = None) -> None:
    """Add ``step`` to the table (after the step named ``after``, by default last).

    Raises
    ------
    ValueError
        If a step of that name exists, or an input names a step that does
        not come before it.
    """
    if step.name in STEPS:
        raise ValueError(f"a step named {step.name!r} exists already")
    names = list(STEPS)
    position = names.index(after) + 1 if after is not None else len(names)
    missing = [dep for dep in step.inputs.values() if dep not in names[:position]]
    if missing:
        raise ValueError(f"step {step.name!r} reads {', '.join(missing)}, which must come before it")
    ordered = [STEPS[name] for name in names[:position]] + [step] + [STEPS[name] for name in names[position:]]
    STEPS.clear()
    STEPS.update({s.name: s for s in ordered})


def unregister_step(name: str) -> None:
    """Remove the step ``name`` from the table (a step that no other step reads)."""
    readers = [s.name for s in STEPS.values() if name in s.inputs.values()]
    if readers:
        raise ValueError(f"step {name!r} is read by {', '.join(readers)}")
    del STEPS[name]


@dataclass(frozen=True)
class StepResult:
    """What a task reports back to the driver (small: travels through the scheduler)."""

    step: str
    fov: int
    channel: int
    status: str  # "done" or "skipped"
    seconds: float
    summary: dict = field(default_factory=dict)


def run_job(task: Callable[[TaskJob], dict], job: TaskJob) -> StepResult:
    """Run ``task`` (the task function of ``job.step``) unless its output is already complete with the job's fingerprint.

    The task function is passed, not looked up, so that a worker runs the
    table the driver planned with.

    The output's completion record is cleared before the task writes and set
    after it has written everything, so an output is never taken as complete
    half-written; a complete output is never rewritten (``skipped``).
    """
    if completed_fingerprint(job.output) == job.fingerprint:
        return StepResult(job.step, job.fov, job.channel, "skipped", 0.0)
    start = time.perf_counter()
    clear_complete(job.output)
    summary = task(job)
    mark_complete(job.output, job.fingerprint)
    return StepResult(job.step, job.fov, job.channel, "done", time.perf_counter() - start, summary)


def tasks_per_fov(channels: Channels) -> dict[str, int]:
    """How many tasks of each step one FOV has."""
    return {step.name: len(step.channels(channels)) for step in STEPS.values()}
