"""What every microscopy reader shares: the error type, the metadata record and the checks.

The bioio reader (:mod:`pyama_dask.io.inputs.microscopy`) and the MetaMorph series reader
(:mod:`pyama_dask.io.inputs.metamorph`) both describe their input with
:class:`MicroscopyMetadata`, raise :class:`MicroscopyError` on bad input and hand
their pixels through :func:`to_uint16`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

UINT16_MAX = int(np.iinfo(np.uint16).max)
#: The Z choice that reads each frame's maximum projection over Z.
Z_MAX = "max"
#: A Z choice: a plane index, or :data:`Z_MAX`.
ZChoice = int | str


class MicroscopyError(ValueError):
    """Bad microscopy input; the message names the file (and FOV/channel) and what is wrong."""


@dataclass(frozen=True)
class MicroscopyMetadata:
    """What the workflow needs to know about one microscopy input.

    Attributes
    ----------
    file_path : Path
        The input: a file, an OME-Zarr directory, or for a MetaMorph series its
        directory or glob pattern. ``read_frames(file_path, ...)`` reads it again.
    base_name : str
        File stem; for a MetaMorph series the part the file names share
        (e.g. ``"Position4"``).
    file_type : str
        ``"nd2"``, ``"czi"``, ``"ome-tiff"``, ``"tiff"``, ``"ome-zarr"``, or
        for a folder of per-plane TIFFs by its naming ``"metamorph-series"``,
        ``"micro-manager-series"`` or ``"pattern-series"``.
    height, width : int
        Frame size of FOV 0.
    n_frames : int
        Number of time points of FOV 0.
    n_fovs : int
        Number of fields of view (bioio scenes, or MetaMorph positions).
    n_channels : int
        Number of channels of FOV 0.
    timepoints : list of float
        Minutes since the first frame (FOV 0, channel 0), one per frame; the frame
        index when the file records no time (``time_source == "frame-index"``).
    channel_names : list of str
        Channel names, index = channel.
    dtype : str
        numpy dtype name of the stored pixels.
    pixel_size_um : float or None
        Pixel size along X in micrometres; None when the file has no calibration.
    time_source : str
        Where ``timepoints`` came from, the first source the file has of
        ``"ome-deltat"``, ``"ome-time-increment"``, ``"nd2-frame-times"``,
        ``"czi-subblock"``, ``"metamorph"``, ``"bioio-interval"``, else
        ``"frame-index"`` (see :mod:`pyama_dask.io.inputs.timestamps`).
    fov_names : list of str
        Scene ids (or ``"Position<P>"``), index = FOV.
    fov_shapes : list of (int, int, int)
        ``(T, H, W)`` per FOV; scenes of one file may differ.
    dim_order : str or None
        Axis order forced on a plain TIFF (e.g. ``"TYX"``); pass it back to
        ``read_frames``.
    n_z : int
        Number of Z planes of FOV 0 (1 without Z).
    time_notes : list of str
        What a user should know about the time stamps: the frame index
        standing in for time, sources that disagree.
    file_pattern : str or None
        The regular expression naming a per-plane TIFF folder's files, when a
        user gave one; pass it back to ``read_frames``.
    """

    file_path: Path
    base_name: str
    file_type: str
    height: int
    width: int
    n_frames: int
    n_fovs: int
    n_channels: int
    timepoints: list[float]
    channel_names: list[str]
    dtype: str
    pixel_size_um: float | None
    time_source: str
    fov_names: list[str]
    fov_shapes: list[tuple[int, int, int]]
    dim_order: str | None = None
    n_z: int = 1
    time_notes: list[str] = field(default_factory=list)
    file_pattern: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the field names as keys."""
        record = dataclasses.asdict(self)
        record["file_path"] = str(self.file_path)
        record["fov_shapes"] = [list(shape) for shape in self.fov_shapes]
        return record


def require_uniform_shape(meta: MicroscopyMetadata) -> tuple[int, int, int]:
    """The one ``(T, H, W)`` shared by all FOVs.

    Raises
    ------
    MicroscopyError
        When the FOVs differ in shape; the message lists each FOV's shape.
    """
    shapes = {tuple(shape) for shape in meta.fov_shapes}
    if len(shapes) == 1:
        return tuple(meta.fov_shapes[0])
    listing = ", ".join(
        f"FOV {index} ({name!r}) {tuple(shape)}"
        for index, (name, shape) in enumerate(zip(meta.fov_names, meta.fov_shapes))
    )
    raise MicroscopyError(
        f"{meta.file_path}: FOVs differ in (T, H, W) shape but one shape is required: {listing}"
    )


def location(path: Path | str, fov: int, channel: int) -> str:
    """``"<path>, FOV <fov>, channel <channel>"`` for error messages."""
    return f"{path}, FOV {fov}, channel {channel}"


def check_index(path: Path | str, what: str, index: int, count: int, names: list[str] | None = None) -> None:
    """Raise MicroscopyError unless ``0 <= index < count`` (``what`` is "FOV" or "channel")."""
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and 0 <= index < count:
        return
    available = f" ({', '.join(f'{i}={name}' for i, name in enumerate(names))})" if names else ""
    raise MicroscopyError(
        f"{path}: {what} index {index!r} is out of range: {count} {what}(s) available{available}"
    )


def check_z(path: Path | str, fov: int, z: ZChoice, n_z: int) -> None:
    """Raise MicroscopyError unless ``z`` is :data:`Z_MAX` or a plane index below ``n_z``."""
    if z == Z_MAX or (isinstance(z, (int, np.integer)) and not isinstance(z, bool) and 0 <= z < n_z):
        return
    raise MicroscopyError(
        f"{path}, FOV {fov}: Z plane {z!r} is out of range: it has {n_z} Z plane(s), numbered 0-{n_z - 1} "
        f"(or {Z_MAX!r} for the maximum projection)"
    )


def frame_range(path: Path | str, fov: int, frames: slice | None, n_frames: int) -> range:
    """The frame indices ``frames`` selects from ``n_frames``; MicroscopyError when it selects none."""
    selected = range(n_frames) if frames is None else range(n_frames)[frames]
    if len(selected) == 0:
        raise MicroscopyError(f"{path}, FOV {fov}: frames {frames} select none of the {n_frames} frame(s)")
    return selected


def check_uint16_dtype(dtype: np.dtype | str, where: str) -> None:
    """Raise MicroscopyError for pixel dtypes that cannot hold uint16 values exactly (float, complex, ...)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biu":
        raise MicroscopyError(f"{where}: pixels are {dtype.name}; uint16 required (integers 0..{UINT16_MAX})")


def to_uint16(stack: np.ndarray, where: str) -> np.ndarray:
    """Cast integer pixels to uint16 exactly; MicroscopyError for floats or values outside 0..65535."""
    check_uint16_dtype(stack.dtype, where)
    if stack.dtype == np.uint16:
        return stack
    if stack.size and not np.can_cast(stack.dtype, np.uint16):
        low, high = int(stack.min()), int(stack.max())
        if low < 0 or high > UINT16_MAX:
            raise MicroscopyError(
                f"{where}: pixel values {low}..{high} ({stack.dtype.name}) lie outside 0..{UINT16_MAX}; "
                "uint16 required"
            )
    return stack.astype(np.uint16)
