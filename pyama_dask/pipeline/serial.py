"""A FOV processed in this process, without Dask: in memory, or the planned tasks one after another.

:func:`process_fov_serial` runs the algorithms of the steps that make traces in memory,
without Zarr: the floor the distributed run is measured against
(benchmarks) and the reference it must agree with (tests); the distributed
path may change where and when the algorithms run, never their numbers.
:func:`run_plan_serially` runs a FOV's planned tasks (every step of the step
table) in order in this process, writing the store as a worker would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyama_dask.algorithms.background import CorrectedStack, background_support_stack, tile_grid_shape
from pyama_dask.algorithms.extraction import extract_traces
from pyama_dask.algorithms.registration import with_corrected_positions
from pyama_dask.io.inputs.common import ZChoice
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, read_frames
from pyama_dask.pipeline.choices import segment_stack, stack_drift, track_stack
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import FovPlan
from pyama_dask.pipeline.steps import STEPS, StepResult, run_job


def process_fov_serial(
    metadata: MicroscopyMetadata, fov: int, channels: Channels, params: Params = Params(), z: ZChoice = 0,
    drift_reference: str | None = None,
) -> dict[int, pd.DataFrame]:
    """Traces of one FOV per fluorescence channel, computed in this process.

    Parameters
    ----------
    metadata
        The input's metadata (its ``file_path`` is read).
    fov
        FOV index.
    channels
        Channel roles.
    params
        Algorithm parameters.
    z
        Z plane read of a file with Z, or ``"max"`` for the maximum projection.
    drift_reference
        As the register step's (``ProcessingContext.drift_reference``): with
        it, tracking on drift-corrected positions and the traces' corrected
        positions; None: no registration.

    Returns
    -------
    dict
        Fluorescence channel -> trace table.
    """
    path: Path = metadata.file_path
    phase = read_frames(path, fov, channels.pc, dim_order=metadata.dim_order, z=z, pattern=metadata.file_pattern)
    drift = stack_drift(phase, drift_reference)
    masks, labels, fallback_frames, parents = segment_and_track(phase, params, fov, drift)
    qc: dict[str, Any] = {"fallback_frames": fallback_frames} if params.good_from_qc else {}
    if parents is not None:
        qc["parents"] = parents
    times = list(metadata.timepoints[: phase.shape[0]])
    traces = {}
    correction = params.background_kwargs()
    tile_grid = tile_grid_shape(phase.shape[1:], correction["tile_size"])
    for channel in channels.fl:
        fluorescence = read_frames(path, fov, channel, dim_order=metadata.dim_order, z=z,
                                   pattern=metadata.file_pattern)
        medians = np.empty((phase.shape[0], *tile_grid), dtype=np.float32)
        background_support_stack(fluorescence, masks, medians, fov=fov, **correction)
        # As the workflow does: the corrected values are needed on the cells only.
        corrected = CorrectedStack(fluorescence, medians, correction["tile_size"]).where(labels)
        raw = {"raw_fluorescence": fluorescence} if params.extra_features else {}
        table = extract_traces(labels, corrected, times, fov, **params.extraction_kwargs(), **qc, **raw)
        traces[channel] = table if drift is None else with_corrected_positions(table, drift)
    return traces


def segment_and_track(
    stack: np.ndarray, params: Params = Params(), fov: int | None = None, drift: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[int], dict[int, int] | None]:
    """Segment and track a (T, H, W) stack in memory with the algorithms ``params`` choose.

    With a ``drift`` ((T, 2), the register step's) tracking matches
    drift-corrected positions.

    Parameters
    ----------
    stack
        The frames to segment (phase contrast, or whatever the run segments).
    params
        Algorithm parameters (profile, switches).
    fov
        FOV index, named in log messages.

    Returns
    -------
    tuple
        Boolean masks, uint16 cell labels, the frames whose segmentation
        fell back (always empty for PyAMA-core's segmentation) and the
        lineage (daughter -> mother cell id; None unless divisions are
        tracked).
    """
    masks = np.zeros(stack.shape, dtype=bool)
    qc = segment_stack(stack, masks, params, fov)
    fallback_frames = [] if qc is None else [record["frame"] for record in qc.fallback_frames]
    labels = np.zeros(stack.shape, dtype=np.uint16)
    _, parents = track_stack(masks, labels, params, drift=drift)
    return masks, labels, fallback_frames, parents


def run_plan_serially(plan: FovPlan) -> list[StepResult]:
    """Run a FOV's planned tasks in the step table's order in this process (no Dask).

    Returns
    -------
    list of StepResult
        One per task, ``skipped`` for outputs already complete.
    """
    return [run_job(STEPS[task.step].task, task.job) for task in plan.tasks]
