"""Literal transcriptions of docs/algorithms.md, sections 2-5, with the plain library calls.

Slow on purpose: the fast implementations are tested against these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.interpolate import InterpolatedUnivariateSpline, RectBivariateSpline
from scipy.ndimage import (
    binary_closing,
    binary_dilation,
    binary_fill_holes,
    binary_opening,
    uniform_filter,
)
from scipy.optimize import linear_sum_assignment
from skimage.measure import label, regionprops


def log_std(frame, window=3):
    img = np.asarray(frame).astype(np.float32)
    mean = uniform_filter(img, size=window)
    mean_sq = uniform_filter(img * img, size=window)
    var = mean_sq - mean * mean
    logstd = np.zeros_like(img)
    positive = var > 0
    logstd[positive] = 0.5 * np.log(var[positive])
    return logstd


def threshold(logstd, bins=200, sigma_factor=3.0):
    """None where PyAMA-core crashes (too many bins for the range); ours then returns an empty mask."""
    flat = logstd.ravel()
    try:
        counts, edges = np.histogram(flat, bins=bins)
    except ValueError:
        return None
    centres = (edges[:-1] + edges[1:]) * 0.5
    mode = centres[int(np.argmax(counts))]
    below = flat[flat <= mode]
    sigma = np.std(below) if below.size else 0
    return mode + sigma_factor * sigma


def segment_cleanup(mask, morph_size=7, morph_iterations=3):
    struct = np.ones((morph_size, morph_size))
    out = binary_fill_holes(mask)
    out = binary_opening(out, iterations=morph_iterations, structure=struct)
    return binary_closing(out, iterations=morph_iterations, structure=struct)


def segment(frame, window=3, bins=200, sigma_factor=3.0, morph_size=7, morph_iterations=3):
    logstd = log_std(frame, window)
    level = threshold(logstd, bins, sigma_factor)
    if level is None:
        return np.zeros(logstd.shape, dtype=bool)
    return segment_cleanup(logstd > level, morph_size, morph_iterations)


def tile_support(masked, tile_size=256):
    height, width = masked.shape

    def edges(n):
        divs = max(int(np.ceil(n / tile_size)) + 1, 2)
        return np.rint(np.linspace(0, n, 2 * divs - 1)).astype(int)

    ey, ex = edges(height), edges(width)
    support = np.full((ey.size - 2, ex.size - 2), np.nan, dtype=np.float32)
    for i in range(ey.size - 2):
        for j in range(ex.size - 2):
            tile = masked[ey[i] : ey[i + 2], ex[j] : ex[j + 2]]
            if not np.isnan(tile).all():
                support[i, j] = np.nanmedian(tile)
    support[np.isnan(support)] = np.nanmedian(masked)
    return support, (ey[:-2] + ey[2:]) * 0.5, (ex[:-2] + ex[2:]) * 0.5


def background_surface(frame, mask, tile_size=256, dilation_size=21):
    image = np.asarray(frame).astype(np.float32)
    dilated = binary_dilation(mask, structure=np.ones((dilation_size, dilation_size), dtype=bool))
    masked = np.full_like(image, np.nan, dtype=np.float32)
    np.copyto(masked, image, where=~dilated)
    height, width = image.shape
    if np.isnan(masked).all():
        return np.full(image.shape, np.median(image), dtype=np.float32)
    support, cy, cx = tile_support(masked, tile_size)
    ny, nx = support.shape
    if ny == 1 and nx == 1:
        return np.full(image.shape, support[0, 0], dtype=np.float32)
    if ny == 1:
        line = InterpolatedUnivariateSpline(cx, support[0], k=min(3, nx - 1), ext="const")(np.arange(width))
        return np.broadcast_to(line.astype(np.float32), image.shape)
    if nx == 1:
        line = InterpolatedUnivariateSpline(cy, support[:, 0], k=min(3, ny - 1), ext="const")(np.arange(height))
        return np.broadcast_to(line.astype(np.float32)[:, None], image.shape)
    spline = RectBivariateSpline(cx, cy, support.T, kx=min(3, nx - 1), ky=min(3, ny - 1), s=0)
    return spline(np.arange(width), np.arange(height)).astype(np.float32).T


def correct(frame, mask, tile_size=256, dilation_size=21):
    image = np.asarray(frame).astype(np.float32)
    return image - background_surface(image, mask, tile_size, dilation_size)


def _bbox_iou(a, b):
    ay0, ax0, ay1, ax1 = a
    by0, bx0, by1, bx1 = b
    inter_h = min(ay1, by1) - max(ay0, by0)
    inter_w = min(ax1, bx1) - max(ax0, bx0)
    if inter_h <= 0 or inter_w <= 0:
        return 0.0
    inter = inter_h * inter_w
    union = (ay1 - ay0) * (ax1 - ax0) + (by1 - by0) * (bx1 - bx0) - inter
    return float(inter) / float(union)


def track(masks, min_iou=0.1, min_size=None, max_size=None):
    """PyAMA-core's IoU tracking (tracks from frame 0 only)."""
    masks = np.asarray(masks)
    frames = []
    for mask in masks:
        regions = {}
        for p in regionprops(label(mask, connectivity=1)):
            if (min_size is not None and p.area < min_size) or (max_size is not None and p.area > max_size):
                continue
            regions[p.label] = p
        frames.append(regions)
    traces = [{0: lbl} for lbl in frames[0]]
    prev = {lbl: i for i, lbl in enumerate(frames[0])}
    for t in range(1, len(frames)):
        prev_labels = list(prev)
        curr_labels = list(frames[t])
        if not prev_labels or not curr_labels:
            prev = {}
            continue
        cost = np.ones((len(prev_labels), len(curr_labels)))
        valid = np.zeros(cost.shape, dtype=bool)
        for i, pl in enumerate(prev_labels):
            for j, cl in enumerate(curr_labels):
                iou = _bbox_iou(frames[t - 1][pl].bbox, frames[t][cl].bbox)
                if iou >= min_iou:
                    cost[i, j] = 1.0 - iou
                    valid[i, j] = True
        rows, cols = linear_sum_assignment(cost)
        new_prev = {}
        for r, c in zip(rows, cols):
            if valid[r, c]:
                traces[prev[prev_labels[r]]][t] = curr_labels[c]
                new_prev[curr_labels[c]] = prev[prev_labels[r]]
        prev = new_prev
    out = np.zeros(masks.shape, dtype=np.uint16)
    for cell, trace in enumerate(traces, start=1):
        for t, lbl in trace.items():
            coords = frames[t][lbl].coords
            out[t, coords[:, 0], coords[:, 1]] = cell
    return out


def traces(labels, fluorescence, times, fov, min_trace_length=30):
    """Per-cell masking loop of PyAMA-core's extraction."""
    rows = []
    for t in range(labels.shape[0]):
        image = np.asarray(fluorescence[t]).astype(np.float32)
        frame_labels = np.asarray(labels[t])
        for c in np.unique(frame_labels):
            if c == 0:
                continue
            mask = frame_labels == c
            ys = np.where(mask.any(axis=1))[0]
            xs = np.where(mask.any(axis=0))[0]
            rows.append(
                {
                    "fov": fov,
                    "cell": int(c),
                    "frame": t,
                    "time": float(times[t]),
                    "good": True,
                    "position_x": (xs[0] + xs[-1]) / 2.0,
                    "position_y": (ys[0] + ys[-1]) / 2.0,
                    "intensity_total": float(image[mask].sum(dtype=np.float64)),
                    "area": int(mask.sum()),
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    counts = df.groupby("cell").size()
    return df[df["cell"].isin(counts.index[counts >= min_trace_length])].reset_index(drop=True)
