"""Pixels of one FOV, frame by frame: phase contrast and fluorescence.

Phase contrast: a flat, slightly shaded background with camera noise; each
cell is a dark interior with a coarse random texture (high local standard
deviation, which the LOG-STD segmentation keys on) inside a thin bright halo.

Fluorescence: camera offset plus a wide Gaussian illumination profile whose
brightness drifts slowly over time, each cell's signal spread over its pixels
(brighter towards the centre), and signal-dependent (shot plus read) noise.

Cells are stamped on small windows around them, never by whole-frame
operations per cell; every frame draws its noise from its own seed, so any
frame can be rendered alone and always comes out the same.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from pyama_dask.synthetic.cells import CellPopulation, Footprint, footprint
from pyama_dask.synthetic.spec import (
    HALO_REACH_PX,
    STREAM_BACKGROUND,
    STREAM_FRAME,
    SyntheticSpec,
)

#: Phase contrast, relative to the FOV's background level: noise, linear
#: shading across the frame, cell darkness and interior texture, halo height.
PHASE_LEVEL = (1500.0, 2500.0)
PHASE_NOISE = 0.013
PHASE_SHADING = 0.03
CELL_DARKNESS = 0.25
CELL_TEXTURE = 0.10
HALO_HEIGHT = 0.25
#: Halo ring: distance of its crest outside the outline and its width, px.
HALO_OFFSET_PX = 1.0
HALO_WIDTH_PX = 1.0
#: Size (Gaussian sigma) of the granules in a cell's texture, px.
GRANULE_SIZE_PX = 1.5
#: Softness of the cell's dark edge, px.
EDGE_SOFTNESS_PX = 0.7
#: Fluorescence camera: offset, read noise and gain (counts per photon).
CAMERA_OFFSET = 100.0
READ_NOISE = 8.0
CAMERA_GAIN = 1.0
#: Fluorescence illumination: peak above offset, relative width, relative
#: shift of its centre, relative amplitude of its slow change over time.
ILLUMINATION_PEAK = (200.0, 600.0)
ILLUMINATION_WIDTH = (0.5, 0.9)
ILLUMINATION_SHIFT = 0.2
ILLUMINATION_FLICKER = 0.1
#: Extra brightness of a cell's centre over its rim (fluorescence).
CENTRE_BOOST = 0.5
#: Sum of four uniform bytes: mean and standard deviation (Irwin-Hall).
_BYTE_SUM_MEAN = 4 * 255 / 2
_BYTE_SUM_STD = math.sqrt(4 * (256**2 - 1) / 12)


class FovRenderer:
    """Renders the frames of one FOV from its cells.

    Parameters
    ----------
    spec : SyntheticSpec
        Dataset parameters.
    cells : CellPopulation
        The FOV's cells.
    fov : int
        FOV index, part of every seed.
    """

    def __init__(self, spec: SyntheticSpec, cells: CellPopulation, fov: int) -> None:
        self.spec = spec
        self.cells = cells
        self.fov = fov
        rng = spec.rng(fov, STREAM_BACKGROUND)
        self.phase_background = _shaded_plane(spec.shape, rng)
        self.phase_level = float(self.phase_background.mean())
        self.illumination = [_illumination(spec.shape, rng) for _ in range(spec.n_fluorescence)]
        self.flicker = [_flicker(spec.n_frames, rng) for _ in range(spec.n_fluorescence)]
        # Large enough to cut any cell's window from at a random offset.
        window = 2 * math.ceil(spec.max_semi_axis_px + HALO_REACH_PX) + 3
        self.granules = _granule_field(2 * window, rng)

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Render frame ``t``.

        Returns
        -------
        planes : numpy.ndarray
            All channels as uint16, shape (n_channels, height, width).
        areas : numpy.ndarray
            Pixel count of every cell (0 where absent), shape (n_cells,).
        """
        rng = self.spec.rng(self.fov, STREAM_FRAME, t)
        present = np.flatnonzero(self.cells.present[:, t])
        prints = {
            int(i): footprint(self.cells, int(i), t, self.spec.shape, HALO_REACH_PX) for i in present
        }
        planes = np.empty((len(self.spec.channel_names), *self.spec.shape), dtype=np.uint16)
        _quantise(self._phase(prints, rng), planes[0])
        for c in range(self.spec.n_fluorescence):
            _quantise(self._fluorescence(c, t, prints, rng), planes[c + 1])
        areas = np.zeros(self.cells.n_cells, dtype=np.int64)
        for i, fp in prints.items():
            areas[i] = np.count_nonzero(fp.inside)
        return planes, areas

    def _phase(self, prints: dict[int, Footprint], rng: np.random.Generator) -> np.ndarray:
        level = self.phase_level
        plane = _unit_noise(rng, self.spec.shape)
        plane *= np.float32(PHASE_NOISE * level)
        plane += self.phase_background
        for fp in prints.values():
            inside = _soft_inside(fp)
            texture = self._texture(fp.rho.shape, rng)
            halo = np.exp(-0.5 * ((fp.distance - HALO_OFFSET_PX) / HALO_WIDTH_PX) ** 2)
            plane[fp.window] += np.float32(level) * (
                HALO_HEIGHT * halo * (1 - inside)
                + inside * (CELL_TEXTURE * texture - CELL_DARKNESS)
            )
        return plane

    def _texture(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Unit-variance texture of a cell interior: speckle plus granules.

        The speckle is fresh noise; the granules are cut at a random place
        from the FOV's granule field, which is cheaper than smoothing fresh
        noise for every cell in every frame.
        """
        top, left = rng.integers(0, np.array(self.granules.shape) - shape + 1)
        granules = self.granules[top : top + shape[0], left : left + shape[1]]
        speckle = rng.standard_normal(shape, dtype=np.float32)
        return np.float32(math.sqrt(0.5)) * (speckle + granules)

    def _fluorescence(
        self, channel: int, t: int, prints: dict[int, Footprint], rng: np.random.Generator
    ) -> np.ndarray:
        signal = self.illumination[channel] * np.float32(self.flicker[channel][t])
        totals = self.cells.fluorescence[channel, :, t]
        for i, fp in prints.items():
            if totals[i] > 0:
                profile = np.where(fp.inside, 1 + CENTRE_BOOST * (1 - fp.rho**2), 0)
                signal[fp.window] += (totals[i] / profile.sum() * profile).astype(np.float32)
        # Shot noise grows with the photon count, read noise does not.
        noise = np.multiply(signal, np.float32(CAMERA_GAIN))
        noise += np.float32(READ_NOISE**2)
        np.sqrt(noise, out=noise)
        noise *= _unit_noise(rng, self.spec.shape)
        signal += noise
        signal += np.float32(CAMERA_OFFSET)
        return signal


def _granule_field(side: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance smooth noise: blobs of ``GRANULE_SIZE_PX``, shape (side, side)."""
    field = ndimage.gaussian_filter(rng.standard_normal((side, side), dtype=np.float32), GRANULE_SIZE_PX)
    field /= field.std()
    return field


def _soft_inside(fp: Footprint) -> np.ndarray:
    """1 inside the cell, 0 outside, with a sub-pixel soft edge."""
    return 1 / (1 + np.exp(fp.distance / np.float32(EDGE_SOFTNESS_PX)))


def _shaded_plane(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Phase-contrast background: a level with a gentle linear shading."""
    level = rng.uniform(*PHASE_LEVEL)
    slope_y, slope_x = rng.uniform(-PHASE_SHADING, PHASE_SHADING, 2)
    y = np.linspace(-0.5, 0.5, shape[0], dtype=np.float32)[:, None]
    x = np.linspace(-0.5, 0.5, shape[1], dtype=np.float32)[None, :]
    return (np.float32(level) * (1 + np.float32(slope_y) * y + np.float32(slope_x) * x)).astype(np.float32)


def _illumination(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Fluorescence background above the camera offset: a wide Gaussian beam."""
    peak = rng.uniform(*ILLUMINATION_PEAK)
    width = rng.uniform(*ILLUMINATION_WIDTH) * max(shape)
    centre_y, centre_x = (np.array(shape) * (0.5 + rng.uniform(-ILLUMINATION_SHIFT, ILLUMINATION_SHIFT, 2)))
    y = ((np.arange(shape[0], dtype=np.float32) - centre_y) / width) ** 2
    x = ((np.arange(shape[1], dtype=np.float32) - centre_x) / width) ** 2
    # Separable: exp(-(x^2 + y^2) / 2) = exp(-y^2 / 2) * exp(-x^2 / 2).
    return (np.float32(peak) * np.exp(-0.5 * y)[:, None] * np.exp(-0.5 * x)[None, :]).astype(np.float32)


def _flicker(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Slow relative change of the illumination over the movie, around 1."""
    period = rng.uniform(1.0, 3.0) * max(n_frames, 1)
    phase = rng.uniform(0, 2 * math.pi)
    return 1 + ILLUMINATION_FLICKER * np.sin(2 * math.pi * np.arange(n_frames) / period + phase)


def _unit_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-variance near-Gaussian noise, float32.

    The sum of the four bytes of a random 32-bit word (Irwin-Hall) is close to
    Gaussian and three times cheaper to draw than ``Generator.standard_normal``;
    noise dominates the generator's run time.
    """
    words = rng.integers(0, 2**32, size=shape, dtype=np.uint32)
    # Add bytes pairwise inside the word (SWAR): first two 16-bit sums, then one.
    sums = words & 0x00FF00FF
    words >>= 8
    words &= 0x00FF00FF
    sums += words
    noise = (sums >> 16).astype(np.float32)
    sums &= 0xFFFF
    noise += sums
    noise -= np.float32(_BYTE_SUM_MEAN)
    noise *= np.float32(1 / _BYTE_SUM_STD)
    return noise


def _quantise(plane: np.ndarray, out: np.ndarray) -> None:
    """Round a float plane into a uint16 plane, clipping to the uint16 range."""
    np.clip(plane, 0, np.iinfo(np.uint16).max, out=plane)
    np.rint(plane, out=plane)
    out[...] = plane
