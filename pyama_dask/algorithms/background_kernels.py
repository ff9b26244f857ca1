"""Kernels of :mod:`pyama_dask.algorithms.background`: counts of background values per block, the corrected frame."""

from __future__ import annotations

import numpy as np

from pyama_dask.algorithms.kernels import kernel


@kernel
def block_value_counts(
    image: np.ndarray, background: np.ndarray, edges_y: np.ndarray, edges_x: np.ndarray, low: int, n_values: int
) -> np.ndarray:
    """How often each value ``low + v`` occurs among the background pixels of each block.

    Block ``(i, j)`` spans rows ``edges_y[i]:edges_y[i + 1]`` and columns
    ``edges_x[j]:edges_x[j + 1]``; the result is (blocks_y, blocks_x, n_values).
    """
    counts = np.zeros((edges_y.size - 1, edges_x.size - 1, n_values), dtype=np.int64)
    for block_y in range(edges_y.size - 1):
        for y in range(edges_y[block_y], edges_y[block_y + 1]):
            for block_x in range(edges_x.size - 1):
                tally = counts[block_y, block_x]
                for x in range(edges_x[block_x], edges_x[block_x + 1]):
                    if background[y, x]:
                        tally[int(image[y, x]) - low] += 1
    return counts


@kernel
def subtract_surface(
    image: np.ndarray, along_y: np.ndarray, basis_x: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """``float32(image) - float32(along_y @ basis_x)``, and the pixels whose rounding is in doubt.

    ``along_y`` is (H, n) and ``basis_x`` (n, W). The surface value at a pixel
    is known up to ``tolerance``; where the float32 roundings of value -
    tolerance and value + tolerance differ, the exact value could round
    either way: those flat indices are returned (in increasing order) for
    the caller to evaluate exactly.
    """
    height, width = image.shape
    corrected = np.empty((height, width), dtype=np.float32)
    values = np.empty(width)
    in_doubt = np.empty(width, dtype=np.uint8)
    doubtful = np.empty(1024, dtype=np.int64)  # grown when full
    n_doubtful = 0
    for y in range(height):
        values[:] = 0.0
        for k in range(along_y.shape[1]):
            weight = along_y[y, k]
            for x in range(width):
                values[x] += weight * basis_x[k, x]
        for x in range(width):
            corrected[y, x] = np.float32(image[y, x]) - np.float32(values[x])
        n_in_row = 0
        for x in range(width):  # without a branch (vectorised): doubts are rare
            in_doubt[x] = np.float32(values[x] - tolerance) != np.float32(values[x] + tolerance)
            n_in_row += in_doubt[x]
        if n_in_row == 0:
            continue
        if n_doubtful + n_in_row > doubtful.size:
            doubtful = np.concatenate((doubtful, np.empty(doubtful.size + n_in_row, dtype=np.int64)))
        for x in range(width):
            if in_doubt[x]:
                doubtful[n_doubtful] = y * width + x
                n_doubtful += 1
    return corrected, doubtful[:n_doubtful]
