"""Tracking by linear assignment with gap closing (laptrack, Jaqaman et al. 2008; docs/algorithms.md, section 6.7).

PyAMA-core's IoU tracking starts tracks in frame 0 only and ends a track at
the first frame without a match, so one bad frame ends every track. Here the
whole movie is solved at once by :class:`laptrack.LapTrack`:

- Link cost: the squared distance between region centroids in consecutive
  frames; pairs farther apart than ``max_link_distance`` are never linked.
  Left as None, that distance is the median equivalent diameter of all
  regions: a cell moves less than its own size between frames, and a region
  farther away is another cell.
- Gap closing: a track ending in frame ``t`` may continue in frame
  ``t + 2 ... t + max_gap_frames + 1`` (same cost and cutoff), so a cell
  missing from up to ``max_gap_frames`` frames (a dim or badly segmented
  frame) keeps its id. Its label is absent in the frames it missed.
- Splitting (``track_divisions``): a track may branch into two (a division)
  whose daughters start within the link distance, and within
  ``DAUGHTER_DISTANCE_SHARE`` of the mother's own diameter, each at most
  ``DAUGHTER_AREA_SHARE`` of the mother's area (else the farther one starts
  a track of its own); both daughters get new ids, and the lineage (each
  daughter's mother) is returned with the number of tracks.
- Tracks start and end in any frame. Starting and ending costs are
  laptrack's (from the 90th percentile of the link costs).
- With a ``drift`` (the register step's per-frame drift), centroids are
  linked in drift-corrected coordinates (those of frame 0).
- A frame of more than ``max_objects_per_frame`` regions (a noise frame,
  which would stall the solver) takes no part: its links are refused with
  a logged warning and it is left unlabelled; gap closing bridges it.

Ids are stable: tracks are numbered from 1 in the order of their first
frame, then of their first region's label (raster order) in that frame.

The stack is read twice, never held whole: a first pass collects each
frame's region centroids (a few numbers per cell), laptrack solves, and a
second pass labels every frame again and writes the cell ids chunk by chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from skimage.measure import label

from pyama_dask.algorithms.stacks import check_stack, frame_blocks
from pyama_dask.algorithms.tracking import MAX_OBJECTS_PER_FRAME, MAX_TRACKS, checked_drift, refuse_links

if TYPE_CHECKING:
    import networkx as nx

logger = logging.getLogger(__name__)

#: Most candidate pairs of segments laptrack may weigh for gap closing and
#: divisions. Real movies need far fewer: every cell that links frame to
#: frame is no segment end. Measured on 6 frames of 260 noise grains (0.9
#: million gap-closing pairs, one core of a loaded machine): 1.2 s with
#: FastGapClosingLapTrack, 32 s with laptrack's own candidate search.
SEGMENT_PAIR_BUDGET = 1_000_000
#: A division links a mother to daughters whose centroids lie at most this
#: share of the mother's equivalent diameter from hers: a daughter lies about
#: half her mother's diameter away (0.5-0.6 measured on the synthetic
#: divisions); regions farther are other cells. Relative to the mother, not
#: to the link distance (the median diameter, which the daughters themselves
#: lower): at 3/4 of the link distance the daughters of large mothers were
#: out of reach (on the movie of tests/test_accuracy_divisions_drift.py 3 of
#: 27 divisions lost, each an ID switch of the mother's track into a
#: daughter; with this share 1 without drift, none with drift and the
#: register step), while false divisions on the real fixtures, which
#: annotate none, went from 3 and 3 to 5 and 4 (TRA 0.700 -> 0.699 and
#: 0.819 unchanged).
DAUGHTER_DISTANCE_SHARE = 0.65
#: With divisions, what starting a track costs, as a share of the squared
#: link distance. laptrack's estimate (a percentile of the candidate costs)
#: is tiny when cells barely move, so a daughter half a diameter from its
#: mother started a track of its own instead of branching (3 of 27
#: synthetic divisions lost; none with this cost, and no more false
#: divisions on the real fixtures).
DIVISION_START_COST_FACTOR = 0.5
#: Largest share of her mother's area a daughter has: a division splits the
#: mother's area (measured on the real fixtures: without this check 6 and 8
#: divisions were found where none are annotated, with it 3 and 3).
DAUGHTER_AREA_SHARE = 0.8


@dataclass(frozen=True)
class FrameRegions:
    """The trackable regions of one frame.

    Attributes
    ----------
    n_regions : int
        4-connected regions of the mask, before the size filter.
    ids : numpy.ndarray
        Labels (1 ...) of the regions that pass the size filter, ascending.
    centroids : numpy.ndarray
        (len(ids), 2) float centroid (row, column) of those regions.
    areas : numpy.ndarray
        Their pixel counts.
    """

    n_regions: int
    ids: np.ndarray
    centroids: np.ndarray
    areas: np.ndarray


@dataclass(frozen=True)
class Tracks:
    """What tracking found besides the labels.

    Attributes
    ----------
    n_tracks : int
        Number of tracks (the largest cell id written).
    parents : dict
        Daughter cell id -> mother cell id, one entry per daughter of a
        division (empty without ``track_divisions``).
    """

    n_tracks: int
    parents: dict[int, int]


def track_laptrack(
    masks: Any,
    out: Any,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    max_link_distance: float | None = None,
    max_gap_frames: int = 2,
    track_divisions: bool = False,
    max_objects_per_frame: int = MAX_OBJECTS_PER_FRAME,
    drift: np.ndarray | None = None,
) -> Tracks:
    """Track the cells of a mask stack into a label stack with laptrack.

    Parameters
    ----------
    masks : array-like
        (T, H, W) segmentation masks (non-zero = cell), numpy or Zarr, read
        one chunk of frames at a time (twice).
    out : array-like
        (T, H, W) uint16 array, written chunk by chunk: 0 = background,
        ``k`` = pixels of track ``k``.
    min_size, max_size : int, optional
        Regions with fewer or more pixels are ignored (label 0).
    max_link_distance : float, optional
        Largest centroid displacement (px) of a link; None: the median
        equivalent diameter of the regions.
    max_gap_frames : int
        Frames a cell may be missing inside its track (0: no gap closing).
    track_divisions : bool
        Allow a track to split into two daughters.
    max_objects_per_frame : int
        Frames of more regions (after the size filter) are not linked.
    drift : numpy.ndarray, optional
        (T, 2) drift (row, column) of each frame's content relative to
        frame 0: centroids are linked in drift-corrected coordinates.

    Returns
    -------
    Tracks
        Number of tracks and the lineage of divisions.

    Raises
    ------
    ValueError
        When more than 65535 tracks would be needed for the uint16 labels,
        or ``drift`` is not one (row, column) pair per frame.
    """
    check_stack(masks, "masks")
    drift = checked_drift(drift, masks.shape[0])
    check_stack(out, "out", like=masks)
    if max_gap_frames < 0:
        raise ValueError(f"max_gap_frames must be >= 0, got {max_gap_frames}")
    regions = [frame_regions(mask, min_size, max_size) for _, block in frame_blocks(masks, "masks") for mask in block]
    regions = [
        without_regions(frame) if refuse_links(t, frame.ids.size, max_objects_per_frame)
        else replace(frame, centroids=frame.centroids - drift[t])
        for t, frame in enumerate(regions)
    ]
    distance = max_link_distance if max_link_distance is not None else typical_diameter(regions)
    cells, parents = link_regions(regions, distance, max_gap_frames=max_gap_frames, track_divisions=track_divisions)
    for frames, block in frame_blocks(masks, "masks"):
        out[frames] = np.stack(
            [_cell_labels(mask, regions[t], cells[t]) for t, mask in zip(range(frames.start, frames.stop), block)]
        )
    n_tracks = int(max((c.max() for c in cells if c.size), default=0))
    logger.debug("laptrack: %d tracks (%d daughters) over %d frames, link distance %.1f px",
                 n_tracks, len(parents), len(regions), distance)
    return Tracks(n_tracks, parents)


def frame_regions(mask: np.ndarray, min_size: int | None = None, max_size: int | None = None) -> FrameRegions:
    """Label a mask (4-connected, as the IoU tracker) and measure its regions."""
    labelled, n_regions = label(np.asarray(mask, dtype=bool), connectivity=1, return_num=True)
    # Sums over the cell pixels only: cells cover a small part of a frame.
    pixels = np.flatnonzero(labelled)
    region = labelled.ravel()[pixels]
    rows, columns = np.divmod(pixels, labelled.shape[1])
    areas = np.bincount(region, minlength=n_regions + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid_rows = np.bincount(region, weights=rows, minlength=n_regions + 1)[1:] / areas
        centroid_columns = np.bincount(region, weights=columns, minlength=n_regions + 1)[1:] / areas
    keep = areas > 0
    if min_size is not None:
        keep &= areas >= min_size
    if max_size is not None:
        keep &= areas <= max_size
    ids = np.flatnonzero(keep) + 1
    centroids = np.column_stack([centroid_rows[keep], centroid_columns[keep]])
    return FrameRegions(n_regions, ids, centroids, areas[keep])


def without_regions(frame: FrameRegions) -> FrameRegions:
    """The frame with none of its regions trackable (labelled 0)."""
    return FrameRegions(frame.n_regions, np.empty(0, dtype=np.int64), np.empty((0, 2)), np.empty(0, dtype=np.int64))


def typical_diameter(regions: list[FrameRegions]) -> float:
    """Median equivalent diameter (px) of all regions; 1 when there are none."""
    areas = np.concatenate([frame.areas for frame in regions]) if regions else np.empty(0)
    if areas.size == 0:
        return 1.0
    return float(max(1.0, 2 * np.sqrt(np.median(areas) / np.pi)))


def link_regions(
    regions: list[FrameRegions], max_distance: float, *, max_gap_frames: int = 2, track_divisions: bool = False
) -> tuple[list[np.ndarray], dict[int, int]]:
    """Cell id (1 ...) of every trackable region of every frame, by laptrack, and the divisions' lineage.

    Returns
    -------
    cells : list of numpy.ndarray
        Per frame, the cell id of each region of ``FrameRegions.ids``.
    parents : dict
        Daughter cell id -> mother cell id.
    """
    # Imported here: laptrack takes ~1.5 s to import (scikit-learn,
    # pydantic), which only runs that track with it should pay.
    from laptrack import LapTrack

    cells = [np.zeros(frame.ids.size, dtype=np.int64) for frame in regions]
    parents: dict[int, int] = {}
    if not any(frame.ids.size for frame in regions):
        return cells, parents
    cutoff = float(max_distance) ** 2
    centroids = [frame.centroids for frame in regions]
    if max_gap_frames == 0 and not track_divisions:
        tree = LapTrack(metric="sqeuclidean", cutoff=cutoff, gap_closing_cutoff=False).predict(centroids)
    else:
        tree = _link_with_gaps_and_divisions(centroids, cutoff, max_gap_frames, track_divisions)
        if track_divisions:
            _drop_implausible_divisions(tree, regions)
    # A track is a chain of nodes (frame, index) with one link in and out;
    # it starts where a node has no single predecessor of its own (a first
    # frame, or a division). Numbered by its first node: stable ids.
    starts = sorted(node for node in tree.nodes if not _continues(tree, node))
    if len(starts) > MAX_TRACKS:
        raise ValueError(f"{len(starts)} tracks exceed the {MAX_TRACKS} cell ids of a uint16 label stack")
    for number, node in enumerate(starts, start=1):
        # A division's daughter: its one predecessor branches. The mother's
        # track started in an earlier frame, so it is numbered already.
        predecessors = list(tree.predecessors(node))
        if len(predecessors) == 1:
            parents[number] = int(cells[predecessors[0][0]][predecessors[0][1]])
        while True:
            cells[node[0]][node[1]] = number
            successors = list(tree.successors(node))
            if len(successors) != 1 or not _continues(tree, successors[0]):
                break
            node = successors[0]
    return cells, parents


def _link_with_gaps_and_divisions(
    centroids: list[np.ndarray], cutoff: float, max_gap_frames: int, track_divisions: bool
) -> nx.DiGraph:
    """laptrack's tracks with gap closing and/or divisions, unless their candidate pairs exceed the budget.

    laptrack weighs every segment start against the previous frame's
    regions for divisions one pair at a time in Python (and gap-closing
    pairs, with numpy, every segment end against every segment start of
    the window), so on noise frames, where nearly every region is a segment
    of one frame, the cost grows with the square of the regions. The
    frame-to-frame links are computed first (cheap) and reused; when the
    pairs they leave exceed ``SEGMENT_PAIR_BUDGET`` those links are kept
    without gap closing and divisions, with a logged warning.
    """
    from pyama_dask.algorithms.laptrack_gap_closing import FastGapClosingLapTrack, directed

    tracker = FastGapClosingLapTrack(
        metric="sqeuclidean",
        cutoff=cutoff,
        gap_closing_metric="sqeuclidean",
        gap_closing_cutoff=cutoff if max_gap_frames > 0 else False,
        gap_closing_max_frame_count=max_gap_frames + 1,
        splitting_metric="sqeuclidean",
        splitting_cutoff=cutoff if track_divisions else False,
        segment_start_cost=cutoff * DIVISION_START_COST_FACTOR if track_divisions else None,
    )
    frame_links = tracker.frame_links(centroids)
    pairs = segment_pairs(directed(frame_links), [len(frame) for frame in centroids], max_gap_frames,
                          track_divisions)
    if pairs > SEGMENT_PAIR_BUDGET:
        logger.warning(
            "laptrack: %d candidate pairs of segments exceed the budget (%d): gap closing and divisions skipped, "
            "frame-to-frame links kept (noise frames? segmentation_guard catches those)",
            pairs,
            SEGMENT_PAIR_BUDGET,
        )
        return directed(frame_links)
    return tracker.predict_from_links(centroids, frame_links)


def _drop_implausible_divisions(tree: nx.DiGraph, regions: list[FrameRegions]) -> None:
    """Undo the divisions whose daughters are not both smaller than their mother and beside her (in place).

    A dividing cell splits its area between its daughters, which lie about
    half her diameter from her centroid; a "daughter" as large as the
    mother, or farther away, is a neighbour that came into view or was
    missed in the frames before. Of such a division the daughter closer to
    the mother continues her track and the other starts one of its own.
    """
    for node in [node for node in tree.nodes if tree.out_degree(node) == 2]:
        area = regions[node[0]].areas[node[1]]
        daughters = list(tree.successors(node))
        mother_at = regions[node[0]].centroids[node[1]]
        reach = DAUGHTER_DISTANCE_SHARE * 2 * np.sqrt(area / np.pi)
        if all(regions[t].areas[i] <= DAUGHTER_AREA_SHARE * area
               and np.hypot(*(regions[t].centroids[i] - mother_at)) <= reach for t, i in daughters):
            continue
        farther = max(daughters, key=lambda d: float(np.sum((regions[d[0]].centroids[d[1]] - mother_at) ** 2)))
        tree.remove_edge(node, farther)


def segment_pairs(frame_links: nx.DiGraph, counts: list[int], max_gap_frames: int, track_divisions: bool) -> int:
    """The pairs laptrack weighs for gap closing and divisions, from the frame-to-frame links.

    Gap closing: each segment end against the segment starts of the
    ``max_gap_frames + 1`` next frames; divisions: each segment start
    against the regions of the frame before.
    """
    n_frames = len(counts)
    ends, starts = np.zeros(n_frames, dtype=np.int64), np.zeros(n_frames, dtype=np.int64)
    for node in frame_links.nodes:
        ends[node[0]] += frame_links.out_degree(node) == 0
        starts[node[0]] += frame_links.in_degree(node) == 0
    pairs = 0
    if max_gap_frames > 0:
        # window[t + max_gap_frames + 1] = starts[t + 1] + ... + starts[t + max_gap_frames + 1]
        window = np.convolve(starts, np.ones(max_gap_frames + 1, dtype=np.int64))
        pairs += int(sum(ends[t] * window[t + max_gap_frames + 1] for t in range(n_frames - 1)))
    if track_divisions:
        pairs += int(np.dot(starts[1:], np.asarray(counts[:-1], dtype=np.int64)))
    return pairs


def _continues(tree: nx.DiGraph, node: tuple[int, int]) -> bool:
    """Whether ``node`` continues its predecessor's track (its only link in, that one's only link out)."""
    predecessors = list(tree.predecessors(node))
    return len(predecessors) == 1 and tree.out_degree(predecessors[0]) == 1


def _cell_labels(mask: np.ndarray, regions: FrameRegions, cells: np.ndarray) -> np.ndarray:
    """uint16 cell ids of one frame, labelled again exactly as in the first pass."""
    labelled = label(np.asarray(mask, dtype=bool), connectivity=1)
    cell_of_label = np.zeros(regions.n_regions + 1, dtype=np.uint16)
    cell_of_label[regions.ids] = cells
    return cell_of_label.take(labelled)
