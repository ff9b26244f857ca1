"""Small generated frames for the algorithm tests: textured disks on noise."""

from __future__ import annotations

import numpy as np


def textured_frame(size: int, n_cells: int, seed: int, *, width: int | None = None) -> np.ndarray:
    """A phase-contrast-like uint16 frame: flat noisy background, cells with a coarse texture."""
    rng = np.random.default_rng(seed)
    width = size if width is None else width
    frame = rng.normal(1000.0, 15.0, (size, width))
    rows, cols = np.ogrid[:size, :width]
    for _ in range(n_cells):
        cy, cx = rng.uniform(0, size), rng.uniform(0, width)
        radius = rng.uniform(10, 22)
        inside = (rows - cy) ** 2 + (cols - cx) ** 2 < radius**2
        frame[inside] += rng.normal(-200.0, 180.0, int(inside.sum()))
    return np.clip(frame, 0, 65535).astype(np.uint16)


def fluorescence_frame(mask: np.ndarray, seed: int) -> np.ndarray:
    """A uint16 fluorescence frame: uneven illumination, bright cells where ``mask`` is True."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(mask.shape)
    distance_sq = (rows - mask.shape[0] / 3) ** 2 + (cols - mask.shape[1] / 2) ** 2
    illumination = 300.0 + 200.0 * np.exp(-distance_sq / (0.5 * mask.size))
    frame = 100.0 + illumination + 400.0 * mask + rng.normal(0.0, 8.0, mask.shape)
    return np.clip(frame, 0, 65535).astype(np.uint16)
