"""Kernels of :mod:`pyama_dask.algorithms.segmentation`: the local variance and the log-std histogram."""

from __future__ import annotations

import numpy as np

from pyama_dask.algorithms.kernels import kernel


@kernel
def box_variance(image: np.ndarray, window: int) -> np.ndarray:
    """``uniform_filter(v * v) - uniform_filter(v) ** 2`` of ``v = image`` as float32, 1 where not positive.

    scipy's ``uniform_filter`` (mode "reflect") runs ``uniform_filter1d``
    along axis 0 then axis 1, rounding to float32 in between; along each
    line it sums the first window in float64, then adds the difference of
    the pixel entering and the pixel leaving, and divides the running sum by
    ``window``. The same operations in the same order give the same bits;
    here both moments are computed in one walk down the rows (a running sum
    per column, then along the row just finished), without the frame-sized
    temporaries.
    """
    height, width = image.shape
    before = window // 2
    after = window - before - 1
    column_sums = np.zeros(width)
    column_sums_sq = np.zeros(width)
    # The rows of scipy's reflected line entering and leaving the window of each output row.
    for k in range(-before, after + 1):
        source = _reflect(k, height)
        for x in range(width):
            value = np.float32(image[source, x])
            column_sums[x] += value
            column_sums_sq[x] += value * value
    row_mean = np.empty(width + window - 1, dtype=np.float32)
    row_mean_sq = np.empty(width + window - 1, dtype=np.float32)
    row_sums = np.empty(width)
    row_sums_sq = np.empty(width)
    variance = np.empty((height, width), dtype=np.float32)
    for y in range(height):
        if y > 0:
            entering, leaving = _reflect(y + after, height), _reflect(y - before - 1, height)
            for x in range(width):
                new, old = np.float32(image[entering, x]), np.float32(image[leaving, x])
                column_sums[x] += np.float64(new) - np.float64(old)
                column_sums_sq[x] += np.float64(new * new) - np.float64(old * old)
        # The row of axis-0 means, as float32, with its reflected ends.
        for x in range(width):
            row_mean[before + x] = column_sums[x] / window
            row_mean_sq[before + x] = column_sums_sq[x] / window
        for k in range(before):
            row_mean[k] = row_mean[before + _reflect(k - before, width)]
            row_mean_sq[k] = row_mean_sq[before + _reflect(k - before, width)]
        for k in range(before + width, width + window - 1):
            row_mean[k] = row_mean[before + _reflect(k - before, width)]
            row_mean_sq[k] = row_mean_sq[before + _reflect(k - before, width)]
        # The running sums alone (a chain of additions), then the divisions (vectorised).
        total, total_sq = 0.0, 0.0
        for k in range(window):
            total += row_mean[k]
            total_sq += row_mean_sq[k]
        row_sums[0], row_sums_sq[0] = total, total_sq
        for x in range(1, width):
            total += np.float64(row_mean[x + window - 1]) - np.float64(row_mean[x - 1])
            total_sq += np.float64(row_mean_sq[x + window - 1]) - np.float64(row_mean_sq[x - 1])
            row_sums[x], row_sums_sq[x] = total, total_sq
        for x in range(width):
            mean = np.float32(row_sums[x] / window)
            value = np.float32(row_sums_sq[x] / window) - mean * mean
            variance[y, x] = value if value > 0 else np.float32(1)
    return variance


@kernel
def _reflect(index: int, length: int) -> int:
    """scipy's "reflect" extension (d c b a | a b c d | d c b a), repeated for lines shorter than the window."""
    period = 2 * length
    folded = index % period
    return folded if folded < length else period - 1 - folded


@kernel
def histogram_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``numpy.histogram(values, edges)[0]`` for equal float32 bins over [min, max] of ``values``.

    numpy finds each value's bin as ``int((v - first) / (last - first) * bins)``
    in float32, moves the value at the last edge into the last bin, then
    corrects the bin by one where the edges say otherwise; so does this
    kernel, a block of values at a time: the estimates (a loop without
    branches, vectorised), their rare corrections, then the counting.
    """
    bins = edges.size - 1
    first, last = edges[0], edges[bins]
    span = last - first
    scale = np.float32(bins)
    flat = values.ravel()
    counts = np.zeros(bins, dtype=np.int64)
    indices = np.empty(min(flat.size, 4096), dtype=np.int32)
    for block_start in range(0, flat.size, indices.size):
        block = flat[block_start : block_start + indices.size]
        for position in range(block.size):
            indices[position] = min(np.int32((block[position] - first) / span * scale), bins - 1)
        for position in range(block.size):
            value, index = block[position], indices[position]
            if value < edges[index] or (value >= edges[index + 1] and index != bins - 1):
                if value < edges[index]:
                    index -= 1
                if value >= edges[index + 1] and index != bins - 1:
                    index += 1
                indices[position] = index
        for position in range(block.size):
            counts[indices[position]] += 1
    return counts


@kernel
def std_at_most(values: np.ndarray, limit: np.float32) -> np.float32:
    """``numpy.std(values[values <= limit])`` of float32 ``values`` (0 when none is).

    numpy's float32 standard deviation: the mean is the pairwise float32 sum
    divided by the count in float64 and rounded to float32, the squared
    deviations are float32, their pairwise sum divided likewise, then the
    square root.
    """
    flat = values.ravel()
    below = np.empty(flat.size + 1, dtype=np.float32)
    count = 0
    for value in flat:  # without a branch: about half the values are kept, unpredictably
        below[count] = value
        count += value <= limit
    if count == 0:
        return np.float32(0)
    below = below[:count]
    mean = np.float32(np.float64(_pairwise_sum(below, 0, count)) / count)
    for position in range(count):
        deviation = below[position] - mean
        below[position] = deviation * deviation
    return np.sqrt(np.float32(np.float64(_pairwise_sum(below, 0, count)) / count))


@kernel
def _pairwise_sum(values: np.ndarray, start: int, count: int) -> np.float32:
    """numpy's float32 sum of ``values[start:start + count]``.

    numpy sums more than 128 values as the sum of two halves, the first a
    multiple of 8 long, and fewer by :func:`_block_sum`. The halving is
    walked with a stack here (numba's cache breaks recursive kernels): each
    entry is a range, how many of its halves are summed, and the first
    half's sum.
    """
    starts = np.empty(64, dtype=np.int64)
    counts = np.empty(64, dtype=np.int64)
    halves_done = np.zeros(64, dtype=np.int64)
    first_sums = np.empty(64, dtype=np.float32)
    starts[0], counts[0], halves_done[0], top = start, count, 0, 1
    total = np.float32(0)  # the sum of the range last finished
    while top > 0:
        entry = top - 1
        if counts[entry] <= 128:
            total = _block_sum(values, starts[entry], counts[entry])
            top -= 1
            continue
        half = counts[entry] // 2
        half -= half % 8
        if halves_done[entry] == 0:  # sum the first half
            halves_done[entry] = 1
            starts[top], counts[top], halves_done[top] = starts[entry], half, 0
            top += 1
        elif halves_done[entry] == 1:  # first half summed: sum the second
            halves_done[entry], first_sums[entry] = 2, total
            starts[top], counts[top], halves_done[top] = starts[entry] + half, counts[entry] - half, 0
            top += 1
        else:
            total = first_sums[entry] + total
            top -= 1
    return total


@kernel
def _block_sum(values: np.ndarray, start: int, count: int) -> np.float32:
    """numpy's float32 sum of at most 128 values.

    Fewer than 8: in order; else eight running sums over strides of 8,
    combined as a tree, then the rest in order.
    """
    if count < 8:
        total = np.float32(0)
        for position in range(start, start + count):
            total += values[position]
        return total
    s0, s1, s2, s3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    s4, s5, s6, s7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    position = 8
    while position < count - count % 8:
        at = start + position
        s0, s1, s2, s3 = s0 + values[at], s1 + values[at + 1], s2 + values[at + 2], s3 + values[at + 3]
        s4, s5, s6, s7 = s4 + values[at + 4], s5 + values[at + 5], s6 + values[at + 6], s7 + values[at + 7]
        position += 8
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for rest in range(start + position, start + count):
        total += values[rest]
    return total
