"""The ``pyama-dask`` command: ``info``, ``run``, ``demo``, ``status``, ``qc``, ``traces``, ``export``, ``score`` and ``fit``."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Collection, Sequence

from pyama_dask.cli.fit import add_fit_arguments, add_fit_option
from pyama_dask.rundir.lock import RunLockedError

logger = logging.getLogger("pyama_dask")

# Subcommand -> the module and function that run it. A command imports only its own
# module (and only its own parser's), so that ``--help`` and ``info`` load no Dask,
# Zarr or algorithms.
_HANDLERS = {
    "info": ("pyama_dask.cli.info", "info_command"),
    "run": ("pyama_dask.cli.commands", "run_command"),
    "demo": ("pyama_dask.cli.commands", "demo_command"),
    "status": ("pyama_dask.cli.status", "status_command"),
    "qc": ("pyama_dask.cli.results", "qc_command"),
    "traces": ("pyama_dask.cli.results", "traces_command"),
    "export": ("pyama_dask.cli.results", "export_command"),
    "score": ("pyama_dask.cli.score", "score_command"),
    "fit": ("pyama_dask.cli.fit", "fit_command"),
    "simulate-acquisition": ("pyama_dask.cli.acquisition", "simulate_acquisition_command"),
}


# More FOVs than any file holds: a range this long is a typing error, and is not built.
_MOST_FOVS = 100_000


def _fov_list(text: str) -> list[int]:
    """``"3"`` -> [3]; ``"0-2,7,9-10"`` -> [0, 1, 2, 7, 9, 10] (the form PyAMA's own tools accept)."""
    fovs = []
    for part in text.split(","):
        try:
            first, dash, last = part.strip().partition("-")
            start = int(first)
            end = int(last) if dash else start
        except ValueError:
            raise argparse.ArgumentTypeError(f"FOVs must look like 3, 0-9 or 0-5,7,9-11, got {text!r}") from None
        if start > end:
            raise argparse.ArgumentTypeError(f"FOV range {part.strip()} is reversed: write {end}-{start}")
        if end - start >= _MOST_FOVS:
            raise argparse.ArgumentTypeError(f"FOV range {part.strip()} has more than {_MOST_FOVS} FOVs")
        fovs += range(start, end + 1)
    return fovs


def _z_choice(text: str) -> int | str:
    """``"max"`` -> "max"; ``"3"`` -> 3."""
    if text == "max":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--z takes a Z plane index or 'max', got {text!r}") from None


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser.

    Parameters
    ----------
    commands : collection of str, optional
        Subcommands whose arguments to add (default: all). The others are
        listed with their help line only, which needs no imports.
    """
    parser = argparse.ArgumentParser(prog="pyama-dask", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_line, add_arguments) in _SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_line)
        if commands is None or name in commands:
            add_arguments(subparser)
    return parser


def _chosen_command(argv: Sequence[str]) -> list[str]:
    """The subcommand named in ``argv`` (its first word that is no option), as a list of at most one."""
    return [word for word in argv if not word.startswith("-")][:1]


def _starts_local_workers(argv: Sequence[str]) -> bool:
    """Whether ``argv`` runs the workflow on a local cluster, judged from its words alone (before any import).

    A run config naming a batch-queue cluster is not read here: the fork
    server started for it then stays idle.
    """
    words = list(argv)
    kinds = [value for flag, value in zip(words, words[1:] + [""]) if flag == "--cluster"]
    kinds += [word.partition("=")[2] for word in words if word.startswith("--cluster=")]
    remote = any(word.startswith("--scheduler") for word in words) or any(kind != "local" for kind in kinds)
    return (_chosen_command(argv) in (["run"], ["demo"]) and not remote
            and not set(words) & {"-h", "--help", "--dry-run"})


def _add_info_arguments(info: argparse.ArgumentParser) -> None:
    info.add_argument("file", help="ND2, CZI, (OME-)TIFF, OME-Zarr, or a folder of MetaMorph TIFFs")
    info.add_argument("--json", action="store_true", help="print JSON with the MicroscopyMetadata field names")
    info.add_argument("--dim-order", help="read the file with this dimension order, e.g. TYX")
    info.add_argument("--pattern", metavar="REGEX", help="of a folder of per-plane TIFFs named otherwise than by "
                      "MetaMorph or Micro-Manager: a regular expression with the groups channel, position and time")


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    # Imported here: the cluster options and profiles load Dask and the algorithms.
    from pyama_dask.cli.clusters import add_cluster_options
    from pyama_dask.pipeline.params import PROFILE_NAMES
    from pyama_dask.algorithms.options import REFERENCES

    run.add_argument("file", help="ND2, CZI, (OME-)TIFF, OME-Zarr, or a folder of MetaMorph TIFFs")
    run.add_argument("--out", required=True, help="output directory")
    run.add_argument("--pc", default="0", metavar="CHANNEL",
                     help="the channel segmented (phase contrast as a rule): index or name, e.g. Phase (default 0)")
    run.add_argument("--fl", nargs="*", default=[], metavar="CHANNEL",
                     help="fluorescence channels: indices or names, e.g. GFP mCherry (none: segmentation and "
                     "tracking only, no traces); names are matched ignoring case")
    run.add_argument("--fovs", type=_fov_list, help="FOVs, e.g. 0-9 or 0-5,7,9-11 (default: all)")
    run.add_argument("--dim-order", help="read the file with this dimension order, e.g. TYX")
    run.add_argument("--z", type=_z_choice, metavar="N|max",
                     help="of a file with Z: the Z plane to process, or 'max' for each frame's maximum projection "
                          "(default: plane 0, with a warning)")
    add_cluster_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_qc_option(run, "OUT")
    _add_report_option(run, "OUT")
    run.add_argument("--config", help="YAML file with a 'params' mapping of algorithm parameters")
    run.add_argument("--graph", metavar="FILE", help="with --dry-run: draw one FOV's task graph (the first of "
                     "--fovs) into FILE (.png, .svg or .pdf; needs graphviz)")
    run.add_argument("--profile", choices=PROFILE_NAMES,
                     help="defaults of the algorithm parameters: PyAMA-core's (default) or the robust profile")
    add_fit_option(run)
    run.add_argument("--register", nargs="?", const="previous", choices=REFERENCES, metavar="REFERENCE",
                     help="drift correction: register every frame on the previous one (default) or the first, and "
                          "track on drift-corrected positions")
    from pyama_dask.cli.live import add_follow_options

    add_follow_options(run)


def _add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    from pyama_dask.cli.clusters import add_cluster_options  # loads Dask: see _add_run_arguments

    demo.add_argument("--out", default="demo-output", help="folder for the dataset and results (default demo-output)")
    demo.add_argument("--n-fovs", type=int, default=4)
    demo.add_argument("--frames", type=int, default=40)
    demo.add_argument("--size", type=int, default=512)
    demo.add_argument("--seed", type=int, default=0)
    add_cluster_options(demo)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_qc_option(demo, "OUT/results")
    _add_report_option(demo, "OUT/results")


def _add_status_arguments(status: argparse.ArgumentParser) -> None:
    status.add_argument("out", help="output directory of a run (holding run.log.jsonl)")


def _add_qc_arguments(qc: argparse.ArgumentParser) -> None:
    qc.add_argument("out", help="output directory of a run (holding processing_results.yaml)")
    qc.add_argument("--frame", type=int, help="frame to draw the cells of (default: the middle frame)")
    qc.add_argument("--fovs", type=_fov_list, help="FOVs, e.g. 0-3 or 0,2 (default: every processed FOV)")


def _add_traces_arguments(traces: argparse.ArgumentParser) -> None:
    traces.add_argument("out", help="output directory of a run (holding processing_results.yaml)")
    traces.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="default parquet")
    traces.add_argument("-o", "--output", help="file to write (default OUT/traces.<format>)")


def _add_export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument("layout", choices=["pyama"], help="pyama: that of PyAMA's current tools (merge, fitting)")
    export.add_argument("out", help="output directory of a run (holding processing_results.yaml)")
    export.add_argument("--to", help="folder to write (default OUT/pyama)")


def _add_score_arguments(score: argparse.ArgumentParser) -> None:
    from pyama_dask.cli.score import add_score_arguments  # loads the store and the CTC metrics

    add_score_arguments(score)


def _add_simulate_acquisition_arguments(parser: argparse.ArgumentParser) -> None:
    from pyama_dask.cli.acquisition import add_simulate_acquisition_arguments  # loads the synthetic data's writers

    add_simulate_acquisition_arguments(parser)


# Subcommand -> its help line and the function adding its arguments, in the order of --help.
_SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "info": ("print a microscopy file's metadata", _add_info_arguments),
    "run": ("run the workflow on a microscopy file", _add_run_arguments),
    "demo": ("generate a realistic dataset and process it end to end", _add_demo_arguments),
    "status": ("summarise the last run of an output directory from its run log", _add_status_arguments),
    "qc": ("draw QC figures (a frame with the tracked cells, the traces) per FOV", _add_qc_arguments),
    "traces": ("merge a run's trace files into one table", _add_traces_arguments),
    "export": ("write a run's results in the layout of another tool", _add_export_arguments),
    "score": ("Cell Tracking Challenge metrics against a ground-truth folder", _add_score_arguments),
    "fit": ("fit a kinetics model to every cell of a run's traces (resumable)", add_fit_arguments),
    "simulate-acquisition": ("write a synthetic dataset frame by frame as a microscope acquires it",
                             _add_simulate_acquisition_arguments),
}


def _add_qc_option(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--qc", action="store_true", help=f"then draw QC figures of the processed FOVs into {out}/qc")


def _add_report_option(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--performance-report", action="store_true",
                        help=f"save the Dask dashboard's report of the run as {out}/performance_report.html "
                             "(its rendering adds most of a second after the last task)")


def _message(exc: Exception) -> str:
    """What went wrong, without the ``[Errno N]`` of an OSError whose message names its path itself."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is None:
        return exc.strerror
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyama-dask``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not _starts_local_workers(argv):
        return _main(argv)
    # The workers' imports start now, in the fork server, beside this process's own (see fork_server).
    from pyama_dask.workflow.fork_server import fork_server_for_command

    with fork_server_for_command():
        return _main(argv)


def _main(argv: list[str]) -> int:
    """`main` once the fork server of a local run's workers is started."""
    args = build_parser(_chosen_command(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # A taken dashboard port is no news: the run logs the address the dashboard got ("Dask dashboard: ...").
    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
    module, function = _HANDLERS[args.command]
    handler = getattr(importlib.import_module(module), function)
    try:
        code = handler(args)
        sys.stdout.flush()  # here, so that a reader gone away (| head) is handled below
        # The command is done: the interpreter's teardown need not walk every object Dask left (about a second).
        gc.freeze()
        return code
    except BrokenPipeError:
        # The reader of our output stopped reading: nothing left to say. Python's own
        # flush of stdout at exit would fail again, so stdout goes nowhere from now on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, RunLockedError) as exc:
        # Bad input and unwritable outputs: a clear message, no traceback.
        logger.debug("details", exc_info=True)
        print(f"pyama-dask {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; complete outputs are kept and a new run resumes from them", file=sys.stderr)
        return 130
