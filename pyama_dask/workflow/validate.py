"""Checks made before any work starts, so a bad request fails at once and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

from pyama_dask.io.microscopy import MicroscopyMetadata
from pyama_dask.workflow.context import Channels


def resolve_fov_range(metadata: MicroscopyMetadata, fov_start: int | None, fov_end: int | None) -> list[int]:
    """FOV indices from ``fov_start`` to ``fov_end`` inclusive; None or -1 mean the file's ends.

    Raises
    ------
    ValueError
        Naming the file and its FOV count when the range is reversed or out of range.
    """
    last = metadata.n_fovs - 1
    start = 0 if fov_start in (None, -1) else fov_start
    end = last if fov_end in (None, -1) else fov_end
    if not (0 <= start <= last and 0 <= end <= last):
        raise ValueError(
            f"FOV range {start}-{end} is out of range for {metadata.file_path}: it has {metadata.n_fovs} "
            f"FOV(s), numbered 0-{last}"
        )
    if start > end:
        raise ValueError(f"FOV range {start}-{end} is reversed for {metadata.file_path}: the start must not exceed the end")
    return list(range(start, end + 1))


def validate_channels(metadata: MicroscopyMetadata, channels: Channels) -> None:
    """Check channel roles against the file.

    Raises
    ------
    ValueError
        Naming the file, the channel and the file's channels when an index is
        out of range, repeated, or used both as phase contrast and fluorescence.
    """
    available = ", ".join(f"{i}={name}" for i, name in enumerate(metadata.channel_names))
    for role, channel in [("phase-contrast", channels.pc)] + [("fluorescence", c) for c in channels.fl]:
        if isinstance(channel, bool) or not isinstance(channel, int):
            raise ValueError(f"{role} channel must be an integer index, got {channel!r}")
        if not 0 <= channel < metadata.n_channels:
            raise ValueError(
                f"{role} channel {channel} is out of range for {metadata.file_path}: "
                f"it has {metadata.n_channels} channel(s) ({available})"
            )
    if channels.pc in channels.fl:
        raise ValueError(
            f"channel {channels.pc} of {metadata.file_path} is selected both as phase contrast and as fluorescence"
        )
    if len(set(channels.fl)) != len(channels.fl):
        raise ValueError(f"fluorescence channels {channels.fl} list a channel twice")


def ensure_writable_dir(path: Path) -> None:
    """Create ``path`` if needed and check that files can be created in it.

    Raises
    ------
    OSError
        Naming the directory when it cannot be created or written.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create output directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise NotADirectoryError(f"output directory {path} exists and is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory {path} is not writable")
