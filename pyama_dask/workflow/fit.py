"""Fitting the traces of an existing output folder (``pyama-dask fit OUT --model NAME``).

The fit step's task runs once per FOV and fluorescence channel whose traces
the results file lists, in this process, with the fingerprint a run with
``--fit`` gives it: an output fitted with the same settings from the same
traces is skipped (by the command or by a run), anything else is fitted
again. The results file then lists the fits made with these settings (fits
of other channels made with other settings are no longer listed) and
records the settings, and ``fits.parquet`` merges them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.fits import fits_beside, write_run_fits
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.plan import fingerprint
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import Step, StepResult, fit_step, run_job
from pyama_dask.pipeline.jobs import FovSource, TaskJob
from pyama_dask.rundir.lock import run_lock
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, recorded_outputs, write_results_yaml

logger = logging.getLogger(__name__)


def fit_output_folder(output_dir: Path, settings: FitParams, channels: Iterable[int] | None = None) -> list[StepResult]:
    """Fit every listed trace file of ``output_dir`` (of ``channels`` only, when given).

    Raises
    ------
    ValueError
        When the folder has no results file, or it lists no complete trace
        file (of those channels).
    """
    output_dir = Path(output_dir).absolute()
    document = read_results_yaml(output_dir / RESULTS_FILE)
    if not document:
        raise ValueError(f"{output_dir} holds no {RESULTS_FILE}: is it the output directory of a run?")
    wanted = None if channels is None else set(channels)
    step = fit_step(settings)
    outputs = recorded_outputs(output_dir, document)
    results = []
    with run_lock(output_dir, str(document.get("input_file", ""))):
        for fov, fov_outputs in sorted(outputs.items()):
            fits = []
            for channel, traces in sorted((fov_outputs or {}).get("traces_csv") or []):
                job = _job(step, document, fov, int(channel), Path(traces))
                if job is None:
                    continue
                if wanted is None or channel in wanted:
                    results.append(run_job(step.task, job))
                elif completed_fingerprint(job.output) != job.fingerprint:
                    continue  # fitted with other settings (or not at all): no longer listed
                fits.append([int(channel), str(job.output)])
            if fov_outputs is not None:
                fov_outputs.pop("fits_csv", None)
                if fits:
                    fov_outputs["fits_csv"] = fits
        if not results:
            which = "" if wanted is None else f" of channel(s) {', '.join(map(str, sorted(wanted)))}"
            raise ValueError(f"{output_dir / RESULTS_FILE} lists no complete trace file{which} to fit")
        document = {**document, "results_paths": outputs, "fit": settings.record()}
        write_results_yaml(output_dir / RESULTS_FILE, document)
        write_run_fits(output_dir, {"fit": document["fit"], "input_file": document.get("input_file")})
    return results


def _job(step: Step, document: dict, fov: int, channel: int, traces: Path) -> TaskJob | None:
    """The fit task of one trace file, with the fingerprint a run gives it; None when the traces are not complete."""
    traces_fingerprint = completed_fingerprint(traces)
    if traces_fingerprint is None:
        return None
    # The FOV as the fit task needs it: its index (the task reads traces, not images).
    source = FovSource(Path(document.get("input_file", "")), fov, (0, 0, 0), (1.0, 1.0, 1.0), None, (), ())
    facts = step.facts(source, channel, {}) if step.facts is not None else {}
    return TaskJob("fit", source, channel, {"traces": traces}, fits_beside(traces), Params(),
                   fingerprint("fit", traces=traces_fingerprint, **facts))
