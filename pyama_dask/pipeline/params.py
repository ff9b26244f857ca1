"""The parameters of the four algorithms, validated once.

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
PROFILE_NAMES = ("pyama", "robust")
IMAGE_KINDS = ("auto", "transmitted", "fluorescence")
THRESHOLD_METHODS = ("logstd-mode", "otsu", "li")
TRACKERS = ("iou", "laptrack")

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


class _Unset:
    """Marks a parameter not given: its profile's default applies."""

    def __repr__(self) -> str:
        return "<profile default>"


_UNSET = _Unset()


def _param(
    default: Any,
    step: str | None,
    kind: str,
    check: Callable[[Any], bool] | None = None,
    allowed: str = "",
    *,
    switch: bool = False,
    trackers: tuple[str, ...] = TRACKERS,
) -> Any:
    """A dataclass field with its PyAMA-core default, step, validation rule and role.

    ``switch`` marks an option beyond PyAMA-core (an argument only off its
    default); ``trackers`` the trackers that take a tracking parameter.
    """
    metadata = {
        "default": default,
        "step": step,
        "kind": kind,
        "check": check,
        "allowed": allowed,
        "switch": switch,
        "trackers": trackers,
    }
    return field(default=_UNSET, metadata=metadata)


def _odd(minimum: int) -> Callable[[int], bool]:
    return lambda value: value >= minimum and value % 2 == 1


def _at_least(minimum: float) -> Callable[[float], bool]:
    return lambda value: value >= minimum


def _one_of(choices: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
    return (lambda value: value in choices), "one of " + ", ".join(repr(choice) for choice in choices)


@dataclass(frozen=True)
class Params:
    """Parameters of segmentation, correction, tracking and extraction.

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

    profile: str = _param("pyama", None, "choice", *_one_of(PROFILE_NAMES), trackers=())
    window: int = _param(3, "segment", "int", _odd(3), "an odd integer >= 3")
    bins: int = _param(200, "segment", "int", _at_least(1), "an integer >= 1")
    sigma_factor: float = _param(3.0, "segment", "float", _at_least(0.0), "a finite number >= 0")
    morph_size: int = _param(7, "segment", "int", _odd(1), "an odd integer >= 1")
    morph_iterations: int = _param(3, "segment", "int", _at_least(1), "an integer >= 1")
    image_kind: str = _param("transmitted", "segment", "choice", *_one_of(IMAGE_KINDS), switch=True)
    threshold_method: str = _param("logstd-mode", "segment", "choice", *_one_of(THRESHOLD_METHODS), switch=True)
    segmentation_guard: bool = _param(False, "segment", "bool", allowed="true or false", switch=True)
    max_mask_fraction: float = _param(
        0.7, "segment", "float", lambda value: 0.0 < value <= 1.0, "a number in (0, 1]", switch=True
    )
    watershed: bool = _param(False, "segment", "bool", allowed="true or false", switch=True)
    min_object_area: int = _param(0, "segment", "int", _at_least(0), "an integer >= 0", switch=True)
    dilation_size: int = _param(21, "correct", "int", _odd(1), "an odd integer >= 1")
    tile_size: int = _param(256, "correct", "int", _at_least(16), "an integer >= 16")
    tracker: str = _param("iou", "track", "choice", *_one_of(TRACKERS), switch=True, trackers=())
    min_size: int | None = _param(None, "track", "optional int", _at_least(0), "null or an integer >= 0")
    max_size: int | None = _param(None, "track", "optional int", _at_least(0), "null or an integer >= 0")
    min_iou: float = _param(
        0.1, "track", "float", lambda value: 0.0 < value <= 1.0, "a number in (0, 1]", trackers=("iou",)
    )
    new_tracks: bool = _param(False, "track", "bool", allowed="true or false", trackers=("iou",))
    max_link_distance: float | None = _param(
        None, "track", "optional float", lambda value: value > 0, "null or a number > 0", switch=True,
        trackers=("laptrack",),
    )
    max_gap_frames: int = _param(
        2, "track", "int", _at_least(0), "an integer >= 0", switch=True, trackers=("laptrack",)
    )
    track_divisions: bool = _param(
        False, "track", "bool", allowed="true or false", switch=True, trackers=("laptrack",)
    )
    min_trace_length: int | float = _param(
        30, "extract", "frames or fraction", allowed="an integer >= 1 (frames) or a number in (0, 1] (share of the "
        "movie's frames)"
    )
    good_from_qc: bool = _param(False, "extract", "bool", allowed="true or false", switch=True)
    extra_features: bool = _param(False, "extract", "bool", allowed="true or false")

    def __post_init__(self) -> None:
        rules = {spec.name: spec.metadata for spec in fields(self)}
        given = rules["profile"]["default"] if self.profile is _UNSET else self.profile
        profile = _validated("profile", given, rules["profile"])
        for name, rule in rules.items():
            value = getattr(self, name)
            if value is _UNSET:
                value = PROFILES[profile].get(name, rule["default"])
            object.__setattr__(self, name, _validated(name, value, rule))
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

    @classmethod
    def step_names(cls, step: str) -> list[str]:
        """The parameters of ``step`` (one of ``STEPS``), whether or not they are arguments now."""
        return [spec.name for spec in fields(cls) if spec.metadata["step"] == step]

    def for_step(self, step: str) -> dict[str, Any]:
        """Keyword arguments of the algorithm of ``step`` (one of ``STEPS``).

        The tracking parameters are those of the chosen ``tracker`` (which
        itself chooses the function, so it is no argument); a switch beyond
        PyAMA-core is left out while at its PyAMA-core value, the
        algorithm's default.
        """
        if step not in STEPS:
            raise ParameterError(f"unknown step '{step}'; steps with parameters: {', '.join(STEPS)}")
        return {spec.name: getattr(self, spec.name) for spec in fields(self) if self._is_argument(spec, step)}

    @property
    def pyama_segmentation(self) -> bool:
        """True when segmentation is PyAMA-core's LOG-STD alone (no segmentation switch on)."""
        return not any(spec.metadata["switch"] for spec in fields(self) if self._is_argument(spec, "segment"))

    def _is_argument(self, spec: Any, step: str) -> bool:
        rule = spec.metadata
        if rule["step"] != step or self.tracker not in rule["trackers"]:
            return False
        return not (rule["switch"] and getattr(self, spec.name) == rule["default"])

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


def _validated(name: str, value: Any, rule: Mapping[str, Any]) -> Any:
    """``value`` converted to the parameter's type, or ParameterError."""
    kind, check, allowed = rule["kind"], rule["check"], rule["allowed"]
    problem = f"parameter '{name}' must be {allowed}, got {value!r}"
    if kind.startswith("optional ") and value is None:
        return None
    if kind in ("bool", "choice"):
        if not isinstance(value, bool if kind == "bool" else str) or (check is not None and not check(value)):
            raise ParameterError(problem)
        return value
    # bool is an int subclass in Python; a YAML `true` is never meant as 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(problem)
    if kind == "frames or fraction":
        return _frames_or_fraction(value, problem)
    if kind.endswith("float"):
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any float, e.g. 1 followed by 400 zeros in YAML
            raise ParameterError(problem) from None
        if not math.isfinite(value):
            raise ParameterError(problem)
    elif isinstance(value, numbers.Integral):
        value = int(value)
    else:
        raise ParameterError(f"{problem} (a whole number, without decimal point)")
    if check is not None and not check(value):
        raise ParameterError(problem)
    return value


def _frames_or_fraction(value: numbers.Real, problem: str) -> int | float:
    """A frame count (int >= 1) or a share of the movie (float in (0, 1])."""
    if isinstance(value, numbers.Integral):
        if value < 1:
            raise ParameterError(problem)
        return int(value)
    value = float(value)
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ParameterError(problem)
    return value
