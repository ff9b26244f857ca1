"""Expression kinetics models: their functions, parameter specifications and fit quality.

A model is a :class:`KineticsModel`: a function of time (hours, an array of
shape ``(cells, points)``) and of its parameters (each an array broadcasting
against time, one value per cell), plus the specification of every parameter
(initial value, bounds, fixed or fitted). Every model is 0 before its onset
``t0`` (``dt = t - t0 <= 0``) and then adds its offset.

Three models are built in (:data:`MODELS`): ``maturation`` (mRNA decaying at
``delta``, protein made at ``ktl``, maturing at ``km``, degrading at
``beta``), ``trivial`` (no maturation) and ``maturation_blocked`` (maturation
once translation is blocked). Users add models through the entry point group
:data:`ENTRY_POINT_GROUP`: each entry point loads a :class:`KineticsModel`.

Fit quality: :func:`r_squared` (``1 - SS_res / SS_tot`` clipped to [0, 1]),
:func:`rmse` and :func:`grade` (good > 0.9 >= fair > 0.7 >= poor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import entry_points

import numpy as np

logger = logging.getLogger(__name__)

#: The entry point group through which packages add kinetics models.
ENTRY_POINT_GROUP = "pyama_dask.kinetics_models"

#: R^2 above which a fit is graded good, and above which fair (else poor).
GOOD_R2, FAIR_R2 = 0.9, 0.7


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a model: its initial value, bounds and whether it is held fixed at the initial value."""

    name: str
    initial: float
    lower: float
    upper: float
    fixed: bool = False

    def __post_init__(self) -> None:
        if not self.lower <= self.upper:
            raise ValueError(f"parameter {self.name!r}: lower bound {self.lower} is above upper bound {self.upper}")
        if not self.fixed and not self.lower <= self.initial <= self.upper:
            raise ValueError(f"parameter {self.name!r}: initial value {self.initial} is outside its bounds "
                             f"[{self.lower}, {self.upper}]")


ModelFunction = Callable[..., np.ndarray]


@dataclass(frozen=True)
class KineticsModel:
    """A kinetics model: ``function(t, **parameters)`` and its parameter specifications.

    Attributes
    ----------
    name
        The model's name (``--fit NAME``, the ``model`` column of the fits).
    function
        ``function(t, **parameters) -> values`` with ``t`` in hours of shape
        ``(cells, points)`` and each parameter of shape ``(cells, 1)``.
    parameters
        Every parameter's specification, in the model's order.
    gain, level
        Optional names of a parameter the model is proportional to and of its
        additive offset: the fitter solves them linearly for its starting
        values, so that the start is on the scale of each trace.
    start_grid
        Parameter name -> number of starting values spread over its bounds;
        the fitter starts from every combination (the robust start).
    jacobian
        Optional ``jacobian(t, **parameters) -> {name: d model / d name}``
        for every parameter (arrays broadcasting against ``t``); without it
        the fitter takes central differences.
    """

    name: str
    function: ModelFunction
    parameters: tuple[ParameterSpec, ...]
    gain: str | None = None
    level: str | None = None
    start_grid: Mapping[str, int] = ()  # type: ignore[assignment]
    jacobian: Callable[..., dict[str, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"model {self.name!r} names a parameter twice: {names}")
        for key in [self.gain, self.level, *dict(self.start_grid)]:
            if key is not None and key not in names:
                raise ValueError(f"model {self.name!r} has no parameter {key!r} (parameters: {', '.join(names)})")

    @property
    def names(self) -> list[str]:
        """Every parameter name, in order."""
        return [p.name for p in self.parameters]

    @property
    def free(self) -> list[ParameterSpec]:
        """The parameters fitted (not fixed), in order."""
        return [p for p in self.parameters if not p.fixed]

    def spec(self, name: str) -> ParameterSpec:
        """The specification of parameter ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"model {self.name!r} has no parameter {name!r} (parameters: {', '.join(self.names)})")

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float | bool]]) -> KineticsModel:
        """This model with some parameters' ``initial``, ``lower``, ``upper`` or ``fixed`` changed."""
        specs = []
        for p in self.parameters:
            changes = dict(overrides.get(p.name, {}))
            specs.append(replace(p, **changes) if changes else p)
        unknown = set(overrides) - set(self.names)
        if unknown:
            raise KeyError(f"model {self.name!r} has no parameter {', '.join(map(repr, sorted(unknown)))} "
                           f"(parameters: {', '.join(self.names)})")
        return replace(self, parameters=tuple(specs))

    def evaluate(self, t: np.ndarray, values: Mapping[str, np.ndarray | float]) -> np.ndarray:
        """The model at times ``t`` (hours) for parameter ``values`` (every parameter, each broadcasting against ``t``)."""
        return self.function(np.asarray(t, float), **values)


def _after_onset(t: np.ndarray, t0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dt = t - t0`` set to 0 before the onset, and where the onset has passed."""
    dt = t - t0
    started = dt > 0
    return np.where(started, dt, 0.0), started


def maturation(t: np.ndarray, t0, ktl, delta, km, beta, scale, offset) -> np.ndarray:
    """Expression with maturation: ``scale * (G + offset)``, ``G`` the mature protein (0 before ``t0``)."""
    dt, started = _after_onset(t, t0)
    b = beta - delta
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = ktl * (np.exp(-(beta + km) * dt) / (b + km) - np.exp(-beta * dt) / b
                   + km * np.exp(-delta * dt) / (b * (b + km)))
    return scale * (np.where(started, g, 0.0) + offset)


def maturation_jacobian(t: np.ndarray, t0, ktl, delta, km, beta, scale, offset) -> dict[str, np.ndarray]:
    """The derivatives of :func:`maturation` by each of its parameters (0 before the onset but for scale and offset)."""
    dt, started = _after_onset(t, t0)
    b = beta - delta
    c = b + km
    a_term, b_term, c_term = np.exp(-(beta + km) * dt), np.exp(-beta * dt), np.exp(-delta * dt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bc = b * c
        shape = a_term / c - b_term / b + km * c_term / bc
        by = {
            "ktl": shape,
            "t0": -ktl * (-(beta + km) * a_term / c + beta * b_term / b - km * delta * c_term / bc),
            "delta": ktl * (a_term / c**2 - b_term / b**2 + km * c_term * ((b + c) / bc**2 - dt / bc)),
            "km": ktl * (-dt * a_term / c - a_term / c**2 + c_term / bc - km * c_term / (b * c**2)),
            "beta": ktl * (-dt * a_term / c - a_term / c**2 + dt * b_term / b + b_term / b**2
                           - km * c_term * (b + c) / bc**2),
        }
    jacobian = {name: scale * np.where(started, value, 0.0) for name, value in by.items()}
    jacobian["offset"] = np.broadcast_to(np.asarray(scale, float), np.shape(dt))
    jacobian["scale"] = np.where(started, ktl * shape, 0.0) + offset
    return jacobian


def trivial(t: np.ndarray, t0, ktl, delta, beta, offset) -> np.ndarray:
    """Expression without maturation: ``offset + ktl / (delta - beta) * (1 - exp(-(delta - beta) dt)) * exp(-beta dt)``."""
    dt, started = _after_onset(t, t0)
    rate = delta - beta
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = ktl / rate * (1 - np.exp(-rate * dt)) * np.exp(-beta * dt)
    return offset + np.where(started, g, 0.0)


def maturation_blocked(t: np.ndarray, t0, G0, Gu0, km, beta, offset) -> np.ndarray:
    """Maturation after translation is blocked: ``G0 e^(-beta dt) + Gu0 (e^(-beta dt) - e^(-(beta+km) dt)) + offset``."""
    dt, started = _after_onset(t, t0)
    decay = np.exp(-beta * dt)
    g = G0 * decay + Gu0 * (decay - np.exp(-(beta + km) * dt))
    return offset + np.where(started, g, 0.0)


MODELS: dict[str, KineticsModel] = {
    model.name: model for model in (
        KineticsModel("maturation", maturation, (
            ParameterSpec("t0", 0.0, -1.0, 1.0),
            ParameterSpec("ktl", 1e3, 1.0, 5e8),
            ParameterSpec("delta", 1e-2, 1e-5, 11.0),
            ParameterSpec("km", 1.28, 1e-5, 30.0, fixed=True),
            ParameterSpec("beta", 5.22e-3, 1e-5, 10.0, fixed=True),
            ParameterSpec("scale", 1.0, 1e-6, 1e6, fixed=True),
            ParameterSpec("offset", 0.0, -1e6, 1e6),
        ), gain="ktl", level="offset", start_grid={"t0": 5, "delta": 4}, jacobian=maturation_jacobian),
        KineticsModel("trivial", trivial, (
            ParameterSpec("t0", 2.0, 0.0, 30.0),
            ParameterSpec("ktl", 20.0, 1.0, 1e6),
            ParameterSpec("delta", 0.07, 1e-5, 10.1),
            ParameterSpec("beta", 0.0436275356035, 1e-5, 10.0),
            ParameterSpec("offset", 0.0, -1e6, 1e6),
        ), gain="ktl", level="offset", start_grid={"t0": 7, "delta": 4}),
        KineticsModel("maturation_blocked", maturation_blocked, (
            ParameterSpec("t0", 0.0, 0.0, 1.0),
            ParameterSpec("G0", 100.0, 0.0, 1e6),
            ParameterSpec("Gu0", 100.0, 0.0, 1e6),
            ParameterSpec("km", 1.28, 1e-5, 30.0),
            ParameterSpec("beta", 5.22e-3, 1e-5, 10.0),
            ParameterSpec("offset", 0.0, -1e6, 1e6),
        ), level="offset", start_grid={"t0": 3, "km": 4, "beta": 4}),
    )
}


def available_models() -> dict[str, KineticsModel]:
    """The built-in models and those of installed packages (entry point group :data:`ENTRY_POINT_GROUP`).

    Raises
    ------
    TypeError
        If an entry point does not load a :class:`KineticsModel`.
    ValueError
        If a package's model takes the name of another model.
    """
    models = dict(MODELS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        model = point.load()
        if not isinstance(model, KineticsModel):
            raise TypeError(f"entry point {point.name!r} ({point.value}) of group {ENTRY_POINT_GROUP!r} "
                            f"loads {type(model).__name__}, not a KineticsModel")
        if model.name in models:
            raise ValueError(f"entry point {point.name!r} ({point.value}) names its model {model.name!r}, "
                             "which another model has")
        models[model.name] = model
        logger.debug("kinetics model %r from %s", model.name, point.value)
    return models


def get_model(name: str) -> KineticsModel:
    """The model called ``name``, built in or installed; the error lists those available."""
    models = available_models()
    if name not in models:
        raise KeyError(f"no kinetics model {name!r}; available: {', '.join(sorted(models))}")
    return models[name]


def r_squared(ss_res: np.ndarray, ss_tot: np.ndarray) -> np.ndarray:
    """``1 - SS_res / SS_tot`` clipped to [0, 1]; 0 where the data are constant."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 1.0 - np.asarray(ss_res, float) / np.asarray(ss_tot, float)
    return np.clip(np.nan_to_num(value, nan=0.0, neginf=0.0, posinf=0.0), 0.0, 1.0)


def rmse(ss_res: np.ndarray, n_points: np.ndarray) -> np.ndarray:
    """Root mean square residual (NaN without points)."""
    n = np.asarray(n_points, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.where(n > 0, np.asarray(ss_res, float) / n, np.nan))


def grade(r2: np.ndarray) -> np.ndarray:
    """``good`` above 0.9, ``fair`` above 0.7, else ``poor``, per value."""
    r2 = np.asarray(r2, float)
    return np.where(r2 > GOOD_R2, "good", np.where(r2 > FAIR_R2, "fair", "poor"))
