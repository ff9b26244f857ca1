"""The parameters of the four algorithms, validated once by pydantic.

``Params`` holds every tunable number of segmentation, background correction,
tracking and extraction with PyAMA-core's defaults. Each field knows the step
it belongs to, so ``Params.for_step("segment")`` (or ``segmentation_kwargs()``
and its siblings) gives exactly the keyword arguments of that step's
algorithm and no caller spells a parameter name twice.

Profiles: ``profile="pyama"`` (the default) is PyAMA-core, bit for bit;
``profile="robust"`` sets the defaults of ``PROFILES["robust"]`` (guarded
Otsu segmentation with a watershed split, laptrack tracking with gap
closing, short traces allowed, ``good`` from the QC). Parameters given
explicitly override the profile's defaults. The options beyond PyAMA-core
("switches") are each also selectable on their own; a switch is passed to
its step's algorithm only when it is not at its PyAMA-core value, so a
PyAMA-core run keeps its keyword arguments, and so its fingerprints.

The parameters stay flat (``Params(tracker="laptrack", max_gap_frames=1)``),
as the run configuration file spells them and the results file records them;
a tracking option names the trackers that take it. (A union of per-tracker
models would not fit: the record holds every tracker's options, whichever
runs, and the robust profile sets the iou option ``new_tracks`` along with
laptrack.)

Validation happens on construction: a wrong type or value raises
``ParameterError`` naming the parameter, the value and what is allowed; an
unknown name is refused with a suggestion and the valid names. Validation is
strict: a bool is never taken for an int, nor a number with a decimal point
(even ``2.0``) for an integer, floats must be finite; YAML's ints are accepted
where a float is expected.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pyama_dask.algorithms.segmentation_guard import IMAGE_KINDS, THRESHOLD_METHODS

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

Profile = Literal["pyama", "robust"]
# The algorithms own their option names.
ImageKind = Literal[IMAGE_KINDS]  # type: ignore[valid-type]
ThresholdMethod = Literal[THRESHOLD_METHODS]  # type: ignore[valid-type]
Tracker = Literal["iou", "laptrack"]

PROFILE_NAMES: tuple[str, ...] = get_args(Profile)
TRACKERS: tuple[str, ...] = get_args(Tracker)

#: The defaults each profile sets (beyond PyAMA-core's, which are the fields').
PROFILES: dict[str, dict[str, Any]] = {
    "pyama": {},
    "robust": {
        "morph_size": 3,
        "morph_iterations": 1,
        "image_kind": "auto",
        "threshold_method": "otsu",
        "segmentation_guard": True,
        "watershed": True,
        "min_object_area": 30,
        "tracker": "laptrack",
        "new_tracks": True,
        "max_gap_frames": 2,
        "min_trace_length": 0.05,
        "good_from_qc": True,
    },
}


class ParameterError(ValueError):
    """A parameter has an unknown name, a wrong type or a value out of range."""


@dataclass(frozen=True)
class _Role:
    """What a parameter is for, as ``Annotated`` metadata of its field.

    Attributes
    ----------
    step : str or None
        The step (one of ``STEPS_WITH_PARAMETERS``) whose algorithm takes the parameter.
    allowed : str
        The values allowed, as error messages spell them.
    switch : bool
        An option beyond PyAMA-core: an argument only off its default.
    trackers : tuple of str
        The trackers that take the parameter (all for a parameter of
        another step than tracking).
    """

    step: str | None
    allowed: str
    switch: bool = False
    trackers: tuple[str, ...] = TRACKERS


def _python_number(value: Any) -> Any:
    """A NumPy (or other) real number as the Python int or float it equals; other values unchanged."""
    if isinstance(value, (bool, int, float)) or not isinstance(value, numbers.Real):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _whole_number(value: Any) -> Any:
    """An integer parameter's value: a number with a decimal point, even ``2.0``, is refused."""
    value = _python_number(value)
    if isinstance(value, float):
        raise PydanticCustomError("whole_number", "a whole number, without decimal point")
    return value


def _odd(value: int) -> int:
    """An odd integer unchanged; an even one refused."""
    if value % 2 == 0:
        raise PydanticCustomError("odd", "an odd number")
    return value


def _one_of(choices: tuple[str, ...]) -> str:
    """The allowed values of a choice, as error messages spell them."""
    return "one of " + ", ".join(repr(choice) for choice in choices)


_Int = Annotated[int, BeforeValidator(_whole_number)]
_Float = Annotated[float, BeforeValidator(_python_number)]
_Odd = AfterValidator(_odd)
_TRUE_OR_FALSE = "true or false"


class Params(BaseModel):
    """Parameters of segmentation, correction, tracking and extraction (immutable, hashable).

    Attributes
    ----------
    profile : str
        ``"pyama"`` (PyAMA-core's choices) or ``"robust"``: which defaults
        the parameters not given take (see ``PROFILES``).
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
    image_kind : str
        What the segmented channel shows: ``"transmitted"`` (phase
        contrast, brightfield), ``"fluorescence"`` or ``"auto"`` (decided
        from the pixels). Chooses the image Otsu and Li threshold.
    threshold_method : str
        ``"logstd-mode"`` (PyAMA-core), ``"otsu"`` or ``"li"``.
    segmentation_guard : bool
        Check every frame's mask and fall back on degenerate ones.
    max_mask_fraction : float
        Largest share of a frame a non-degenerate mask covers (0 < f <= 1).
    watershed : bool
        Split touching cells along the watershed of the distance transform.
    min_object_area : int
        Drop segmented objects of fewer pixels (>= 0; 0 keeps all).
    dilation_size : int
        Side of the square that grows the mask before background medians
        (odd, >= 1).
    tile_size : int
        Nominal side of the background tiles (>= 16).
    tracker : str
        ``"iou"`` (PyAMA-core's) or ``"laptrack"``.
    min_size, max_size : int or None
        Regions with fewer / more pixels are not tracked (None: no limit).
    min_iou : float
        Smallest bounding-box IoU of a match (0 < min_iou <= 1; iou tracker).
    new_tracks : bool
        Start tracks for regions appearing after frame 0 (iou tracker;
        laptrack always does).
    max_link_distance : float or None
        Farthest a cell's centroid moves between linked frames, px
        (laptrack; None: the median diameter of the regions).
    max_gap_frames : int
        Frames a cell may be missing and still keep its track (laptrack, >= 0).
    track_divisions : bool
        Link a dividing cell to both daughters (laptrack).
    min_trace_length : int or float
        Keep only cells present in at least this many frames (an integer
        >= 1) or in at least this share of the movie's frames (a number in
        (0, 1], e.g. 0.5).
    good_from_qc : bool
        Set ``good`` to False on the rows of frames whose segmentation fell
        back and of cells touching the frame border.
    extra_features : bool
        Add intensity_mean, background and centroid columns to the traces.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    profile: Annotated[Profile, _Role(None, _one_of(PROFILE_NAMES), trackers=())] = "pyama"
    window: Annotated[_Int, Field(ge=3), _Odd, _Role("segment", "an odd integer >= 3")] = 3
    bins: Annotated[_Int, Field(ge=1), _Role("segment", "an integer >= 1")] = 200
    sigma_factor: Annotated[_Float, Field(ge=0), _Role("segment", "a finite number >= 0")] = 3.0
    morph_size: Annotated[_Int, Field(ge=1), _Odd, _Role("segment", "an odd integer >= 1")] = 7
    morph_iterations: Annotated[_Int, Field(ge=1), _Role("segment", "an integer >= 1")] = 3
    image_kind: Annotated[ImageKind, _Role("segment", _one_of(IMAGE_KINDS), switch=True)] = "transmitted"
    threshold_method: Annotated[
        ThresholdMethod, _Role("segment", _one_of(THRESHOLD_METHODS), switch=True)
    ] = "logstd-mode"
    segmentation_guard: Annotated[bool, _Role("segment", _TRUE_OR_FALSE, switch=True)] = False
    max_mask_fraction: Annotated[_Float, Field(gt=0, le=1), _Role("segment", "a number in (0, 1]", switch=True)] = 0.7
    watershed: Annotated[bool, _Role("segment", _TRUE_OR_FALSE, switch=True)] = False
    min_object_area: Annotated[_Int, Field(ge=0), _Role("segment", "an integer >= 0", switch=True)] = 0
    dilation_size: Annotated[_Int, Field(ge=1), _Odd, _Role("correct", "an odd integer >= 1")] = 21
    tile_size: Annotated[_Int, Field(ge=16), _Role("correct", "an integer >= 16")] = 256
    tracker: Annotated[Tracker, _Role("track", _one_of(TRACKERS), switch=True, trackers=())] = "iou"
    min_size: Annotated[Annotated[_Int, Field(ge=0)] | None, _Role("track", "null or an integer >= 0")] = None
    max_size: Annotated[Annotated[_Int, Field(ge=0)] | None, _Role("track", "null or an integer >= 0")] = None
    min_iou: Annotated[_Float, Field(gt=0, le=1), _Role("track", "a number in (0, 1]", trackers=("iou",))] = 0.1
    new_tracks: Annotated[bool, _Role("track", _TRUE_OR_FALSE, trackers=("iou",))] = False
    max_link_distance: Annotated[
        Annotated[_Float, Field(gt=0)] | None,
        _Role("track", "null or a number > 0", switch=True, trackers=("laptrack",)),
    ] = None
    max_gap_frames: Annotated[
        _Int, Field(ge=0), _Role("track", "an integer >= 0", switch=True, trackers=("laptrack",))
    ] = 2
    track_divisions: Annotated[bool, _Role("track", _TRUE_OR_FALSE, switch=True, trackers=("laptrack",))] = False
    min_trace_length: Annotated[
        Annotated[int, Field(ge=1)] | Annotated[float, Field(gt=0, le=1)],
        BeforeValidator(_python_number),
        _Role("extract", "an integer >= 1 (frames) or a number in (0, 1] (share of the movie's frames)"),
    ] = 30
    good_from_qc: Annotated[bool, _Role("extract", _TRUE_OR_FALSE, switch=True)] = False
    extra_features: Annotated[bool, _Role("extract", _TRUE_OR_FALSE)] = False

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ParameterError(_problem(error.errors())) from None

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, values: Any) -> Any:
        """The given values over the defaults of their profile (an invalid profile is refused later)."""
        if not isinstance(values, Mapping):
            return values
        profile = values.get("profile", "pyama")
        return {**PROFILES.get(profile, {}), **values} if isinstance(profile, str) else values

    @model_validator(mode="after")
    def _sizes_in_order(self) -> Params:
        """Refuse a ``min_size`` above ``max_size``."""
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise PydanticCustomError(
                "size_order",
                "parameter 'min_size' ({min_size}) must not exceed 'max_size' ({max_size})",
                {"min_size": self.min_size, "max_size": self.max_size},
            )
        return self

    @classmethod
    def from_mapping(cls, values: Mapping[Any, Any]) -> Params:
        """Build from a mapping (e.g. parsed YAML); missing names keep their (profile's) defaults.

        A name that is no text (YAML may give a number or null) is refused
        as an unknown name.

        Raises
        ------
        ParameterError
            On an unknown name (listing the valid ones, with the closest
            match) or an invalid value.
        """
        return cls(**{str(name): value for name, value in values.items()})

    @classmethod
    def names(cls) -> list[str]:
        """Every parameter name, in declaration order."""
        return list(cls.model_fields)

    @classmethod
    def step_names(cls, step: str) -> list[str]:
        """The parameters of ``step`` (one of ``STEPS_WITH_PARAMETERS``), whether or not they are arguments now."""
        return [name for name in cls.model_fields if _role(name).step == step]

    @classmethod
    def switches(cls) -> list[str]:
        """The options beyond PyAMA-core, passed to their algorithm only off their PyAMA-core default."""
        return [name for name in cls.model_fields if _role(name).switch]

    @classmethod
    def pyama_default(cls, name: str) -> Any:
        """The PyAMA-core value of parameter ``name`` (its default under ``profile="pyama"``)."""
        return cls.model_fields[name].default

    def to_dict(self) -> dict[str, Any]:
        """Every parameter as a plain flat dict (YAML-ready), in declaration order."""
        return self.model_dump()

    def for_step(self, step: str) -> dict[str, Any]:
        """Keyword arguments of the algorithm of ``step`` (one of ``STEPS_WITH_PARAMETERS``).

        The tracking parameters are those of the chosen ``tracker`` (which
        itself chooses the function, so it is no argument); a switch beyond
        PyAMA-core is left out while at its PyAMA-core value, the
        algorithm's default.

        Raises
        ------
        ParameterError
            When ``step`` is not one of ``STEPS_WITH_PARAMETERS``.
        """
        if step not in STEPS_WITH_PARAMETERS:
            raise ParameterError(f"unknown step '{step}'; steps with parameters: {', '.join(STEPS_WITH_PARAMETERS)}")
        return {name: getattr(self, name) for name in self.step_names(step) if self._is_argument(name)}

    @property
    def pyama_segmentation(self) -> bool:
        """True when segmentation is PyAMA-core's LOG-STD alone (no segmentation switch on)."""
        return not any(_role(name).switch for name in self.for_step("segment"))

    def _is_argument(self, name: str) -> bool:
        """Whether parameter ``name`` is passed to its step's algorithm with these values."""
        role = _role(name)
        if self.tracker not in role.trackers:
            return False
        return not (role.switch and getattr(self, name) == self.pyama_default(name))

    def segmentation_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``segment_logstd_stack`` (``segment_guarded_stack`` with a switch on)."""
        return self.for_step("segment")

    def background_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``correct_background`` / ``correct_background_stack``."""
        return self.for_step("correct")

    def tracking_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``track_iou`` or ``track_laptrack`` (by ``tracker``)."""
        return self.for_step("track")

    def extraction_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``extract_traces``."""
        return self.for_step("extract")


def _role(name: str) -> _Role:
    """The role of parameter ``name``, from its field's metadata."""
    return next(item for item in Params.model_fields[name].metadata if isinstance(item, _Role))


def _problem(errors: list[ErrorDetails]) -> str:
    """One line naming each wrong parameter, its value and what is allowed.

    An unknown name comes first and alone (with the closest valid name and
    the list of the valid ones); otherwise every wrong parameter is named,
    in declaration order.
    """
    unknown = [error for error in errors if error["type"] == "extra_forbidden"]
    if unknown:
        return _unknown_name(str(unknown[0]["loc"][0]))
    by_name: dict[str, list[ErrorDetails]] = {}
    for error in errors:
        by_name.setdefault(str(error["loc"][0]) if error["loc"] else "", []).append(error)
    return "; ".join(_wrong_value(name, found) for name, found in by_name.items())


def _unknown_name(name: str) -> str:
    """Refusal of an unknown name, with the closest parameter name and the valid ones."""
    names = Params.names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown parameter '{name}'.{hint} Valid parameters: {', '.join(names)}"


def _wrong_value(name: str, errors: list[ErrorDetails]) -> str:
    """What is wrong with parameter ``name`` (``""``: with the parameters together), from its errors."""
    if not name:
        return errors[0]["msg"]
    problem = f"parameter '{name}' must be {_role(name).allowed}, got {errors[0]['input']!r}"
    if any(error["type"] == "whole_number" for error in errors):
        return f"{problem} (a whole number, without decimal point)"
    return problem


#: The steps that have parameters, as the fields declare them.
STEPS_WITH_PARAMETERS: tuple[str, ...] = tuple(
    dict.fromkeys(_role(name).step for name in Params.model_fields if _role(name).step is not None)
)
