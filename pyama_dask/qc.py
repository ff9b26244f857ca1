"""Quality-control figures of a run: a frame with its tracked cells, and a FOV's traces.

Drawing (:func:`frame_figure`, :func:`traces_figure`) takes plain arrays and
tables; :func:`write_qc_figures` reads them from a run's output directory and
writes ``<output_dir>/qc/fov_000_frame.png`` and ``fov_000_traces.png`` per
FOV. Figures are made with matplotlib's object API (no pyplot state), so they
render headless and in notebooks alike.

The same colour stands for the same cell id in both figures: a cell's outline
on the frame and its line in the traces. With a lineage (divisions tracked)
daughters take their mother's colour, one lighter and one darker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter
from PIL import Image
from skimage.measure import find_contours, label, regionprops

from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, recorded_outputs
from pyama_dask.io.store import (
    ImageRef,
    fov_group_name,
    image_channel_name,
    image_lineage,
    image_scale,
    image_space_unit,
    open_image,
)
from pyama_dask.io.traces import collect_traces
from pyama_dask.io.live import FirstFrames, followed_channels, followed_frames, read_rows
from pyama_dask.qc_fits import write_fit_figures

logger = logging.getLogger(__name__)

#: Folder of the figures, inside the output directory.
QC_DIR = "qc"
# Percentiles of the frame's pixels mapped to black and white.
_DISPLAY_PERCENTILES = (0.5, 99.5)
# Cell colours by id: matplotlib's tab20, dark shades first, without its greys
# (they vanish on a phase-contrast frame) and olives (too close to the colour
# of untracked objects).
_CELL_COLOURS = tuple(to_rgba(c) for c in (
    tuple(matplotlib.colormaps["tab20"].colors[i] for i in (0, 2, 4, 6, 8, 10, 12, 18))
    + tuple(matplotlib.colormaps["tab20"].colors[i] for i in (1, 3, 5, 7, 9, 11, 13, 19))))
# A daughter's colour: its mother's blended this far towards white (first
# daughter) or black (second): the same hue, told apart.
_DAUGHTER_SHADE = 0.4
# Outline colour of segmented objects that carry no track.
_UNTRACKED_COLOUR = "gold"
# Most cells for which the traces figure has a legend of cell ids.
_MAX_LEGEND_CELLS = 24
_DPI = 100
# Frame figures: at least this wide (px) and at least one display pixel per image pixel;
# zoomed further (at most _MAX_ZOOM display pixels per image pixel) until a cell id of
# _MIN_ID_POINTS fits in the median cell. Ids are drawn at most _MAX_ID_POINTS large.
_MIN_FRAME_PX = 700
_MAX_ZOOM = 3.0
_MIN_ID_POINTS, _MAX_ID_POINTS = 6.5, 9.0
# Width of a bold digit in font sizes (with room for its outline), and the share of a cell's width an id may take.
_DIGIT_WIDTH, _ID_SHARE = 0.7, 0.9


def cell_colour(cell: int, parents: Mapping[int, int] | None = None) -> tuple[float, float, float, float]:
    """The colour of a cell id in every QC figure.

    Parameters
    ----------
    cell
        Cell id.
    parents
        The lineage (daughter id -> mother id): a daughter's colour is its
        mother's, lighter for the daughter of smaller id, darker for the
        other. Tracking numbers a mother before her daughters.
    """
    mother = (parents or {}).get(int(cell))
    if mother is None or mother >= cell:
        return _CELL_COLOURS[(int(cell) - 1) % len(_CELL_COLOURS)]
    sisters = sorted(daughter for daughter, of in parents.items() if of == mother)
    towards = 1.0 if sisters.index(int(cell)) == 0 else 0.0
    red, green, blue, alpha = cell_colour(mother, parents)
    shade = [value + _DAUGHTER_SHADE * (towards - value) for value in (red, green, blue)]
    return (*shade, alpha)


def format_minutes(minutes: float) -> str:
    """A time in minutes, rounded for a title: 12.5, 90, 0.0083.

    Examples
    --------
    >>> format_minutes(12.4999), format_minutes(90.0), format_minutes(1234.56), format_minutes(0.008333)
    ('12.5', '90', '1235', '0.0083')
    """
    if abs(minutes) >= 100:
        return f"{minutes:.0f}"
    if abs(minutes) >= 1:
        return f"{minutes:.1f}".removesuffix(".0")
    return f"{minutes:.2g}"


def _frame_zoom(width: int, regions: list) -> tuple[float, float]:
    """Display pixels per image pixel of a frame figure, and the font size (points) of its cell ids.

    The frame is drawn at least :data:`_MIN_FRAME_PX` wide and at full
    resolution, larger when that lets the ids fit in their cells.
    """
    zoom = max(1.0, _MIN_FRAME_PX / width)
    if not regions:
        return zoom, _MAX_ID_POINTS
    digits = len(str(max(region.label for region in regions)))
    # Ids are written across: the width of the median cell is what they must fit in.
    cell_width = float(np.median([region.bbox[3] - region.bbox[1] for region in regions]))
    points_per_px = 72 / _DPI / (digits * _DIGIT_WIDTH)  # font size whose id is one display px wide
    zoom = min(max(zoom, _MIN_ID_POINTS / (_ID_SHARE * cell_width * points_per_px)), max(zoom, _MAX_ZOOM))
    return zoom, float(np.clip(_ID_SHARE * cell_width * zoom * points_per_px, _MIN_ID_POINTS, _MAX_ID_POINTS))


def frame_figure(
    image: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    pixel_size_um: float | None = None,
    title: str = "",
    note: str = "",
    parents: Mapping[int, int] | None = None,
) -> Figure:
    """A grey frame with each tracked cell's outline and id drawn at the cell.

    The frame is drawn at full resolution at least (700 px wide at least),
    zoomed further on crowded frames of small cells so that ids stay
    legible in their cells.

    Parameters
    ----------
    image
        One frame (Y, X), e.g. phase contrast.
    labels
        Its tracked cell labels (Y, X), 0 = background.
    mask
        Its segmentation mask (Y, X); objects that were segmented but carry
        no track are outlined with a dashed gold line, without an id.
    pixel_size_um
        Pixel edge length; the axes are in micrometres, or in pixels when None (unknown).
    title
        Figure title.
    note
        A line shown inside the axes, top left (e.g. the cell counts).
    parents
        The lineage (daughter id -> mother id), for related colours (see
        :func:`cell_colour`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if image.shape != labels.shape:
        raise ValueError(f"frame and labels differ in shape: {image.shape} vs {labels.shape}")
    height, width = image.shape
    unit = "px" if pixel_size_um is None else "µm"
    pixel_size_um = 1.0 if pixel_size_um is None else pixel_size_um
    regions = regionprops(np.asarray(labels))
    zoom, id_points = _frame_zoom(width, regions)
    # The margins hold the tick labels, axis labels and title around the frame.
    fig = Figure(figsize=(width * zoom / _DPI + 1.0, height * zoom / _DPI + 1.0), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    low, high = np.percentile(image, _DISPLAY_PERCENTILES)
    ax.imshow(image, cmap="gray", vmin=low, vmax=max(high, low + 1), interpolation="antialiased",
              extent=(0, width * pixel_size_um, height * pixel_size_um, 0))
    framed = [patheffects.Stroke(linewidth=2.8, foreground="black"), patheffects.Normal()]
    if mask is not None:
        untracked = np.asarray(mask, dtype=bool) & (labels == 0)
        for contour in find_contours(np.pad(untracked, 1).astype(np.uint8), 0.5):
            ax.plot((contour[:, 1] - 0.5) * pixel_size_um, (contour[:, 0] - 0.5) * pixel_size_um,
                    color=_UNTRACKED_COLOUR, linewidth=1.4, linestyle=(0, (2, 1.5)), path_effects=framed)
    for region in regions:
        colour = cell_colour(region.label, parents)
        y0, x0, _, _ = region.bbox
        for contour in find_contours(np.pad(region.image, 1).astype(np.uint8), 0.5):
            ys = (contour[:, 0] + y0 - 1 + 0.5) * pixel_size_um
            xs = (contour[:, 1] + x0 - 1 + 0.5) * pixel_size_um
            ax.plot(xs, ys, color=colour, linewidth=1.8, path_effects=framed)
        cy, cx = region.centroid
        ax.text((cx + 0.5) * pixel_size_um, (cy + 0.5) * pixel_size_um, str(region.label), color="white",
                fontsize=id_points, fontweight="bold", ha="center", va="center", path_effects=framed)
    if note:
        ax.text(0.01, 0.99, note, transform=ax.transAxes, ha="left", va="top", fontsize=10,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set_xlim(0, width * pixel_size_um)
    ax.set_ylim(height * pixel_size_um, 0)
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    ax.set_title(title)
    return fig


def tracked_cell_counts(labels: np.ndarray) -> np.ndarray:
    """Number of distinct cell ids in each frame of a (T, Y, X) label stack, read frame by frame."""
    return np.array([np.count_nonzero(np.bincount(np.asarray(labels[t]).ravel())[1:])
                     for t in range(labels.shape[0])], dtype=np.int64)


def traces_figure(
    traces: pd.DataFrame,
    times: np.ndarray,
    tracked: np.ndarray,
    *,
    channel_names: Mapping[int, str] | None = None,
    title: str = "",
) -> Figure:
    """Every cell's total intensity over time per fluorescence channel, and cell counts over time.

    Parameters
    ----------
    traces
        Trace rows of one FOV with a ``channel`` column (PyAMA-core's columns otherwise).
    times
        Time of each frame in minutes.
    tracked
        Tracked cells (label ids present) in each frame.
    channel_names
        Names shown in the panel titles, by channel.
    title
        Figure title.

    With a ``parent`` column (a lineage) daughters' lines take their
    mother's colour (see :func:`cell_colour`).
    """
    channels = sorted(traces["channel"].unique()) if not traces.empty else []
    parents = _lineage_of(traces)
    names = dict(channel_names or {})
    fig = Figure(figsize=(9.0, 2.6 * (len(channels) + 1) + 0.5), dpi=_DPI, layout="constrained")
    axes = fig.subplots(len(channels) + 1, 1, sharex=True, squeeze=False)[:, 0]
    point = "o" if len(times) == 1 else None  # a line through one time point draws nothing
    for ax, channel in zip(axes, channels):
        rows = traces[traces["channel"] == channel]
        for cell, cell_rows in rows.groupby("cell", sort=True):
            ax.plot(cell_rows["time"], cell_rows["intensity_total"], color=cell_colour(cell, parents), linewidth=1.2,
                    label=str(cell), marker=point)
        name = names.get(channel)
        ax.set_title(f"channel {channel}" + (f" ({name})" if name else ""), loc="left", fontsize=10)
        ax.set_ylabel("total intensity (a.u.)")
        ax.yaxis.set_major_formatter(EngFormatter())
        ax.grid(alpha=0.3)
        n_cells = rows["cell"].nunique()
        if 0 < n_cells <= _MAX_LEGEND_CELLS:
            ax.legend(title="cell", fontsize=8, title_fontsize=8, ncols=max(1, (n_cells + 11) // 12),
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    counts_ax = axes[-1]
    counts_ax.step(times, tracked, where="mid", color="black", label="tracked (labels)", marker=point)
    if channels:
        kept = traces[traces["channel"] == channels[0]].groupby("frame")["cell"].nunique()
        in_traces = np.zeros(len(times), dtype=np.int64)
        in_traces[kept.index.to_numpy()] = kept.to_numpy()
        counts_ax.step(times, in_traces, where="mid", color="tab:blue", linestyle="--", label="in traces",
                       marker=point)
    counts_ax.set_ylim(bottom=0)
    counts_ax.set_ylabel("cells")
    counts_ax.set_xlabel("time (min)")
    counts_ax.set_title("cells per frame", loc="left", fontsize=10)
    counts_ax.grid(alpha=0.3)
    counts_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(title)
    return fig


def _lineage_of(traces: pd.DataFrame) -> dict[int, int]:
    """Daughter id -> mother id from a trace table's ``parent`` column (empty without one)."""
    if "parent" not in traces.columns:
        return {}
    daughters = traces.dropna(subset=["parent"]).drop_duplicates("cell")
    return dict(zip(daughters["cell"].astype(int), daughters["parent"].astype(int)))


def write_qc_figures(output_dir: Path, fovs: Iterable[int] | None = None, frame: int | None = None) -> list[Path]:
    """Write each FOV's frame and traces figures into ``<output_dir>/qc``, and the fit figures of a run that fitted.

    Parameters
    ----------
    output_dir
        A run's output directory (holding ``processing_results.yaml``).
    fovs
        FOVs to draw; every FOV the results file lists by default.
    frame
        Frame to draw the cells of; the middle frame by default.

    Returns
    -------
    list of Path
        The PNG files written.

    Raises
    ------
    ValueError
        When the directory holds no results, a FOV was not processed, or the
        frame is out of range.
    """
    output_dir = Path(output_dir)
    results = read_results_yaml(output_dir / RESULTS_FILE)
    processed = sorted(recorded_outputs(output_dir, results))
    if not processed and any(followed_frames(output_dir).values()):
        return _write_followed_figures(output_dir, fovs, frame)
    if not processed:
        raise ValueError(f"{output_dir} holds no processed FOV (no {RESULTS_FILE} with results)")
    fovs = processed if fovs is None else sorted(set(fovs))
    missing = sorted(set(fovs) - set(processed))
    if missing:
        raise ValueError(f"FOV(s) {missing} were not processed in {output_dir}; processed: {processed}")
    qc_dir = output_dir / QC_DIR
    qc_dir.mkdir(exist_ok=True)
    written = []
    for fov in fovs:
        written += _write_fov_figures(output_dir, results, fov, frame, qc_dir)
    return written + write_fit_figures(output_dir, results, fovs, qc_dir)


def _write_followed_figures(output_dir: Path, fovs: Iterable[int] | None, frame: int | None) -> list[Path]:
    """The figures of a run still following its acquisition: the latest frame (by default) and the traces so far."""
    frames = {fov: n for fov, n in followed_frames(output_dir).items() if n}
    fovs = sorted(frames) if fovs is None else sorted(set(fovs))
    missing = sorted(set(fovs) - set(frames))
    if missing:
        raise ValueError(f"FOV(s) {missing} have no frame processed yet in {output_dir}; processed: {sorted(frames)}")
    qc_dir = output_dir / QC_DIR
    qc_dir.mkdir(exist_ok=True)
    written = []
    for fov in fovs:
        pc_channel, measured = followed_channels(output_dir, fov)
        tables = [read_rows(output_dir, fov, channel, frames[fov]).assign(channel=channel) for channel in measured]
        traces = pd.concat([table for table in tables if not table.empty] or [pd.DataFrame()], ignore_index=True)
        written += _draw_fov_figures(output_dir, fov, frames[fov] - 1 if frame is None else frame, qc_dir,
                                     pc_channel, traces, partial(FirstFrames, frames=frames[fov]))
    return written


def _write_fov_figures(output_dir: Path, results: dict, fov: int, frame: int | None, qc_dir: Path) -> list[Path]:
    return _draw_fov_figures(output_dir, fov, frame, qc_dir, int(results["channels"]["pc"]),
                             collect_traces(output_dir, results, [fov]), open_image)


def _draw_fov_figures(output_dir: Path, fov: int, frame: int | None, qc_dir: Path, pc_channel: int,
                      traces: pd.DataFrame, open_image: Callable[[ImageRef], Any]) -> list[Path]:
    """A FOV's frame figure (of ``frame``, by default the middle one) and traces figure; ``open_image`` reads images."""
    pc_ref = ImageRef(output_dir, fov, "pc", pc_channel)
    phase = open_image(pc_ref)
    labels_ref = ImageRef(output_dir, fov, "seg_labeled", pc_channel)
    labels = open_image(labels_ref)
    n_frames = phase.shape[0]
    frame = n_frames // 2 if frame is None else frame
    if not 0 <= frame < n_frames:
        raise ValueError(f"frame {frame} is out of range for FOV {fov}, which has frames 0-{n_frames - 1}")
    minutes_per_frame, pixel_size, _ = image_scale(pc_ref)
    pixel_size_um = pixel_size if image_space_unit(pc_ref) is not None else None
    times = _frame_times(traces, n_frames, minutes_per_frame)
    tracked = tracked_cell_counts(labels)
    frame_labels = np.asarray(labels[frame])
    frame_mask = np.asarray(open_image(ImageRef(output_dir, fov, "seg", pc_channel))[frame])
    n_untracked = int(label(frame_mask & (frame_labels == 0)).max())
    title = f"FOV {fov}, frame {frame} (t = {format_minutes(times[frame])} min)"
    counts = (f"{tracked[frame]} tracked cells"
              + (f", {n_untracked} segmented objects without a track (dashed)" if n_untracked else ""))
    paths = [qc_dir / f"{fov_group_name(fov)}_frame.png", qc_dir / f"{fov_group_name(fov)}_traces.png"]
    save_png(frame_figure(np.asarray(phase[frame]), frame_labels, frame_mask, pixel_size_um=pixel_size_um,
                          title=title, note=counts, parents=image_lineage(labels_ref)), paths[0])
    channels = traces["channel"].unique() if not traces.empty else []
    # A channel both segmented and measured is copied once, as the segmented channel.
    names = {int(c): image_channel_name(ImageRef(output_dir, fov, "pc" if c == pc_channel else "fl", int(c)))
             for c in channels}
    save_png(traces_figure(traces, times, tracked, channel_names=names,
                           title=f"FOV {fov}: traces of the tracked cells"), paths[1])
    logger.info("QC figures of FOV %d: %s", fov, ", ".join(str(p) for p in paths))
    return paths


def save_png(fig: Figure, path: Path) -> None:
    """Save a figure as a PNG with a 256-colour palette.

    Frames of noisy microscopy images compress badly as true-colour PNGs; a
    palette keeps all grey levels and the few cell colours at a third of the size.
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def _frame_times(traces: pd.DataFrame, n_frames: int, minutes_per_frame: float) -> np.ndarray:
    """Minutes of each frame: the traces' time stamps where they have rows, the NGFF interval elsewhere."""
    times = np.arange(n_frames) * float(minutes_per_frame)
    if not traces.empty:
        stamped = traces.groupby("frame")["time"].first()
        times[stamped.index.to_numpy()] = stamped.to_numpy()
    return times
