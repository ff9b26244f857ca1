"""``pyama-dask fit`` and the ``--fit`` option of ``run``: kinetics fits of the traces.

The settings are the ``fit:`` mapping of a run configuration file (``--config``)
with the model given on the command line (``--fit MODEL`` of ``run``,
``--model`` of ``fit``) taking precedence.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# The heavier modules are imported where used: building the parser stays quick.


def add_fit_parser(commands: argparse._SubParsersAction) -> None:
    """The ``fit`` subcommand's arguments."""
    fit = commands.add_parser("fit", help="fit a kinetics model to every cell of a run's traces (resumable)")
    fit.add_argument("out", help="output directory of a run (holding processing_results.yaml)")
    fit.add_argument("--model", help="kinetics model, e.g. maturation (default: 'model' of the config's 'fit')")
    fit.add_argument("--channel", type=int, action="append", metavar="CHANNEL",
                     help="fit this fluorescence channel only (repeatable; default: every channel with traces)")
    fit.add_argument("--config", help="YAML file whose 'fit' mapping sets min_points and parameters' "
                                      "initial, lower, upper, fixed")
    fit.add_argument("--qc", action="store_true", help="then draw the fit QC figures into OUT/qc")


def add_fit_option(run: argparse.ArgumentParser) -> None:
    """The ``--fit`` option of ``run``."""
    run.add_argument("--fit", metavar="MODEL", help="fit this kinetics model to every cell's trace, e.g. "
                                                    "maturation (settings: the config's 'fit' mapping)")


def fit_request(config: dict[str, Any], model: str | None) -> dict[str, Any] | None:
    """The fit settings of a run: the config's ``fit`` mapping and ``model``; None when no model is named.

    Raises
    ------
    ParameterError
        When the settings are invalid (checked here, before any work starts).
    """
    from pyama_dask.pipeline.fit_params import FitParams

    mapping = dict(config.get("fit") or {})
    if model is None and "model" not in mapping:
        return None
    request = {**mapping, **({"model": model} if model is not None else {})}
    FitParams.from_mapping(request)
    return request


def fit_command(args: argparse.Namespace) -> int:
    """Fit the traces of an existing output directory and say what was done."""
    from pyama_dask.algorithms.kinetics import available_models
    from pyama_dask.io.fits import RUN_FITS_FILE
    from pyama_dask.pipeline.fit_params import FitParams
    from pyama_dask.rundir.config import load_run_config
    from pyama_dask.workflow.fit import fit_output_folder

    config = load_run_config(Path(args.config)) if args.config else {}
    request = fit_request(config, args.model)
    if request is None:
        raise ValueError(f"no model to fit: give --model (one of {', '.join(sorted(available_models()))}) or "
                         "'model' in the config's 'fit' mapping")
    results = fit_output_folder(Path(args.out), FitParams.from_mapping(request), args.channel)
    done = [r for r in results if r.status == "done"]
    fitted = sum(r.summary.get("fitted", 0) for r in done)
    print(f"fitted {len(done)} trace file(s) ({fitted} cells fitted), {len(results) - len(done)} already done")
    print(f"fits: {Path(args.out) / RUN_FITS_FILE}")
    if args.qc:
        from pyama_dask.cli.results import write_qc

        write_qc(Path(args.out))
    return 0
