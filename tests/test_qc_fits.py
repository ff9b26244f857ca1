"""Fit QC figures: the grid coloured by R^2 grade with bounds marked, the parameter distributions, the files."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from pyama_dask.algorithms.kinetics import MODELS
from pyama_dask.algorithms.kinetics_fit import fit_cells
from pyama_dask.io.fits import cell_series, fits_table
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.qc import write_qc_figures
from pyama_dask.qc_fits import GRADE_COLOURS, fit_grid_figure, fit_parameters_figure
from pyama_dask.workflow.fit import fit_output_folder

MODEL = MODELS["trivial"]


def _traces() -> pd.DataFrame:
    """Four cells: a clean rise, a noisy one, pure noise, and one too short to fit."""
    rng = np.random.default_rng(0)
    minutes = np.arange(0, 600, 10.0)
    curve = MODEL.evaluate(minutes / 60, {"t0": 2.0, "ktl": 50.0, "delta": 0.5, "beta": 0.05, "offset": 10.0})
    values = [curve + rng.normal(0, 1, curve.size), curve + rng.normal(0, 25, curve.size),
              rng.normal(100, 10, curve.size), curve]
    rows = [pd.DataFrame({"fov": 0, "cell": cell + 1, "frame": np.arange(minutes.size), "time": minutes,
                          "good": cell != 3 or (np.arange(minutes.size) < 3), "intensity_total": value})
            for cell, value in enumerate(values)]
    return pd.concat(rows, ignore_index=True)


def _fits(traces: pd.DataFrame) -> pd.DataFrame:
    cells, t, y = cell_series(traces)
    return fits_table(fit_cells(MODEL, t, y), MODEL, 0, 1, cells)


def test_grid_colours_cells_by_grade_and_marks_bounds():
    traces = _traces()
    fits = _fits(traces)
    flags = [column for column in fits if column.startswith("at_bound_")]
    fits[flags] = False
    fits.loc[0, "at_bound_delta"] = True  # as if delta had ended at a bound
    fig = fit_grid_figure(fits, traces, MODEL, "FOV 0")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    grades = ["good" if r > 0.9 else "fair" if r > 0.7 else "poor" for r in fits["r_squared"][:3]] + ["not fitted"]
    assert grades[0] == "good" and grades[2] == "poor"
    for ax, expected in zip(axes, grades):
        assert to_rgba(ax.title.get_color()) == to_rgba(GRADE_COLOURS[expected])
    assert "at bound: delta" in axes[0].get_title()
    assert axes[0].spines["left"].get_linestyle() == "--" and axes[1].spines["left"].get_linestyle() == "-"
    assert "too_short" in axes[3].get_title() and len(axes[3].lines) == 1  # points, no curve
    assert len(axes[0].lines) == 2


def test_parameter_distributions_split_cells_at_a_bound():
    fits = _fits(_traces())
    fits["at_bound_t0"] = False
    fits.loc[1, "at_bound_t0"] = True
    fig = fit_parameters_figure(fits, MODEL, "FOV 0")
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels[0] == "t0 (h)" and len(labels) == 4  # t0, ktl, delta, beta; not the offset
    heights = [sum(p.get_height() for p in container) for container in fig.axes[0].containers]
    assert heights == [2, 1]  # of the three cells fitted: 2 inside the bounds, 1 at a bound (stacked on them)


def test_qc_of_a_run_that_fitted_draws_the_fit_figures(tiny_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    shutil.rmtree(out / "qc", ignore_errors=True)
    fit_output_folder(out, FitParams.from_mapping({"model": "maturation", "min_points": 4}), channels=[1])
    paths = write_qc_figures(out, [0, 1])
    names = {p.name for p in paths}
    assert {"fov_000_ch_1_fits.png", "fov_000_ch_1_fit_parameters.png", "fov_001_ch_1_fits.png"} <= names
    assert not any("ch_2_fit" in name for name in names)
    assert all(p.stat().st_size > 0 for p in paths)
