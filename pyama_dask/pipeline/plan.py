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

from pyama_dask.pipeline import tasks as steps
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata
from pyama_dask.io.store import ImageRef, completed_fingerprint
from pyama_dask.io.inputs.timestamps import frame_index_minutes
from pyama_dask.io.traces import completed_traces_fingerprint, traces_path
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels, ResultsPathsPerFOV

# Bump when a step's output format or algorithm changes, so that stores made
# by an earlier version are recomputed rather than trusted.
FORMAT_VERSION = 3


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
    output: Path  # what the task writes: an image group of the store, or a trace CSV
    frame_size: tuple[int, int] = (0, 0)  # (height, width) of the FOV's frames, for its memory estimate

    @property
    def name(self) -> str:
        """Unique name within a FOV, e.g. ``correct-ch1``."""
        return f"{self.step}-ch{self.channel}"


@dataclass
class FovPlan:
    """All tasks of one FOV and where their outputs go.

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
) -> FovPlan:
    """Plan the five steps for one FOV (copy, segment, correct, track, extract)."""
    n_frames, height, width = metadata.fov_shapes[fov]
    shape = (n_frames, height, width)
    scale = _scale(metadata)
    plan = FovPlan(fov)
    try:
        times = fov_times(metadata, fov)
    except ValueError as exc:
        times, plan.refused = [], str(exc)

    def add(step: str, channel: int, func: Callable, args: tuple, deps: tuple[str, ...], fp: str,
            output: ImageRef | Path, done: bool):
        location = output.location if isinstance(output, ImageRef) else output
        plan.tasks.append(PlannedTask(step, fov, channel, func, args + (fp,), deps, done, location, (height, width)))

    def image(kind: str, channel: int) -> ImageRef:
        return ImageRef(Path(output_dir), fov, kind, channel)

    copy_fps: dict[int, str] = {}
    for kind, channel in [("pc", channels.pc)] + [("fl", c) for c in channels.fl]:
        ref = image(kind, channel)
        fp = fingerprint("copy", input=identity, fov=fov, channel=channel, dims=metadata.dim_order)
        copy_fps[channel] = fp
        args = (metadata.file_path, fov, channel, ref, shape, scale, metadata.dim_order,
                metadata.channel_names[channel])
        add("copy", channel, steps.copy_channel, args, (), fp, ref, completed_fingerprint(ref) == fp)
    plan.paths.pc = (channels.pc, image("pc", channels.pc).location)
    plan.paths.fl = [(c, image("fl", c).location) for c in channels.fl]

    pc, seg, labels = image("pc", channels.pc), image("seg", channels.pc), image("seg_labeled", channels.pc)
    seg_fp = fingerprint("segment", source=copy_fps[channels.pc], params=params.segmentation_kwargs())
    add("segment", channels.pc, steps.segment_fov, (pc, seg, params), (f"copy-ch{channels.pc}",), seg_fp, seg,
        completed_fingerprint(seg) == seg_fp)
    track_fp = fingerprint("track", source=seg_fp, params=params.tracking_kwargs())
    add("track", channels.pc, steps.track_fov, (seg, labels, params), (f"segment-ch{channels.pc}",), track_fp,
        labels, completed_fingerprint(labels) == track_fp)
    plan.paths.seg = (channels.pc, seg.location)
    plan.paths.seg_labeled = (channels.pc, labels.location)

    for channel in channels.fl:
        fl, corrected = image("fl", channel), image("fl_corrected", channel)
        corr_fp = fingerprint("correct", source=copy_fps[channel], mask=seg_fp, params=params.background_kwargs())
        add("correct", channel, steps.correct_fov, (fl, seg, corrected, params),
            (f"copy-ch{channel}", f"segment-ch{channels.pc}"), corr_fp, corrected,
            completed_fingerprint(corrected) == corr_fp)
        csv = traces_path(output_dir, metadata.base_name, fov, channel)
        ext_fp = fingerprint("extract", labels=track_fp, corrected=corr_fp, times=times,
                             params=params.extraction_kwargs())
        add("extract", channel, steps.extract_fov, (labels, corrected, csv, times, params),
            (f"track-ch{channels.pc}", f"correct-ch{channel}"), ext_fp, csv,
            completed_traces_fingerprint(csv) == ext_fp)
        plan.paths.fl_corrected.append((channel, corrected.location))
        plan.paths.traces_csv.append((channel, csv))
    return plan


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
    if metadata.time_source == "bioio-interval" and len(known) > 1:
        return [frame * (known[1] - known[0]) for frame in range(n_frames)]
    raise ValueError(
        f"{metadata.file_path}, FOV {fov} ({metadata.fov_names[fov]}): it has {n_frames} frames, but the file's "
        f"time stamps ({metadata.time_source}) are those of FOV 0, which has {len(known)}: the times of "
        f"frames {len(known)}-{n_frames - 1} are unknown"
    )


def _scale(metadata: MicroscopyMetadata) -> list[float]:
    """(minutes per frame, um per pixel, um per pixel) for the NGFF metadata."""
    times = metadata.timepoints
    dt = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 1.0
    px = metadata.pixel_size_um or 1.0
    return [float(dt) if dt > 0 else 1.0, float(px), float(px)]
