"""Frame time stamps in minutes, one small function per metadata source, and the choice among them.

bioio's ``time_interval`` is None for most files, so the time of each frame is read
from where the acquisition software put it. Every source function returns minutes
since the first frame of channel 0 (Z 0), or None when the source has no complete
answer. A file may carry several; :func:`choose_frame_times` takes the first in
this order and says when the others disagree with it:

1. ``ome-deltat``: OME ``Plane.DeltaT`` of each plane (with its unit);
2. ``ome-time-increment``: OME ``Pixels.TimeIncrement`` (with its unit), one
   interval for all frames;
3. the reader's own per-frame times: ``nd2-frame-times`` (ND2 frame metadata),
   ``czi-subblock`` (CZI sub-block ``AcquisitionTime``), ``metamorph``
   (MetaSeries ``acquisition-time-local``), ``micro-manager`` (a Micro-Manager
   file's ``ElapsedTime-ms``);
4. ``bioio-interval``: bioio's ``time_interval``;
5. ``frame-index``: the frame number as minutes, with a warning, when none of
   the above has an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import tifffile

if TYPE_CHECKING:  # ome-types takes most of a second to import; workers reading pixels never need it
    from ome_types import OME

logger = logging.getLogger(__name__)

_MINUTES_PER_UNIT = {
    "h": 60.0,
    "min": 1.0,
    "s": 1 / 60,
    "ms": 1 / 60_000,
    "µs": 1 / 60_000_000,
    "ns": 1 / 60_000_000_000,
}


#: Time units (OME symbols) whose stamps are read; others are ignored, with a warning.
KNOWN_TIME_UNITS = frozenset(_MINUTES_PER_UNIT)

#: Sources whose time stamps are evenly spaced by construction (they extend to more frames).
UNIFORM_SOURCES = frozenset({"frame-index", "ome-time-increment", "bioio-interval"})
# Two sources disagree when a time stamp differs by more than this fraction of a frame interval.
_DISAGREEMENT = 0.05


@dataclass(frozen=True)
class FrameTimes:
    """The time stamps chosen for a file, where they come from, and what a user should know about them."""

    minutes: list[float]
    source: str
    notes: tuple[str, ...] = ()


def choose_frame_times(candidates: Iterable[tuple[str, list[float] | None]], n_frames: int) -> FrameTimes:
    """The first source's time stamps among ``candidates`` (in order of trust) that has them.

    Parameters
    ----------
    candidates
        ``(source, minutes or None)`` in the order of the module docstring.
    n_frames
        Number of frames; the frame index is used when no source has an answer.

    Returns
    -------
    FrameTimes
        With a note for every other source that disagrees with the chosen one,
        and one when the frame index stands in for time on a time-lapse.
    """
    found = [(source, minutes) for source, minutes in candidates if minutes is not None]
    if not found:
        notes = () if n_frames < 2 else (
            "no time stamps in the file (no OME DeltaT or TimeIncrement, no per-frame times, no bioio "
            "time_interval): the frame index stands in for time, 1 min per frame",)
        return FrameTimes(frame_index_minutes(n_frames), "frame-index", notes)
    (source, minutes), others = found[0], found[1:]
    notes = tuple(_disagreement(source, minutes, other, times) for other, times in others
                  if _disagree(minutes, times))
    return FrameTimes(minutes, source, notes)


def _disagree(chosen: list[float], other: list[float]) -> bool:
    if len(chosen) != len(other):
        return True
    if len(chosen) < 2:
        return False
    tolerance = _DISAGREEMENT * abs(chosen[-1] - chosen[0]) / (len(chosen) - 1)
    return any(abs(a - b) > tolerance for a, b in zip(chosen, other))


def _disagreement(source: str, chosen: list[float], other: str, times: list[float]) -> str:
    return (f"time sources disagree: {other} gives {_describe(times)}, {source} gives {_describe(chosen)}; "
            f"using {source}")


def _describe(minutes: list[float]) -> str:
    if len(minutes) < 2:
        return f"{len(minutes)} time stamp(s)"
    return f"a mean interval of {(minutes[-1] - minutes[0]) / (len(minutes) - 1):.4g} min"


def minutes_since_first(times: Sequence[datetime]) -> list[float]:
    """Minutes from ``times[0]`` to each entry."""
    return [(time - times[0]).total_seconds() / 60 for time in times]


def frame_index_minutes(n_frames: int) -> list[float]:
    """The frame index standing in for time when a file records none."""
    return [float(frame) for frame in range(n_frames)]


def ome_deltat_minutes(ome: OME, image_index: int, n_frames: int) -> list[float] | None:
    """OME ``Plane.DeltaT`` of channel 0, Z 0 for each time point of one OME image.

    ``DeltaTUnit`` is honoured (ND2 files carry milliseconds, OME-TIFF writers often
    seconds). None when the image lacks a plane or a DeltaT for some time point.
    """
    if image_index >= len(ome.images):
        return None
    planes = {
        plane.the_t: plane
        for plane in ome.images[image_index].pixels.planes
        if plane.the_c == 0 and plane.the_z == 0 and plane.delta_t is not None
    }
    if set(planes) != set(range(n_frames)):
        return None
    units = [planes[t].delta_t_unit.value for t in range(n_frames)]
    unknown = set(units) - set(_MINUTES_PER_UNIT)
    if unknown:
        logger.warning("OME DeltaT unit(s) %s are not known time units; ignoring DeltaT", sorted(unknown))
        return None
    minutes = [planes[t].delta_t * _MINUTES_PER_UNIT[unit] for t, unit in enumerate(units)]
    return [value - minutes[0] for value in minutes]


def ome_time_increment_minutes(ome: OME, image_index: int, n_frames: int) -> list[float] | None:
    """Evenly spaced time points from OME ``Pixels.TimeIncrement`` (and its unit) of one OME image.

    None when the image has no ``TimeIncrement``, its unit is unknown, or there
    is a single frame.
    """
    if image_index >= len(ome.images) or n_frames < 2:
        return None
    pixels = ome.images[image_index].pixels
    if pixels.time_increment is None:
        return None
    unit = pixels.time_increment_unit.value
    if unit not in _MINUTES_PER_UNIT:
        logger.warning("OME TimeIncrementUnit %r is not a known time unit; ignoring TimeIncrement", unit)
        return None
    step = pixels.time_increment * _MINUTES_PER_UNIT[unit]
    return [frame * step for frame in range(n_frames)]


def nd2_frame_minutes(path: str, scene: int, n_frames: int) -> list[float] | None:
    """ND2 frame metadata ``relativeTimeMs`` of channel 0, Z 0 per time point of one position.

    None when some time point of the position has no frame (or no time stamp).
    """
    import nd2

    with nd2.ND2File(path) as nd2_file:
        stamps: dict[int, float] = {}
        for sequence, indices in enumerate(nd2_file.loop_indices):
            if indices.get("P", 0) != scene or indices.get("Z", 0) != 0:
                continue
            time = nd2_file.frame_metadata(sequence).channels[0].time.relativeTimeMs
            stamps.setdefault(indices.get("T", 0), time)
    if set(stamps) != set(range(n_frames)):
        return None
    return [(stamps[t] - stamps[0]) / 60_000 for t in range(n_frames)]


def czi_subblock_minutes(acquisition_times: Iterable[dict] | None, n_frames: int) -> list[float] | None:
    """Earliest sub-block ``AcquisitionTime`` of channel 0, Z 0 per time point of a CZI scene.

    ``acquisition_times`` is bioio-czi's ``reader.acquisition_times``: one dict per
    sub-block with its dimension indices (absent ones are 0) and ``acquisition_time``.
    The earliest over mosaic tiles is the frame's time.
    """
    first: dict[int, datetime] = {}
    for block in acquisition_times or ():
        if block.get("C", 0) != 0 or block.get("Z", 0) != 0:
            continue
        frame, time = block.get("T", 0), block["acquisition_time"]
        first[frame] = min(first.get(frame, time), time)
    if set(first) != set(range(n_frames)):
        return None
    return minutes_since_first([first[frame] for frame in range(n_frames)])


def metamorph_acquisition_time(tiff: tifffile.TiffFile) -> datetime | None:
    """``acquisition-time-local`` from the MetaSeries XML in a MetaMorph TIFF's ImageDescription."""
    metadata = tiff.metaseries_metadata if tiff.is_metaseries else None
    time = (metadata or {}).get("PlaneInfo", {}).get("acquisition-time-local")
    return time if isinstance(time, datetime) else None


def micromanager_elapsed_minutes(tiff: tifffile.TiffFile) -> float | None:
    """``ElapsedTime-ms`` of a Micro-Manager image file (its MicroManagerMetadata tag), in minutes."""
    elapsed = _micromanager_plane_metadata(tiff).get("ElapsedTime-ms")
    return float(elapsed) / 60_000 if isinstance(elapsed, (int, float)) else None


def micromanager_channel_name(tiff: tifffile.TiffFile) -> str | None:
    """The ``Channel`` a Micro-Manager image file records in its MicroManagerMetadata tag."""
    name = _micromanager_plane_metadata(tiff).get("Channel")
    return str(name) if name else None


def _micromanager_plane_metadata(tiff: tifffile.TiffFile) -> dict:
    page = tiff.pages.first
    value = page.tags.valueof(51123) if page.is_micromanager else None  # 51123: MicroManagerMetadata
    return value if isinstance(value, dict) else {}


def uniform_interval_minutes(interval: timedelta | None, n_frames: int) -> list[float] | None:
    """Evenly spaced time points from one frame interval (bioio's standard metadata)."""
    if interval is None or n_frames < 2:
        return None
    step = interval.total_seconds() / 60
    return [frame * step for frame in range(n_frames)]
