"""Quality-control figures of the kinetics fits, per FOV and fluorescence channel.

:func:`fit_grid_figure` draws a grid of cells, each with its good trace
points and fitted curve, coloured by the fit's R^2 grade (good, fair, poor;
grey when the cell was not fitted, with the reason); a cell with a
parameter at one of its bounds has a dashed frame and names it.
:func:`fit_parameters_figure` draws the distributions of the onset ``t0``
and of ``ktl`` and ``delta`` (or the model's other fitted parameters), the
cells at a bound stacked apart. :func:`write_fit_figures` reads them from a
run's output directory (``<output_dir>/qc/fov_000_ch_1_fits.png`` and
``..._fit_parameters.png``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pyama_dask.algorithms.kinetics import KineticsModel, grade
from pyama_dask.io.fits import read_fits
from pyama_dask.io.store import fov_group_name
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.rundir.results import recorded_outputs

logger = logging.getLogger(__name__)

#: Colour of each R^2 grade, and of cells not fitted.
GRADE_COLOURS = {"good": "tab:green", "fair": "tab:orange", "poor": "tab:red", "not fitted": "tab:gray"}
#: Most cells drawn in the grid (the first by cell id).
MAX_GRID_CELLS = 30
_COLUMNS = 6


def fit_grid_figure(fits: pd.DataFrame, traces: pd.DataFrame, model: KineticsModel, title: str) -> Figure:
    """Each cell's good points (hours) and fitted curve, coloured by grade; at most :data:`MAX_GRID_CELLS` cells."""
    shown = fits.sort_values("cell").head(MAX_GRID_CELLS)
    rows = max(1, -(-len(shown) // _COLUMNS))
    fig = Figure(figsize=(2.4 * _COLUMNS, 1.9 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, _COLUMNS, squeeze=False).ravel())
    good = traces[traces["good"]] if "good" in traces else traces
    for ax, (_, fit) in zip(axes, shown.iterrows()):
        cell = good[good["cell"] == fit["cell"]]
        hours = cell["time"].to_numpy(float) / 60
        status = grade(fit["r_squared"]).item() if fit["success"] else "not fitted"
        colour = GRADE_COLOURS[status]
        ax.plot(hours, cell["intensity_total"], ".", color="0.35", markersize=3)
        if fit["success"] and len(hours):
            t = np.linspace(hours.min(), hours.max(), 200)
            ax.plot(t, model.evaluate(t, {name: fit[name] for name in model.names}), color=colour, linewidth=1.8)
        bounded = [p.name for p in model.free if bool(fit.get(f"at_bound_{p.name}", False))]
        label = f"R² {fit['r_squared']:.2f}" if fit["success"] else str(fit["reason"])
        ax.set_title(f"cell {fit['cell']}: {label}" + (f"\nat bound: {', '.join(bounded)}" if bounded else ""),
                     fontsize=8, color=colour)
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(1.5)
            spine.set_linestyle("--" if bounded else "-")
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    counts = grade(fits.loc[fits["success"], "r_squared"]).tolist()
    summary = ", ".join(f"{counts.count(g)} {g}" for g in ("good", "fair", "poor"))
    fig.suptitle(f"{title} ({summary}, {int((~fits['success']).sum())} not fitted; time in h)", fontsize=10)
    return fig


def fit_parameters_figure(fits: pd.DataFrame, model: KineticsModel, title: str) -> Figure:
    """Histograms of the fitted ``t0`` (h) and of the model's other fitted parameters but the offset."""
    names = [p.name for p in model.free if p.name != model.level][:4]
    fig = Figure(figsize=(3.2 * max(len(names), 1), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(names), 1), squeeze=False).ravel())
    fitted = fits[fits["success"]]
    for ax, name in zip(axes, names):
        values = fitted[name].to_numpy(float)
        at_bound = fitted.get(f"at_bound_{name}", pd.Series(False, index=fitted.index)).to_numpy(bool)
        logarithmic = name != "t0" and values.size and (values > 0).all() and values.max() > 10 * values.min()
        data = np.log10(values) if logarithmic else values
        bins = np.histogram_bin_edges(data, bins=min(20, max(values.size, 1))) if values.size else 10
        ax.hist([data[~at_bound], data[at_bound]], bins=bins, stacked=True, color=["tab:blue", "tab:red"],
                label=["inside bounds", "at a bound"])
        ax.set_xlabel(f"log10 {name}" if logarithmic else (f"{name} (h)" if name == "t0" else name), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("cells", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{title}: {len(fitted)} cells fitted", fontsize=10)
    return fig


def write_fit_figures(output_dir: Path, results: dict, fovs: list[int], qc_dir: Path) -> list[Path]:
    """Write the fit figures of every listed fits file of ``fovs`` into ``qc_dir``; none when the run did not fit."""
    from pyama_dask.qc import save_png  # the figures' common PNG writer (qc imports this module)

    if "fit" not in results:
        return []
    record = results["fit"]
    settings = FitParams.from_mapping({name: {key: spec[key] for key in ("initial", "lower", "upper", "fixed")}
                                       for name, spec in record["parameters"].items()}, model=record["model"])
    model = settings.kinetics_model()
    outputs = recorded_outputs(output_dir, results)
    written = []
    for fov in fovs:
        traces = dict((int(c), Path(p)) for c, p in (outputs.get(fov) or {}).get("traces_csv") or [])
        for channel, csv in sorted((outputs.get(fov) or {}).get("fits_csv") or []):
            fits = read_fits(Path(csv))
            if fits.empty or int(channel) not in traces:
                continue
            stem = f"{fov_group_name(fov)}_ch_{channel}"
            title = f"FOV {fov}, channel {channel}: {model.name} fits"
            paths = [qc_dir / f"{stem}_fits.png", qc_dir / f"{stem}_fit_parameters.png"]
            save_png(fit_grid_figure(fits, read_traces_csv(traces[int(channel)]), model, title), paths[0])
            save_png(fit_parameters_figure(fits, model, title), paths[1])
            written += paths
    logger.info("fit QC figures: %d", len(written))
    return written
