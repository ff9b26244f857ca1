"""The parameters of the four algorithms, validated once by pydantic.

``Params`` holds every tunable number of segmentation, background correction,
tracking and extraction with PyAMA-core's defaults. Each field knows the step
it belongs to, so ``Params.for_step("segment")`` (or ``segmentation_kwargs()``
and its siblings) gives exactly the keyword arguments of that step's
algorithm and no caller spells a parameter name twice.

Tracking options are declared once, in the model of the tracker that takes
them: ``IouTracking`` (PyAMA-core's) and ``LaptrackTracking``, whose common
options (``min_size``, ``max_size``) come from ``TrackingOptions``. Each is
tagged by its ``tracker``, and ``Params.tracking`` holds the chosen one, a
pydantic union discriminated by ``tracker``: its options are the tracking
step's arguments. ``Params.other_trackers`` holds the options of the trackers
not chosen, validated like the chosen one's and recorded, but passed to no
algorithm: a configuration may set the options of both trackers (as the
robust profile does) and switch between them with ``tracker`` alone.

Users and files keep the flat spelling (``Params(tracker="laptrack",
max_gap_frames=1)``, the ``params:`` mapping of the run configuration file,
the ``params`` record of the results file): ``Params`` takes every parameter
by its flat name, sorts the tracking options into the trackers' models, and
``to_dict()`` gives them back flat, every tracker's options included.

Profiles: ``profile="pyama"`` (the default) is PyAMA-core, bit for bit;
``profile="robust"`` sets the defaults of ``PROFILES["robust"]`` (guarded
Otsu segmentation with a watershed split, laptrack tracking with gap
closing, short traces allowed, ``good`` from the QC), the tracking options'
per tracker under its ``"tracking"`` key (the IoU tracker, when chosen,
starts tracks after frame 0). Parameters given explicitly override the
profile's defaults. The options beyond PyAMA-core ("switches") are each also
selectable on their own; a switch is passed to its step's algorithm only when
it is not at its PyAMA-core value, so a PyAMA-core run keeps its keyword
arguments, and so its fingerprints.

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

from pyama_dask.algorithms.options import IMAGE_KINDS, MAX_OBJECTS_PER_FRAME, THRESHOLD_METHODS

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

Profile = Literal["pyama", "robust"]
# The algorithms own their option names.
ImageKind = Literal[IMAGE_KINDS]  # type: ignore[valid-type]
ThresholdMethod = Literal[THRESHOLD_METHODS]  # type: ignore[valid-type]
Tracker = Literal["iou", "laptrack"]

PROFILE_NAMES: tuple[str, ...] = get_args(Profile)
TRACKERS: tuple[str, ...] = get_args(Tracker)

#: The defaults each profile sets beyond PyAMA-core's (the fields'); under
#: ``"tracking"``, those of each tracker's options, by tracker.
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
        "tracking": {"iou": {"new_tracks": True}, "laptrack": {"max_gap_frames": 2, "track_divisions": True}},
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
    """

    step: str | None
    allowed: str
    switch: bool = False


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
_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _arguments(model: BaseModel, step: str) -> dict[str, Any]:
    """The fields of ``model`` its ``step``'s algorithm takes, by name: all but the switches at their default.

    A field without a role (a tracker's tag, the models held by ``Params``)
    is no argument.
    """
    arguments = {}
    for name, field in type(model).model_fields.items():
        role, value = _role_of(field), getattr(model, name)
        if role is not None and role.step == step and not (role.switch and value == field.default):
            arguments[name] = value
    return arguments


def _role_of(field: FieldInfo) -> _Role | None:
    """The role in a field's metadata (None for a field that is no parameter)."""
    return next((item for item in field.metadata if isinstance(item, _Role)), None)


class TrackingOptions(BaseModel):
    """The options every tracker takes, and the tag ``tracker`` that names the tracker.

    Attributes
    ----------
    tracker : str
        ``"iou"`` (PyAMA-core's) or ``"laptrack"``; it chooses the tracking
        function, so it is no argument of it.
    min_size, max_size : int or None
        Regions with fewer / more pixels are not tracked (None: no limit).
    max_objects_per_frame : int
        A frame with more regions is not linked (its links are refused,
        with a logged reason): it is noise, and would stall the tracker.
    """

    model_config = _STRICT

    tracker: Annotated[Tracker, _Role("track", _one_of(TRACKERS), switch=True)]
    min_size: Annotated[Annotated[_Int, Field(ge=0)] | None, _Role("track", "null or an integer >= 0")] = None
    max_size: Annotated[Annotated[_Int, Field(ge=0)] | None, _Role("track", "null or an integer >= 0")] = None
    max_objects_per_frame: Annotated[
        _Int, Field(ge=1), _Role("track", "an integer >= 1", switch=True)
    ] = MAX_OBJECTS_PER_FRAME

    @model_validator(mode="after")
    def _sizes_in_order(self) -> TrackingOptions:
        """Refuse a ``min_size`` above ``max_size``."""
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise PydanticCustomError(
                "size_order",
                "parameter 'min_size' ({min_size}) must not exceed 'max_size' ({max_size})",
                {"min_size": self.min_size, "max_size": self.max_size},
            )
        return self


class IouTracking(TrackingOptions):
    """The options of PyAMA-core's tracker, ``track_iou``.

    Attributes
    ----------
    min_iou : float
        Smallest bounding-box IoU of a match (0 < min_iou <= 1).
    new_tracks : bool
        Start tracks for regions appearing after frame 0.
    """

    tracker: Literal["iou"] = "iou"  # the union's tag: without a role, so no argument
    min_iou: Annotated[_Float, Field(gt=0, le=1), _Role("track", "a number in (0, 1]")] = 0.1
    new_tracks: Annotated[bool, _Role("track", _TRUE_OR_FALSE)] = False


class LaptrackTracking(TrackingOptions):
    """The options of ``track_laptrack`` (each one a switch: an argument only off its default).

    Attributes
    ----------
    max_link_distance : float or None
        Farthest a cell's centroid moves between linked frames, px (None:
        the median diameter of the regions).
    max_gap_frames : int
        Frames a cell may be missing and still keep its track (>= 0).
    track_divisions : bool
        Link a dividing cell to both daughters.
    """

    tracker: Literal["laptrack"] = "laptrack"
    max_link_distance: Annotated[
        Annotated[_Float, Field(gt=0)] | None, _Role("track", "null or a number > 0", switch=True)
    ] = None
    max_gap_frames: Annotated[_Int, Field(ge=0), _Role("track", "an integer >= 0", switch=True)] = 2
    track_divisions: Annotated[bool, _Role("track", _TRUE_OR_FALSE, switch=True)] = False


#: The options of one tracker, whichever: the model its ``tracker`` tag names.
Tracking = Annotated[IouTracking | LaptrackTracking, Field(discriminator="tracker")]
#: Each tracker's options model, by tracker.
TRACKING_MODELS: dict[str, type[TrackingOptions]] = {
    model.model_fields["tracker"].default: model for model in get_args(get_args(Tracking)[0])
}


class Params(BaseModel):
    """Parameters of segmentation, correction, tracking and extraction (immutable, hashable).

    Built from flat names (see the module's docstring): the tracking options
    go into ``tracking`` and ``other_trackers``.

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
    smoothing_sigma : float
        Gaussian sigma (px) of a smoothing of every frame before its
        threshold (>= 0; 0: none).
    dilation_size : int
        Side of the square that grows the mask before background medians
        (odd, >= 1).
    tile_size : int
        Nominal side of the background tiles (>= 16).
    tracking : IouTracking or LaptrackTracking
        The chosen tracker's options (flat names: ``tracker`` and the
        options of ``TrackingOptions`` and of the tracker's model).
    other_trackers : tuple of IouTracking or LaptrackTracking
        The options of the trackers not chosen: recorded, no arguments.
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

    model_config = _STRICT

    profile: Annotated[Profile, _Role(None, _one_of(PROFILE_NAMES))] = "pyama"
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
    smoothing_sigma: Annotated[_Float, Field(ge=0), _Role("segment", "a finite number >= 0", switch=True)] = 0.0
    dilation_size: Annotated[_Int, Field(ge=1), _Odd, _Role("correct", "an odd integer >= 1")] = 21
    tile_size: Annotated[_Int, Field(ge=16), _Role("correct", "an integer >= 16")] = 256
    tracking: Tracking = IouTracking()
    other_trackers: tuple[Tracking, ...] = (LaptrackTracking(),)
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
    def _from_flat_names(cls, values: Any) -> Any:
        """The fields from the parameters by flat name, over the defaults of their profile.

        An invalid profile sets no defaults (it is refused later); an
        invalid tracker leaves every tracker's options in ``other_trackers``,
        so that they are checked too.
        """
        if not isinstance(values, Mapping):
            return values
        unknown = next((name for name in values if name not in _ROLES), None)
        if unknown is not None:
            raise PydanticCustomError("unknown_parameter", "unknown parameter {name}", {"name": unknown})
        profile = values.get("profile", "pyama")
        defaults = PROFILES.get(profile, {}) if isinstance(profile, str) else {}
        fields = {name: value for name, value in defaults.items() if name != "tracking"} | dict(values)
        tracker = fields.pop("tracker", cls.model_fields["tracking"].default.tracker)
        given = {name: fields.pop(name) for name in _TRACKING_NAMES if name in fields}
        options = {
            tag: {**defaults.get("tracking", {}).get(tag, {}), **_own(model, given), "tracker": tag}
            for tag, model in TRACKING_MODELS.items()
        }
        known = isinstance(tracker, str) and tracker in options
        fields["tracking"] = options.pop(tracker) if known else {**_own(TrackingOptions, given), "tracker": tracker}
        fields["other_trackers"] = tuple(options.values())
        return fields

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
        """Every parameter's flat name, in declaration order (a tracker's options after ``tracker``)."""
        return list(_ROLES)

    @classmethod
    def step_names(cls, step: str) -> list[str]:
        """The parameters of ``step`` (one of ``STEPS_WITH_PARAMETERS``), whether or not they are arguments now."""
        return [name for name, role in _ROLES.items() if role.step == step]

    @classmethod
    def switches(cls) -> list[str]:
        """The options beyond PyAMA-core, passed to their algorithm only off their PyAMA-core default."""
        return [name for name, role in _ROLES.items() if role.switch]

    @classmethod
    def pyama_default(cls, name: str) -> Any:
        """The PyAMA-core value of parameter ``name`` (its value under ``profile="pyama"`` when not given)."""
        return cls().to_dict()[name]

    @property
    def tracker(self) -> str:
        """The chosen tracker, ``tracking.tracker``."""
        return self.tracking.tracker

    def to_dict(self) -> dict[str, Any]:
        """Every parameter by flat name as a plain dict (YAML-ready), in ``names()`` order.

        The options of the trackers not chosen are included: the record
        keeps all that was set.
        """
        values = {name: getattr(self, name) for name in type(self).model_fields if name in _ROLES}
        for options in (*self.other_trackers, self.tracking):  # the chosen tracker's common options last, so kept
            values.update(options.model_dump())
        values["tracker"] = self.tracker
        return {name: values[name] for name in _ROLES}

    def for_step(self, step: str) -> dict[str, Any]:
        """Keyword arguments of the algorithm of ``step`` (one of ``STEPS_WITH_PARAMETERS``).

        The tracking arguments are the chosen tracker's options (``tracker``
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
        return {**_arguments(self, step), **_arguments(self.tracking, step)}

    @property
    def pyama_segmentation(self) -> bool:
        """True when segmentation is PyAMA-core's LOG-STD alone (no segmentation switch on)."""
        return not any(_ROLES[name].switch for name in self.for_step("segment"))

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


def _own(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The items of ``values`` that are fields of ``model``."""
    return {name: value for name, value in values.items() if name in model.model_fields}


def _flat_roles() -> dict[str, _Role]:
    """The role of every parameter by flat name, in declaration order.

    The tracking options take the place of ``tracking``: the common ones
    (``tracker`` first), then each tracker's own, in ``TRACKING_MODELS`` order.
    """
    roles: dict[str, _Role] = {}
    for name, field in Params.model_fields.items():
        fields = {name: field}
        if name == "tracking":
            fields = {**TrackingOptions.model_fields}
            for model in TRACKING_MODELS.values():
                fields |= {own: info for own, info in model.model_fields.items() if own not in fields}
        roles |= {flat: role for flat, info in fields.items() if (role := _role_of(info)) is not None}
    return roles


_ROLES = _flat_roles()
_TRACKING_NAMES = Params.step_names("track")


def _problem(errors: list[ErrorDetails]) -> str:
    """One line naming each wrong parameter, its value and what is allowed.

    An unknown name comes alone (with the closest valid name and the list of
    the valid ones); otherwise every wrong parameter is named once (an
    option common to the trackers is checked in each tracker's model), in
    declaration order, then what is wrong with the values together.
    """
    unknown = next((error for error in errors if error["type"] == "unknown_parameter"), None)
    if unknown is not None:
        return _unknown_name(str(unknown["ctx"]["name"]))
    by_name: dict[str, list[ErrorDetails]] = {}
    for error in errors:
        by_name.setdefault(_parameter(error), []).append(error)
    order = [*_ROLES, ""]
    return "; ".join(_wrong_value(name, by_name[name]) for name in sorted(by_name, key=order.index))


def _parameter(error: ErrorDetails) -> str:
    """The flat name of the parameter an error is about (``""``: about the values together).

    A tracker the union has no model for is an error of the union: its
    value is the ``tracker`` of the union's input.
    """
    if error["type"] == "union_tag_invalid":
        return "tracker"
    return next((str(part) for part in error["loc"] if part in _ROLES), "")


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
    error = errors[0]
    value = error["input"]["tracker"] if error["type"] == "union_tag_invalid" else error["input"]
    problem = f"parameter '{name}' must be {_ROLES[name].allowed}, got {value!r}"
    if any(error["type"] == "whole_number" for error in errors):
        return f"{problem} (a whole number, without decimal point)"
    return problem


#: The steps that have parameters, as the fields declare them.
STEPS_WITH_PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(role.step for role in _ROLES.values() if role.step))
