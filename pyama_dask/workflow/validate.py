"""Checks made before any work starts, so a bad request fails at once and writes nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pyama_dask.algorithms.options import min_frames
from pyama_dask.io.inputs.common import Z_MAX
from pyama_dask.io.inputs.metamorph import is_glob_pattern, is_series_file
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata
from pyama_dask.rundir.results import RESULTS_FILE, check_results_yaml
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels, ProcessingContext


def check_request(
    metadata: MicroscopyMetadata,
    context: ProcessingContext,
    fov_start: int | None = None,
    fov_end: int | None = None,
    batch_size: int = 2,
    n_workers: int = 1,
    *,
    fovs: Sequence[int] | None = None,
) -> tuple[list[int], Params]:
    """Every check of a run request that needs no writing, in the order a user fixes them.

    ``run_complete_workflow`` makes them before it writes anything; the CLI
    makes them before it starts a cluster. The FOVs are either a range
    (``fov_start``, ``fov_end``) or a list (``fovs``), not both.

    Returns
    -------
    fovs : list of int
        The FOVs to process.
    params : Params
        The validated parameters.

    Raises
    ------
    ValueError
        FOV range, channels, parameters, batch size or worker count invalid,
        an output directory inside the input's folder, or a results file in
        the output directory that is malformed or belongs to another input.
    OSError
        The output directory cannot be created or written.
    """
    if fovs is None:
        fovs = resolve_fov_range(metadata, fov_start, fov_end)
    elif fov_start is None and fov_end is None:
        fovs = resolve_fov_list(metadata, fovs)
    else:
        raise ValueError(f"give either a FOV range ({fov_start}-{fov_end}) or a list of FOVs ({list(fovs)}), not both")
    validate_channels(metadata, context.channels)
    validate_z(metadata, context.z)
    params = Params.from_mapping(context.params)
    for name, value in (("batch_size", batch_size), ("number of workers", n_workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
    output_dir = Path(context.output_dir)
    check_output_dir(output_dir)
    check_output_outside_input(Path(metadata.file_path), output_dir)
    check_results_yaml(output_dir / RESULTS_FILE, metadata.file_path)
    return fovs, params


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
    if 0 <= end < start:
        raise ValueError(f"FOV range {start}-{end} is reversed for {metadata.file_path}: the start must not exceed the end")
    if not (0 <= start <= last and 0 <= end <= last):
        raise ValueError(
            f"FOV range {start}-{end} is out of range for {metadata.file_path}: it has {metadata.n_fovs} "
            f"FOV(s), numbered 0-{last}"
        )
    return list(range(start, end + 1))


def resolve_fov_list(metadata: MicroscopyMetadata, fovs: Sequence[int]) -> list[int]:
    """The FOVs of ``fovs`` in increasing order, each once.

    Raises
    ------
    ValueError
        Naming the file, its FOV count and the FOVs it does not have, or when the list is empty.
    """
    chosen = sorted({int(fov) for fov in fovs})
    if not chosen:
        raise ValueError(f"the list of FOVs to process is empty (the file {metadata.file_path} has "
                         f"{metadata.n_fovs} FOV(s))")
    outside = [fov for fov in chosen if not 0 <= fov < metadata.n_fovs]
    if outside:
        raise ValueError(
            f"FOV(s) {', '.join(map(str, outside))} out of range for {metadata.file_path}: it has "
            f"{metadata.n_fovs} FOV(s), numbered 0-{metadata.n_fovs - 1}"
        )
    return chosen


def resolve_channel(metadata: MicroscopyMetadata, channel: int | str, role: str) -> int:
    """The index of a channel given by index or by name (case-insensitive) among the file's ``channel_names``.

    A text of digits (or ``-`` and digits) is an index: it is checked with the
    other channel roles by :func:`validate_channels`.

    Raises
    ------
    ValueError
        Naming the file and listing its channels when no channel (or more
        than one) has that name.
    """
    text = str(channel).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    matches = [i for i, name in enumerate(metadata.channel_names) if name.casefold() == text.casefold()]
    if len(matches) == 1:
        return matches[0]
    available = ", ".join(f"{i}={name}" for i, name in enumerate(metadata.channel_names))
    what = "is the name of several channels" if matches else "is not a channel name"
    raise ValueError(f"{role} channel {text!r} {what} of {metadata.file_path}; its channels are {available} "
                     "(give a name or an index)")


def validate_channels(metadata: MicroscopyMetadata, channels: Channels) -> None:
    """Check channel roles against the file.

    Raises
    ------
    ValueError
        Naming the file, the channel and the file's channels when an index is
        out of range or repeated. The segmented channel may also be measured
        (a fluorescence-only movie).
    """
    available = ", ".join(f"{i}={name}" for i, name in enumerate(metadata.channel_names))
    for role, channel in [("segmented", channels.pc)] + [("fluorescence", c) for c in channels.fl]:
        if isinstance(channel, bool) or not isinstance(channel, int):
            raise ValueError(f"{role} channel must be an integer index, got {channel!r}")
        if not 0 <= channel < metadata.n_channels:
            raise ValueError(
                f"{role} channel {channel} is out of range for {metadata.file_path}: "
                f"it has {metadata.n_channels} channel(s) ({available})"
            )
    if len(set(channels.fl)) != len(channels.fl):
        raise ValueError(f"fluorescence channels {channels.fl} list a channel twice")


def movies_too_short(metadata: MicroscopyMetadata, fovs: Sequence[int], params: Params) -> str | None:
    """Why no trace can be kept, when ``min_trace_length`` asks for more frames than every chosen FOV has.

    Not an error: segmentation and tracking are still done. Returns None
    when some FOV is long enough.
    """
    frames = {fov: metadata.fov_shapes[fov][0] for fov in fovs}
    longest = max(frames.values(), default=0)
    if not frames or min_frames(params.min_trace_length, longest) <= longest:
        return None
    return (f"no trace will be kept: min_trace_length is {params.min_trace_length} frames and the movie of "
            f"{metadata.file_path} has {longest} frame(s); set 'min_trace_length: {longest}' (or a share of the "
            "frames, e.g. 0.5) under 'params' in a --config file")


def validate_z(metadata: MicroscopyMetadata, z: int | str | None) -> None:
    """Check the Z choice against the file: None, ``"max"``, or a plane index it has.

    Raises
    ------
    ValueError
        Naming the file and its Z planes.
    """
    if z is None or z == Z_MAX:
        return
    if isinstance(z, bool) or not isinstance(z, int) or not 0 <= z < metadata.n_z:
        raise ValueError(
            f"Z plane {z!r} is out of range for {metadata.file_path}: it has {metadata.n_z} Z plane(s), "
            f"numbered 0-{metadata.n_z - 1}; give a plane index or {Z_MAX!r} (maximum projection)"
        )


def input_notes(metadata: MicroscopyMetadata, z: int | str | None) -> list[str]:
    """What a run tells its user about the input: its time stamps, and the Z plane used of a Z stack."""
    notes = list(metadata.time_notes)
    if metadata.n_z > 1 and z is None:
        notes.append(f"it has {metadata.n_z} Z planes; the run uses plane 0 (choose with --z N, or --z max "
                     "for each frame's maximum projection)")
    return notes


def check_output_dir(path: Path) -> None:
    """Check, without creating anything, that ``path`` is or can become a writable directory.

    Raises
    ------
    OSError
        Naming the directory (or the part of its path that is in the way)
        and what is wrong.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise NotADirectoryError(f"cannot create output directory {path}: {existing} is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        what = "exists and is not a directory" if existing == path else f"cannot be created: {existing} is a file"
        raise NotADirectoryError(f"output directory {path} {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
        raise PermissionError(f"output directory {path} {what}")


def check_output_outside_input(input_path: Path, output_dir: Path) -> None:
    """Refuse an output directory inside the folder an input stands for.

    A folder input (a MetaMorph series, an OME-Zarr) is every file in it, and
    a series file or pattern stands for its folder's files: outputs written
    there would become part of the input, so its checksum would change with
    every run and every rerun would recompute everything.

    Raises
    ------
    ValueError
        Naming both folders and where to put the outputs instead.
    """
    folder = _input_folder(input_path)
    if folder is None or not output_dir.resolve().is_relative_to(folder.resolve()):
        return
    raise ValueError(
        f"output directory {output_dir} is inside the input folder {folder}: its files would become part of the "
        f"input (and every rerun recompute everything); choose an output directory outside {folder}, "
        f"e.g. {folder.parent / (folder.name + '_results')}"
    )


def _input_folder(path: Path) -> Path | None:
    """The folder whose files an input is: a folder input itself, that of a series file or pattern, else None."""
    if is_glob_pattern(path):
        return next(parent for parent in path.parents if not is_glob_pattern(parent))
    if path.is_dir():
        return path
    return path.parent if is_series_file(path) else None


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
