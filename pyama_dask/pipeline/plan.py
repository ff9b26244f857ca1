"""The plan of a run: which per-FOV tasks exist, what they depend on, which are done.

The tasks are those of the step table (:mod:`pyama_dask.pipeline.steps`),
one per step and channel.

Each output is identified by a *fingerprint*: a hash of the step, the
parameters that step uses and the fingerprints of its inputs (for copy: the
input file's identity). A change of a segmentation parameter therefore changes
the fingerprints of segmentation and of everything downstream, and only those
outputs are recomputed; an output that is complete with the same fingerprint
is skipped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.inputs.common import ZChoice
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata
from pyama_dask.io.inputs.timestamps import UNIFORM_SOURCES, frame_index_minutes
from pyama_dask.io.ngff import MICROMETER
from pyama_dask.io.store import ImageRef
from pyama_dask.pipeline.context import Channels, ResultsPathsPerFOV
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import SEGMENTED, STEPS, Step
from pyama_dask.pipeline.jobs import FovSource, TaskJob

# Bump when a step's output format or algorithm changes, so that stores made
# by an earlier version are recomputed rather than trusted.
FORMAT_VERSION = 3


TaskId = tuple[str, str, int]  # (step, channel role, channel)


@dataclass(frozen=True)
class PlannedTask:
    """One task of a FOV's graph: a step for one channel, with its job and the tasks it waits for."""

    role: str
    job: TaskJob
    deps: tuple[TaskId, ...]  # tasks of the same FOV whose outputs it reads
    done: bool  # output already complete with this fingerprint

    @property
    def step(self) -> str:
        return self.job.step

    @property
    def fov(self) -> int:
        return self.job.fov

    @property
    def channel(self) -> int:
        return self.job.channel

    @property
    def id(self) -> TaskId:
        """Unique within a FOV."""
        return (self.step, self.role, self.channel)

    @property
    def fingerprint(self) -> str:
        return self.job.fingerprint

    @property
    def output(self) -> Path:
        """What the task writes: an image group of the store, or a file."""
        output = self.job.output
        return output if isinstance(output, Path) else output.location

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the FOV's frames, for the task's memory estimate."""
        return self.job.source.shape[1:]


@dataclass
class FovPlan:
    """All tasks of one FOV, in the step table's order, and where their outputs go.

    ``refused`` says why the FOV cannot be processed, when that is known
    before any of its tasks runs; its tasks are then reported, not run.
    """

    fov: int
    tasks: list[PlannedTask] = field(default_factory=list)
    paths: ResultsPathsPerFOV = field(default_factory=ResultsPathsPerFOV)
    refused: str | None = None

    @property
    def pending(self) -> list[PlannedTask]:
        return [t for t in self.tasks if not t.done]


def fingerprint(step: str, **inputs: Any) -> str:
    """Stable short hash of a step and everything its output depends on."""
    payload = json.dumps({"step": step, "format": FORMAT_VERSION, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def plan_fov(
    metadata: MicroscopyMetadata,
    output_dir: Path,
    fov: int,
    channels: Channels,
    params: Params,
    identity: dict[str, Any],
    z: ZChoice | None = None,
) -> FovPlan:
    """Plan every step of the step table for one FOV.

    Parameters
    ----------
    metadata
        The input's metadata.
    output_dir
        Where the outputs go.
    fov
        FOV index.
    channels
        Channel roles.
    params
        Algorithm parameters.
    identity
        The input's identity (:func:`~pyama_dask.io.inputs.microscopy.input_identity`),
        part of the copies' fingerprints.
    z
        Z plane copied of a file with Z, or ``"max"`` for the maximum
        projection; None for plane 0. Part of the copies' fingerprints when
        the file has Z.
    """
    plan = FovPlan(fov)
    try:
        times = fov_times(metadata, fov)
    except ValueError as exc:
        times, plan.refused = [], str(exc)
    # Absolute: workers may run in another working directory than this process.
    source = FovSource(Path(metadata.file_path).absolute(), fov, tuple(metadata.fov_shapes[fov]), tuple(_scale(metadata)),
                       metadata.dim_order, tuple(metadata.channel_names), tuple(times), metadata.n_z,
                       0 if z is None else z, None if metadata.pixel_size_um is None else MICROMETER,
                       metadata.file_pattern)
    planned: dict[TaskId, PlannedTask] = {}
    for step in STEPS.values():
        for role, channel in step.channels(channels):
            task = _plan_task(step, role, channel, source, planned, Path(output_dir), metadata.base_name, channels,
                              params, identity)
            planned[task.id] = task
            plan.tasks.append(task)
            plan.paths.add(step.writes[role], channel, task.output, single=role == SEGMENTED)
        for role, channel, owner in step.shared(channels):
            task = planned[(step.name, role, channel)] = planned[(step.name, owner, channel)]
            plan.paths.add(step.writes[role], channel, task.output, single=role == SEGMENTED)
    return plan


def _plan_task(step: Step, role: str, channel: int, source: FovSource, planned: dict[TaskId, PlannedTask],
               output_dir: Path, base_name: str, channels: Channels, params: Params,
               identity: dict[str, Any]) -> PlannedTask:
    """The task of ``step`` for ``channel``, reading the outputs of tasks ``planned`` already."""
    deps = {name: planned[(dep, *step.input_channel(STEPS[dep], role, channel, channels))]
            for name, dep in step.inputs.items()}
    facts = step.facts(source, channel, identity) if step.facts is not None else {}
    if step.params:
        facts["params"] = params.for_step(step.name)
    fp = fingerprint(step.name, **{name: dep.fingerprint for name, dep in deps.items()}, **facts)
    kind = step.writes[role]
    if step.file is not None:
        output: ImageRef | Path = step.file(output_dir, base_name, source.fov, channel)
    else:
        output = ImageRef(output_dir, source.fov, kind, channel)
    job = TaskJob(step.name, source, channel, {name: dep.job.output for name, dep in deps.items()}, output,
                  params, fp)
    return PlannedTask(role, job, tuple(dep.id for dep in deps.values()), completed_fingerprint(output) == fp)


def fov_times(metadata: MicroscopyMetadata, fov: int) -> list[float]:
    """Minutes since the first frame, one per frame of ``fov``.

    The file's time stamps (``metadata.timepoints``) are those of FOV 0. A
    FOV with more frames than FOV 0 gets them extended where they are evenly
    spaced by construction (the frame index, or a fixed interval).

    Raises
    ------
    ValueError
        Naming the file and FOV when its frames outnumber time stamps that
        cannot be extended (stamps of individual planes).
    """
    n_frames = metadata.fov_shapes[fov][0]
    known = list(metadata.timepoints)
    if n_frames <= len(known):
        return known[:n_frames]
    if metadata.time_source == "frame-index":
        return frame_index_minutes(n_frames)
    if metadata.time_source in UNIFORM_SOURCES and len(known) > 1:
        return [frame * (known[1] - known[0]) for frame in range(n_frames)]
    raise ValueError(
        f"{metadata.file_path}, FOV {fov} ({metadata.fov_names[fov]}): it has {n_frames} frames, but the file's "
        f"time stamps ({metadata.time_source}) are those of FOV 0, which has {len(known)}: the times of "
        f"frames {len(known)}-{n_frames - 1} are unknown"
    )


def _scale(metadata: MicroscopyMetadata) -> list[float]:
    """(minutes per frame, um per pixel, um per pixel) for the NGFF metadata; 1 per pixel when it is unknown."""
    times = metadata.timepoints
    dt = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1.0
    px = metadata.pixel_size_um or 1.0
    return [float(dt) if dt > 0 else 1.0, float(px), float(px)]
