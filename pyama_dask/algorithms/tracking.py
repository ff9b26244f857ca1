"""IoU tracking with Hungarian assignment (docs/algorithms.md, section 4).

Frame by frame: the 4-connected regions of the mask are matched to the
regions tracked in the previous frame by maximising the total
bounding-box IoU (``scipy.optimize.linear_sum_assignment`` on ``1 - IoU``).

As in PyAMA-core, tracks start from the regions of frame 0 only, a track
that finds no match ends for good, and the candidates of a frame are the
regions matched in the previous one, in track order. With
``new_tracks=True`` unmatched regions of later frames start new tracks,
numbered after the last track (off by default: it changes results).

A frame of more than ``max_objects_per_frame`` regions (a noise frame: the
dense IoU matrix and the assignment grow with the square and the cube of
the count) is not linked: its links are refused with a logged warning, it
is labelled empty, and the next frame is matched against the last frame
linked. Tracks start in the first frame linked (frame 0 unless refused).

With a ``drift`` (the per-frame drift of the register step,
:mod:`pyama_dask.algorithms.registration`), every frame's boxes are moved
back by its drift, rounded to whole pixels, before matching: boxes are
compared in the coordinates of frame 0, so stage drift larger than a cell
does not end its track.

Only the previous frame's boxes are kept, so the label stack is written
while the masks are read, one chunk of frames at a time.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.measure import label

from pyama_dask.algorithms.options import MAX_OBJECTS_PER_FRAME
from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

MAX_TRACKS = int(np.iinfo(np.uint16).max)


def refuse_links(frame: int, n_objects: int, max_objects: int) -> bool:
    """Whether a frame of ``n_objects`` trackable regions is left unlinked (logged with the reason)."""
    if n_objects <= max_objects:
        return False
    logger.warning(
        "frame %d: %d objects exceed max_objects_per_frame (%d): its links are refused and it is left unlabelled "
        "(a noise frame; segmentation_guard catches those)",
        frame,
        n_objects,
        max_objects,
    )
    return True


def track_iou(
    masks: Any,
    out: Any,
    *,
    min_iou: float = 0.1,
    min_size: int | None = None,
    max_size: int | None = None,
    new_tracks: bool = False,
    max_objects_per_frame: int = MAX_OBJECTS_PER_FRAME,
    drift: np.ndarray | None = None,
) -> int:
    """Track the cells of a mask stack into a label stack.

    Parameters
    ----------
    masks : array-like
        (T, H, W) segmentation masks (non-zero = cell), numpy or Zarr, read
        one chunk of frames at a time.
    out : array-like
        (T, H, W) uint16 array, written chunk by chunk: 0 = background,
        ``k + 1`` = pixels of track ``k``.
    min_iou : float
        Smallest bounding-box IoU of a match.
    min_size, max_size : int, optional
        Regions with fewer or more pixels are ignored.
    new_tracks : bool
        Start tracks for unmatched regions after frame 0.
    max_objects_per_frame : int
        Frames of more regions (after the size filter) are not linked.
    drift : numpy.ndarray, optional
        (T, 2) drift (row, column) of each frame's content relative to
        frame 0: boxes are matched in drift-corrected coordinates.

    Returns
    -------
    int
        Number of tracks (the largest cell id written).

    Raises
    ------
    ValueError
        When more than 65535 tracks would be needed for the uint16 labels,
        or ``drift`` is not one (row, column) pair per frame.
    """
    check_stack(masks, "masks")
    check_stack(out, "out", like=masks)
    offsets = frame_offsets(drift, masks.shape[0])
    tracker = IouTracker(
        min_iou=min_iou,
        min_size=min_size,
        max_size=max_size,
        new_tracks=new_tracks,
        max_objects_per_frame=max_objects_per_frame,
    )
    for frames, block in frame_blocks(masks, "masks"):
        out[frames] = np.stack([tracker.step(mask, offsets[t]) for t, mask in enumerate(block, start=frames.start)])
    logger.debug("tracked %d cells over %d frames", tracker.n_tracks, masks.shape[0])
    return tracker.n_tracks


class IouTracker:
    """Frame-by-frame state of the IoU tracking.

    Parameters
    ----------
    min_iou, min_size, max_size, new_tracks, max_objects_per_frame
        As in :func:`track_iou`.
    """

    def __init__(
        self,
        *,
        min_iou: float = 0.1,
        min_size: int | None = None,
        max_size: int | None = None,
        new_tracks: bool = False,
        max_objects_per_frame: int = MAX_OBJECTS_PER_FRAME,
    ) -> None:
        self.min_iou = min_iou
        self.min_size = min_size
        self.max_size = max_size
        self.new_tracks = new_tracks
        self.max_objects_per_frame = max_objects_per_frame
        self.n_tracks = 0
        self.frame = 0
        self._started = False
        # Boxes (y0, x0, y1, x1) and cell ids of the regions matched in the
        # previous frame, in track order.
        self._boxes = np.empty((0, 4), dtype=np.int64)
        self._cells = np.empty(0, dtype=np.int64)

    def step(self, mask: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """Label the next frame.

        Parameters
        ----------
        mask : numpy.ndarray
            2-D mask of the frame.
        offset : numpy.ndarray, optional
            Whole-pixel (row, column) drift of the frame: its boxes are
            moved back by it before matching.

        Returns
        -------
        numpy.ndarray
            uint16 cell ids of the frame.
        """
        labelled, n_regions = label(np.asarray(mask, dtype=bool), connectivity=1, return_num=True)
        region_ids, boxes = self._regions(labelled, n_regions)
        if offset is not None:
            boxes = boxes - np.tile(offset, 2)
        if refuse_links(self.frame, len(region_ids), self.max_objects_per_frame):
            self.frame += 1
            return np.zeros(labelled.shape, dtype=np.uint16)
        if not self._started:
            cells = self._start_tracks(len(region_ids))
            self._started = True
        else:
            cells = self._match(boxes)
        # The next candidates are this frame's tracked regions in track order
        # (PyAMA-core's order of matches; new tracks come last).
        tracked = np.flatnonzero(cells)
        tracked = tracked[np.argsort(cells[tracked])]
        self._boxes, self._cells = boxes[tracked], cells[tracked]
        self.frame += 1
        cell_of_label = np.zeros(n_regions + 1, dtype=np.uint16)
        cell_of_label[region_ids] = cells
        return cell_of_label.take(labelled)

    def state(self) -> dict[str, Any]:
        """What the tracking of the next frame needs, as plain JSON values (see :meth:`resumed`).

        The boxes and cell ids of the regions tracked in the last frame
        linked, the next cell id (``n_tracks + 1``) and the frame count:
        a follow run records it with every batch of frames, so that a run
        started again links its next frame as if it had never stopped.
        """
        return {"frame": self.frame, "n_tracks": self.n_tracks, "started": self._started,
                "boxes": self._boxes.tolist(), "cells": self._cells.tolist()}

    @classmethod
    def resumed(cls, state: dict[str, Any], **params: Any) -> IouTracker:
        """A tracker with ``params`` (as :class:`IouTracker`) continuing from a :meth:`state`."""
        tracker = cls(**params)
        tracker.frame, tracker.n_tracks = int(state["frame"]), int(state["n_tracks"])
        tracker._started = bool(state["started"])
        tracker._boxes = np.asarray(state["boxes"], dtype=np.int64).reshape(-1, 4)
        tracker._cells = np.asarray(state["cells"], dtype=np.int64)
        return tracker

    def _regions(self, labelled: np.ndarray, n_regions: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels (in label order) and boxes of the regions that pass the size filter."""
        slices = ndimage.find_objects(labelled)
        corners = [(rows.start, columns.start, rows.stop, columns.stop) for rows, columns in slices]
        boxes = np.array(corners, dtype=np.int64).reshape(-1, 4)
        region_ids = np.arange(1, n_regions + 1)
        if self.min_size is None and self.max_size is None:
            return region_ids, boxes
        areas = np.bincount(labelled.ravel(), minlength=n_regions + 1)[1:]
        keep = np.ones(n_regions, dtype=bool)
        if self.min_size is not None:
            keep &= areas >= self.min_size
        if self.max_size is not None:
            keep &= areas <= self.max_size
        return region_ids[keep], boxes[keep]

    def _match(self, boxes: np.ndarray) -> np.ndarray:
        """Cell id of each current region (0 = none), matching the previous frame's."""
        cells = np.zeros(len(boxes), dtype=np.int64)
        if len(self._boxes) and len(boxes):
            iou = bbox_iou(self._boxes, boxes)
            cost = np.where(iou >= self.min_iou, 1.0 - iou, 1.0)
            rows, columns = linear_sum_assignment(cost)
            kept = iou[rows, columns] >= self.min_iou
            cells[columns[kept]] = self._cells[rows[kept]]
        if self.new_tracks:
            unmatched = np.flatnonzero(cells == 0)
            cells[unmatched] = self._start_tracks(len(unmatched))
        return cells

    def _start_tracks(self, count: int) -> np.ndarray:
        if self.n_tracks + count > MAX_TRACKS:
            raise ValueError(
                f"frame {self.frame}: {self.n_tracks + count} tracks exceed the {MAX_TRACKS} "
                "cell ids of a uint16 label stack"
            )
        cells = np.arange(self.n_tracks + 1, self.n_tracks + count + 1, dtype=np.int64)
        self.n_tracks += count
        return cells


def checked_drift(drift: np.ndarray | None, n_frames: int) -> np.ndarray:
    """``drift`` as (n_frames, 2) float64, zeros when None.

    Raises
    ------
    ValueError
        When ``drift`` is not one (row, column) pair per frame.
    """
    if drift is None:
        return np.zeros((n_frames, 2))
    drift = np.asarray(drift, dtype=np.float64)
    if drift.shape != (n_frames, 2):
        raise ValueError(f"drift has shape {drift.shape}: one (row, column) pair per frame, ({n_frames}, 2), expected")
    return drift


def frame_offsets(drift: np.ndarray | None, n_frames: int) -> np.ndarray:
    """Each frame's drift rounded to whole pixels, (n_frames, 2) int64 (see :func:`checked_drift`)."""
    return np.rint(checked_drift(drift, n_frames)).astype(np.int64)


def bbox_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes, float64.

    Parameters
    ----------
    boxes_a, boxes_b : numpy.ndarray
        Integer arrays (n, 4) and (m, 4) of boxes (y0, x0, y1, x1), ends
        exclusive.

    Returns
    -------
    numpy.ndarray
        (n, m) IoU; 0 for boxes that do not overlap.
    """
    a = boxes_a[:, np.newaxis, :]
    b = boxes_b[np.newaxis, :, :]
    height = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    width = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    intersection = np.where((height > 0) & (width > 0), height * width, 0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return intersection / (area_a + area_b - intersection)
