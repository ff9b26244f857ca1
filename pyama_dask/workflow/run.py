"""Submitting the per-FOV task graphs to a Dask cluster and following them.

``run_complete_workflow`` validates everything it can before any work starts,
then keeps at most ``batch_size`` FOVs in flight: each FOV's task graph,
one task per step of the step table and channel, or one task for a small
FOV (:mod:`pyama_dask.workflow.graph`), is submitted with ``client.get``, and
as soon as a FOV is resolved the next one is submitted, so workers never wait
for a whole batch to finish. Progress comes from ``distributed.as_completed``;
every finished task produces one :class:`ProgressEvent`.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client, Future, as_completed, span
from distributed.scheduler import KilledWorker

from pyama_dask.rundir.atomic import remove_stale_temporaries
from pyama_dask.rundir.lock import run_lock
from pyama_dask.io.inputs.microscopy import MicroscopyMetadata, input_identity
from pyama_dask.rundir.provenance import InputChecksum, provenance_record
from pyama_dask.rundir.results import RESULTS_FILE, read_results_yaml, write_results_yaml
from pyama_dask.rundir.runlog import append_record, run_log_path
from pyama_dask.io.store import ImageRef, fov_group_name, remove_stale_partials
from pyama_dask.pipeline.fit_params import FitParams
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.steps import STEPS, StepResult, drift_registered, fit_registered
from pyama_dask.pipeline.context import ProcessingContext
from pyama_dask.pipeline.plan import FovPlan, PlannedTask, plan_fov
from pyama_dask.workflow.clusters import ClusterRequest, connect
from pyama_dask.workflow.graph import TaskFailure, TaskOutcome, run_graph
from pyama_dask.workflow.report import PERFORMANCE_REPORT, saved_performance_report
from pyama_dask.workflow.validate import check_request, ensure_writable_dir, input_notes, movies_too_short

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    """One finished (or skipped, or failed) task, as given to the ``progress`` callback.

    ``status`` is ``done``, ``skipped`` (output already complete), ``failed``
    (the task raised: ``error`` and ``traceback`` say why) or ``upstream``
    (not run because a task it depends on failed). A finished or skipped
    task's ``output`` names what it wrote, from which a skipped task's
    summary can be read.
    """

    step: str
    fov: int
    channel: int
    status: str
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    summary: dict = field(default_factory=dict)
    output: ImageRef | Path | None = None


ProgressCallback = Callable[[ProgressEvent], None]


class OutputStorageError(OSError):
    """The output location stopped taking writes during a run (disk full, quota exceeded, read-only)."""


# Errors of the output location itself: once one task gets them, every task would.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES})


def run_complete_workflow(
    metadata: MicroscopyMetadata,
    context: ProcessingContext,
    fov_start: int | None = None,
    fov_end: int | None = None,
    batch_size: int = 2,
    n_workers: int = 2,
    *,
    client: Client | ClusterRequest | str | None = None,
    progress: ProgressCallback | None = None,
    dashboard_address: str | None = None,
    fovs: Sequence[int] | None = None,
    performance_report: bool = True,
) -> bool:
    """Run copy, segmentation, correction, tracking and extraction for a range or a list of FOVs.

    Besides each FOV's outputs, the output directory gets ``traces.parquet``
    (every FOV's traces in one table), in ``processing_results.yaml`` the
    run's ``provenance`` (package versions, the input's SHA-256) and, with
    ``performance_report``, the dashboard's ``performance_report.html``.

    Parameters
    ----------
    metadata
        Metadata of the input file (:func:`pyama_dask.io.inputs.microscopy.load_microscopy_file`).
    context
        Output directory, channel roles and parameters; ``results_paths`` is
        filled in for every FOV that completes.
    fov_start, fov_end
        First and last FOV (inclusive); None or -1 means from the first / to
        the last FOV of the file.
    fovs
        Instead of a range: the FOVs to process, e.g. ``[0, 1, 7]``.
    batch_size
        Most FOVs in flight at once: bounds memory and scratch space however
        many FOVs the file has.
    n_workers
        Worker processes (one thread each) of the LocalCluster started when
        no ``client`` is given.
    client
        A ``distributed.Client`` or a scheduler address to run on; the
        cluster is then left running. Or a
        :class:`~pyama_dask.workflow.clusters.ClusterRequest`: the cluster to
        start (and close at the end) or the scheduler to use; ``n_workers``
        and ``dashboard_address`` are then not used.
    progress
        Called with a :class:`ProgressEvent` for every task, in the driver.
        Every event is also appended to ``<output_dir>/run.log.jsonl``
        (:mod:`pyama_dask.rundir.runlog`), between a ``run-start`` and a
        ``run-end`` record.
    dashboard_address
        Where the LocalCluster started when no ``client`` is given serves its
        dashboard, e.g. ``":8787"``; None serves it on 127.0.0.1:8787 (or a
        free port when that one is taken).
    performance_report
        Save the dashboard's report of the run: its rendering (most of a
        second) comes after the last task, before the run returns.

    Returns
    -------
    bool
        True only when every requested FOV finished. A failing FOV is logged
        with its error and traceback and does not stop the others.

    Raises
    ------
    ValueError
        Before any work starts: FOV range, channels or parameters invalid
        (:func:`~pyama_dask.workflow.validate.check_request`).
    OSError
        Before any work starts: the output directory cannot be written.
    OutputStorageError
        During the run: the output location stopped taking writes (disk
        full, quota, read-only). No further FOV was started; the outputs
        completed until then are kept, and a new run resumes from them.
    pyama_dask.rundir.lock.RunLockedError
        Another run is using the output directory.
    """
    fovs, params = check_request(metadata, context, fov_start, fov_end, batch_size,
                                 n_workers if client is None else 1, fovs=fovs)
    fit = None if context.fit is None else FitParams.from_mapping(context.fit)
    with fit_registered(fit), drift_registered(context.drift_reference):
        return _run_planned(metadata, context, fovs, params, fit, batch_size, n_workers, client, progress,
                            dashboard_address, performance_report)


def _run_planned(metadata: MicroscopyMetadata, context: ProcessingContext, fovs: list[int], params: Params,
                 fit: FitParams | None, batch_size: int, n_workers: int, client: Client | ClusterRequest | str | None,
                 progress: ProgressCallback | None, dashboard_address: str | None,
                 performance_report: bool) -> bool:
    """The run once its request is checked and the step table set (see :func:`run_complete_workflow`)."""
    # Absolute: workers may run in another working directory than this process.
    output_dir = Path(context.output_dir).absolute()
    ensure_writable_dir(output_dir)
    identity = input_identity(metadata.file_path)

    if not context.channels.fl:
        logger.info("no fluorescence channel selected: segmentation and tracking only, no traces")
    elif too_short := movies_too_short(metadata, fovs, params):
        logger.warning("%s", too_short)
    for note in input_notes(metadata, context.z):
        logger.warning("%s: %s", metadata.file_path, note)

    with run_lock(output_dir, str(metadata.file_path)):
        _remove_stale_temporaries(output_dir, fovs)
        checksum = InputChecksum(identity, _recorded_checksum(output_dir))
        plans = [plan_fov(metadata, output_dir, fov, context.channels, params, identity, context.z) for fov in fovs]
        log_path = run_log_path(output_dir)
        with ExitStack() as connection:
            connected = connection.enter_context(
                connect(client, n_workers=n_workers, dashboard_address=dashboard_address))
            dashboard = connected.dashboard_link
            logger.info("Dask dashboard: %s", dashboard or "none (the scheduler serves no dashboard)")
            append_record(log_path, "run-start", input_file=str(metadata.file_path), fovs=fovs,
                          n_tasks=sum(len(plan.tasks) for plan in plans),
                          fov_tasks={plan.fov: len(plan.tasks) for plan in plans}, dashboard=dashboard,
                          scheduler=connected.scheduler.address)
            report = output_dir / PERFORMANCE_REPORT if performance_report else None
            with saved_performance_report(connected, report) if report else nullcontext():
                runner = _Runner(connected, plans, batch_size, _recording(log_path, progress))
                failed = runner.run()
            # The tasks are over: the results are written while the cluster closes (its workers' processes
            # end). The closing stays in this thread: the client must leave the context it entered here.
            closing = connection.pop_all()
        with ThreadPoolExecutor(1, thread_name_prefix="recording-run") as recorder:
            recorded = recorder.submit(_record_results, context, params, metadata, fit, checksum, plans, failed,
                                       output_dir, runner, report)
            try:
                closing.close()
            finally:
                recorded.result()
    if failed:
        logger.error("%d of %d FOVs failed: %s", len(failed), len(plans), sorted(failed))
    return not failed


def _record_results(context: ProcessingContext, params: Params, metadata: MicroscopyMetadata, fit: FitParams | None,
                    checksum: InputChecksum, plans: list[FovPlan], failed: dict[int, str], output_dir: Path,
                    runner: _Runner, report: Path | None) -> None:
    """Fill ``context.results_paths``, write the results file, merged tables and ``run-end`` (see `_record_run`).

    Raises
    ------
    OutputStorageError
        When the output location stopped the run.
    """
    for plan in plans:
        if plan.fov not in failed:
            context.results_paths[plan.fov] = plan.paths
    document = _results_document(context, params, metadata)
    if fit is not None:
        document["fit"] = fit.record()
    document["provenance"] = provenance_record(checksum.result(), metadata.file_path,
                                               **({"performance_report": report.name} if report else {}))
    # The storage that stopped a run may well refuse these few small files too.
    _record_run(output_dir, document, run_log_path(output_dir), failed, best_effort=runner.storage_error is not None)
    if runner.storage_error is not None:
        raise _stopped_run_error(runner.storage_error, output_dir, len(plans) - len(failed), len(plans))


def _record_run(output_dir: Path, document: dict, log_path: Path, failed: dict[int, str], *,
                best_effort: bool = False) -> None:
    """Write the run's results file, its merged trace table and the run log's ``run-end``.

    With ``best_effort``, what cannot be written is logged and the rest tried.
    """
    # Imported once the tasks are over: pandas, pyarrow and the kinetics models are no part of the start.
    from pyama_dask.io.fits import write_run_fits  # noqa: PLC0415
    from pyama_dask.io.traces import write_run_traces  # noqa: PLC0415

    def attempt(*writes: Callable[[], object]) -> None:
        try:
            for write in writes:
                write()
        except OSError as exc:
            if not best_effort:
                raise
            logger.warning("%s", exc)

    # The merged table is made from the files the results file lists.
    attempt(lambda: write_results_yaml(output_dir / RESULTS_FILE, document), lambda: write_run_traces(output_dir))
    if "fit" in document:
        attempt(lambda: write_run_fits(output_dir, {"fit": document["fit"], "input_file": document["input_file"]}))
    attempt(lambda: append_record(log_path, "run-end", ok=not failed, failed_fovs=sorted(failed)))


def _stopped_run_error(cause: tuple[int, str], output_dir: Path, n_complete: int, n_fovs: int) -> OutputStorageError:
    code, message = cause
    return OutputStorageError(code, (
        f"{message}. The run stopped: {n_complete} of {n_fovs} FOV(s) are complete and kept in {output_dir}; "
        "free space (or make it writable again) and run the same command again to resume from them"
    ))


def _remove_stale_temporaries(output_dir: Path, fovs: list[int]) -> None:
    """Remove the temporary files of results, trace files and store metadata a killed run left (the lock is held)."""
    stale = [path for folder in [output_dir, *(output_dir / fov_group_name(fov) for fov in fovs)]
             for path in remove_stale_temporaries(folder)]
    stale += [path for fov in fovs for path in remove_stale_partials(output_dir, fov)]
    for path in stale:
        logger.info("removed %s, left by a run stopped while writing it", path)


def _results_document(context: ProcessingContext, params: Params, metadata: MicroscopyMetadata) -> dict:
    return {
        "output_dir": str(context.output_dir),
        "input_file": os.path.abspath(metadata.file_path),  # as given: symbolic links resolved only in provenance
        "channels": {"pc": context.channels.pc, "fl": list(context.channels.fl)},
        # Of a file with Z, the plane processed or "max"; null without Z. Null pixel size: uncalibrated.
        "z": (0 if context.z is None else context.z) if metadata.n_z > 1 else None,
        "pixel_size_um": metadata.pixel_size_um,
        "time_source": metadata.time_source,
        "results_paths": {fov: paths.to_dict() for fov, paths in context.results_paths.items()},
        "params": params.to_dict(),
        "time_units": context.time_units,
        # Only with the register step: results of other runs keep their keys.
        **({} if context.drift_reference is None else {"drift_reference": context.drift_reference}),
    }


def _recorded_checksum(output_dir: Path) -> dict | None:
    """The input checksum a previous run recorded in the results file, if any."""
    provenance = read_results_yaml(output_dir / RESULTS_FILE).get("provenance")
    recorded = provenance.get("input") if isinstance(provenance, dict) else None
    return recorded if isinstance(recorded, dict) else None


def _recording(log_path: Path, progress: ProgressCallback | None) -> ProgressCallback:
    """A progress callback that appends each event to the run log, then calls ``progress``.

    A run log that cannot be written (e.g. a full disk) is reported once; the
    run and the caller's callback go on without it.
    """
    unwritable = False

    def record(event: ProgressEvent) -> None:
        nonlocal unwritable
        trace = {"traceback": event.traceback} if event.traceback else {}
        try:
            append_record(log_path, "task", step=event.step, fov=event.fov, channel=event.channel,
                          status=event.status, seconds=round(event.seconds, 3), error=event.error, **trace)
        except OSError as exc:
            if not unwritable:
                logger.warning("%s; the run goes on without its run log", exc)
            unwritable = True
        if progress is not None:
            progress(event)

    return record


class _Runner:
    """Keeps ``batch_size`` FOVs in flight and turns finished futures into events."""

    def __init__(self, client: Client, plans: list[FovPlan], batch_size: int, progress: ProgressCallback | None):
        self.client = client
        self.queue = deque(plans)
        self.batch_size = batch_size
        self.progress = progress
        self.run_id = uuid.uuid4().hex[:8]
        self.open_tasks: dict[int, int] = {}
        self.failed: dict[int, str] = {}
        self.tasks: dict[tuple[str, int], list[PlannedTask]] = {}  # by Dask key, the planned tasks it runs
        # (errno, message) of the first task the output location refused; no FOV is started after it.
        self.storage_error: tuple[int, str] | None = None

    def run(self) -> dict[int, str]:
        # Results are gathered as the tasks end, in the client's event loop: asking each future for its result
        # here would wait for a round trip to the worker per task.
        pending = as_completed(with_results=True, raise_errors=False)
        try:
            self._fill(pending)
            for future, result in pending:
                self._finish(future, result)
                self._fill(pending)
        except BaseException:
            logger.warning("Run interrupted: cancelling the submitted tasks")
            self.client.cancel([f for f in pending.futures])
            raise
        return self.failed

    def _fill(self, pending: as_completed) -> None:
        while self.queue and len(self.open_tasks) < self.batch_size:
            plan = self.queue.popleft()
            for task in plan.tasks:
                if task.done:
                    self._emit(ProgressEvent(task.step, task.fov, task.channel, "skipped", output=task.job.output))
            reason = plan.refused or (self.storage_error and f"not started: {self.storage_error[1]}")
            if reason and plan.pending:
                self._report_unrun(plan, reason)
                continue
            futures = self._submit(plan)
            if futures:
                self.open_tasks[plan.fov] = len(futures)
                pending.update(futures)

    def _submit(self, plan: FovPlan) -> list[Future]:
        graph, tasks = run_graph(plan, self.run_id)
        with span(fov_group_name(plan.fov)):
            futures = self.client.get(graph, list(graph), sync=False)
        self.tasks.update(tasks)
        return futures

    def _finish(self, future: Future, result: StepResult | list[TaskOutcome] | BaseException) -> None:
        """Report the planned tasks of a future that ended: one, or all those of a small FOV."""
        tasks = self.tasks.pop(future.key)
        if future.status == "finished":
            outcomes = result if isinstance(result, list) else [result]  # a small FOV's, or one task's
        else:  # the Dask task failed: its first planned task did, those after it never ran
            outcomes = [TaskFailure.of(future.exception(), future.traceback())] + [None] * (len(tasks) - 1)
        for task, outcome in zip(tasks, outcomes, strict=True):
            self._task_ended(task, outcome)
        fov = tasks[0].fov
        self.open_tasks[fov] -= 1
        if self.open_tasks[fov] == 0:
            del self.open_tasks[fov]

    def _task_ended(self, task: PlannedTask, outcome: TaskOutcome) -> None:
        fov = task.fov
        if isinstance(outcome, StepResult):
            self._emit(ProgressEvent(task.step, fov, task.channel, outcome.status, outcome.seconds,
                                     summary=outcome.summary, output=task.job.output))
        elif outcome is None or fov in self.failed:
            self._emit(ProgressEvent(task.step, fov, task.channel, "upstream", error=self.failed[fov]))
        else:
            exc = outcome.error
            message = _failure_message(exc, task)
            self.failed[fov] = message
            logger.error("FOV %d failed in %s (channel %d): %s", fov, task.step, task.channel, message)
            logger.debug("FOV %d, %s of channel %d:\n%s", fov, task.step, task.channel, outcome.traceback)
            if self.storage_error is None and isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
                self.storage_error = (exc.errno, message)
                logger.error("The output location refuses writes: no further FOV is started")
            self._emit(ProgressEvent(task.step, fov, task.channel, "failed", error=message,
                                     traceback=outcome.traceback))

    def _report_unrun(self, plan: FovPlan, reason: str) -> None:
        """Report a FOV that is not run: its first task failed with ``reason``, the others upstream."""
        self.failed[plan.fov] = reason
        if plan.refused:
            logger.error("FOV %d is not processed: %s", plan.fov, reason)
        first, *rest = plan.pending
        self._emit(ProgressEvent(first.step, plan.fov, first.channel, "failed", error=reason))
        for task in rest:
            self._emit(ProgressEvent(task.step, plan.fov, task.channel, "upstream", error=reason))

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is None:
            return
        try:
            self.progress(event)
        except Exception:  # a broken callback must not stop the run
            logger.exception("progress callback failed on %s", event)


def _failure_message(exc: BaseException, task: PlannedTask) -> str:
    """Why a task failed; an error of the output location names what the task was writing."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        reason = exc.strerror or os.strerror(exc.errno)
        return reason if str(task.output) in reason else f"cannot write {task.output}: {reason}"
    if isinstance(exc, KilledWorker):
        needed = STEPS[task.step].memory.task_bytes(*task.frame_size) / 2**30
        return (f"the worker running it died repeatedly ({exc}); running out of memory is the usual cause: "
                f"this task needs about {needed:.2f} GiB per worker")
    return f"{type(exc).__name__}: {exc}"
