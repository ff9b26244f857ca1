"""Dividing cells: a mother gives way to two daughters, for the lineage's ground truth.

With ``SyntheticSpec.divisions`` a share of the cells divides once, in the
middle part of the movie. The mother is last present in the frame before
the division; from the division on two daughters (new ids after the
founders) take its place, each with half its area, side by side along its
long axis (``SEPARATION``), following its site (drift and wandering) and
sharing its fluorescence equally. The draws come from their own random
stream, so the founders are drawn exactly as without divisions.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from pyama_dask.synthetic.spec import STREAM_DIVISIONS, SyntheticSpec

if TYPE_CHECKING:
    from pyama_dask.synthetic.cells import CellPopulation

#: Share of the founders present in the division window that divide.
P_DIVIDE = 0.5
#: Division frames are drawn in this share of the movie.
DIVISION_WINDOW = (0.3, 0.7)
#: Distance of each daughter's centre from the mother's, in mother semi-major
#: axes: the daughters (semi-axes / sqrt 2) are a semi-major axis apart, as
#: after cytokinesis; closer, the segmentation's closing merges them.
SEPARATION = 1.2


def divide_cells(spec: SyntheticSpec, fov: int, cells: CellPopulation) -> CellPopulation:
    """The population with its dividing founders replaced by two daughters from their division frame on.

    Parameters
    ----------
    spec : SyntheticSpec
        Dataset parameters.
    fov : int
        FOV index (its own random stream).
    cells : CellPopulation
        The founders.

    Returns
    -------
    CellPopulation
        Founders, then the daughters (ids ``n + 1, n + 2`` for the first
        dividing founder, ...); ``parent`` holds each cell's mother id (0
        for founders).
    """
    rng = spec.rng(fov, STREAM_DIVISIONS)
    n, n_frames = cells.n_cells, spec.n_frames
    first, last = (max(1, math.floor(share * n_frames)) for share in DIVISION_WINDOW)
    frame = rng.integers(first, max(first, last) + 1, n)
    chosen = rng.random(n) < P_DIVIDE
    frame = np.minimum(frame, n_frames - 1)
    divides = chosen & cells.present[np.arange(n), frame - 1] & cells.present[np.arange(n), frame]
    mothers = np.flatnonzero(divides)
    division = frame[mothers]
    after = np.arange(n_frames)[None, :] >= division[:, None]  # (mothers, frames)
    present = cells.present.copy()
    present[mothers] &= ~after
    # The daughters sit at -+ SEPARATION semi-major axes along the mother's long axis.
    sign = np.repeat([[-1.0], [1.0]], mothers.size, axis=1).T.ravel()[:, None]
    twice = np.repeat(mothers, 2)
    offset = SEPARATION * cells.semi_major[twice][:, None] * sign
    angle = cells.angle[twice]
    values = {
        "y": np.vstack([cells.y, cells.y[twice] + offset * np.sin(angle)]),
        "x": np.vstack([cells.x, cells.x[twice] + offset * np.cos(angle)]),
        "semi_major": np.concatenate([cells.semi_major, cells.semi_major[twice] / math.sqrt(2)]),
        "semi_minor": np.concatenate([cells.semi_minor, cells.semi_minor[twice] / math.sqrt(2)]),
        "wobble": np.concatenate([cells.wobble, cells.wobble[twice]]),
        "wobble_phase": np.concatenate([cells.wobble_phase, cells.wobble_phase[twice] + math.pi]),
        "angle": np.vstack([cells.angle, angle]),
        "present": np.vstack([present, cells.present[twice] & np.repeat(after, 2, axis=0)]),
        "parent": np.concatenate([np.zeros(n, dtype=np.int64), twice + 1]),
    }
    daughters_present = values["present"][n:]
    values["fluorescence"] = np.concatenate(
        [cells.fluorescence * present, cells.fluorescence[:, twice] / 2 * daughters_present], axis=1
    )
    if cells.kinetic_parameters.size:
        values["kinetic_parameters"] = np.concatenate(
            [cells.kinetic_parameters, cells.kinetic_parameters[:, :, twice]], axis=2
        )
    return replace(cells, **values)
