"""Kinetics models: values, parameter specifications, overrides, user models by entry point, fit quality."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pyama_dask.algorithms.kinetics import (
    MODELS,
    KineticsModel,
    ParameterSpec,
    available_models,
    get_model,
    grade,
    r_squared,
    rmse,
)


def _defaults(model: KineticsModel) -> dict[str, float]:
    return {p.name: p.initial for p in model.parameters}


def test_maturation_solves_its_differential_equations():
    """mRNA m' = -delta m, immature protein u' = ktl m - (km + beta) u, mature G' = km u - beta G, from onset t0."""
    t0, ktl, delta, km, beta = 0.5, 300.0, 0.2, 1.28, 5.22e-3

    def rhs(_, state):
        m, u, g = state
        return [-delta * m, ktl * m - (km + beta) * u, km * u - beta * g]

    times = np.linspace(t0, 20, 50)
    solution = solve_ivp(rhs, (t0, 20), [1.0, 0.0, 0.0], t_eval=times, rtol=1e-10, atol=1e-10)
    values = MODELS["maturation"].evaluate(times, dict(t0=t0, ktl=ktl, delta=delta, km=km, beta=beta,
                                                        scale=2.0, offset=7.0))
    np.testing.assert_allclose(values, 2.0 * (solution.y[2] + 7.0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_is_its_offset_before_onset_and_vectorises_over_cells(name):
    model = MODELS[name]
    values = _defaults(model) | {"t0": np.array([[0.5], [0.8]])}
    t = np.tile(np.linspace(0, 10, 21), (2, 1))
    out = model.evaluate(t, values)
    scale = values.get("scale", 1.0)
    assert out.shape == (2, 21)
    np.testing.assert_allclose(out[t <= 0.5][:2], scale * values["offset"])
    assert np.all(np.isfinite(out))
    single = model.evaluate(t[1], values | {"t0": 0.8})
    np.testing.assert_allclose(out[1], single)


def test_trivial_model_rises_to_its_plateau():
    values = dict(t0=1.0, ktl=20.0, delta=0.5, beta=0.0, offset=3.0)
    assert MODELS["trivial"].evaluate(np.array([1e4]), values)[0] == pytest.approx(3.0 + 20.0 / 0.5)


def test_maturation_blocked_starts_at_g0():
    values = dict(t0=0.2, G0=50.0, Gu0=30.0, km=1.28, beta=0.01, offset=1.0)
    out = MODELS["maturation_blocked"].evaluate(np.array([0.2 + 1e-9, 1e4]), values)
    assert out[0] == pytest.approx(51.0)
    assert out[1] == pytest.approx(1.0)


def test_built_in_specifications_match_the_documented_defaults():
    maturation = MODELS["maturation"]
    assert [p.name for p in maturation.free] == ["t0", "ktl", "delta", "offset"]
    assert maturation.spec("ktl") == ParameterSpec("ktl", 1e3, 1.0, 5e8)
    assert maturation.spec("km").fixed and maturation.spec("km").initial == 1.28
    assert MODELS["trivial"].spec("t0") == ParameterSpec("t0", 2.0, 0.0, 30.0)
    assert MODELS["maturation_blocked"].spec("km") == ParameterSpec("km", 1.28, 1e-5, 30.0)


def test_overrides_free_fix_and_rebound_parameters():
    model = MODELS["maturation"].with_overrides({"km": {"fixed": False}, "t0": {"lower": -5.0, "upper": 5.0},
                                                 "delta": {"fixed": True, "initial": 0.3}})
    assert [p.name for p in model.free] == ["t0", "ktl", "km", "offset"]
    assert model.spec("t0").lower == -5.0 and model.spec("delta").initial == 0.3
    assert MODELS["maturation"].spec("t0").lower == -1.0  # the built-in model is unchanged


def test_overrides_are_checked():
    with pytest.raises(KeyError, match="no parameter 'kappa'"):
        MODELS["maturation"].with_overrides({"kappa": {"initial": 1.0}})
    with pytest.raises(ValueError, match="'t0': initial value 5.0 is outside its bounds"):
        MODELS["maturation"].with_overrides({"t0": {"initial": 5.0}})
    with pytest.raises(ValueError, match="lower bound 2.0 is above upper bound 1.0"):
        ParameterSpec("x", 1.0, 2.0, 1.0)


def test_get_model_names_the_models_available():
    assert get_model("trivial") is MODELS["trivial"]
    with pytest.raises(KeyError, match="available: maturation, maturation_blocked, trivial"):
        get_model("logistic")


def test_a_package_adds_a_model_by_entry_point(install_model_package):
    install_model_package()
    model = available_models()["exponential_rise"]
    assert model.names == ["t0", "amplitude", "rate", "offset"]
    assert get_model("exponential_rise") is model
    assert "maturation" in available_models()


def test_a_package_entry_point_must_load_a_model(install_model_package):
    install_model_package("MODEL = 42\n", entry="broken")
    with pytest.raises(TypeError, match="entry point 'broken' .* loads int, not a KineticsModel"):
        available_models()


def test_fit_quality():
    np.testing.assert_allclose(r_squared([1.0, 20.0, 0.0], [10.0, 10.0, 0.0]), [0.9, 0.0, 0.0])
    np.testing.assert_allclose(rmse([8.0, 1.0], [2, 0]), [2.0, np.nan])
    assert grade([0.95, 0.9, 0.8, 0.7, 0.1]).tolist() == ["good", "fair", "fair", "poor", "poor"]


def test_maturation_jacobian_matches_central_differences():
    model = MODELS["maturation"]
    values = dict(t0=0.4, ktl=800.0, delta=0.3, km=1.1, beta=0.02, scale=1.5, offset=12.0)
    t = np.linspace(0, 20, 81)
    analytic = model.jacobian(t, **values)
    assert set(analytic) == set(model.names)
    for name in model.names:
        h = 1e-6 * max(abs(values[name]), 1.0)
        numeric = (model.evaluate(t, values | {name: values[name] + h})
                   - model.evaluate(t, values | {name: values[name] - h})) / (2 * h)
        # G and its slope are 0 at the onset: the derivatives are continuous there, differences valid
        np.testing.assert_allclose(np.broadcast_to(analytic[name], t.shape), numeric, rtol=1e-5,
                                   atol=1e-6 * np.abs(numeric).max(), err_msg=name)
