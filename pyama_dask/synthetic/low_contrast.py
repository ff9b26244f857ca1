"""A real movie made sparse and partly dark: frames whose threshold falls into the noise.

Each frame of the source movie is set in a larger field filled with its own
background pixels (drawn at random), so that the cells are sparse as in a
real field, and the chosen frames are brought to a few grey levels of
contrast above a flat background, plus noise: the low-contrast frames of a
long experiment, where a threshold cuts the noise into thousands of grains.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import numpy as np

#: Grey levels between the median and the 99th percentile of a low-contrast frame.
CONTRAST_LEVELS = 3.0
#: Background level and noise (standard deviation) of a low-contrast frame.
FLAT_LEVEL, NOISE_SD = 100.0, 1.5


def low_contrast_movie(
    images: np.ndarray, labels: np.ndarray, order: Sequence[int], low_contrast: Container[int], *,
    side: int = 500, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The movie ``images[order]`` in ``side`` px fields, frames ``low_contrast`` of very low contrast.

    Parameters
    ----------
    images, labels : numpy.ndarray
        (T, H, W) source frames and their instance labels (H, W <= side).
    order : sequence of int
        Source frame of each frame of the movie (e.g. played forth and back).
    low_contrast : container of int
        Frames of the movie brought to ``CONTRAST_LEVELS`` grey levels of contrast.
    side : int
        Height and width of the fields.
    seed : int
        Seed of the background and noise draws.

    Returns
    -------
    movie : numpy.ndarray
        (len(order), side, side) uint16.
    truth : numpy.ndarray
        The labels of every frame, placed as the cells are.
    """
    rng = np.random.default_rng(seed)
    height, width = images.shape[1:]
    if height > side or width > side:
        raise ValueError(f"frames of {height} x {width} px do not fit in {side} px fields")
    top, left = (side - height) // 2, (side - width) // 2
    movie = np.empty((len(order), side, side), dtype=np.uint16)
    truth = np.zeros(movie.shape, dtype=labels.dtype)
    for t, source in enumerate(order):
        field = rng.choice(images[source][labels[source] == 0], (side, side)).astype(np.float64)
        field[top : top + height, left : left + width] = images[source]
        if t in low_contrast:
            median, p99 = np.percentile(field, (50, 99))
            contrast = np.clip((field - median) / (p99 - median), 0, None) * CONTRAST_LEVELS
            field = FLAT_LEVEL + contrast + rng.normal(0, NOISE_SD, field.shape)
        movie[t] = np.clip(np.rint(field), 0, 65535)
        truth[t, top : top + height, left : left + width] = labels[source]
    return movie, truth
