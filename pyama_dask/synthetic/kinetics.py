"""Fluorescence that follows a kinetics model, with known per-cell parameters (ground truth of the fits).

With ``SyntheticSpec(kinetics="maturation")`` every cell's total signal in
each fluorescence channel is the model's curve (time in hours since the
first frame) for parameters drawn per cell: the onset ``t0`` spread over the
first part of the movie, the mRNA decay ``delta`` spread over a range the
movie can resolve, and the model's gain (``ktl``) set so that the cell's
brightest frame has a realistic mean pixel value; every other parameter
keeps the model's initial value (``offset`` 0: the signal is above
background). The images add the usual noise.
"""

from __future__ import annotations

import numpy as np

from pyama_dask.algorithms.kinetics import KineticsModel, get_model
from pyama_dask.synthetic.spec import SyntheticSpec

#: Onsets as a share of the movie's duration.
ONSET_SHARE = (0.05, 0.4)
#: mRNA decay rates, 1/h.
MRNA_DECAY_PER_H = (0.15, 0.6)
#: Mean pixel value of a cell at its brightest frame.
PEAK_PIXEL_VALUE = (300.0, 2500.0)


def kinetics_model(spec: SyntheticSpec) -> KineticsModel:
    """The model the spec's cells follow.

    Raises
    ------
    ValueError
        If the model is unknown or has no gain parameter to scale it with.
    """
    try:
        model = get_model(str(spec.kinetics))
    except KeyError as exc:
        raise ValueError(f"SyntheticSpec kinetics: {exc.args[0]}") from None
    if model.gain is None:
        raise ValueError(f"SyntheticSpec kinetics: model {model.name!r} has no gain parameter to scale cells by")
    return model


def kinetic_expression(spec: SyntheticSpec, rng: np.random.Generator,
                       nominal_area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's total signal over time for one protein, and its parameters.

    Returns
    -------
    values : numpy.ndarray
        (n_cells, n_frames).
    parameters : numpy.ndarray
        (n_parameters, n_cells), in the model's parameter order.
    """
    model = kinetics_model(spec)
    n = nominal_area.size
    hours = np.arange(spec.n_frames) * spec.frame_interval_min / 60
    drawn = {p.name: np.full(n, p.initial) for p in model.parameters}
    if "t0" in drawn:
        drawn["t0"] = rng.uniform(*ONSET_SHARE, n) * max(hours[-1], 1e-9)
    if "delta" in drawn:
        drawn["delta"] = rng.uniform(*MRNA_DECAY_PER_H, n)
    if model.level is not None:
        drawn[model.level] = np.zeros(n)
    drawn[model.gain] = np.ones(n)
    unit = model.evaluate(np.tile(hours, (n, 1)), {k: v[:, None] for k, v in drawn.items()})
    peak = rng.uniform(*PEAK_PIXEL_VALUE, n) * nominal_area
    drawn[model.gain] = peak / np.maximum(unit.max(axis=1), 1e-12)
    values = unit * drawn[model.gain][:, None]
    return values, np.array([drawn[name] for name in model.names])
