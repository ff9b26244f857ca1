"""The run configuration file (YAML): algorithm parameters and cluster settings.

``RunConfig`` is the file's pydantic model: the optional keys ``params``
(algorithm parameters by name, validated by the ``Params`` model),
``cluster`` (cluster settings, checked when the cluster is made) and ``fit``
(the fit step's settings, validated by ``FitParams``; once the model is
known when the file does not name it), no other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.params import ParameterError, Params


def _empty_if_none(value: Any) -> Any:
    """A key given without a value (YAML's null) as an empty mapping."""
    return {} if value is None else value


def _valid_params(values: dict[Any, Any]) -> dict[Any, Any]:
    """``values`` unchanged once ``Params`` takes them (raises ParameterError otherwise)."""
    Params.from_mapping(values)
    return values


def _valid_fit(values: dict[Any, Any]) -> dict[Any, Any]:
    """``values`` unchanged once ``FitParams`` takes them, when they name the model (raises ParameterError otherwise)."""
    if "model" in values:
        FitParams.from_mapping(values)
    return values


_Section = Annotated[dict[Any, Any], BeforeValidator(_empty_if_none)]


class RunConfig(BaseModel):
    """A run configuration file's content.

    Attributes
    ----------
    params : dict
        Algorithm parameters by name, as the file gives them: valid for
        ``Params``, not yet completed with the defaults, since the command
        line may still choose the profile.
    cluster : dict
        Cluster settings.
    fit : dict
        The fit step's settings (``model``, ``min_points``, parameter
        changes by name), as the file gives them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    params: Annotated[_Section, AfterValidator(_valid_params)] = Field(default_factory=dict)
    cluster: _Section = Field(default_factory=dict)
    fit: Annotated[_Section, AfterValidator(_valid_fit)] = Field(default_factory=dict)


CONFIG_KEYS = tuple(RunConfig.model_fields)


def load_run_config(path: Path) -> dict[str, Any]:
    """Read and validate a run configuration.

    Returns
    -------
    dict
        ``{"params": ..., "cluster": ..., "fit": ...}``: each a mapping (empty when the
        file leaves it out), the parameters as the file gives them.

    Raises
    ------
    ParameterError
        Naming the file and the parameter, when a parameter is unknown or
        its value wrong.
    ValueError
        Naming the file when it is missing, not YAML, not a mapping, has an
        unknown key, or ``params`` or ``cluster`` is not a mapping.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"config file {path} is a directory") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: undecodable bytes, integers of > 4300 digits
        raise ValueError(f"config file {path} is not valid YAML ({_problem(exc)})") from None
    try:
        return RunConfig.model_validate({} if data is None else data).model_dump()
    except ValidationError as exc:
        raise _refusal(path, exc.errors()) from None


def _refusal(path: Path, errors: list[ErrorDetails]) -> ValueError:
    """The error naming ``path`` for pydantic's ``errors``: of the file's shape first, then of a parameter."""
    keys = ", ".join(CONFIG_KEYS)
    unknown = sorted(str(error["loc"][0]) for error in errors if error["type"] in ("extra_forbidden", "invalid_key"))
    if unknown:
        return ValueError(f"config file {path} has unknown key(s) {', '.join(unknown)}; allowed: {keys}")
    error = next((error for error in errors if error["type"] != "value_error"), errors[0])
    if not error["loc"]:
        return ValueError(f"config file {path} must hold a mapping with keys {keys}")
    if error["type"] == "dict_type":
        got = type(error["input"]).__name__
        return ValueError(f"config file {path}: '{error['loc'][0]}' must be a mapping, got {got}")
    return ParameterError(f"config file {path}: {error['ctx']['error']}")  # raised by _valid_params


def _problem(error: Exception) -> str:
    """What is wrong with a YAML document, and where, on one line."""
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if problem is None:
        return " ".join(str(error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem
