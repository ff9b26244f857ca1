"""Frame time stamps in minutes, one small function per metadata source.

bioio's ``time_interval`` is None for most files, so the time of each frame is read
from where the acquisition software put it. Every function returns minutes since
the first frame of channel 0 (Z 0), or None when the source has no complete answer,
so that the caller can try the next source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
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


def uniform_interval_minutes(interval: timedelta | None, n_frames: int) -> list[float] | None:
    """Evenly spaced time points from one frame interval (bioio's standard metadata)."""
    if interval is None or n_frames < 2:
        return None
    step = interval.total_seconds() / 60
    return [frame * step for frame in range(n_frames)]
