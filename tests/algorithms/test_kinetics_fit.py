"""The vectorised fitter: the optimum of a per-cell least_squares, recovery, bounds, cells it cannot fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from pyama_dask.algorithms.kinetics import MODELS, available_models
from pyama_dask.algorithms.kinetics_fit import fit_cells

MATURATION = MODELS["maturation"]
FREE = ["t0", "ktl", "delta", "offset"]


def maturation_traces(n_cells: int, seed: int = 0, noise: float = 0.02, hours: float = 24.0):
    """Noisy maturation traces every 10 min, with per-cell parameters spread around the model's bounds."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(0, hours, 1 / 6), (n_cells, 1))
    truth = {"t0": rng.uniform(-0.8, 0.8, n_cells), "ktl": 10 ** rng.uniform(2, 4, n_cells),
             "delta": 10 ** rng.uniform(-1.5, -0.3, n_cells), "offset": rng.uniform(-50, 50, n_cells)}
    fixed = {p.name: p.initial for p in MATURATION.parameters if p.fixed}
    clean = MATURATION.evaluate(t, fixed | {k: v[:, None] for k, v in truth.items()})
    y = clean + rng.normal(0, noise, clean.shape) * clean.std(axis=1, keepdims=True)
    return t, y, truth


def least_squares_fit(model, t, y, start):
    """One cell's fit by scipy's bounded least_squares from ``start`` (free parameters in order)."""
    free = model.free
    fixed = {p.name: p.initial for p in model.parameters if p.fixed}

    def residuals(x):
        return model.evaluate(t, fixed | dict(zip([p.name for p in free], x))) - y

    return least_squares(residuals, start, bounds=([p.lower for p in free], [p.upper for p in free]))


def test_same_optimum_as_per_cell_least_squares():
    t, y, truth = maturation_traces(40)
    fits = fit_cells(MATURATION, t, y)
    assert fits.success.all()
    for cell in range(len(t)):
        reference = least_squares_fit(MATURATION, t[cell], y[cell], [truth[k][cell] for k in FREE])
        ours = np.array([fits.values[k][cell] for k in FREE])
        fitted = MATURATION.evaluate(t[cell], {p.name: fits.values[p.name][cell] for p in MATURATION.parameters})
        assert 0.5 * np.sum((fitted - y[cell]) ** 2) <= reference.cost * (1 + 1e-6)
        np.testing.assert_allclose(ours, reference.x, rtol=2e-3, atol=2e-3)


def test_recovers_the_parameters_of_noisy_traces():
    t, y, truth = maturation_traces(100, seed=1)
    fits = fit_cells(MATURATION, t, y)
    assert np.median(np.abs(fits.values["t0"] - truth["t0"])) * 60 < 5  # minutes
    for name in ("ktl", "delta"):
        assert np.median(np.abs(fits.values[name] / truth[name] - 1)) < 0.02
    assert (fits.r_squared > 0.99).all()
    np.testing.assert_array_equal(fits.values["km"], 1.28)  # fixed parameters are reported


def test_robust_start_finds_onsets_far_from_the_initial_value():
    """Onsets hours after the initial t0 = 0, inside widened bounds, are found."""
    model = MATURATION.with_overrides({"t0": {"lower": 0.0, "upper": 12.0}})
    rng = np.random.default_rng(2)
    t, y, truth = maturation_traces(30, seed=2, hours=30.0)
    onsets = rng.uniform(3, 10, len(t))
    fixed = {p.name: p.initial for p in model.parameters if p.fixed}
    clean = model.evaluate(t, fixed | {k: v[:, None] for k, v in truth.items()} | {"t0": onsets[:, None]})
    fits = fit_cells(model, t, clean + rng.normal(0, 1.0, clean.shape))
    np.testing.assert_allclose(fits.values["t0"], onsets, atol=0.1)
    assert (fits.r_squared > 0.99).all()


def test_a_parameter_pushed_past_its_bound_stays_there_and_is_flagged():
    t, y, truth = maturation_traces(10, seed=3, noise=0.0)
    model = MATURATION.with_overrides({"delta": {"upper": 0.02, "initial": 0.01}})
    fits = fit_cells(model, t, y)
    above = truth["delta"] > 0.03
    assert above.any()
    np.testing.assert_allclose(fits.values["delta"][above], 0.02)
    assert fits.at_bound["delta"][above].all()
    assert not fits.at_bound["ktl"].any()
    for cell in np.flatnonzero(above)[:3]:  # the same constrained optimum as least_squares
        start = [fits.values[k][cell] for k in FREE]
        reference = least_squares_fit(model, t[cell], y[cell], start)
        ours = 0.5 * np.sum((model.evaluate(t[cell], {p.name: p.initial for p in model.parameters}
                                            | dict(zip(FREE, start))) - y[cell]) ** 2)
        assert ours <= reference.cost * (1 + 1e-6)


def test_fixed_and_freed_parameters():
    """Offset fixed, km freed: as good as least_squares from the truth (km and delta may trade places)."""
    t, y, truth = maturation_traces(5, seed=4, noise=0.005)
    model = MATURATION.with_overrides({"offset": {"fixed": True, "initial": 0.0}, "km": {"fixed": False}})
    y = y - truth["offset"][:, None]
    fits = fit_cells(model, t, y)
    np.testing.assert_array_equal(fits.values["offset"], 0.0)
    assert set(fits.at_bound) == {"t0", "ktl", "delta", "km"}
    assert [p.name for p in model.free] == ["t0", "ktl", "delta", "km"]
    for cell in range(len(t)):
        start = [truth["t0"][cell], truth["ktl"][cell], truth["delta"][cell], 1.28]
        reference = least_squares_fit(model, t[cell], y[cell], start)
        ours = model.evaluate(t[cell], {p.name: fits.values[p.name][cell] for p in model.parameters})
        assert 0.5 * np.sum((ours - y[cell]) ** 2) <= reference.cost * (1 + 1e-6)


def test_cells_it_cannot_fit_get_a_reason_not_an_error():
    t, y, _ = maturation_traces(5, seed=5)
    y[0] = np.nan
    y[1, 3:] = np.nan  # three points left
    y[2] = 42.0
    t[3, ::2] = np.nan  # half the points, still enough
    fits = fit_cells(MATURATION, t, y, min_points=5)
    assert fits.reason.tolist() == ["nan", "too_short", "constant", "", ""]
    assert fits.success.tolist() == [False, False, False, True, True]
    assert fits.n_points.tolist() == [0, 3, t.shape[1], (t.shape[1] + 1) // 2, t.shape[1]]
    assert np.isnan(fits.values["ktl"][:3]).all() and np.isnan(fits.r_squared[:3]).all()
    assert fits.r_squared[3] > 0.99


def test_a_model_that_cannot_be_evaluated_fails_its_cells():
    model = MATURATION.with_overrides({"delta": {"fixed": True, "initial": 5.22e-3}})  # b = 0: 0 / 0
    t, y, _ = maturation_traces(3, seed=6)
    fits = fit_cells(model, t, y)
    assert fits.reason.tolist() == ["fit_failed"] * 3


@pytest.mark.parametrize("shape", [(0, 5), (0, 0)])
def test_no_cells(shape):
    fits = fit_cells(MATURATION, np.empty(shape), np.empty(shape))
    assert len(fits) == 0 and fits.values["ktl"].shape == (0,)


def test_fits_with_a_model_from_an_installed_package(install_model_package):
    install_model_package()
    model = available_models()["exponential_rise"]
    rng = np.random.default_rng(7)
    t = np.tile(np.linspace(0, 12, 60), (20, 1))
    truth = {"t0": rng.uniform(0.5, 4, 20), "amplitude": rng.uniform(100, 1000, 20),
             "rate": rng.uniform(0.2, 2, 20), "offset": rng.uniform(-10, 10, 20)}
    y = model.evaluate(t, {k: v[:, None] for k, v in truth.items()}) + rng.normal(0, 2, t.shape)
    fits = fit_cells(model, t, y)
    for name in ("t0", "amplitude", "rate"):
        np.testing.assert_allclose(fits.values[name], truth[name], rtol=0.1, atol=0.1)
    for cell in range(3):
        reference = least_squares_fit(model, t[cell], y[cell], [truth[k][cell] for k in model.names])
        np.testing.assert_allclose([fits.values[k][cell] for k in model.names], reference.x, rtol=1e-3, atol=1e-3)


def test_cells_on_different_time_axes_fit_as_each_alone():
    """Cells of one chunk sampled at different times (no shared axis) fit as when each is fitted on its own axis."""
    t, y, truth = maturation_traces(6, seed=8)
    rng = np.random.default_rng(8)
    t = t + rng.uniform(0, 0.1, (len(t), 1))  # each cell its own offset in time
    fixed = {p.name: p.initial for p in MATURATION.parameters if p.fixed}
    y = MATURATION.evaluate(t, fixed | {k: v[:, None] for k, v in truth.items()}) + rng.normal(0, 5, t.shape)
    together = fit_cells(MATURATION, t, y)
    for cell in range(len(t)):
        alone = fit_cells(MATURATION, t[cell:cell + 1], y[cell:cell + 1])
        for name in FREE:
            np.testing.assert_allclose(together.values[name][cell], alone.values[name][0], rtol=1e-4, atol=1e-4)
