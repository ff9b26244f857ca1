"""The tracks of a FOV as a graph: one node per cell and frame, edges for links and divisions.

A tracked label stack (cell id = track id in every frame it appears in) and
its lineage (daughter id -> mother id) are all a graph needs:

- a node per (frame, cell) present, with the cell's centroid (mean pixel
  row and column, in pixels), its area (pixels) and its track id; nodes are
  numbered from 0 in the order of their frame, then of their track id;
- a link edge between consecutive appearances of a track (across the frames
  it missed, when gap closing bridged them);
- a division edge from a mother's last node to each daughter's first node.

Each track id is a tracklet (a simple path of the graph): divisions start
new ids. The lineage id of a node is the track id of its founder (the
ancestor without a mother). With the register step's drift, each node also
gets its position in the coordinates of frame 0 (position minus the frame's
drift), as the traces' ``*_corrected`` columns.

The stack is read a block of frames at a time, never held whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyama_dask.algorithms.stacks import frame_blocks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TracksGraph:
    """Nodes and edges of the tracks of a FOV, as arrays.

    Attributes
    ----------
    t, y, x, area, track_id, lineage_id
        Per node (node id = index): frame, centroid row and column (pixels),
        area (pixels), track id (the label value), founder's track id.
    y_corrected, x_corrected
        Per node, the centroid minus its frame's drift; None without a drift.
    edges
        (E, 2) node ids, source then target (the earlier node first).
    is_division
        Per edge, True for a mother -> daughter edge, False for a link.
    """

    t: np.ndarray
    y: np.ndarray
    x: np.ndarray
    area: np.ndarray
    track_id: np.ndarray
    lineage_id: np.ndarray
    edges: np.ndarray
    is_division: np.ndarray
    y_corrected: np.ndarray | None = None
    x_corrected: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.t)


@dataclass(frozen=True)
class _FrameCells:
    """The cells of one frame: ids (ascending), areas and centroids."""

    ids: np.ndarray
    area: np.ndarray
    y: np.ndarray
    x: np.ndarray


#: Pixels of a frame measured at once: the temporaries (about 40 B per cell pixel) stay
#: within a few MB however large the frame and however much of it is cells.
BAND_PIXELS = 2**18


def frame_cells(frame: np.ndarray) -> _FrameCells:
    """Id, area and centroid (mean row, mean column) of every cell (label > 0) of one frame."""
    size = int(frame.max(initial=0)) + 1
    area, row_sum, col_sum = np.zeros(size, np.int64), np.zeros(size), np.zeros(size)
    band = max(1, BAND_PIXELS // frame.shape[1])
    for top in range(0, frame.shape[0], band):
        flat = frame[top:top + band].ravel()
        inside = np.flatnonzero(flat)  # cell pixels only: the background is most of a frame
        labels = flat[inside].astype(np.intp)
        rows, cols = np.divmod(inside, frame.shape[1])
        area += np.bincount(labels, minlength=size)
        row_sum += np.bincount(labels, weights=rows + top, minlength=size)
        col_sum += np.bincount(labels, weights=cols, minlength=size)
    ids = np.flatnonzero(area[1:]) + 1
    return _FrameCells(ids, area[ids], row_sum[ids] / area[ids], col_sum[ids] / area[ids])


def tracks_graph(labels: Any, parents: dict[int, int] | None = None, drift: np.ndarray | None = None) -> TracksGraph:
    """The graph of a tracked (T, H, W) label stack and its lineage.

    Parameters
    ----------
    labels
        Cell ids per frame (numpy or Zarr), 0 for background.
    parents
        Daughter id -> mother id (the track step's lineage); None or empty
        without divisions.
    drift
        (T, 2) drift (row, column) of each frame, the register step's; given,
        the nodes get drift-corrected positions.

    Returns
    -------
    TracksGraph

    Raises
    ------
    ValueError
        When ``drift`` has fewer frames than ``labels``.
    """
    parents = parents or {}
    if drift is not None and len(drift) < labels.shape[0]:
        raise ValueError(f"drift of {len(drift)} frames for a label stack of {labels.shape[0]} frames")
    columns: dict[str, list[np.ndarray]] = {"t": [], "y": [], "x": [], "area": [], "track_id": []}
    for frames, block in frame_blocks(labels, "labels"):
        for t, frame in zip(range(frames.start, frames.stop), block):
            cells = frame_cells(frame)
            for name, values in (("t", np.full(len(cells.ids), t)), ("y", cells.y), ("x", cells.x),
                                 ("area", cells.area), ("track_id", cells.ids)):
                columns[name].append(values)
    nodes = {name: np.concatenate(parts) if parts else np.empty(0) for name, parts in columns.items()}
    t, track_id = nodes["t"].astype(np.int64), nodes["track_id"].astype(np.int64)
    links, first, last = _track_links(t, track_id)
    divisions = _division_edges(parents, first, last)
    edges = np.concatenate([links, divisions]).astype(np.int64).reshape(-1, 2)
    corrected = {}
    if drift is not None:
        corrected = {"y_corrected": nodes["y"] - drift[t, 0], "x_corrected": nodes["x"] - drift[t, 1]}
    logger.debug("tracks graph: %d nodes, %d links, %d division edges", len(t), len(links), len(divisions))
    return TracksGraph(
        t=t, y=nodes["y"].astype(np.float64), x=nodes["x"].astype(np.float64),
        area=nodes["area"].astype(np.int64), track_id=track_id, lineage_id=_founders(track_id, parents),
        edges=edges, is_division=np.arange(len(edges)) >= len(links), **corrected,
    )


def _track_links(t: np.ndarray, track_id: np.ndarray) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
    """Edges between consecutive nodes of each track, and each track's first and last node.

    Nodes come in frame order, so a stable sort by track keeps each track's
    nodes in frame order.
    """
    order = np.argsort(track_id, kind="stable")
    same_track = track_id[order][1:] == track_id[order][:-1]
    links = np.stack([order[:-1][same_track], order[1:][same_track]], axis=1)
    starts = np.flatnonzero(np.r_[True, ~same_track]) if len(order) else np.empty(0, int)
    ends = np.flatnonzero(np.r_[~same_track, True]) if len(order) else np.empty(0, int)
    first = {int(track_id[order[i]]): int(order[i]) for i in starts}
    last = {int(track_id[order[i]]): int(order[i]) for i in ends}
    return links, first, last


def _division_edges(parents: dict[int, int], first: dict[int, int], last: dict[int, int]) -> np.ndarray:
    """Mother's last node -> daughter's first node, for each daughter whose mother and itself have nodes."""
    missing = sorted(d for d, m in parents.items() if d not in first or m not in last)
    if missing:
        logger.warning("lineage names cells absent from the labels (daughters %s): no division edge for them",
                       missing)
    return np.array([[last[m], first[d]] for d, m in sorted(parents.items()) if d not in missing],
                    dtype=np.int64).reshape(-1, 2)


def _founders(track_id: np.ndarray, parents: dict[int, int]) -> np.ndarray:
    """The founder's track id of each node: follow mothers up to a track without one."""
    founder: dict[int, int] = {}
    for track in np.unique(track_id).tolist():
        ancestor = track
        while ancestor in parents:
            ancestor = parents[ancestor]
        founder[track] = ancestor
    return np.array([founder[track] for track in track_id.tolist()], dtype=np.int64)
