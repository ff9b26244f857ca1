"""Kernels of :mod:`pyama_dask.algorithms.morphology`: square erosion and dilation along rows and columns, hole filling."""

from __future__ import annotations

import numpy as np

from pyama_dask.algorithms.kernels import kernel


@kernel
def erode_rows(mask: np.ndarray, width: int) -> np.ndarray:
    """Erosion along each row: True where the ``width`` pixels centred there are all True."""
    height, length = mask.shape
    reach = width // 2
    out = np.zeros((height, length), dtype=np.bool_)
    for y in range(height):
        run = 0
        for x in range(length):
            run = run + 1 if mask[y, x] else 0
            if run >= width:
                out[y, x - reach] = True
    return out


@kernel
def erode_columns(mask: np.ndarray, width: int) -> np.ndarray:
    """Erosion along each column, rows walked in order with a run length per column."""
    height, length = mask.shape
    reach = width // 2
    out = np.zeros((height, length), dtype=np.bool_)
    runs = np.zeros(length, dtype=np.int64)
    for y in range(height):
        for x in range(length):
            runs[x] = (runs[x] + 1) * mask[y, x]
        if y >= width - 1:
            for x in range(length):
                out[y - reach, x] = runs[x] >= width
    return out


@kernel
def dilate_rows(mask: np.ndarray, width: int) -> np.ndarray:
    """Dilation along each row: True where a True lies within ``width // 2`` pixels."""
    height, length = mask.shape
    reach = width // 2
    out = np.empty((height, length), dtype=np.bool_)
    for y in range(height):
        last = -width  # position of the last True seen, far out of reach at first
        for x in range(length + reach):
            if x < length and mask[y, x]:
                last = x
            if x >= reach:
                out[y, x - reach] = last >= x - 2 * reach
    return out


@kernel
def dilate_columns(mask: np.ndarray, width: int) -> np.ndarray:
    """Dilation along each column, rows walked in order with the last True row per column."""
    height, length = mask.shape
    reach = width // 2
    out = np.empty((height, length), dtype=np.bool_)
    last = np.full(length, -width, dtype=np.int64)
    for y in range(height + reach):
        if y < height:
            for x in range(length):
                if mask[y, x]:
                    last[x] = y
        if y >= reach:
            for x in range(length):
                out[y - reach, x] = last[x] >= y - 2 * reach
    return out


@kernel
def fill_holes_by_runs(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled, from the runs of background along the rows.

    Runs of False that overlap in adjacent rows are 4-connected: one
    union-find over the runs (a few per row, not per pixel) joins the
    background regions, the runs on the frame edge join a common root, and
    the runs of the other regions are holes.
    """
    height, width = mask.shape
    starts = np.empty(2 * height + 2, dtype=np.int64)  # grown when full
    stops = np.empty(2 * height + 2, dtype=np.int64)
    row_first = np.empty(height + 1, dtype=np.int64)  # runs of row y: row_first[y] .. row_first[y + 1] - 1
    n_runs = 0
    for y in range(height):
        row_first[y] = n_runs
        x = 0
        while x < width:
            if mask[y, x]:
                x += 1
                continue
            start = x
            while x < width and not mask[y, x]:
                x += 1
            if n_runs == starts.size:
                starts = np.concatenate((starts, np.empty_like(starts)))
                stops = np.concatenate((stops, np.empty_like(stops)))
            starts[n_runs], stops[n_runs] = start, x - 1
            n_runs += 1
    row_first[height] = n_runs
    edge = n_runs  # the common root of the runs on the frame edge
    parent = np.arange(n_runs + 1)
    for y in range(height):
        for run in range(row_first[y], row_first[y + 1]):
            if y == 0 or y == height - 1 or starts[run] == 0 or stops[run] == width - 1:
                _union(parent, run, edge)
        if y == 0:
            continue
        above, below = row_first[y - 1], row_first[y]  # walk both rows' runs left to right
        while above < row_first[y] and below < row_first[y + 1]:
            if starts[above] <= stops[below] and starts[below] <= stops[above]:
                _union(parent, above, below)
            if stops[above] < stops[below]:
                above += 1
            else:
                below += 1
    filled = mask.copy()
    edge_root = _find(parent, edge)
    for y in range(height):
        for run in range(row_first[y], row_first[y + 1]):
            if _find(parent, run) != edge_root:
                filled[y, starts[run] : stops[run] + 1] = True
    return filled


@kernel
def _find(parent: np.ndarray, node: int) -> int:
    """Root of ``node``, halving the path on the way."""
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@kernel
def _union(parent: np.ndarray, first: int, second: int) -> None:
    """Join the sets of ``first`` and ``second`` (the smaller root becomes the root)."""
    first_root, second_root = _find(parent, first), _find(parent, second)
    if first_root < second_root:
        parent[second_root] = first_root
    elif second_root < first_root:
        parent[first_root] = second_root
