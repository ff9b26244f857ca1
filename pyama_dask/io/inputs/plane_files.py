"""Folders of single-plane TIFF files: how their names say channel, position and time.

A microscope writing one TIFF per plane names each file after its channel,
position (FOV) and time point. Known namings:

- ``metamorph``: ``<channel>_Position<P>_time<T>.tif`` (MetaMorph's multi-dimensional
  acquisition), files side by side in one folder;
- ``micro-manager``: ``img_channel<C>_position<P>_time<T>_z<Z>.tif`` (Micro-Manager's
  one-file-per-image mode), in one sub-folder per position (``Pos0/``...) or side by side.

Any other naming is a regular expression with the named groups ``channel``,
``position`` and ``time`` (and optionally ``z``), matched against the file name
(e.g. ``r"(?P<channel>\\w+)_s(?P<position>\\d+)_t(?P<time>\\d+)\\.tif"``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pyama_dask.io.inputs.common import MicroscopyError

_REQUIRED_GROUPS = ("channel", "position", "time")


@dataclass(frozen=True)
class PlaneNaming:
    """One way of naming per-plane TIFF files.

    Attributes
    ----------
    name : str
        ``"metamorph"``, ``"micro-manager"`` or ``"pattern"`` (a user's regex).
    regex : re.Pattern
        Matches a whole file name; named groups ``channel``, ``position``, ``time``
        (and optionally ``z``).
    example : str
        The naming as a user reads it, for messages.
    template : str or None
        ``str.format`` template of a file name from ``position``, ``channel``
        and ``time`` (None for a user's regex, which cannot be inverted).
    """

    name: str
    regex: re.Pattern
    example: str
    template: str | None = None

    def describe(self, position: int, channel: str, time: int) -> str:
        """The file name of one plane, or its coordinates when the naming has no template."""
        if self.template is None:
            return f"position {position} channel {channel} time {time}"
        return self.template.format(position=position, channel=channel, time=time)

    def key(self, file_name: str) -> tuple[int, str, int, int] | None:
        """``(position, channel, time, z)`` of a file name, or None when the name does not follow the naming."""
        match = self.regex.fullmatch(file_name)
        if match is None:
            return None
        z = match.groupdict().get("z")
        return int(match["position"]), match["channel"], int(match["time"]), int(z) if z else 0


METAMORPH = PlaneNaming(
    "metamorph",
    re.compile(r"(?P<channel>.+)_Position(?P<position>\d+)_time(?P<time>\d+)\.tiff?", re.IGNORECASE),
    "<CH>_Position<P>_time<T>.tif",
    "{channel}_Position{position}_time{time}.tif",
)
MICRO_MANAGER = PlaneNaming(
    "micro-manager",
    re.compile(r"img_channel(?P<channel>\d+)_position(?P<position>\d+)_time(?P<time>\d+)_z(?P<z>\d+)\.tiff?",
               re.IGNORECASE),
    "img_channel<C>_position<P>_time<T>_z<Z>.tif",
    "Pos{position}/img_channel{channel}_position{position:03d}_time{time:09d}_z000.tif",
)
#: The namings a folder is recognised by, in the order they are tried.
KNOWN_NAMINGS = (METAMORPH, MICRO_MANAGER)


def naming_from_pattern(pattern: str) -> PlaneNaming:
    """The naming a user's regular expression describes.

    Raises
    ------
    MicroscopyError
        When the pattern is no valid regular expression or lacks one of the
        groups ``channel``, ``position``, ``time``.
    """
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise MicroscopyError(f"file name pattern {pattern!r} is not a valid regular expression ({error})") from error
    missing = [group for group in _REQUIRED_GROUPS if group not in regex.groupindex]
    if missing:
        raise MicroscopyError(
            f"file name pattern {pattern!r} lacks the named group(s) {', '.join(missing)}: it needs "
            "(?P<channel>...), (?P<position>...) and (?P<time>...), the last two matching digits"
        )
    return PlaneNaming("pattern", regex, pattern)


def plane_file_entries(folder: Path) -> list[os.DirEntry]:
    """The files of ``folder`` and of its sub-folders one level down (Micro-Manager's ``Pos<P>/``), by path."""
    entries: list[os.DirEntry] = []
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.is_file():
                entries.append(entry)
            elif entry.is_dir() and not entry.name.startswith("."):
                with os.scandir(entry.path) as sub_listing:
                    entries.extend(sub for sub in sub_listing if sub.is_file())
    return sorted(entries, key=lambda entry: entry.path)


def detect_naming(names: list[str]) -> PlaneNaming | None:
    """The known naming most of ``names`` follow (None when none follows any)."""
    counts = [(sum(naming.key(name) is not None for name in names), naming) for naming in KNOWN_NAMINGS]
    count, naming = max(counts, key=lambda pair: pair[0])
    return naming if count else None


def channel_order(channels: set[str]) -> tuple[str, ...]:
    """Channels in file order: by number when every channel is a number (Micro-Manager), else alphabetically."""
    if channels and all(channel.isdigit() for channel in channels):
        return tuple(sorted(channels, key=int))
    return tuple(sorted(channels))
