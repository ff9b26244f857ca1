"""The settings of the fit step, validated once by pydantic.

A run fits a kinetics model when it names one (``--fit MODEL``, or
``model`` in the ``fit:`` mapping of the run configuration). The mapping
also sets ``min_points`` (fewest good points a cell is fitted from) and,
under each parameter's name, any of ``initial``, ``lower``, ``upper`` and
``fixed``, e.g.::

    fit:
      model: maturation
      min_points: 10
      t0: {lower: 0, upper: 12}
      km: {fixed: false}

:meth:`FitParams.record` is every parameter's resolved specification: it
enters the fit step's fingerprint (changing a bound refits, nothing else)
and the results file. Errors raise ``ParameterError`` naming the fit
setting or parameter, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pyama_dask.algorithms.kinetics import KineticsModel, get_model
from pyama_dask.pipeline.params import ParameterError

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
_SETTINGS = ("model", "min_points")
_ALLOWED = {
    "initial": "a finite number", "lower": "a finite number", "upper": "a finite number",
    "fixed": "true or false", "min_points": "an integer >= 2", "model": "a model name",
}


def _as_float(value: Any) -> Any:
    """YAML's ints taken where a number is expected; a bool stays a bool, and is refused."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


_Number = Annotated[float, BeforeValidator(_as_float)]


class ParameterChange(BaseModel):
    """What the run configuration changes of one model parameter (None: the model's own)."""

    model_config = _STRICT

    initial: _Number | None = None
    lower: _Number | None = None
    upper: _Number | None = None
    fixed: bool | None = None

    def given(self) -> dict[str, float | bool]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


class FitParams(BaseModel):
    """The fit step's settings: the model, ``min_points`` and the changes to its parameters."""

    model_config = _STRICT

    model: str
    min_points: Annotated[int, Field(ge=2)] = 5
    parameters: dict[str, ParameterChange] = Field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[Any, Any], model: str | None = None) -> FitParams:
        """From a ``fit:`` mapping (parameters by name beside ``model`` and ``min_points``); ``model`` overrides its model.

        Raises
        ------
        ParameterError
            Naming the setting or parameter, the value and what is allowed:
            no or an unknown model, a parameter the model does not have, a
            wrong value, an initial value outside its bounds.
        """
        values = {str(key): value for key, value in dict(values or {}).items()}
        settings = {key: values.pop(key) for key in _SETTINGS if key in values}
        if model is not None:
            settings["model"] = model
        if "model" not in settings:
            raise ParameterError("fit: no model given (--fit MODEL or 'model' in the 'fit' mapping)")
        for name, change in values.items():
            if not isinstance(change, Mapping):
                raise ParameterError(f"fit parameter '{name}' must be a mapping of initial, lower, upper, fixed, "
                                     f"got {change!r}")
        try:
            params = cls(**settings, parameters=values)
        except ValidationError as error:
            raise ParameterError(_problem(error)) from None
        params.kinetics_model()  # the model exists, has these parameters, and their values hold together
        return params

    def kinetics_model(self) -> KineticsModel:
        """The model with this run's changes to its parameters.

        Raises
        ------
        ParameterError
            For an unknown model or parameter, or bounds that do not hold together.
        """
        try:
            return get_model(self.model).with_overrides({name: change.given() for name, change in
                                                        self.parameters.items()})
        except (KeyError, ValueError) as exc:
            raise ParameterError(f"fit: {exc.args[0]}") from None

    def record(self) -> dict[str, Any]:
        """The model, ``min_points`` and every parameter's resolved specification (initial, bounds, fixed)."""
        model = self.kinetics_model()
        return {"model": model.name, "min_points": self.min_points,
                "parameters": {p.name: {"initial": p.initial, "lower": p.lower, "upper": p.upper, "fixed": p.fixed}
                               for p in model.parameters}}


def _problem(error: ValidationError) -> str:
    """One line per wrong setting or parameter value: its name, the value and what is allowed."""
    problems = []
    for detail in error.errors():
        loc = [str(part) for part in detail["loc"]]
        if loc[0] == "parameters" and len(loc) >= 3:
            name, key = loc[1], loc[2]
            if detail["type"] == "extra_forbidden":
                problems.append(f"fit parameter '{name}' has no setting '{key}'; settings: initial, lower, upper, "
                                "fixed")
                continue
            problems.append(f"fit parameter '{name}': '{key}' must be {_ALLOWED[key]}, got {detail['input']!r}")
        elif loc[0] in _ALLOWED:
            problems.append(f"fit setting '{loc[0]}' must be {_ALLOWED[loc[0]]}, got {detail['input']!r}")
        else:
            problems.append(f"fit: {detail['msg']}")
    return "; ".join(dict.fromkeys(problems))
