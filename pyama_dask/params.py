"""The parameters of the four algorithms, validated once.

``Params`` holds every tunable number of segmentation, background correction,
tracking and extraction with PyAMA-core's defaults. Each field knows the step
it belongs to, so ``Params.for_step("segment")`` (or ``segmentation_kwargs()``
and its siblings) gives exactly the keyword arguments of that step's
algorithm and no caller spells a parameter name twice.

Validation happens on construction: a wrong type or value raises
``ParameterError`` naming the parameter, the value and what is allowed.
``Params.from_mapping`` also rejects unknown names (with a suggestion) and
accepts YAML's ints where a float is expected; a bool is never taken for an
int.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STEPS = ("segment", "correct", "track", "extract")


class ParameterError(ValueError):
    """A parameter has an unknown name, a wrong type or a value out of range."""


def _param(
    default: Any, step: str, kind: str, check: Callable[[Any], bool] | None = None, allowed: str = ""
) -> Any:
    """A dataclass field with the step it belongs to and its validation rule."""
    return field(default=default, metadata={"step": step, "kind": kind, "check": check, "allowed": allowed})


def _odd(minimum: int) -> Callable[[int], bool]:
    return lambda value: value >= minimum and value % 2 == 1


def _at_least(minimum: float) -> Callable[[float], bool]:
    return lambda value: value >= minimum


@dataclass(frozen=True)
class Params:
    """Parameters of segmentation, correction, tracking and extraction.

    Attributes
    ----------
    window : int
        Side of the local standard-deviation window (odd, >= 3).
    bins : int
        Histogram bins of the log-std threshold (>= 1).
    sigma_factor : float
        Threshold = histogram mode + ``sigma_factor`` * sigma (>= 0).
    morph_size : int
        Side of the square of the mask cleanup (odd, >= 1).
    morph_iterations : int
        Iterations of the opening and of the closing (>= 1).
    dilation_size : int
        Side of the square that grows the mask before background medians
        (odd, >= 1).
    tile_size : int
        Nominal side of the background tiles (>= 16).
    min_size, max_size : int or None
        Regions with fewer / more pixels are not tracked (None: no limit).
    min_iou : float
        Smallest bounding-box IoU of a match (0 < min_iou <= 1).
    new_tracks : bool
        Start tracks for regions appearing after frame 0.
    min_trace_length : int
        Keep only cells present in at least this many frames (>= 1).
    extra_features : bool
        Add intensity_mean, background and centroid columns to the traces.
    """

    window: int = _param(3, "segment", "int", _odd(3), "an odd integer >= 3")
    bins: int = _param(200, "segment", "int", _at_least(1), "an integer >= 1")
    sigma_factor: float = _param(3.0, "segment", "float", _at_least(0.0), "a finite number >= 0")
    morph_size: int = _param(7, "segment", "int", _odd(1), "an odd integer >= 1")
    morph_iterations: int = _param(3, "segment", "int", _at_least(1), "an integer >= 1")
    dilation_size: int = _param(21, "correct", "int", _odd(1), "an odd integer >= 1")
    tile_size: int = _param(256, "correct", "int", _at_least(16), "an integer >= 16")
    min_size: int | None = _param(None, "track", "optional int", _at_least(0), "null or an integer >= 0")
    max_size: int | None = _param(None, "track", "optional int", _at_least(0), "null or an integer >= 0")
    min_iou: float = _param(0.1, "track", "float", lambda value: 0.0 < value <= 1.0, "a number in (0, 1]")
    new_tracks: bool = _param(False, "track", "bool", allowed="true or false")
    min_trace_length: int = _param(30, "extract", "int", _at_least(1), "an integer >= 1")
    extra_features: bool = _param(False, "extract", "bool", allowed="true or false")

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = _validated(spec.name, getattr(self, spec.name), spec.metadata)
            object.__setattr__(self, spec.name, value)
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise ParameterError(
                f"parameter 'min_size' ({self.min_size}) must not exceed 'max_size' ({self.max_size})"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Params:
        """Build from a mapping (e.g. parsed YAML); missing names keep their defaults.

        Raises
        ------
        ParameterError
            On an unknown name (listing the valid ones, with the closest
            match) or an invalid value.
        """
        names = cls.names()
        for name in values:
            if name not in names:
                close = difflib.get_close_matches(str(name), names, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                valid = ", ".join(names)
                raise ParameterError(f"unknown parameter '{name}'.{hint} Valid parameters: {valid}")
        return cls(**dict(values))

    @classmethod
    def names(cls) -> list[str]:
        """Every parameter name, in declaration order."""
        return [spec.name for spec in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """Every parameter as a plain dict (YAML-ready)."""
        return asdict(self)

    def for_step(self, step: str) -> dict[str, Any]:
        """Keyword arguments of the algorithm of ``step`` (one of ``STEPS``)."""
        if step not in STEPS:
            raise ParameterError(f"unknown step '{step}'; steps with parameters: {', '.join(STEPS)}")
        return {spec.name: getattr(self, spec.name) for spec in fields(self) if spec.metadata["step"] == step}

    def segmentation_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``segment_logstd`` / ``segment_logstd_stack``."""
        return self.for_step("segment")

    def background_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``correct_background`` / ``correct_background_stack``."""
        return self.for_step("correct")

    def tracking_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``track_iou``."""
        return self.for_step("track")

    def extraction_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``extract_traces``."""
        return self.for_step("extract")


def _validated(name: str, value: Any, rule: Mapping[str, Any]) -> Any:
    """``value`` converted to the parameter's type, or ParameterError."""
    kind, check, allowed = rule["kind"], rule["check"], rule["allowed"]
    problem = f"parameter '{name}' must be {allowed}, got {value!r}"
    if kind == "optional int" and value is None:
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ParameterError(problem)
        return value
    # bool is an int subclass in Python; a YAML `true` is never meant as 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(problem)
    if kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(problem)
    elif isinstance(value, numbers.Integral):
        value = int(value)
    else:
        raise ParameterError(f"{problem} (a whole number, without decimal point)")
    if check is not None and not check(value):
        raise ParameterError(problem)
    return value
