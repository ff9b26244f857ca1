"""Parameter validation and the per-step keyword dicts."""

from __future__ import annotations

import inspect

import pytest

from pyama_dask.algorithms import correct_background, extract_traces, segment_logstd, track_iou
from pyama_dask.params import STEPS, ParameterError, Params


def test_defaults_are_pyama_core_s():
    assert Params().to_dict() == {
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


def test_every_parameter_belongs_to_exactly_one_step():
    params = Params()
    names = [name for step in STEPS for name in params.for_step(step)]
    assert sorted(names) == sorted(Params.names())


def test_from_mapping_overrides_and_round_trips():
    params = Params.from_mapping({"min_iou": 0.25, "new_tracks": True, "min_size": 40})
    assert (params.min_iou, params.new_tracks, params.min_size) == (0.25, True, 40)
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
    assert params.min_iou == 1.0 and isinstance(params.min_iou, float)


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
        ({"min_trace_length": 0}, "'min_trace_length' must be an integer >= 1, got 0"),
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
