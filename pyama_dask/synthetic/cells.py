"""The cells of one FOV: where they are, their shape, and what they express.

Cells sit on a jittered grid of micropattern sites, drift with the whole field,
wander slightly around their site, and express each fluorescent protein after a
random onset following the two-stage mRNA-translation model
``F(tau) ~ (exp(-beta tau) - exp(-delta tau)) / (delta - beta)`` (mRNA decays
at rate delta, protein at rate beta): a gamma-like rise, a peak after a few
hours, then a slow decline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

from pyama_dask.synthetic.divisions import divide_cells
from pyama_dask.synthetic.kinetics import kinetic_expression
from pyama_dask.synthetic.spec import (
    MAX_ASPECT,
    MAX_CELL_JITTER_PX,
    MAX_WOBBLE,
    MIN_GAP_PX,
    RADIUS_SPREAD,
    STREAM_CELLS,
    SyntheticSpec,
)

#: Share of cells that appear after frame 0, and that vanish before the end.
P_APPEAR_LATE = 0.1
P_VANISH_EARLY = 0.1
#: Share of cells that express a given fluorescent protein at all.
P_EXPRESSING = 0.8
#: Field drift: Ornstein-Uhlenbeck steps (px per frame) and pull back to 0.
DRIFT_STEP_PX = 0.5
DRIFT_PULL = 0.02
MAX_DRIFT_PX = 15.0
#: Key of the random stream of the stage drift (``SyntheticSpec.stage_drift_px``), apart
#: from the cells' stream so that the cells are drawn the same with and without it.
STAGE_DRIFT_KEY = 1
#: Per-cell wandering around its site: steps (px per frame) and pull back.
JITTER_STEP_PX = 0.4
JITTER_PULL = 0.2
#: Rotation of a cell per frame, radians (random walk).
ROTATION_STEP_RAD = 0.02
#: Expression: mRNA and protein decay rates (1/h), mean pixel value at peak.
MRNA_DECAY_PER_H = (0.3, 0.8)
PROTEIN_DECAY_PER_H = (0.02, 0.1)
PEAK_PIXEL_VALUE = (300.0, 2500.0)
#: Latest expression onset as a share of the movie.
LATEST_ONSET = 0.6


@dataclass(frozen=True)
class CellPopulation:
    """Every cell of one FOV over time; cell ``i`` has id ``i + 1``.

    Attributes
    ----------
    y, x : numpy.ndarray
        Centre row and column in pixels, shape (n_cells, n_frames).
    semi_major, semi_minor : numpy.ndarray
        Ellipse semi-axes in pixels, shape (n_cells,).
    wobble, wobble_phase : numpy.ndarray
        Relative amplitude and phase (radians) of the three-fold bulge of the
        outline, shape (n_cells,).
    angle : numpy.ndarray
        Angle of the long axis from the +x (column) axis towards +y (row), in
        radians, shape (n_cells, n_frames).
    present : numpy.ndarray
        Whether the cell is in the frame, bool, shape (n_cells, n_frames).
    fluorescence : numpy.ndarray
        True total signal of each cell above background, per fluorescence
        channel, shape (n_fluorescence, n_cells, n_frames); 0 where absent.
    kinetic_parameters : numpy.ndarray
        With ``spec.kinetics``: each cell's parameters of the model its
        fluorescence follows, shape (n_fluorescence, n_parameters, n_cells)
        in the model's parameter order; else empty.
    parent : numpy.ndarray
        With ``spec.divisions``: each cell's mother id (0 for founders),
        shape (n_cells,) (:mod:`pyama_dask.synthetic.divisions`); else empty.
    """

    y: np.ndarray
    x: np.ndarray
    semi_major: np.ndarray
    semi_minor: np.ndarray
    wobble: np.ndarray
    wobble_phase: np.ndarray
    angle: np.ndarray
    present: np.ndarray
    fluorescence: np.ndarray
    kinetic_parameters: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0)))
    parent: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        # Populations are cached and shared: nobody may change them.
        for attribute in fields(self):
            getattr(self, attribute.name).flags.writeable = False

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return len(self.semi_major)


@dataclass(frozen=True)
class Footprint:
    """Where one cell lies in a frame, on a small window around it.

    Attributes
    ----------
    window : tuple of slice
        Rows and columns of the frame that the arrays below cover.
    rho : numpy.ndarray
        Normalised elliptic radius: 0 at the centre, 1 on the outline.
    distance : numpy.ndarray
        Approximate signed distance to the outline in pixels (negative inside).
    """

    window: tuple[slice, slice]
    rho: np.ndarray
    distance: np.ndarray

    @property
    def inside(self) -> np.ndarray:
        """Pixels of the cell (``rho <= 1``)."""
        return self.rho <= 1.0


@functools.lru_cache(maxsize=8)
def simulate_cells(spec: SyntheticSpec, fov: int) -> CellPopulation:
    """Draw the cells of one FOV and their whole history.

    Parameters
    ----------
    spec : SyntheticSpec
        Dataset parameters.
    fov : int
        FOV index; each FOV has its own random stream.

    Returns
    -------
    CellPopulation
        Cached: equal arguments return the same (read-only) arrays.
    """
    rng = spec.rng(fov, STREAM_CELLS)
    n, n_frames = spec.cells_per_fov, spec.n_frames
    site_y, site_x, site_freedom = _grid_sites(spec, rng)
    drift = _ornstein_uhlenbeck(
        rng, (2, n_frames), DRIFT_STEP_PX, DRIFT_PULL, min(MAX_DRIFT_PX, site_freedom)
    )
    jitter = _ornstein_uhlenbeck(rng, (2, n, n_frames), JITTER_STEP_PX, JITTER_PULL, MAX_CELL_JITTER_PX)

    radius = spec.cell_radius_px * rng.uniform(1 - RADIUS_SPREAD, 1 + RADIUS_SPREAD, n)
    aspect = np.sqrt(rng.uniform(1.0, MAX_ASPECT, n))
    angle = rng.uniform(0, math.pi, (n, 1)) + np.cumsum(
        rng.normal(0, ROTATION_STEP_RAD, (n, n_frames)), axis=1
    )
    present = _presence(rng, n, n_frames)
    semi_major, semi_minor = radius * aspect, radius / aspect
    nominal_area = math.pi * semi_major * semi_minor
    if spec.kinetics is None:
        fluorescence = np.array(
            [_expression(spec, rng, nominal_area) for _ in range(spec.n_fluorescence)], dtype=float
        ).reshape(spec.n_fluorescence, n, n_frames)
        kinetic_parameters = np.empty((0, 0, 0))
    else:
        drawn = [kinetic_expression(spec, rng, nominal_area) for _ in range(spec.n_fluorescence)]
        fluorescence = np.array([values for values, _ in drawn], dtype=float).reshape(spec.n_fluorescence, n, n_frames)
        kinetic_parameters = np.array([parameters for _, parameters in drawn], dtype=float)
    drift += stage_drift(spec, fov)
    founders = CellPopulation(
        y=site_y[:, None] + drift[0] + jitter[0],
        x=site_x[:, None] + drift[1] + jitter[1],
        semi_major=semi_major,
        semi_minor=semi_minor,
        wobble=rng.uniform(0, MAX_WOBBLE, n),
        wobble_phase=rng.uniform(0, 2 * math.pi, n),
        angle=angle,
        present=present,
        fluorescence=fluorescence * present,
        kinetic_parameters=kinetic_parameters,
    )
    return _in_frame_only(spec, divide_cells(spec, fov, founders) if spec.divisions else founders)


def _in_frame_only(spec: SyntheticSpec, cells: CellPopulation) -> CellPopulation:
    """The population with every cell whose centre pixel lies outside the frame absent there.

    Only stage drift carries cells that far (the slow field drift stays
    within the sites' margins): such a cell is out of view, not present.
    """
    height, width = spec.shape
    rows, columns = np.rint(cells.y), np.rint(cells.x)
    in_frame = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    if in_frame[cells.present].all():
        return cells
    present = cells.present & in_frame
    return replace(cells, present=present, fluorescence=cells.fluorescence * present)


def stage_drift(spec: SyntheticSpec, fov: int) -> np.ndarray:
    """(2, n_frames) displacement (row, column) of each frame's field by the stage, px; zeros without it."""
    if not spec.stage_drift_px:
        return np.zeros((2, spec.n_frames))
    rng = spec.rng(fov, STREAM_CELLS, STAGE_DRIFT_KEY)
    return rng.uniform(-spec.stage_drift_px, spec.stage_drift_px, (2, spec.n_frames))


def footprint(
    cells: CellPopulation, cell: int, frame: int, shape: tuple[int, int], reach: float
) -> Footprint:
    """The window around one cell in one frame, with its elliptic geometry.

    Parameters
    ----------
    cells : CellPopulation
        Cells of the FOV.
    cell : int
        Cell index (id - 1).
    frame : int
        Frame index.
    shape : tuple of int
        Frame shape (height, width); the window is clipped to it.
    reach : float
        How far beyond the cell's outline the window extends, px.

    Returns
    -------
    Footprint
    """
    cy, cx = cells.y[cell, frame], cells.x[cell, frame]
    a, b = cells.semi_major[cell], cells.semi_minor[cell]
    bulge = np.float32(cells.wobble[cell])
    half = a * (1 + bulge) + reach
    rows = slice(max(0, math.floor(cy - half)), min(shape[0], math.ceil(cy + half) + 1))
    cols = slice(max(0, math.floor(cx - half)), min(shape[1], math.ceil(cx + half) + 1))
    dy = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None] - np.float32(cy)
    dx = np.arange(cols.start, cols.stop, dtype=np.float32)[None, :] - np.float32(cx)
    cos, sin = np.float32(math.cos(cells.angle[cell, frame])), np.float32(math.sin(cells.angle[cell, frame]))
    along = dx * cos + dy * sin
    across = dy * cos - dx * sin
    ellipse_rho = np.sqrt((along / np.float32(a)) ** 2 + (across / np.float32(b)) ** 2)
    outline = 1 + bulge * np.cos(3 * np.arctan2(across, along) + np.float32(cells.wobble_phase[cell]))
    # First-order distance to the outline, (rho_e - outline) / |grad rho_e|,
    # neglecting the bulge's own slope.
    grad = np.sqrt((along / np.float32(a * a)) ** 2 + (across / np.float32(b * b)) ** 2)
    distance = (ellipse_rho - outline) * ellipse_rho / np.maximum(grad, np.float32(1e-6))
    return Footprint((rows, cols), ellipse_rho / outline, distance)


def _grid_sites(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Site centres of the cells and how far the field may drift.

    Sites are a random subset of a regular grid, each moved by a random offset
    small enough to keep ``MIN_GAP_PX`` between neighbours' reach.
    """
    n_rows, n_cols = spec.grid()
    height, width = spec.shape
    pitch_y, pitch_x = height / n_rows, width / n_cols
    spare = min(pitch_y, pitch_x) - (2 * spec.cell_reach_px + MIN_GAP_PX)
    offset = min(0.1 * min(pitch_y, pitch_x), spare / 2)
    chosen = np.sort(rng.choice(n_rows * n_cols, size=spec.cells_per_fov, replace=False))
    site_y = (chosen // n_cols + 0.5) * pitch_y + rng.uniform(-offset, offset, chosen.size)
    site_x = (chosen % n_cols + 0.5) * pitch_x + rng.uniform(-offset, offset, chosen.size)
    # Room left between the outermost cells' reach and the frame border.
    freedom = min(pitch_y, pitch_x) / 2 - offset - spec.cell_reach_px
    return site_y, site_x, freedom


def _ornstein_uhlenbeck(
    rng: np.random.Generator, shape: tuple[int, ...], step: float, pull: float, bound: float
) -> np.ndarray:
    """Mean-reverting random walks along the last axis, starting at 0, kept within +-bound."""
    steps = rng.normal(0, step, shape)
    walk = np.zeros(shape)
    for t in range(1, shape[-1]):
        walk[..., t] = np.clip(walk[..., t - 1] * (1 - pull) + steps[..., t], -bound, bound)
    return walk


def _presence(rng: np.random.Generator, n: int, n_frames: int) -> np.ndarray:
    """Which frames each cell is in: a few appear late, a few vanish early."""
    appears = np.where(
        rng.random(n) < P_APPEAR_LATE, np.floor(rng.uniform(0.05, 0.5, n) * n_frames), 0
    )
    vanishes = np.where(
        rng.random(n) < P_VANISH_EARLY, np.ceil(rng.uniform(0.5, 0.95, n) * n_frames), n_frames
    )
    frames = np.arange(n_frames)
    return (frames >= appears[:, None]) & (frames < vanishes[:, None])


def _expression(spec: SyntheticSpec, rng: np.random.Generator, nominal_area: np.ndarray) -> np.ndarray:
    """True total fluorescence of every cell over time for one protein, (n_cells, n_frames)."""
    n = nominal_area.size
    hours = np.arange(spec.n_frames) * spec.frame_interval_min / 60
    onset = rng.uniform(0, LATEST_ONSET, n) * hours[-1]
    delta = rng.uniform(*MRNA_DECAY_PER_H, n)[:, None]
    beta = rng.uniform(*PROTEIN_DECAY_PER_H, n)[:, None]
    peak = rng.uniform(*PEAK_PIXEL_VALUE, n) * nominal_area * (rng.random(n) < P_EXPRESSING)
    tau = np.clip(hours[None, :] - onset[:, None], 0, None)
    curve = (np.exp(-beta * tau) - np.exp(-delta * tau)) / (delta - beta)
    tau_peak = np.log(delta / beta) / (delta - beta)
    curve_peak = (np.exp(-beta * tau_peak) - np.exp(-delta * tau_peak)) / (delta - beta)
    return peak[:, None] * curve / curve_peak

