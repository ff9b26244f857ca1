"""The Zarr (v3) store of a run: layout, OME-NGFF metadata and completion markers.

Layout of ``<output_dir>/pyama.zarr``::

    fov_000/                         one group per field of view
        pc_ch_0/0                    raw phase contrast       (T, Y, X) uint16
        pc_ch_0/labels/seg_labeled_ch_0/0
                                     tracked cell labels      (T, Y, X) uint16
        fl_ch_1/0                    raw fluorescence         (T, Y, X) uint16
        seg_ch_0/0                   segmentation mask        (T, Y, X) bool
        fl_corrected_ch_1/           background model (tile medians), see pyama_dask.io.corrected
        tracks_ch_0/                 the tracks as a geff graph, see pyama_dask.io.tracks_geff

Every image (``pc_ch_0`` ...) is a group carrying OME-NGFF 0.5 ``multiscales``
metadata with a single resolution level ``0``, so ome-zarr readers and napari
open it with time in minutes and space in micrometres. Raw images also carry
``omero`` rendering metadata (channel name, colour, contrast limits). The
metadata is written by :mod:`pyama_dask.io.ngff`, through ome-zarr-py.

The tracked labels are an NGFF label image of the phase contrast they were
segmented from: it lives in that image's ``labels`` group (``image-label``
metadata, listed in ``labels``), so opening ``pc_ch_0`` in napari shows the
cells over the phase contrast.

Each image is written by exactly one task (the ``labels`` listing by the task
that writes the label image), which makes its completion record
(:mod:`pyama_dask.io.completion`), written after every chunk, race free.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from pyama_dask.io import ngff
from pyama_dask.io.completion import COMPLETE_KEY, completed_fingerprint

logger = logging.getLogger(__name__)

STORE_NAME = "pyama.zarr"

# Blosc-LZ4. Measured on the pipeline's own 1024 px chunks (one thread):
# raw uint16 with bit-shuffle packs to 51-55 % at ~1.6 ms to encode and
# ~1.2 ms to decode a frame (byte-shuffle: 52-60 %; zstd level 1: 50-51 % at
# 2.5x the time). Masks and labels (bool, uint16) pack to 1-2 % whatever the
# shuffle, and without one they encode 3x and decode 1.5-2x faster; they
# are read several times per frame (tracking, correction, extraction).
_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.bitshuffle)
_MASK_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.noshuffle)
#: Bytes of raw (uint16) pixels per chunk. A chunk holds whole frames; one
#: frame per chunk made Zarr's per-chunk cost (a store call, a file written
#: atomically, an event-loop round trip: ~1 ms to read, ~3 ms to write) as
#: large as the decoding itself. 16 MiB (8 frames at 1024 px) cut the time of
#: writing a 1024 px frame from 4.5 to 2.0 ms, reading it from 2.1 to 1.7 ms
#: and a mask's from 1.0 to 0.3 ms; chunks past 32 MiB were slower again
#: (glibc serves them with fresh mmaps, see :mod:`pyama_dask.workflow.allocator`).
CHUNK_BYTES = 16 * 2**20
#: Image kinds stored with ``_MASK_COMPRESSOR``.
_MASK_KINDS = ("seg", "seg_labeled")

#: Label images (by kind) and the kind of image of the same FOV and channel
#: they annotate: the tracked labels were segmented from the phase contrast.
LABEL_SOURCES = {"seg_labeled": "pc"}
#: Pixel quantiles a raw image's contrast window spans in viewers.
CONTRAST_QUANTILES = (0.001, 0.999)
# Frames, and pixels along the longer side, sampled to find the contrast window.
_CONTRAST_FRAMES = 8
_CONTRAST_PIXELS = 512
# Display colours of fluorescence channels, from channel 1 on (green for the
# first fluorescence channel when phase contrast is channel 0, as usual).
_FLUORESCENCE_COLOURS = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF")


class StoreError(RuntimeError):
    """An image in the store is missing, incomplete or cannot be written."""


@dataclass(frozen=True)
class ImageRef:
    """Where one (FOV, image) lives: plain, picklable, cheap to send to workers.

    Parameters
    ----------
    output_dir
        The run's output directory (the store is ``output_dir / STORE_NAME``).
    fov
        Field-of-view index.
    kind
        What the image holds: ``pc``, ``fl``, ``seg``, ``seg_labeled`` or
        ``fl_corrected`` (PyAMA-core's names).
    channel
        Channel of the input file the image derives from.
    """

    output_dir: Path
    fov: int
    kind: str
    channel: int

    @property
    def name(self) -> str:
        """Image name inside the FOV group, e.g. ``fl_corrected_ch_1``."""
        return f"{self.kind}_ch_{self.channel}"

    @property
    def group_path(self) -> str:
        """Path of the image group in the store; label images sit in their source's ``labels``."""
        source = _label_source(self)
        if source is not None:
            return f"{source.group_path}/labels/{self.name}"
        return f"{fov_group_name(self.fov)}/{self.name}"

    @property
    def location(self) -> Path:
        """Filesystem path of the image group (for results YAML and viewers)."""
        return Path(self.output_dir) / STORE_NAME / self.group_path

    def __str__(self) -> str:
        return str(self.location)


def fov_group_name(fov: int) -> str:
    """Name of a FOV's group and directory, as PyAMA-core spells it."""
    return f"fov_{fov:03d}"


def store_path(output_dir: Path) -> Path:
    """The Zarr store inside ``output_dir``."""
    return Path(output_dir) / STORE_NAME


# What zarr's local store names the temporary file of a write it has not
# finished: ``<name>.<32 hex digits>.partial`` beside the file it replaces.
_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")
# The folders of a FOV group that hold metadata documents: the group, its
# images (and their label images) and their arrays. Not the chunk folders:
# creating an image again clears its array, chunks and all.
_METADATA_FOLDERS = (".", "*", "*/0", "*/labels", "*/labels/*", "*/labels/*/0")


def remove_stale_partials(output_dir: Path, fov: int) -> list[Path]:
    """Remove the temporary files of metadata writes that a killed run left in a FOV's group.

    Zarr writes each document to a temporary file first and moves it into
    place, so a run killed in between leaves the previous document intact and
    the temporary file behind; zarr then warns about it whenever the group is
    listed. Only call this while no other process writes into the store (e.g.
    under the run lock).

    Returns
    -------
    list of Path
        The files removed.
    """
    group = store_path(output_dir) / fov_group_name(fov)
    stale = sorted(path for pattern in _METADATA_FOLDERS for path in group.glob(f"{pattern}/*.partial")
                   if _PARTIAL.search(path.name))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _root(output_dir: Path, mode: str = "a") -> zarr.Group:
    try:
        return zarr.open_group(store_path(output_dir), mode=mode, zarr_format=3)
    except zarr.errors.ContainsGroupError:  # another task created the store just now
        return zarr.open_group(store_path(output_dir), mode="r+", zarr_format=3)


def _require_group(parent: zarr.Group, name: str) -> zarr.Group:
    """``parent[name]``, created when absent.

    Tasks of one FOV start at the same moment on different workers and each
    makes sure the FOV's group exists: the loser of that race opens the group
    the winner created.
    """
    try:
        return parent.require_group(name)
    except zarr.errors.ContainsGroupError:
        return parent[name]


def _colour(ref: ImageRef) -> str:
    """Display colour of a raw image: white for phase contrast, one per fluorescence channel."""
    if ref.kind == "pc":
        return "FFFFFF"
    return _FLUORESCENCE_COLOURS[(ref.channel - 1) % len(_FLUORESCENCE_COLOURS)]


def _label_source(ref: ImageRef) -> ImageRef | None:
    """The image a label image annotates, or None if ``ref`` is not a label image."""
    kind = LABEL_SOURCES.get(ref.kind)
    return None if kind is None else ImageRef(ref.output_dir, ref.fov, kind, ref.channel)


def create_image(
    ref: ImageRef,
    shape: tuple[int, int, int],
    dtype: np.dtype | str,
    *,
    scale: Sequence[float] = (1.0, 1.0, 1.0),
    frames_per_chunk: int | None = None,
    channel_name: str | None = None,
    space_unit: str | None = ngff.MICROMETER,
) -> zarr.Array:
    """Create (or replace) an empty image, marked incomplete.

    The image's ``labels`` group, if any, is kept: it lists label images made
    from this image, which are stored and recomputed on their own.

    Parameters
    ----------
    ref
        The image to create.
    shape
        ``(T, Y, X)``.
    dtype
        Pixel type.
    scale
        Physical size of one step along (t, y, x) in (minutes, um, um).
    frames_per_chunk
        Frames per chunk along T (at most ``T``); by default
        :func:`chunk_frames` of the frame size, the same for every image of a
        FOV so that the steps read and write whole chunks of all their images
        together.
    channel_name
        Name of the input channel; given, the image gets NGFF ``omero``
        metadata (name, colour, contrast window) that viewers show.
    space_unit
        Unit of y and x (:func:`pyama_dask.io.ngff.write_image`); None when
        the pixel size is unknown.

    Returns
    -------
    zarr.Array
        The level-0 array, open for writing.
    """
    dtype = np.dtype(dtype)
    root = _root(ref.output_dir)
    parent = root
    for name in ref.group_path.split("/")[:-1]:
        parent = _require_group(parent, name)
    group = parent.require_group(ref.name)
    # Replacing every attribute marks the image incomplete and drops what a
    # previous run left: its QC facts, and its NGFF metadata, which
    # ome-zarr-py's writers would merge into rather than replace.
    group.attrs.put({"pyama": {COMPLETE_KEY: None}})
    omero = None if channel_name is None else ngff.omero(ref.name, channel_name, _colour(ref), dtype)
    ngff.write_image(group, ref.name, scale, omero, space_unit)
    array = group.create_array(
        "0",
        shape=shape,
        dtype=dtype,
        chunks=(min(frames_per_chunk or chunk_frames(shape[1], shape[2]), max(1, shape[0])), shape[1], shape[2]),
        compressors=_MASK_COMPRESSOR if ref.kind in _MASK_KINDS else _COMPRESSOR,
        fill_value=False if dtype == np.bool_ else 0,
        dimension_names=("t", "y", "x"),
        overwrite=True,
        # Skipping chunks equal to the fill value costs a comparison with a
        # frame-sized copy of it per chunk: half the time of writing a frame.
        config={"write_empty_chunks": True},
    )
    if _label_source(ref) is not None:
        ngff.write_label(parent, ref.name)
    return array


def chunk_frames(height: int, width: int) -> int:
    """Frames per chunk of a FOV's images: :data:`CHUNK_BYTES` of uint16 frames, at least one.

    Examples
    --------
    >>> chunk_frames(1024, 1024), chunk_frames(2048, 2048), chunk_frames(4096, 4096)
    (8, 2, 1)
    """
    return max(1, CHUNK_BYTES // (2 * height * width))


def contrast_pixels(block: np.ndarray, frames: slice, n_frames: int) -> np.ndarray:
    """The pixels of ``block`` that stand for their image in its contrast window.

    A few frames spread over time, sub-sampled in space, stand for the whole
    image, so the cost stays small however long the movie is.

    Parameters
    ----------
    block
        Frames ``frames`` of an image, shaped (n, Y, X).
    frames
        Which frames of the image ``block`` holds.
    n_frames
        Frames of the whole image.

    Returns
    -------
    numpy.ndarray
        The sampled pixels found in ``block`` (flat; empty when it holds none
        of the sampled frames).
    """
    sampled = _contrast_frames(n_frames)
    inside = sampled[(sampled >= frames.start) & (sampled < frames.stop)] - frames.start
    step = max(1, max(block.shape[1:]) // _CONTRAST_PIXELS)
    return block[inside, ::step, ::step].ravel()


def _contrast_frames(n_frames: int) -> np.ndarray:
    """The frames of an image that its contrast window is fitted to, spread over time."""
    return np.unique(np.linspace(0, n_frames - 1, min(n_frames, _CONTRAST_FRAMES)).round().astype(int))


def update_contrast_limits(
    ref: ImageRef,
    pixels: Sequence[np.ndarray] | None = None,
    quantiles: tuple[float, float] = CONTRAST_QUANTILES,
) -> tuple[float, float]:
    """Set the ``omero`` contrast window of a written image to quantiles of its pixels.

    Parameters
    ----------
    ref
        The image.
    pixels
        :func:`contrast_pixels` of the blocks the image was written from;
        None reads them back from the store (each chunk that holds a sampled frame).
    quantiles
        Of the pixels, where the window starts and ends.

    Returns
    -------
    tuple of float
        The window's (start, end).

    Raises
    ------
    StoreError
        If the image has no ``omero`` metadata (it was created without a channel name).
    """
    group = zarr.open_group(store_path(ref.output_dir) / ref.group_path, mode="a", zarr_format=3)
    if not ngff.has_omero(group):
        raise StoreError(f"{ref.location} has no omero metadata to hold contrast limits (FOV {ref.fov}, {ref.name})")
    if pixels is None:
        array = group["0"]
        chunk, n_frames = array.chunks[0], array.shape[0]
        starts = sorted({int(t) // chunk * chunk for t in _contrast_frames(n_frames)})
        pixels = [contrast_pixels(array[start:start + chunk], slice(start, start + chunk), n_frames)
                  for start in starts]
    start, end = (float(v) for v in np.quantile(np.concatenate(pixels), quantiles))
    ngff.set_contrast_window(group, start, end)
    return start, end


def image_channel_name(ref: ImageRef) -> str | None:
    """The channel name recorded in an image's ``omero`` metadata, or None."""
    group = zarr.open_group(store_path(ref.output_dir) / ref.group_path, mode="r", zarr_format=3)
    return ngff.channel_label(group)


def image_scale(ref: ImageRef) -> list[float]:
    """Physical size of one step along (t, y, x) recorded in an image's NGFF metadata."""
    group = zarr.open_group(store_path(ref.output_dir) / ref.group_path, mode="r", zarr_format=3)
    return ngff.scale(group)


def image_space_unit(ref: ImageRef) -> str | None:
    """Unit of an image's y and x axes in its NGFF metadata; None when the pixel size is unknown."""
    group = zarr.open_group(store_path(ref.output_dir) / ref.group_path, mode="r", zarr_format=3)
    return ngff.space_unit(group)


def open_image(ref: ImageRef) -> zarr.Array:
    """Open the level-0 array of a complete image for reading.

    Raises
    ------
    StoreError
        If the image is absent or was not completed.
    """
    if completed_fingerprint(ref) is None:
        raise StoreError(f"{ref.location} is missing or incomplete (FOV {ref.fov}, image {ref.name})")
    return zarr.open_array(store_path(ref.output_dir) / ref.group_path / "0", mode="r", zarr_format=3)


def record_image_qc(ref: ImageRef, facts: dict) -> None:
    """Keep quality facts about an image (e.g. ``fallback_frames`` of a segmentation) in ``attrs["pyama"]``.

    Write them before the image is marked complete; :func:`create_image` clears them.
    """
    group = _root(ref.output_dir)[ref.group_path]
    group.attrs["pyama"] = {**dict(group.attrs["pyama"]), **facts}


#: Key of a label image's lineage in its ``attrs["pyama"]``: [daughter, mother] cell id pairs.
LINEAGE_KEY = "parents"


def record_lineage(ref: ImageRef, parents: dict[int, int]) -> None:
    """Keep the lineage of a label image (daughter cell id -> mother cell id) with it, before it is marked complete."""
    record_image_qc(ref, {LINEAGE_KEY: [[int(daughter), int(mother)] for daughter, mother in sorted(parents.items())]})


def image_lineage(ref: ImageRef) -> dict[int, int] | None:
    """A label image's lineage (daughter cell id -> mother cell id); None when its tracking knew none."""
    pairs = image_qc(ref).get(LINEAGE_KEY)
    return None if pairs is None else {int(daughter): int(mother) for daughter, mother in pairs}


#: Key of a label image's drift in its ``attrs["pyama"]``: [row, column] per frame, px, relative to frame 0.
DRIFT_KEY = "drift"


def record_drift(ref: ImageRef, drift: np.ndarray) -> None:
    """Keep the drift a label image was tracked on ((T, 2), px) with it, before it is marked complete."""
    record_image_qc(ref, {DRIFT_KEY: np.asarray(drift, dtype=float).tolist()})


def image_drift(ref: ImageRef) -> np.ndarray | None:
    """The drift ((T, 2), px) a label image was tracked on; None when it was tracked without drift correction."""
    rows = image_qc(ref).get(DRIFT_KEY)
    return None if rows is None else np.asarray(rows, dtype=float).reshape(-1, 2)


def image_qc(ref: ImageRef) -> dict:
    """An image's ``attrs["pyama"]``: its completion fingerprint and any facts of :func:`record_image_qc`."""
    group = zarr.open_group(store_path(ref.output_dir) / ref.group_path, mode="r", zarr_format=3)
    return dict(group.attrs.get("pyama", {}))
