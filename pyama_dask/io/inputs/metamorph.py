"""Per-plane TIFF series: one single-plane TIFF per channel, position and time point.

MetaMorph's multi-dimensional acquisition writes ``<CH>_Position<P>_time<T>.tif``
files, Micro-Manager's one-file-per-image mode ``img_channel<C>_position<P>_time<T>_z<Z>.tif``
(:mod:`pyama_dask.io.inputs.plane_files`; other namings by a regular expression). A
directory of them (or a glob pattern matching some of them, or one of them standing
for its directory) is one input:

- FOVs are the positions, sorted numerically;
- channels are the channel parts of the names, sorted alphabetically (e.g. ``TFP``,
  ``YFP``), or numerically when they are numbers; a Micro-Manager file's own metadata
  names its channel;
- frames are the time indices, sorted numerically;
- time stamps come from each file's MetaSeries ``acquisition-time-local`` or
  Micro-Manager ``ElapsedTime-ms``.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import tifffile

from pyama_dask.io.inputs.common import (
    MicroscopyError,
    MicroscopyMetadata,
    check_index,
    frame_range,
    location,
    to_uint16,
)
from pyama_dask.io.inputs.plane_files import (
    METAMORPH,
    PlaneNaming,
    channel_order,
    detect_naming,
    naming_from_pattern,
    plane_file_entries,
)
from pyama_dask.io.inputs.timestamps import (
    FrameTimes,
    choose_frame_times,
    metamorph_acquisition_time,
    micromanager_channel_name,
    micromanager_elapsed_minutes,
    minutes_since_first,
)

logger = logging.getLogger(__name__)

#: A plane file's time stamps: MetaSeries acquisition time, Micro-Manager elapsed minutes (None when absent).
PlaneStamps = tuple[datetime | None, float | None]

_MICROMETRE_UNITS = {"um", "µm", "micron", "microns", "micrometer", "micrometre"}


@dataclass(frozen=True)
class MetaMorphSeries:
    """The files of one series, indexed by (position, channel part of the name, time index).

    ``source`` is the directory or glob pattern that names the series again,
    ``naming`` how its files are named.
    """

    source: Path
    positions: tuple[int, ...]
    channels: tuple[str, ...]
    times: tuple[int, ...]
    files: dict[tuple[int, str, int], Path]
    naming: PlaneNaming = METAMORPH

    def file(self, fov: int, channel: int, frame: int) -> Path:
        """The TIFF holding one plane, by FOV, channel and frame index."""
        return self.files[(self.positions[fov], self.channels[channel], self.times[frame])]

    @property
    def fov_names(self) -> list[str]:
        """``"Position<P>"`` per FOV."""
        return [f"Position{position}" for position in self.positions]


def is_glob_pattern(path: Path | str) -> bool:
    """Whether ``path`` holds glob wildcards."""
    return glob.has_magic(str(path))


def is_series_file(path: Path) -> bool:
    """Whether the file name follows a known per-plane naming (MetaMorph's, Micro-Manager's)."""
    return detect_naming([path.name]) is not None


def find_series(path: Path, pattern: str | None = None) -> MetaMorphSeries:
    """The series a directory, a glob pattern or one member file stands for.

    Parameters
    ----------
    path : Path
        Directory, glob pattern or member file.
    pattern : str, optional
        Regular expression naming the files (see :mod:`pyama_dask.io.inputs.plane_files`);
        by default the known naming most files follow.

    Raises
    ------
    MicroscopyError
        When no file matches the naming scheme, two files claim the same
        (position, channel, time), some combination is missing, or the files
        hold more than one Z plane.
    """
    if is_glob_pattern(path):
        source, candidates = path, sorted(Path(name) for name in glob.glob(str(path)) if Path(name).is_file())
    else:
        source = path if path.is_dir() else path.parent
        candidates = [Path(entry.path) for entry in plane_file_entries(source)]
    naming = naming_from_pattern(pattern) if pattern else detect_naming([candidate.name for candidate in candidates])
    files = _index_files(path, candidates, naming)
    positions = tuple(sorted({position for position, _, _ in files}))
    channels = channel_order({channel for _, channel, _ in files})
    times = tuple(sorted({time for _, _, time in files}))
    missing = [
        naming.describe(position, channel, time)
        for position in positions
        for channel in channels
        for time in times
        if (position, channel, time) not in files
    ]
    if missing:
        expected = len(positions) * len(channels) * len(times)
        raise MicroscopyError(
            f"{path}: {_series_kind(naming)} series is incomplete: {len(missing)} of {expected} files missing "
            f"(positions {list(positions)}, channels {list(channels)}, times {list(times)}), "
            f"e.g. {', '.join(missing[:5])} (files named {naming.example})"
        )
    return MetaMorphSeries(source, positions, channels, times, files, naming)


def _series_kind(naming: PlaneNaming) -> str:
    return {"metamorph": "MetaMorph", "micro-manager": "Micro-Manager"}.get(naming.name, "per-plane TIFF")


def _index_files(path: Path, candidates: list[Path], naming: PlaneNaming | None) -> dict[tuple[int, str, int], Path]:
    files: dict[tuple[int, str, int], Path] = {}
    for candidate in candidates:
        key = None if naming is None else naming.key(candidate.name)
        if key is None:
            continue
        position, channel, time, z = key
        if z != 0:
            raise MicroscopyError(
                f"{candidate}: Z plane {z} of position {position}, channel {channel}, time {time}: "
                "per-plane TIFF folders are read without Z (one plane per channel, position and time)"
            )
        if (position, channel, time) in files:
            raise MicroscopyError(
                f"{path}: {files[position, channel, time].name} and {candidate.name} are both channel {channel}, "
                f"position {position}, time {time} of the series"
            )
        files[position, channel, time] = candidate
    if not files:
        raise MicroscopyError(f"{path}: not a recognised input: {_no_files_problem(path, naming)}")
    return files


def _no_files_problem(path: Path, naming: PlaneNaming | None) -> str:
    if naming is not None and naming.name == "pattern":
        return f"no file name matches the pattern {naming.example!r}"
    if is_glob_pattern(path):
        return "the pattern matches no MetaMorph file named <CH>_Position<P>_time<T>.tif"
    return ("a directory that is neither an OME-Zarr nor a MetaMorph series (no file named "
            "<CH>_Position<P>_time<T>.tif in it) nor a Micro-Manager image folder (img_channel<C>_position<P>_"
            "time<T>_z<Z>.tif)")


def series_metadata(series: MetaMorphSeries, pattern: str | None = None) -> MicroscopyMetadata:
    """Metadata of a series from its file names and the headers of the FOV 0 channel 0 files.

    ``pattern`` is the user's file name pattern the series was found with, if any.
    """
    n_frames = len(series.times)
    fov_shapes = [(n_frames, *_plane_shape(series.file(fov, 0, 0))) for fov in range(len(series.positions))]
    with _open_tiff(series.file(0, 0, 0)) as tiff:
        dtype = tiff.pages[0].dtype.name
        plane_info = (tiff.metaseries_metadata or {}).get("PlaneInfo", {}) if tiff.is_metaseries else {}
    times = series_frame_times(series)
    for note in times.notes:
        logger.warning("%s: %s", series.source, note)
    base_name = series.fov_names[0] if len(series.positions) == 1 else _directory(series).name
    return MicroscopyMetadata(
        file_path=series.source,
        base_name=base_name,
        file_type=f"{series.naming.name}-series",
        height=fov_shapes[0][1],
        width=fov_shapes[0][2],
        n_frames=n_frames,
        n_fovs=len(series.positions),
        n_channels=len(series.channels),
        timepoints=times.minutes,
        channel_names=series_channel_names(series),
        dtype=dtype,
        pixel_size_um=_calibrated_pixel_size(plane_info),
        time_source=times.source,
        fov_names=series.fov_names,
        fov_shapes=fov_shapes,
        time_notes=list(times.notes),
        file_pattern=pattern,
    )


def series_channel_names(series: MetaMorphSeries) -> list[str]:
    """Channel names, index = channel: the name part, or the name a Micro-Manager file records for its number."""
    if series.naming.name != "micro-manager":
        return list(series.channels)
    names = []
    for channel in range(len(series.channels)):
        with _open_tiff(series.file(0, channel, 0)) as tiff:
            names.append(micromanager_channel_name(tiff) or series.channels[channel])
    return names


def read_series_frames(series: MetaMorphSeries, fov: int, channel: int, frames: slice | None) -> np.ndarray:
    """(T, H, W) uint16 stack of one FOV and channel, reading only the selected frames' files."""
    check_index(series.source, "FOV", fov, len(series.positions), series.fov_names)
    check_index(series.source, "channel", channel, len(series.channels), list(series.channels))
    selected = frame_range(series.source, fov, frames, len(series.times))
    expected = _plane_shape(series.file(fov, 0, 0))
    planes = [read_plane(series.file(fov, channel, frame), expected) for frame in selected]
    return to_uint16(np.stack(planes), location(series.source, fov, channel))


def _directory(series: MetaMorphSeries) -> Path:
    return series.source.parent if is_glob_pattern(series.source) else series.source


def _open_tiff(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except (OSError, ValueError) as error:
        raise MicroscopyError(f"{path}: cannot open as TIFF ({error})") from error


def _plane_shape(path: Path) -> tuple[int, int]:
    with _open_tiff(path) as tiff:
        return _one_plane_shape(tiff, path)


def _one_plane_shape(tiff: tifffile.TiffFile, path: Path) -> tuple[int, int]:
    if len(tiff.pages) != 1 or tiff.pages[0].ndim != 2:
        raise MicroscopyError(
            f"{path}: per-plane series files must hold one grey-level plane; this one has "
            f"{len(tiff.pages)} page(s) of shape {tiff.pages[0].shape}"
        )
    return tuple(tiff.pages[0].shape)


def inspect_plane_file(path: Path) -> tuple[tuple[int, int], PlaneStamps, str | None]:
    """Check that a plane's file is whole by decoding its pixels; its plane shape, time stamps and channel name.

    The channel name is the one a Micro-Manager file records (None for others).

    Raises
    ------
    MicroscopyError
        When the file is no TIFF, holds more than one plane, or its pixels cannot be read (truncated).
    """
    with _open_tiff(path) as tiff:
        shape = _one_plane_shape(tiff, path)
        _decoded_pixels(tiff, path)
        return shape, plane_time_stamps(tiff), micromanager_channel_name(tiff)


def read_plane(path: Path, expected: tuple[int, int]) -> np.ndarray:
    """The pixels of a one-plane TIFF; MicroscopyError when unreadable or not of the ``expected`` shape."""
    with _open_tiff(path) as tiff:
        plane = _decoded_pixels(tiff, path)
    if plane.shape != expected:
        raise MicroscopyError(f"{path}: plane shape {plane.shape} differs from {expected} of the position's first file")
    return plane


def _decoded_pixels(tiff: tifffile.TiffFile, path: Path) -> np.ndarray:
    try:
        return tiff.asarray(key=0)  # the page itself: no series, so no Micro-Manager file header parsing
    except (OSError, ValueError) as error:
        raise MicroscopyError(f"{path}: cannot read the pixels, the file may be truncated ({error})") from error


def plane_time_stamps(tiff: tifffile.TiffFile) -> PlaneStamps:
    """The time stamps one plane's file carries: MetaSeries acquisition time, Micro-Manager elapsed minutes."""
    return metamorph_acquisition_time(tiff), micromanager_elapsed_minutes(tiff)


def frame_times_from_stamps(stamps: list[PlaneStamps]) -> FrameTimes:
    """Minutes of every frame from its (FOV 0, channel 0) file's stamps, by the order of trust of the time sources."""
    acquired = [stamp[0] for stamp in stamps]
    elapsed = [stamp[1] for stamp in stamps]
    stamped = minutes_since_first(acquired) if all(time is not None for time in acquired) else None
    relative = [time - elapsed[0] for time in elapsed] if all(time is not None for time in elapsed) else None
    return choose_frame_times([("metamorph", stamped), ("micro-manager", relative)], len(stamps))


def series_frame_times(series: MetaMorphSeries) -> FrameTimes:
    """Minutes of every frame from the FOV 0, channel 0 files."""
    stamps = []
    for frame in range(len(series.times)):
        with _open_tiff(series.file(0, 0, frame)) as tiff:
            stamps.append(plane_time_stamps(tiff))
    return frame_times_from_stamps(stamps)


def _calibrated_pixel_size(plane_info: dict) -> float | None:
    """MetaSeries spatial calibration in um; None when uncalibrated (MetaMorph then stores 1 with no unit)."""
    unit = str(plane_info.get("spatial-calibration-units", "")).strip().lower()
    if plane_info.get("spatial-calibration-state") is True and unit in _MICROMETRE_UNITS:
        return float(plane_info["spatial-calibration-x"])
    return None
