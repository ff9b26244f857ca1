"""What a task is given: the FOV's source in the input file and the job of one task.

Plain picklable values, made by the driver's plan (:mod:`pyama_dask.pipeline.plan`)
and read by the task functions on the workers (:mod:`pyama_dask.pipeline.tasks`).
This module imports no algorithm and no storage library, so that the driver
plans without loading what only the workers run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyama_dask.io.inputs.common import ZChoice
from pyama_dask.io.ngff import MICROMETER

if TYPE_CHECKING:
    from pyama_dask.io.completion import Output
    from pyama_dask.pipeline.params import Params


@dataclass(frozen=True)
class FovSource:
    """What the input file says about one FOV: where it is and how it is shaped.

    ``scale`` is one step along (t, y, x) in (minutes, ``space_unit``,
    ``space_unit``); without a pixel size in the file the unit is None and
    the step 1. ``times`` are minutes since the first frame, one per frame.
    ``n_z`` is the number of Z planes of the file, ``z`` the plane copied
    (or ``"max"``, each frame's maximum projection over Z).
    """

    file_path: Path
    fov: int
    shape: tuple[int, int, int]
    scale: tuple[float, float, float]
    dim_order: str | None
    channel_names: tuple[str, ...]
    times: tuple[float, ...]
    n_z: int = 1
    z: ZChoice = 0
    space_unit: str | None = MICROMETER
    file_pattern: str | None = None


@dataclass(frozen=True)
class TaskJob:
    """Everything one task needs: its step, FOV and channel, inputs, output, parameters, fingerprint.

    ``inputs`` maps each role of the step (e.g. ``source``, ``mask``) to the
    output of the task it depends on.
    """

    step: str
    source: FovSource
    channel: int
    inputs: Mapping[str, Output]
    output: Output
    params: Params
    fingerprint: str

    @property
    def fov(self) -> int:
        return self.source.fov
