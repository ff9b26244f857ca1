"""``pyama-dask info``: a microscopy file's metadata, as text or JSON.

Apart from the other commands, so that it imports only the readers.
"""

from __future__ import annotations

import argparse
import json

from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, read_metadata


def info_command(args: argparse.Namespace) -> int:
    """Print a file's metadata, as text or JSON."""
    meta = read_metadata(args.file, dim_order=args.dim_order, pattern=args.pattern)
    if args.json:
        print(json.dumps(meta.to_dict(), indent=2, default=str))
        return 0
    print(describe_metadata(meta))
    return 0


def describe_metadata(meta: MicroscopyMetadata) -> str:
    """A few human-readable lines about a file."""
    times = meta.timepoints
    interval = f"{(times[-1] - times[0]) / (len(times) - 1):.4g} min" if len(times) > 1 else "single frame"
    shapes = {tuple(s) for s in meta.fov_shapes}
    size = f"{meta.width} x {meta.height} px" if len(shapes) == 1 else "differs per FOV: " + ", ".join(
        f"{name} {w} x {h} px, {t} frames" for name, (t, h, w) in zip(meta.fov_names, meta.fov_shapes)
    )
    pixel = f"{meta.pixel_size_um:.4g} um" if meta.pixel_size_um else "unknown"
    lines = [
        f"file:        {meta.file_path} ({meta.file_type})",
        f"FOVs:        {meta.n_fovs} ({', '.join(meta.fov_names)})",
        f"frames:      {meta.n_frames}",
        f"Z planes:    {meta.n_z}" + (" (a run reads plane 0 unless given --z N or --z max)" if meta.n_z > 1 else ""),
        "channels:    " + ", ".join(f"{i}={name}" for i, name in enumerate(meta.channel_names)),
        f"size:        {size}",
        f"dtype:       {meta.dtype}",
        f"pixel size:  {pixel}",
        f"interval:    {interval} (time stamps from {meta.time_source})",
        *(f"warning:     {note}" for note in meta.time_notes),
    ]
    return "\n".join(lines)
