"""The ``pyama-dask`` command: ``info``, ``run`` and ``demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pyama_dask.cli.commands import demo_command, info_command, run_command
from pyama_dask.io.lock import RunLockedError

logger = logging.getLogger("pyama_dask")


def _fov_range(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"0-9"`` -> (0, 9)."""
    try:
        first, _, last = text.partition("-")
        start = int(first)
        return start, int(last) if last else start
    except ValueError:
        raise argparse.ArgumentTypeError(f"FOV range must look like 3 or 0-9, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyama-dask", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="print a microscopy file's metadata")
    info.add_argument("file", help="ND2, CZI, (OME-)TIFF, OME-Zarr, or a folder of MetaMorph TIFFs")
    info.add_argument("--json", action="store_true", help="print JSON with the MicroscopyMetadata field names")
    info.add_argument("--dim-order", help="read the file with this dimension order, e.g. TYX")

    run = commands.add_parser("run", help="run the workflow on a microscopy file")
    run.add_argument("file", help="ND2, CZI, (OME-)TIFF, OME-Zarr, or a folder of MetaMorph TIFFs")
    run.add_argument("--out", required=True, help="output directory")
    run.add_argument("--pc", type=int, default=0, help="phase-contrast channel index (default 0)")
    run.add_argument("--fl", type=int, nargs="*", default=[], help="fluorescence channel indices")
    run.add_argument("--fovs", type=_fov_range, help="FOV range, e.g. 0-9 (default: all)")
    run.add_argument("--dim-order", help="read the file with this dimension order, e.g. TYX")
    _add_cluster_options(run)
    run.add_argument("--config", help="YAML file with a 'params' mapping of algorithm parameters")

    demo = commands.add_parser("demo", help="generate a realistic dataset and process it end to end")
    demo.add_argument("--out", default="demo-output", help="folder for the dataset and results (default demo-output)")
    demo.add_argument("--n-fovs", type=int, default=4)
    demo.add_argument("--frames", type=int, default=40)
    demo.add_argument("--size", type=int, default=512)
    demo.add_argument("--seed", type=int, default=0)
    _add_cluster_options(demo)
    return parser


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    parser.add_argument("--batch-size", type=int, default=2, help="FOVs in flight at once (default 2)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyama-dask``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    handlers = {"info": info_command, "run": run_command, "demo": demo_command}
    try:
        return handlers[args.command](args)
    except (ValueError, OSError, RunLockedError) as exc:
        # Bad input and unwritable outputs: a clear message, no traceback.
        logger.debug("details", exc_info=True)
        print(f"pyama-dask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; complete outputs are kept and a new run resumes from them", file=sys.stderr)
        return 130
