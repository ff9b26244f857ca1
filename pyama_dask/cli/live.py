"""``pyama-dask run SOURCE --follow``: process an acquisition while it grows."""

from __future__ import annotations

import argparse
import logging
import re
from functools import partial
from pathlib import Path

from pyama_dask.cli.clusters import request_from_args
from pyama_dask.cli.fit import fit_request
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.rundir.config import load_run_config
from pyama_dask.workflow.validate import resolve_channel

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "": 1}


def duration_seconds(text: str) -> float:
    """Seconds of a duration such as ``30m``, ``90s``, ``2h`` or ``45`` (seconds).

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else, or a duration that is not positive.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(f"--until-idle takes a positive duration such as 30m, 90s or 2h, got {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def add_follow_options(run: argparse.ArgumentParser) -> None:
    """The options of a follow run, on the ``run`` subcommand."""
    run.add_argument("--follow", action="store_true",
                     help="process the acquisition while it grows (a folder of TIFF planes or an OME-Zarr being "
                          "written): frames are processed as they land; it ends on the end marker file "
                          "'acquisition_complete', --frames or --until-idle, then finalises as a batch run")
    run.add_argument("--until-idle", type=duration_seconds, metavar="DURATION",
                     help="with --follow: end when no frame landed for this long, e.g. 30m")
    run.add_argument("--frames", type=int, metavar="N", help="with --follow: end once every FOV has N frames")
    run.add_argument("--pattern", metavar="REGEX",
                     help="the file naming pattern of a folder of TIFF planes named otherwise than by MetaMorph or "
                          "Micro-Manager (groups 'channel', 'position', 'time', optionally 'z')")


def follow_command(args: argparse.Namespace) -> int:
    """Follow a growing acquisition, then finalise; exit code 1 when a FOV failed."""
    if args.fovs or args.dry_run or args.graph:
        raise ValueError("--follow processes every FOV as it lands: --fovs, --dry-run and --graph do not apply")
    from pyama_dask.io.inputs.growing import open_growing
    from pyama_dask.workflow.live import FollowLimits, follow_workflow, wait_for_first_frame

    limits = FollowLimits(frames=args.frames, until_idle=args.until_idle)
    source = open_growing(Path(args.file), args.pattern)
    config = load_run_config(Path(args.config)) if args.config else {}
    params = {**(config.get("params") or {}), **({"profile": args.profile} if args.profile else {})}
    print(f"following {source.path} ({source.layout}); waiting for its first frame")
    wait_for_first_frame(source, limits)
    meta = source.metadata()
    channels = Channels(pc=resolve_channel(meta, args.pc, "segmented"),
                        fl=[resolve_channel(meta, channel, "fluorescence") for channel in args.fl])
    context = ProcessingContext(Path(args.out), channels, params=params, z=args.z,
                                fit=fit_request(config, args.fit), drift_reference=args.register)
    request = request_from_args(args, config)
    opener = partial(open_growing, Path(args.file).absolute(), args.pattern, use_events=False)
    ok = follow_workflow(source, context, limits, open_source=opener, client=request, on_status=_print_status,
                         performance_report=args.performance_report)
    print(f"results: {Path(context.output_dir) / 'processing_results.yaml'}")
    return 0 if ok else 1


def _print_status(fields: dict) -> None:
    """One line per ``live`` record: frames processed of landed, lag and rate."""
    processed, landed = sum(fields["processed"].values()), sum(fields["landed"].values())
    print(f"live: {processed} of {landed} frames processed; lag {fields['lag_frames']} frame(s), "
          f"{fields['lag_seconds']:.1f} s; {fields['frames_per_minute']} frames/min", flush=True)
