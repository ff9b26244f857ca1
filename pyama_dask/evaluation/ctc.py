"""Cell Tracking Challenge (CTC) layout: label stacks to mask files plus a track table.

A CTC result folder holds one uint16 TIFF per frame (``mask000.tif`` ...)
and ``res_track.txt``, one line ``L B E P`` per track: label, first and last
frame, parent label (0: none). A ground-truth folder holds ``TRA/`` (the
same, named ``man_track000.tif`` and ``man_track.txt``) and optionally
``SEG/man_seg000.tif`` ... (instance masks of some frames).

A CTC track is present in every frame from B to E. A cell of ours that is
missing from some frames (laptrack's gap closing) is therefore written as
one track per stretch of consecutive frames, each later stretch with a new
label whose parent is the stretch before, which is how the CTC encodes gaps.
A daughter of a division (the lineage of the tracking) has as parent the
mother's last stretch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from pyama_dask.algorithms.stacks import check_stack, frame_blocks

logger = logging.getLogger(__name__)

RESULT_TRACKS = "res_track.txt"
TRUTH_TRACKS = "man_track.txt"
MAX_LABEL = int(np.iinfo(np.uint16).max)


@dataclass(frozen=True)
class CtcTrack:
    """One line of a CTC track table."""

    label: int
    begin: int
    end: int
    parent: int

    def line(self) -> str:
        return f"{self.label} {self.begin} {self.end} {self.parent}"


def write_ctc_result(labels: Any, folder: str | Path, parents: dict[int, int] | None = None) -> list[CtcTrack]:
    """Write a (T, H, W) label stack as a CTC result folder (``maskTTT.tif`` + ``res_track.txt``).

    Parameters
    ----------
    labels : array-like
        Tracked cell ids per frame (0 = background), numpy or Zarr, read
        one chunk of frames at a time.
    folder : str or Path
        Created if missing.
    parents : dict, optional
        Daughter cell id -> mother cell id (the divisions), written as the
        daughters' parents.

    Returns
    -------
    list of CtcTrack
        The tracks written.
    """
    return _write(labels, Path(folder), "mask{:0{w}d}.tif", Path(folder) / RESULT_TRACKS, parents)


def write_ctc_truth(
    tracks: Any, folder: str | Path, segmentation: Any | None = None, parents: dict[int, int] | None = None
) -> list[CtcTrack]:
    """Write ground truth in CTC layout: ``TRA/`` from tracked labels, ``SEG/`` from instance labels.

    Parameters
    ----------
    tracks : array-like
        (T, H, W) labels whose ids are consistent over time.
    folder : str or Path
        The ground-truth folder (``TRA`` and ``SEG`` are made inside).
    segmentation : array-like, optional
        (T, H, W) instance labels for ``SEG/`` (any ids per frame); every
        frame with an object is written.
    parents : dict, optional
        Daughter track id -> mother track id (the divisions).

    Returns
    -------
    list of CtcTrack
        The TRA tracks written.
    """
    folder = Path(folder)
    written = _write(tracks, folder / "TRA", "man_track{:0{w}d}.tif", folder / "TRA" / TRUTH_TRACKS, parents)
    if segmentation is not None:
        check_stack(segmentation, "segmentation", like=tracks)
        (folder / "SEG").mkdir(parents=True, exist_ok=True)
        width = _digits(segmentation.shape[0])
        for t, frame in _frames(segmentation):
            if frame.any():
                tifffile.imwrite(folder / "SEG" / f"man_seg{t:0{width}d}.tif", frame.astype(np.uint16))
    return written


def _write(
    labels: Any, mask_folder: Path, pattern: str, track_file: Path, parents: dict[int, int] | None = None
) -> list[CtcTrack]:
    check_stack(labels, "labels")
    mask_folder.mkdir(parents=True, exist_ok=True)
    n_frames = labels.shape[0]
    width = _digits(n_frames)
    presence = [np.unique(frame[frame > 0]) for _, frame in _frames(labels)]
    tracks, label_of = ctc_tracks(presence, parents)
    for t, frame in _frames(labels):
        label_of_cell = np.zeros(int(frame.max()) + 1, dtype=np.uint16)
        for cell in presence[t]:
            label_of_cell[cell] = label_of[(int(cell), t)]
        tifffile.imwrite(mask_folder / pattern.format(t, w=width), label_of_cell.take(frame))
    track_file.write_text("".join(track.line() + "\n" for track in tracks))
    logger.debug("wrote %d CTC tracks over %d frames to %s", len(tracks), n_frames, mask_folder)
    return tracks


def ctc_tracks(
    presence: list[np.ndarray], parents: dict[int, int] | None = None
) -> tuple[list[CtcTrack], dict[tuple[int, int], int]]:
    """CTC tracks from the cell ids present in each frame, one track per unbroken stretch.

    Parameters
    ----------
    presence : list of numpy.ndarray
        Per frame, the cell ids present.
    parents : dict, optional
        Daughter cell id -> mother cell id: a daughter's first stretch has
        as parent the mother's last one. A mother absent from every frame
        (all its regions filtered out) leaves the daughter without parent.

    Returns
    -------
    tracks : list of CtcTrack
        By label. A cell's first stretch keeps its id; each later stretch
        gets a new label (after the largest id) whose parent is the stretch
        before.
    label_of : dict
        (cell id, frame) -> CTC label.
    """
    frames_of: dict[int, list[int]] = {}
    for t, cells in enumerate(presence):
        for cell in cells:
            frames_of.setdefault(int(cell), []).append(t)
    next_label = max(frames_of, default=0) + 1
    tracks, label_of = [], {}
    last_label: dict[int, int] = {}
    parents = parents or {}
    # Mothers before daughters: tracking numbers a daughter after its mother.
    for cell in sorted(frames_of, key=lambda cell: (_generation(cell, parents), cell)):
        parent, current = last_label.get(parents.get(cell, 0), 0), cell
        for stretch, (begin, end) in enumerate(_stretches(frames_of[cell])):
            if stretch:
                current, next_label = next_label, next_label + 1
                if current > MAX_LABEL:
                    raise ValueError(f"cell {cell}: more than {MAX_LABEL} CTC labels are needed")
            tracks.append(CtcTrack(current, begin, end, parent))
            label_of.update({(cell, t): current for t in range(begin, end + 1)})
            parent = current
        last_label[cell] = current
    return sorted(tracks, key=lambda track: track.label), label_of


def _generation(cell: int, parents: dict[int, int]) -> int:
    """How many divisions separate ``cell`` from its founder."""
    generation, seen = 0, {cell}
    while cell in parents:
        cell = parents[cell]
        if cell in seen:
            raise ValueError(f"the lineage has a cycle through cell {cell}")
        seen.add(cell)
        generation += 1
    return generation


def _stretches(frames: list[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive frames of a sorted list."""
    start = previous = frames[0]
    for t in frames[1:]:
        if t != previous + 1:
            yield start, previous
            start = t
        previous = t
    yield start, previous


def _frames(stack: Any) -> Iterator[tuple[int, np.ndarray]]:
    for frames, block in frame_blocks(stack):
        yield from zip(range(frames.start, frames.stop), block)


def _digits(n_frames: int) -> int:
    """CTC names frames with 3 digits, 4 from 1000 frames on."""
    return max(3, len(str(n_frames - 1)))
