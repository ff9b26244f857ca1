"""MetaMorph multi-file series: one single-plane TIFF per channel, position and time point.

MetaMorph's multi-dimensional acquisition writes ``<CH>_Position<P>_time<T>.tif``
files. A directory of them (or a glob pattern matching some of them, or one of
them standing for its directory) is one input:

- FOVs are the positions, sorted numerically;
- channels are the ``<CH>`` prefixes, sorted alphabetically (e.g. ``TFP``, ``YFP``);
- frames are the time indices, sorted numerically;
- time stamps come from each file's MetaSeries ``acquisition-time-local``.
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass
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
from pyama_dask.io.inputs.timestamps import (
    FrameTimes,
    choose_frame_times,
    metamorph_acquisition_time,
    minutes_since_first,
)

logger = logging.getLogger(__name__)

SERIES_FILE_NAME = re.compile(r"^(?P<channel>.+)_Position(?P<position>\d+)_time(?P<time>\d+)\.tiff?$", re.IGNORECASE)
_MICROMETRE_UNITS = {"um", "µm", "micron", "microns", "micrometer", "micrometre"}


@dataclass(frozen=True)
class MetaMorphSeries:
    """The files of one series, indexed by (position, channel prefix, time index).

    ``source`` is the directory or glob pattern that names the series again.
    """

    source: Path
    positions: tuple[int, ...]
    channels: tuple[str, ...]
    times: tuple[int, ...]
    files: dict[tuple[int, str, int], Path]

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
    """Whether the file name follows ``<CH>_Position<P>_time<T>.tif``."""
    return SERIES_FILE_NAME.match(path.name) is not None


def find_series(path: Path) -> MetaMorphSeries:
    """The series a directory, a glob pattern or one member file stands for.

    Raises
    ------
    MicroscopyError
        When no file matches the naming scheme, two files claim the same
        (position, channel, time), or some combination is missing.
    """
    if is_glob_pattern(path):
        source, candidates = path, [Path(name) for name in glob.glob(str(path))]
    else:
        source = path if path.is_dir() else path.parent
        candidates = list(source.iterdir())
    files = _index_files(path, candidates)
    positions = tuple(sorted({position for position, _, _ in files}))
    channels = tuple(sorted({channel for _, channel, _ in files}))
    times = tuple(sorted({time for _, _, time in files}))
    missing = [
        f"{channel}_Position{position}_time{time}.tif"
        for position in positions
        for channel in channels
        for time in times
        if (position, channel, time) not in files
    ]
    if missing:
        expected = len(positions) * len(channels) * len(times)
        raise MicroscopyError(
            f"{path}: MetaMorph series is incomplete: {len(missing)} of {expected} files missing "
            f"(positions {list(positions)}, channels {list(channels)}, times {list(times)}), "
            f"e.g. {', '.join(missing[:5])}"
        )
    return MetaMorphSeries(source, positions, channels, times, files)


def _index_files(path: Path, candidates: list[Path]) -> dict[tuple[int, str, int], Path]:
    files: dict[tuple[int, str, int], Path] = {}
    for candidate in sorted(candidates):
        match = SERIES_FILE_NAME.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        key = (int(match["position"]), match["channel"], int(match["time"]))
        if key in files:
            raise MicroscopyError(
                f"{path}: {files[key].name} and {candidate.name} are both channel {key[1]}, "
                f"position {key[0]}, time {key[2]} of the MetaMorph series"
            )
        files[key] = candidate
    if not files:
        problem = (
            "the pattern matches no MetaMorph file named <CH>_Position<P>_time<T>.tif"
            if is_glob_pattern(path)
            else "a directory that is neither an OME-Zarr nor a MetaMorph series "
            "(no file named <CH>_Position<P>_time<T>.tif in it)"
        )
        raise MicroscopyError(f"{path}: not a recognised input: {problem}")
    return files


def series_metadata(series: MetaMorphSeries) -> MicroscopyMetadata:
    """Metadata of a series from its file names and the headers of the FOV 0 channel 0 files."""
    n_frames = len(series.times)
    fov_shapes = [(n_frames, *_plane_shape(series.file(fov, 0, 0))) for fov in range(len(series.positions))]
    with _open_tiff(series.file(0, 0, 0)) as tiff:
        dtype = tiff.pages[0].dtype.name
        plane_info = (tiff.metaseries_metadata or {}).get("PlaneInfo", {}) if tiff.is_metaseries else {}
    times = _series_times(series)
    base_name = series.fov_names[0] if len(series.positions) == 1 else _directory(series).name
    return MicroscopyMetadata(
        file_path=series.source,
        base_name=base_name,
        file_type="metamorph-series",
        height=fov_shapes[0][1],
        width=fov_shapes[0][2],
        n_frames=n_frames,
        n_fovs=len(series.positions),
        n_channels=len(series.channels),
        timepoints=times.minutes,
        channel_names=list(series.channels),
        dtype=dtype,
        pixel_size_um=_calibrated_pixel_size(plane_info),
        time_source=times.source,
        fov_names=series.fov_names,
        fov_shapes=fov_shapes,
        time_notes=list(times.notes),
    )


def read_series_frames(series: MetaMorphSeries, fov: int, channel: int, frames: slice | None) -> np.ndarray:
    """(T, H, W) uint16 stack of one FOV and channel, reading only the selected frames' files."""
    check_index(series.source, "FOV", fov, len(series.positions), series.fov_names)
    check_index(series.source, "channel", channel, len(series.channels), list(series.channels))
    selected = frame_range(series.source, fov, frames, len(series.times))
    expected = _plane_shape(series.file(fov, 0, 0))
    planes = [_read_plane(series.file(fov, channel, frame), expected) for frame in selected]
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
        if len(tiff.pages) != 1 or tiff.pages[0].ndim != 2:
            raise MicroscopyError(
                f"{path}: MetaMorph series files must hold one grey-level plane; this one has "
                f"{len(tiff.pages)} page(s) of shape {tiff.pages[0].shape}"
            )
        return tuple(tiff.pages[0].shape)


def _read_plane(path: Path, expected: tuple[int, int]) -> np.ndarray:
    with _open_tiff(path) as tiff:
        try:
            plane = tiff.asarray()
        except (OSError, ValueError) as error:
            raise MicroscopyError(f"{path}: cannot read the pixels, the file may be truncated ({error})") from error
    if plane.shape != expected:
        raise MicroscopyError(f"{path}: plane shape {plane.shape} differs from {expected} of the position's first file")
    return plane


def _series_times(series: MetaMorphSeries) -> FrameTimes:
    times = []
    for frame in range(len(series.times)):
        with _open_tiff(series.file(0, 0, frame)) as tiff:
            times.append(metamorph_acquisition_time(tiff))
    stamped = minutes_since_first(times) if all(time is not None for time in times) else None
    chosen = choose_frame_times([("metamorph", stamped)], len(series.times))
    for note in chosen.notes:
        logger.warning("%s: %s", series.source, note)
    return chosen


def _calibrated_pixel_size(plane_info: dict) -> float | None:
    """MetaSeries spatial calibration in um; None when uncalibrated (MetaMorph then stores 1 with no unit)."""
    unit = str(plane_info.get("spatial-calibration-units", "")).strip().lower()
    if plane_info.get("spatial-calibration-state") is True and unit in _MICROMETRE_UNITS:
        return float(plane_info["spatial-calibration-x"])
    return None
