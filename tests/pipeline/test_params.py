"""Parameter validation and the per-step keyword dicts."""

from __future__ import annotations

import inspect
import pickle
import re

import numpy as np
import pytest

from pyama_dask.algorithms import correct_background, extract_traces, segment_logstd, track_iou
from pyama_dask.algorithms.segmentation_guard import segment_guarded_stack
from pyama_dask.algorithms.tracking_laptrack import track_laptrack
from pyama_dask.pipeline.params import (
    PROFILES,
    STEPS_WITH_PARAMETERS as STEPS,
    TRACKERS,
    TRACKING_MODELS,
    IouTracking,
    LaptrackTracking,
    ParameterError,
    Params,
    TrackingOptions,
)

# PyAMA-core's parameters: what the algorithms took before any option beyond
# it existed, hence what keeps the fingerprints of a default run.
PYAMA_CORE_KWARGS = {
    "segmentation_kwargs": {"window": 3, "bins": 200, "sigma_factor": 3.0, "morph_size": 7, "morph_iterations": 3},
    "background_kwargs": {"dilation_size": 21, "tile_size": 256},
    "tracking_kwargs": {"min_size": None, "max_size": None, "min_iou": 0.1, "new_tracks": False},
    "extraction_kwargs": {"min_trace_length": 30, "extra_features": False},
}


def test_defaults_are_pyama_core_s():
    params = Params()
    assert params.profile == "pyama" and params.pyama_segmentation and params.tracker == "iou"
    pyama_core = {name: value for name, value in params.to_dict().items() if name != "profile" and not _is_switch(name)}
    assert pyama_core == {
        "window": 3,
        "bins": 200,
        "sigma_factor": 3.0,
        "morph_size": 7,
        "morph_iterations": 3,
        "dilation_size": 21,
        "tile_size": 256,
        "min_size": None,
        "max_size": None,
        "min_iou": 0.1,
        "new_tracks": False,
        "min_trace_length": 30,
        "extra_features": False,
    }


def _is_switch(name):
    return name in Params.switches()


@pytest.mark.parametrize("method", sorted(PYAMA_CORE_KWARGS))
def test_a_default_run_passes_pyama_core_s_arguments_only(method):
    # Equal keyword arguments give equal fingerprints: stores made before
    # the robust options existed are still taken as complete.
    assert getattr(Params(), method)() == PYAMA_CORE_KWARGS[method]


@pytest.mark.parametrize(
    ("method", "function"),
    [
        ("segmentation_kwargs", segment_logstd),
        ("background_kwargs", correct_background),
        ("tracking_kwargs", track_iou),
        ("extraction_kwargs", extract_traces),
    ],
)
def test_step_kwargs_are_keywords_of_the_algorithm_with_its_defaults(method, function):
    kwargs = getattr(Params(), method)()
    signature = inspect.signature(function).parameters
    assert kwargs and {name: signature[name].default for name in kwargs} == kwargs


@pytest.mark.parametrize(
    ("method", "function"),
    [
        ("segmentation_kwargs", segment_guarded_stack),
        ("background_kwargs", correct_background),
        ("tracking_kwargs", track_laptrack),
        ("extraction_kwargs", extract_traces),
    ],
)
def test_robust_kwargs_are_keywords_of_the_robust_algorithms(method, function):
    kwargs = getattr(Params(profile="robust"), method)()
    signature = inspect.signature(function).parameters
    assert kwargs and set(kwargs) <= set(signature)


def test_every_switch_defaults_to_the_algorithm_s_default():
    # A switch left out of the arguments at its PyAMA-core value must mean
    # the same to the algorithm: the function's default is that value.
    functions = {"segment": segment_guarded_stack, "track": track_laptrack, "extract": extract_traces}
    switches = set(Params.switches()) - {"tracker"}
    assert switches <= {name for step in functions for name in Params.step_names(step)}
    for step, function in functions.items():
        signature = inspect.signature(function).parameters
        for name in switches & set(Params.step_names(step)):
            assert signature[name].default == Params.pyama_default(name), name


def test_every_parameter_but_the_profile_belongs_to_exactly_one_step():
    names = [name for step in STEPS for name in Params.step_names(step)]
    assert sorted(names) == sorted(name for name in Params.names() if name != "profile")


def test_robust_profile_sets_its_defaults_and_explicit_values_win():
    params = Params.from_mapping({"profile": "robust", "watershed": False, "min_trace_length": 5})
    robust = {name: value for name, value in PROFILES["robust"].items() if name != "tracking"}
    per_tracker = {name: value for options in PROFILES["robust"]["tracking"].values() for name, value in options.items()}
    expected = {**robust, **per_tracker, "watershed": False, "min_trace_length": 5}
    assert {name: params.to_dict()[name] for name in expected} == expected
    assert not params.pyama_segmentation and "watershed" not in params.segmentation_kwargs()
    # laptrack's: divisions on, the others at their defaults
    assert params.tracking_kwargs() == {"min_size": None, "max_size": None, "track_divisions": True}
    assert Params.from_mapping(params.to_dict()) == params


def test_a_switch_changes_only_its_own_step_s_arguments():
    default, guarded = Params(), Params(segmentation_guard=True)
    assert guarded.segmentation_kwargs() == {**default.segmentation_kwargs(), "segmentation_guard": True}
    for method in ("background_kwargs", "tracking_kwargs", "extraction_kwargs"):
        assert getattr(guarded, method)() == getattr(default, method)()
    lap = Params(tracker="laptrack", max_gap_frames=4)
    assert lap.tracking_kwargs() == {"min_size": None, "max_size": None, "max_gap_frames": 4}
    assert lap.segmentation_kwargs() == default.segmentation_kwargs()


@pytest.mark.parametrize(("value", "frames"), [(5, 5), (0.5, 0.5), (1.0, 1.0), (1, 1)])
def test_min_trace_length_is_frames_or_a_share_of_the_movie(value, frames):
    params = Params(min_trace_length=value)
    assert params.min_trace_length == frames and type(params.min_trace_length) is type(frames)


def test_from_mapping_overrides_and_round_trips():
    params = Params.from_mapping({"min_iou": 0.25, "new_tracks": True, "min_size": 40})
    assert (params.tracking.min_iou, params.tracking.new_tracks, params.tracking.min_size) == (0.25, True, 40)
    assert Params.from_mapping(params.to_dict()) == params


def test_unknown_name_lists_valid_names_with_a_suggestion():
    with pytest.raises(ParameterError) as error:
        Params.from_mapping({"min_iuo": 0.2})
    message = str(error.value)
    assert "unknown parameter 'min_iuo'" in message and "Did you mean 'min_iou'?" in message
    assert "window" in message and "extra_features" in message


def test_int_is_accepted_where_a_float_is_expected():
    params = Params.from_mapping({"sigma_factor": 2, "min_iou": 1})
    assert params.sigma_factor == 2.0 and isinstance(params.sigma_factor, float)
    assert params.tracking.min_iou == 1.0 and isinstance(params.tracking.min_iou, float)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"window": True}, "parameter 'window' must be an odd integer >= 3, got True"),
        ({"min_size": False}, "parameter 'min_size' must be null or an integer >= 0, got False"),
        ({"sigma_factor": True}, "parameter 'sigma_factor' must be a finite number >= 0, got True"),
        ({"bins": 2.5}, "parameter 'bins' must be an integer >= 1, got 2.5"),
        ({"bins": "200"}, "parameter 'bins' must be an integer >= 1, got '200'"),
        ({"new_tracks": 1}, "parameter 'new_tracks' must be true or false, got 1"),
        ({"extra_features": "yes"}, "parameter 'extra_features' must be true or false, got 'yes'"),
        ({"profile": "fast"}, "parameter 'profile' must be one of 'pyama', 'robust', got 'fast'"),
        ({"tracker": "btrack"}, "parameter 'tracker' must be one of 'iou', 'laptrack', got 'btrack'"),
        ({"threshold_method": 1}, "parameter 'threshold_method' must be one of 'logstd-mode', 'otsu', 'li', got 1"),
        ({"watershed": "no"}, "parameter 'watershed' must be true or false, got 'no'"),
        ({"max_link_distance": "far"}, "parameter 'max_link_distance' must be null or a number > 0, got 'far'"),
    ],
)
def test_wrong_type_names_parameter_value_and_allowed(values, fragment):
    with pytest.raises(ParameterError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Params.from_mapping(values)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"window": 4}, "'window' must be an odd integer >= 3, got 4"),
        ({"window": 1}, "'window' must be an odd integer >= 3, got 1"),
        ({"morph_size": 8}, "'morph_size' must be an odd integer >= 1, got 8"),
        ({"morph_iterations": 0}, "'morph_iterations' must be an integer >= 1, got 0"),
        ({"dilation_size": 20}, "'dilation_size' must be an odd integer >= 1, got 20"),
        ({"tile_size": 8}, "'tile_size' must be an integer >= 16, got 8"),
        ({"min_iou": 0}, r"'min_iou' must be a number in \(0, 1\], got 0"),
        ({"min_iou": 1.5}, r"'min_iou' must be a number in \(0, 1\], got 1.5"),
        ({"sigma_factor": float("nan")}, "'sigma_factor' must be a finite number >= 0, got nan"),
        ({"min_trace_length": 0}, r"'min_trace_length' must be an integer >= 1 \(frames\) or a number in \(0, 1\]"),
        ({"min_trace_length": 1.5}, r"'min_trace_length' must be .* \(share of the movie's frames\), got 1.5"),
        ({"max_mask_fraction": 0}, r"'max_mask_fraction' must be a number in \(0, 1\], got 0"),
        ({"max_gap_frames": -1}, "'max_gap_frames' must be an integer >= 0, got -1"),
        ({"min_object_area": 2.5}, "'min_object_area' must be an integer >= 0, got 2.5"),
        ({"min_size": 50, "max_size": 10}, r"'min_size' \(50\) must not exceed 'max_size' \(10\)"),
    ],
)
def test_out_of_range_names_parameter_value_and_allowed(values, fragment):
    with pytest.raises(ParameterError, match=fragment):
        Params.from_mapping(values)


def test_direct_construction_is_validated_too():
    with pytest.raises(ParameterError, match="'bins'"):
        Params(bins=0)


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


def test_params_are_immutable_hashable_and_picklable():
    params = Params(profile="robust", min_trace_length=5)
    with pytest.raises(ValueError, match="frozen"):
        params.window = 5
    again = Params.from_mapping(params.to_dict())
    assert hash(again) == hash(params) and {params: 1}[again] == 1
    unpickled = pickle.loads(pickle.dumps(params))
    assert unpickled == params and unpickled.to_dict() == params.to_dict()


def test_unknown_keyword_is_a_parameter_error_too():
    with pytest.raises(ParameterError, match="unknown parameter 'windw'. Did you mean 'window'?"):
        Params(windw=5)


@pytest.mark.parametrize("name", [5, None, True, 2.5])
def test_a_name_that_is_no_text_is_an_unknown_name(name):
    expected = f"^unknown parameter {re.escape(repr(str(name)))}. Valid parameters: profile"
    with pytest.raises(ParameterError, match=expected):
        Params.from_mapping({name: 3})


def test_numpy_numbers_are_taken_as_python_numbers():
    params = Params(window=np.int64(5), sigma_factor=np.float32(2.5), min_trace_length=np.int64(4),
                    max_link_distance=np.int32(3), min_iou=np.float64(0.5))
    assert _typed(params) == {"window": (int, 5), "sigma_factor": (float, 2.5), "min_trace_length": (int, 4),
                              "max_link_distance": (float, 3.0), "min_iou": (float, 0.5)}
    assert type(Params(min_trace_length=np.float64(0.5)).min_trace_length) is float
    with pytest.raises(ParameterError, match=r"'bins' must be an integer >= 1, got .*2\.0.* \(a whole number"):
        Params(bins=np.float64(2.0))


def _typed(params):
    names = ("window", "sigma_factor", "min_trace_length", "max_link_distance", "min_iou")
    values = params.to_dict()
    return {name: (type(values[name]), values[name]) for name in names}


def test_every_wrong_value_is_named_in_one_line():
    with pytest.raises(ParameterError) as error:
        Params.from_mapping({"window": 4, "tracker": "btrack", "min_trace_length": 0})
    assert str(error.value) == (
        "parameter 'window' must be an odd integer >= 3, got 4; "
        "parameter 'tracker' must be one of 'iou', 'laptrack', got 'btrack'; "
        "parameter 'min_trace_length' must be an integer >= 1 (frames) or a number in (0, 1] "
        "(share of the movie's frames), got 0"
    )


def test_an_unknown_name_is_reported_before_wrong_values():
    with pytest.raises(ParameterError, match="^unknown parameter 'min_iuo'. Did you mean 'min_iou'?"):
        Params.from_mapping({"window": 4, "min_iuo": 0.2})


def test_an_unknown_step_is_refused():
    with pytest.raises(ParameterError, match="unknown step 'copy'; steps with parameters: segment, correct"):
        Params().for_step("copy")


def test_each_tracker_s_options_are_declared_once_with_the_common_ones_shared():
    common = set(TrackingOptions.model_fields)
    own = {tag: set(model.model_fields) - common for tag, model in TRACKING_MODELS.items()}
    assert tuple(TRACKING_MODELS) == TRACKERS
    assert common == {"tracker", "min_size", "max_size", "max_objects_per_frame"}
    assert own == {"iou": {"min_iou", "new_tracks"}, "laptrack": {"max_link_distance", "max_gap_frames", "track_divisions"}}
    assert Params.step_names("track") == ["tracker", "min_size", "max_size", "max_objects_per_frame", "min_iou",
                                          "new_tracks", "max_link_distance", "max_gap_frames", "track_divisions"]


@pytest.mark.parametrize(("tracker", "model", "function"), [("iou", IouTracking, track_iou),
                                                            ("laptrack", LaptrackTracking, track_laptrack)])
def test_the_tracker_chooses_the_model_whose_options_are_the_arguments(tracker, model, function):
    own = {"iou": {"min_iou": 0.3, "new_tracks": True},
           "laptrack": {"max_link_distance": 9.0, "max_gap_frames": 4, "track_divisions": True}}
    params = Params(tracker=tracker, min_size=5, **own["iou"], **own["laptrack"])
    assert type(params.tracking) is model and params.tracker == tracker
    assert [type(options).__name__ for options in params.other_trackers] == [
        other.__name__ for tag, other in TRACKING_MODELS.items() if tag != tracker]
    assert params.tracking_kwargs() == {"min_size": 5, "max_size": None, **own[tracker]}
    assert set(params.tracking_kwargs()) <= set(inspect.signature(function).parameters)


def test_the_other_tracker_s_options_are_checked_and_recorded_but_not_passed():
    # A configuration may set both trackers' options and switch with ``tracker`` alone.
    laptrack = Params.from_mapping({"tracker": "laptrack", "min_iou": 0.3, "new_tracks": True})
    assert laptrack.tracking_kwargs() == {"min_size": None, "max_size": None}
    assert (laptrack.to_dict()["min_iou"], laptrack.to_dict()["new_tracks"]) == (0.3, True)
    iou = Params.from_mapping({**laptrack.to_dict(), "tracker": "iou"})
    assert iou.tracking_kwargs() == {"min_size": None, "max_size": None, "min_iou": 0.3, "new_tracks": True}
    with pytest.raises(ParameterError, match="^parameter 'min_iou' must be a number in \\(0, 1\\], got 2$"):
        Params(tracker="laptrack", min_iou=2)
    with pytest.raises(ParameterError, match="^parameter 'max_gap_frames' must be an integer >= 0, got -1$"):
        Params(tracker="iou", max_gap_frames=-1)


@pytest.mark.parametrize("tracker", TRACKERS)
def test_the_robust_profile_sets_defaults_per_tracker(tracker):
    params = Params(profile="robust", tracker=tracker)
    assert params.to_dict()["new_tracks"] is True and params.to_dict()["max_gap_frames"] == 2
    assert ("new_tracks" in params.tracking_kwargs()) is (tracker == "iou")
    assert Params(profile="robust", tracker=tracker, new_tracks=False).to_dict()["new_tracks"] is False


@pytest.mark.parametrize("name", ["tracking", "other_trackers"])
def test_the_tracking_models_are_set_by_flat_names_only(name):
    with pytest.raises(ParameterError, match=f"^unknown parameter '{name}'.*Valid parameters: profile"):
        Params.from_mapping({name: {"tracker": "laptrack"}})


def test_sizes_out_of_order_are_named_with_the_other_wrong_values():
    with pytest.raises(ParameterError) as error:
        Params.from_mapping({"window": 4, "min_size": 50, "max_size": 10})
    assert str(error.value) == (
        "parameter 'window' must be an odd integer >= 3, got 4; "
        "parameter 'min_size' (50) must not exceed 'max_size' (10)"
    )
