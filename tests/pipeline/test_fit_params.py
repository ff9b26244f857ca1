"""Fit settings: the model, min_points and any parameter's changes, validated with clear errors."""

from __future__ import annotations

import pytest

from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.params import ParameterError


def test_changes_reach_the_model_and_the_record():
    settings = FitParams.from_mapping({"min_points": 8, "t0": {"lower": -3, "upper": 12}, "km": {"fixed": False},
                                       "delta": {"initial": 0.2, "fixed": True}}, model="maturation")
    model = settings.kinetics_model()
    assert (model.spec("t0").lower, model.spec("t0").upper) == (-3.0, 12.0)
    assert [p.name for p in model.free] == ["t0", "ktl", "km", "offset"]
    record = settings.record()
    assert record["model"] == "maturation" and record["min_points"] == 8
    assert record["parameters"]["delta"] == {"initial": 0.2, "lower": 1e-5, "upper": 11.0, "fixed": True}
    assert record["parameters"]["ktl"] == {"initial": 1e3, "lower": 1.0, "upper": 5e8, "fixed": False}


def test_the_command_line_model_overrides_the_mapping():
    assert FitParams.from_mapping({"model": "trivial"}, model="maturation").model == "maturation"
    assert FitParams.from_mapping({"model": "trivial"}).model == "trivial"


def test_a_bound_changes_the_record_and_nothing_else_does():
    base = FitParams.from_mapping({}, model="maturation").record()
    assert FitParams.from_mapping({"t0": {"upper": 0.5}}, model="maturation").record() != base
    assert FitParams.from_mapping({"t0": {"upper": 1}}, model="maturation").record() == base


@pytest.mark.parametrize(("mapping", "message"), [
    ({}, "fit: no model given"),
    ({"model": "logistic"}, "no kinetics model 'logistic'; available: maturation, maturation_blocked, trivial"),
    ({"model": "maturation", "kappa": {"initial": 1}}, "model 'maturation' has no parameter 'kappa'"),
    ({"model": "maturation", "t0": {"lower": "a"}}, "fit parameter 't0': 'lower' must be a finite number, got 'a'"),
    ({"model": "maturation", "t0": {"upper": float("inf")}}, "fit parameter 't0': 'upper' must be a finite number"),
    ({"model": "maturation", "t0": {"fixed": "yes"}}, "fit parameter 't0': 'fixed' must be true or false, got 'yes'"),
    ({"model": "maturation", "t0": {"lowest": 0}}, "fit parameter 't0' has no setting 'lowest'"),
    ({"model": "maturation", "t0": 3}, "fit parameter 't0' must be a mapping of initial, lower, upper, fixed"),
    ({"model": "maturation", "t0": {"lower": 2}}, "'t0': lower bound 2.0 is above upper bound 1.0"),
    ({"model": "maturation", "t0": {"initial": 5}}, "'t0': initial value 5.0 is outside its bounds"),
    ({"model": "maturation", "min_points": 1}, "fit setting 'min_points' must be an integer >= 2, got 1"),
    ({"model": "maturation", "min_points": 5.0}, "fit setting 'min_points' must be an integer >= 2, got 5.0"),
    ({"model": "maturation", "t0": {"lower": True}}, "fit parameter 't0': 'lower' must be a finite number, got True"),
])
def test_wrong_settings_are_refused_by_name(mapping, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FitParams.from_mapping(mapping)
