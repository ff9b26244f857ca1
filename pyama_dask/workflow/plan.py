"""The plan of a run: which per-FOV tasks exist, what they depend on, which are done.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyama_dask import steps
from pyama_dask.io.microscopy import MicroscopyMetadata
from pyama_dask.io.store import ImageRef, completed_fingerprint
from pyama_dask.io.traces import completed_traces_fingerprint, traces_path
from pyama_dask.params import Params
from pyama_dask.workflow.context import Channels, ResultsPathsPerFOV

# Bump when a step's output format or algorithm changes, so that stores made
# by an earlier version are recomputed rather than trusted.
FORMAT_VERSION = 2


@dataclass(frozen=True)
class PlannedTask:
    """One task of the graph: a step for one FOV (and channel)."""

    step: str
    fov: int
    channel: int
    func: Callable[..., steps.StepResult]
    args: tuple
    deps: tuple[str, ...]  # names of tasks of the same FOV that must finish first
    done: bool  # output already complete with this fingerprint

    @property
    def name(self) -> str:
        """Unique name within a FOV, e.g. ``correct-ch1``."""
        return f"{self.step}-ch{self.channel}"


@dataclass
class FovPlan:
    """All tasks of one FOV and where their outputs go."""

    fov: int
    tasks: list[PlannedTask] = field(default_factory=list)
    paths: ResultsPathsPerFOV = field(default_factory=ResultsPathsPerFOV)

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
) -> FovPlan:
    """Plan the five steps for one FOV (copy, segment, correct, track, extract)."""
    n_frames, height, width = metadata.fov_shapes[fov]
    shape = (n_frames, height, width)
    scale = _scale(metadata)
    plan = FovPlan(fov)

    def add(step: str, channel: int, func: Callable, args: tuple, deps: tuple[str, ...], fp: str, done: bool):
        plan.tasks.append(PlannedTask(step, fov, channel, func, args + (fp,), deps, done))

    def image(kind: str, channel: int) -> ImageRef:
        return ImageRef(Path(output_dir), fov, kind, channel)

    copy_fps: dict[int, str] = {}
    for kind, channel in [("pc", channels.pc)] + [("fl", c) for c in channels.fl]:
        ref = image(kind, channel)
        fp = fingerprint("copy", input=identity, fov=fov, channel=channel, dims=metadata.dim_order)
        copy_fps[channel] = fp
        args = (metadata.file_path, fov, channel, ref, shape, scale, metadata.dim_order,
                metadata.channel_names[channel])
        add("copy", channel, steps.copy_channel, args, (), fp, completed_fingerprint(ref) == fp)
    plan.paths.pc = (channels.pc, image("pc", channels.pc).location)
    plan.paths.fl = [(c, image("fl", c).location) for c in channels.fl]

    pc, seg, labels = image("pc", channels.pc), image("seg", channels.pc), image("seg_labeled", channels.pc)
    seg_fp = fingerprint("segment", source=copy_fps[channels.pc], params=params.segmentation_kwargs())
    add("segment", channels.pc, steps.segment_fov, (pc, seg, params), (f"copy-ch{channels.pc}",), seg_fp,
        completed_fingerprint(seg) == seg_fp)
    track_fp = fingerprint("track", source=seg_fp, params=params.tracking_kwargs())
    add("track", channels.pc, steps.track_fov, (seg, labels, params), (f"segment-ch{channels.pc}",), track_fp,
        completed_fingerprint(labels) == track_fp)
    plan.paths.seg = (channels.pc, seg.location)
    plan.paths.seg_labeled = (channels.pc, labels.location)

    for channel in channels.fl:
        fl, corrected = image("fl", channel), image("fl_corrected", channel)
        corr_fp = fingerprint("correct", source=copy_fps[channel], mask=seg_fp, params=params.background_kwargs())
        add("correct", channel, steps.correct_fov, (fl, seg, corrected, params),
            (f"copy-ch{channel}", f"segment-ch{channels.pc}"), corr_fp, completed_fingerprint(corrected) == corr_fp)
        csv = traces_path(output_dir, metadata.base_name, fov, channel)
        times = list(metadata.timepoints[:n_frames])
        ext_fp = fingerprint("extract", labels=track_fp, corrected=corr_fp, times=times,
                             params=params.extraction_kwargs())
        add("extract", channel, steps.extract_fov, (labels, corrected, csv, times, params),
            (f"track-ch{channels.pc}", f"correct-ch{channel}"), ext_fp, completed_traces_fingerprint(csv) == ext_fp)
        plan.paths.fl_corrected.append((channel, corrected.location))
        plan.paths.traces_csv.append((channel, csv))
    return plan


def _scale(metadata: MicroscopyMetadata) -> list[float]:
    """(minutes per frame, um per pixel, um per pixel) for the NGFF metadata."""
    times = metadata.timepoints
    dt = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1.0
    px = metadata.pixel_size_um or 1.0
    return [float(dt) if dt > 0 else 1.0, float(px), float(px)]
