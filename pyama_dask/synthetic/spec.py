"""Parameters of a synthetic time-lapse dataset."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

#: Cells per 1024 x 1024 px frame when ``n_cells`` is not given.
CELLS_PER_MEGAPIXEL = 40
#: Largest ratio of an ellipse's long to short axis.
MAX_ASPECT = 1.5
#: Spread of cell radii around ``cell_radius_px`` (relative, uniform).
RADIUS_SPREAD = 0.1
#: Largest three-fold bulge of a cell's outline (relative to its radius).
MAX_WOBBLE = 0.08
#: How far outside its outline a cell shows in phase contrast (halo), px.
HALO_REACH_PX = 6.0
#: Largest per-cell wandering around its micropattern site, px.
MAX_CELL_JITTER_PX = 3.0
#: Clear background between the outer reach of neighbouring cells, px. The
#: segmentation closes gaps narrower than ~19 px (7x7 square, 3 iterations),
#: so cells closer than that would merge into one object.
MIN_GAP_PX = 24.0
#: Tags of the independent random streams drawn from the seed.
STREAM_CELLS, STREAM_FRAME, STREAM_BACKGROUND = 0, 1, 2
STREAM_DIVISIONS = 3
#: Names of the fluorescence channels, in file order after the phase channel.
FLUORESCENCE_NAMES = ("GFP", "mCherry", "Cy5", "BFP")


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: sizes, sampling and the random seed.

    Parameters
    ----------
    n_fovs : int
        Fields of view, written as scenes of one OME-TIFF.
    n_frames : int
        Time points per FOV.
    size : int
        Frame height in pixels (and width unless ``width`` is given).
    width : int or None
        Frame width in pixels; ``None`` means square frames.
    n_cells : int or None
        Cells per FOV; ``None`` scales 40 cells per 1024 x 1024 px by area.
    n_fluorescence : int
        Fluorescence channels after the phase-contrast channel (0 to 4).
    frame_interval_min : float
        Time between frames in minutes.
    pixel_size_um : float
        Edge length of a pixel in micrometres.
    cell_radius_px : float
        Mean cell radius (geometric mean of the two semi-axes) in pixels.
        At least 12: the segmentation's opening removes objects narrower than
        about 19 px.
    seed : int
        Seed of every random choice; equal specs give equal data.
    kinetics : str or None
        A kinetics model (e.g. ``"maturation"``) every cell's fluorescence
        follows, with per-cell parameters written to ``<name>_kinetics.parquet``
        (:mod:`pyama_dask.synthetic.kinetics`); None: the built-in
        expression curve.
    stage_drift_px : float
        Stage drift: every frame's field is displaced by an offset drawn
        uniformly within +-``stage_drift_px`` along each axis (a stage
        returning to a position with that error), so whole frames jump by up
        to twice that between frames; a cell near the border may leave the
        frame, and is absent (in the truth too) while its centre is out of
        it. 0: none (the slow field drift of a few pixels only).
    divisions : bool
        Let about half the cells divide once in the middle of the movie
        (:mod:`pyama_dask.synthetic.divisions`); the truth table then has a
        ``parent`` column.
    """

    n_fovs: int = 4
    n_frames: int = 40
    size: int = 512
    width: int | None = None
    n_cells: int | None = None
    n_fluorescence: int = 2
    frame_interval_min: float = 5.0
    pixel_size_um: float = 0.65
    cell_radius_px: float = 14.0
    seed: int = 0
    kinetics: str | None = None
    stage_drift_px: float = 0.0
    divisions: bool = False

    def __post_init__(self) -> None:
        for name in ("n_fovs", "n_frames", "size"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        if self.width is not None:
            _require(self.width >= 1, "width", self.width, "must be >= 1")
        if self.n_cells is not None:
            _require(self.n_cells >= 0, "n_cells", self.n_cells, "must be >= 0")
        _require(
            0 <= self.n_fluorescence <= len(FLUORESCENCE_NAMES),
            "n_fluorescence",
            self.n_fluorescence,
            f"must be between 0 and {len(FLUORESCENCE_NAMES)}",
        )
        for name in ("frame_interval_min", "pixel_size_um"):
            _require(getattr(self, name) > 0, name, getattr(self, name), "must be > 0")
        _require(self.stage_drift_px >= 0, "stage_drift_px", self.stage_drift_px, "must be >= 0")
        _require(
            12.0 <= self.cell_radius_px <= 100.0,
            "cell_radius_px",
            self.cell_radius_px,
            "must be between 12 and 100 (smaller cells vanish in the segmentation's opening)",
        )
        self._check_cells_fit()
        if self.kinetics is not None:
            from pyama_dask.synthetic.kinetics import kinetics_model  # it reads the spec: imported when needed

            kinetics_model(self)

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (height, width) in pixels."""
        return self.size, self.width if self.width is not None else self.size

    @property
    def cells_per_fov(self) -> int:
        """Number of cells placed in each FOV."""
        if self.n_cells is not None:
            return self.n_cells
        height, width = self.shape
        return max(1, round(CELLS_PER_MEGAPIXEL * height * width / 1024**2))

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names in file order: phase contrast first."""
        return ("Phase", *FLUORESCENCE_NAMES[: self.n_fluorescence])

    @property
    def max_semi_axis_px(self) -> float:
        """Longest semi-axis any cell can have."""
        return self.cell_radius_px * (1 + RADIUS_SPREAD) * math.sqrt(MAX_ASPECT) * (1 + MAX_WOBBLE)

    @property
    def cell_reach_px(self) -> float:
        """Farthest a cell's visible footprint reaches from its site centre."""
        return self.max_semi_axis_px + HALO_REACH_PX + MAX_CELL_JITTER_PX

    def grid(self) -> tuple[int, int]:
        """Rows and columns of the micropattern grid the cells sit on."""
        n = max(self.cells_per_fov, 1)  # an empty FOV still has a (1 x 1) grid
        height, width = self.shape
        n_cols = max(1, math.ceil(math.sqrt(n * width / height)))
        n_rows = math.ceil(n / n_cols)
        return n_rows, n_cols

    def rng(self, fov: int, stream: int, *key: int) -> np.random.Generator:
        """The random generator of one FOV for one purpose (a ``STREAM_*`` tag).

        Every stream is seeded from (seed, fov, stream, *key) alone, so it
        does not depend on what else was drawn before.
        """
        return np.random.default_rng([self.seed, fov, stream, *key])

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (the optional ones only when set: older specs keep their form)."""
        values = asdict(self)
        for optional in ("kinetics", "stage_drift_px", "divisions"):
            if not values[optional]:
                del values[optional]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyntheticSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are an error."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SyntheticSpec parameters: {sorted(unknown)}")
        return cls(**values)

    def _check_cells_fit(self) -> None:
        if self.cells_per_fov == 0:
            return
        n_rows, n_cols = self.grid()
        height, width = self.shape
        spacing = min(height / n_rows, width / n_cols)
        needed = 2 * self.cell_reach_px + MIN_GAP_PX
        if spacing < needed:
            raise ValueError(
                f"n_cells={self.cells_per_fov} do not fit in {height}x{width} px frames with "
                f"cell_radius_px={self.cell_radius_px}: the {n_rows}x{n_cols} grid leaves "
                f"{spacing:.0f} px per cell, {needed:.0f} px are needed to keep cells apart; "
                "use fewer cells, smaller cells or larger frames"
            )


def _require(ok: bool, name: str, value: object, what: str) -> None:
    if not ok:
        raise ValueError(f"SyntheticSpec.{name}={value!r} {what}")
