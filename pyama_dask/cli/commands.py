"""What each ``pyama-dask`` subcommand does, given its parsed arguments."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from pyama_dask.cli.clusters import dry_run, request_from_args
from pyama_dask.cli.fit import fit_request
from pyama_dask.cli.progress import RunProgress, on_terminal
from pyama_dask.rundir.config import load_run_config
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, input_identity, read_metadata
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.steps import drift_registered, fit_registered
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.workflow.graph import render_fov_graph
from pyama_dask.workflow.run import OutputStorageError, run_complete_workflow
from pyama_dask.workflow.validate import check_request, movies_too_short, resolve_channel

if TYPE_CHECKING:
    from pyama_dask.synthetic import SyntheticSpec

logger = logging.getLogger(__name__)


def run_command(args: argparse.Namespace) -> int:
    """Process a file; exit code 1 when a FOV failed."""
    if args.follow:  # the acquisition may not have started: no metadata to read yet
        from pyama_dask.cli.live import follow_command

        return follow_command(args)
    meta = read_metadata(args.file, dim_order=args.dim_order, pattern=args.pattern)
    config = load_run_config(Path(args.config)) if args.config else {}
    params = {**(config.get("params") or {}), **({"profile": args.profile} if args.profile else {})}
    channels = Channels(pc=resolve_channel(meta, args.pc, "segmented"),
                        fl=[resolve_channel(meta, channel, "fluorescence") for channel in args.fl])
    context = ProcessingContext(Path(args.out), channels, params=params, z=args.z,
                                fit=fit_request(config, args.fit), drift_reference=args.register)
    with (fit_registered(None if context.fit is None else FitParams.from_mapping(context.fit)),
          drift_registered(context.drift_reference)):
        if args.dry_run:
            return dry_run_command(meta, context, args, config)
        return process(meta, context, args, args.fovs, config)


def dry_run_command(meta: MicroscopyMetadata, context: ProcessingContext, args: argparse.Namespace,
                    config: dict) -> int:
    """Show what a run would do: one FOV's task graph (``--graph``) and a batch-queue job script."""
    if args.graph:
        fovs, params = check_request(meta, context, batch_size=args.batch_size, n_workers=args.workers,
                                     fovs=args.fovs[:1] if args.fovs else [0])
        plan = plan_fov(meta, Path(context.output_dir), fovs[0], context.channels, params,
                        input_identity(meta.file_path), context.z)
        print(f"task graph of FOV {fovs[0]}: {render_fov_graph(plan, Path(args.graph))}")
        if request_from_args(args, config).kind == "local":
            return 0
    print(dry_run(args, config))
    return 0


def process(meta: MicroscopyMetadata, context: ProcessingContext, args: argparse.Namespace,
            fovs: list[int] | None = None, config: dict | None = None) -> int:
    """Run the workflow on the chosen cluster showing progress (bars on a terminal, plain lines elsewhere) and print the summary table.

    The request is checked before any cluster starts, so that a bad one is
    refused at once.
    """
    fovs, params = check_request(meta, context, batch_size=args.batch_size, n_workers=args.workers, fovs=fovs)
    request = request_from_args(args, config or {}, n_fovs=len(fovs))
    too_short = movies_too_short(meta, fovs, params) if context.channels.fl else None
    progress = RunProgress(fovs, context.channels, enabled=not args.no_progress, notes=[too_short] if too_short else [])
    try:
        with logging_redirect_tqdm():
            ok = run_complete_workflow(meta, context, batch_size=args.batch_size, client=request,
                                       progress=progress, fovs=fovs, performance_report=args.performance_report)
    except OutputStorageError:
        progress.close()
        print(progress.summary())  # what the run did before it stopped
        raise
    finally:
        progress.close()
    print(progress.summary())
    print(f"results: {Path(context.output_dir) / 'processing_results.yaml'}")
    if args.qc and context.results_paths:
        from pyama_dask.cli.results import write_qc  # matplotlib: imported only when figures are asked for

        write_qc(context.output_dir, sorted(context.results_paths))
    return 0 if ok else 1


def demo_dataset(folder: Path, spec: SyntheticSpec) -> Path:
    """The demo's OME-TIFF: generated once, reused while the spec is unchanged."""
    from pyama_dask.synthetic import generate_dataset, load_spec  # noqa: PLC0415  (scipy: for the demo only)

    params_path = folder / "demo_params.json"
    if params_path.is_file() and load_spec(params_path) == spec:
        logger.info("reusing the demo dataset in %s", folder)
    else:
        total = spec.n_fovs * spec.n_frames
        with tqdm(total=total, desc="generating demo data", unit="frame", disable=not on_terminal()) as bar:
            generate_dataset(folder, spec, name="demo", progress=lambda done, _: bar.update(done - bar.n))
    return folder / "demo.ome.tiff"


def demo_command(args: argparse.Namespace) -> int:
    """Generate the demo dataset (once) and process it end to end."""
    from pyama_dask.synthetic import SyntheticSpec  # noqa: PLC0415  (see demo_dataset)

    if args.dry_run:
        print(dry_run(args, {}))
        return 0
    out = Path(args.out)
    spec = SyntheticSpec(n_fovs=args.n_fovs, n_frames=args.frames, size=args.size, seed=args.seed)
    image_path = demo_dataset(out / "data", spec)
    meta = read_metadata(image_path)
    n_fl = meta.n_channels - 1
    context = ProcessingContext(out / "results", Channels(pc=0, fl=list(range(1, n_fl + 1))))
    code = process(meta, context, args)
    print(f"traces: {out / 'results'}/fov_*/{meta.base_name}_fov_*_traces_ch_*.csv")
    return code
