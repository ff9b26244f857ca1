"""Following a growing acquisition: process frames as they land, then finalise as a batch run.

:func:`follow_workflow` watches a growing source
(:mod:`pyama_dask.io.inputs.growing`) and, as frames land, submits the
batch task of :mod:`pyama_dask.pipeline.incremental` for each FOV's new
frames (copy, segmentation, correction, IoU tracking continued from the
previous frame, trace rows). It ends on an expected frame count, an idle
timeout or the acquisition's end marker, then finalises
(:mod:`pyama_dask.workflow.live_finalise`): the growing images are given
the layout, contrast windows and corrected images of a batch run,
the outputs that equal the batch run's are recorded complete with the batch
run's fingerprints, and the batch workflow runs what needs the whole movie
(the trace tables, filtered by minimum trace length; tracking again where
live tracking is not the batch's: laptrack, drift correction; fitting). The
output is then a batch run's output of the completed data: ``pyama-dask run``
on it skips everything.

Keeping up is bounded: at most ``max_in_flight`` batches are submitted at
once (and ``max_in_flight_per_fov`` per FOV, chained), each of at most
``max_batch`` frames. Frames that landed meanwhile wait on disk, not in a
queue, and are taken in the next, larger batches: a burst or a lost worker
delays frames but loses none.

The run log gets a ``live`` record every ``status_every`` seconds (frames
landed and processed per FOV, lag in frames and seconds, rate) and a
``live-batch`` record per batch done (its frames' latency from landing to
their trace rows); ``pyama-dask status`` shows them, and so does the run's page on
the Dask dashboard (:mod:`pyama_dask.workflow.live_page`) where the scheduler serves it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dask
from distributed import Client, Future, span

from pyama_dask.io.inputs.common import MicroscopyError
from pyama_dask.io.live import discard_unrecorded, followed_channels, live_dir, read_state, write_traces_so_far
from pyama_dask.io.ngff import MICROMETER
from pyama_dask.io.store import chunk_frames, fov_group_name, remove_stale_partials
from pyama_dask.pipeline.context import ProcessingContext
from pyama_dask.pipeline.incremental import BatchDone, FrameBatch, LiveFov, process_batch
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import _scale
from pyama_dask.rundir.atomic import remove_stale_temporaries
from pyama_dask.rundir.lock import run_lock
from pyama_dask.rundir.runlog import append_record, run_log_path
from pyama_dask.workflow.allocator import keep_frames_on_heap
from pyama_dask.workflow.clusters import ClusterRequest, connect
from pyama_dask.workflow.live_finalise import finalise_fov
from pyama_dask.workflow.live_page import live_page_url, publish
from pyama_dask.workflow.run import ProgressCallback, run_complete_workflow
from pyama_dask.workflow.validate import ensure_writable_dir, validate_channels

if TYPE_CHECKING:
    from pyama_dask.io.inputs.growing import GrowingSource, Landed

logger = logging.getLogger(__name__)

#: Most batches of a FOV chained one after the other (each a dependency of the next). The scheduler keeps a chain's
#: finished batches, with their arguments, until the chain ends (to run them again should a result be lost): a
#: chain ends after this many, once its last batch is done, so that what it keeps does not grow with the run.
LONGEST_CHAIN = 16
#: Seconds without news after the end marker before the acquisition is taken as over: longer than a growing
#: source waits for a file to settle (1 s by default), whose last files may land after the marker.
END_QUIET = 3.0


@dataclass(frozen=True)
class FollowLimits:
    """When a follow run ends, and how much work it keeps in flight.

    Attributes
    ----------
    frames
        End once every FOV has this many frames processed (frames after it are not processed).
    until_idle
        End when no frame landed for this many seconds (and everything landed is processed).
    max_batch
        Most frames of one batch task (a batch also ends where a chunk of
        the images ends).
    max_in_flight
        Most batch tasks submitted and not finished, over all FOVs.
    max_in_flight_per_fov
        Most of them per FOV (they run one after the other).
    status_every, traces_every
        Seconds between ``live`` records in the run log, and between rewrites of the traces so far.
    poll
        Most seconds between two looks at the acquisition.
    """

    frames: int | None = None
    until_idle: float | None = None
    max_batch: int = 8
    max_in_flight: int = 8
    max_in_flight_per_fov: int = 2
    status_every: float = 5.0
    traces_every: float = 30.0
    poll: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_in_flight", "max_in_flight_per_fov"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"--frames must be at least 1, got {self.frames}")
        if self.until_idle is not None and self.until_idle <= 0:
            raise ValueError(f"--until-idle must be positive, got {self.until_idle} s")


def follow_workflow(
    source: GrowingSource,
    context: ProcessingContext,
    limits: FollowLimits = FollowLimits(),
    *,
    open_source: Callable[[], GrowingSource] | None = None,
    client: Client | ClusterRequest | str | None = None,
    n_workers: int = 2,
    dashboard_address: str | None = None,
    progress: ProgressCallback | None = None,
    on_status: Callable[[dict], None] | None = None,
    performance_report: bool = True,
) -> bool:
    """Process a growing acquisition as it lands, then finalise it as a batch run of the completed data.

    Parameters
    ----------
    source
        The growing acquisition (:func:`pyama_dask.io.inputs.growing.open_growing`).
    context
        Output directory, channel roles, parameters (as for
        :func:`~pyama_dask.workflow.run.run_complete_workflow`).
    limits
        When the run ends, and the bounds of the work in flight.
    open_source
        Opens the acquisition on a worker; by default ``open_growing(source.path, use_events=False)``.
    client, n_workers, dashboard_address
        The cluster, as for :func:`~pyama_dask.workflow.run.run_complete_workflow`.
    progress
        Called with each task of the finalising batch run.
    on_status
        Called with the fields of each ``live`` record of the run log
        (``landed``, ``processed``, ``lag_frames``, ``lag_seconds``,
        ``frames_per_minute``, ``in_flight``), e.g. to print them.
    performance_report
        Save the dashboard's report of the finalising batch run, as
        :func:`~pyama_dask.workflow.run.run_complete_workflow` does.

    Returns
    -------
    bool
        True when every FOV was finalised: followed, or made whole by the
        finalising batch run when its batches failed.

    Raises
    ------
    ValueError
        A channel of ``context`` that the acquisition does not have.
    pyama_dask.rundir.lock.RunLockedError
        Another run is using the output directory.
    """
    output_dir = Path(context.output_dir).absolute()
    ensure_writable_dir(output_dir)
    params = Params.from_mapping(context.params)
    opener = open_source or _default_opener(source)
    with ExitStack() as stack:
        connected = stack.enter_context(connect(client, n_workers=n_workers, dashboard_address=dashboard_address))
        page = live_page_url(connected)
        logger.info("Dask dashboard: %s%s", connected.dashboard_link or "none", f" (live page: {page})" if page else "")
        with run_lock(output_dir, str(source.path)):
            follower = _Follower(connected, source, opener, context, output_dir, params, limits, on_status, page)
            followed = follower.run()
            metadata = source.metadata()
            for fov in followed:
                finalise_fov(metadata, context, output_dir, params, fov)
        # A FOV whose batches failed is made whole by the batch run (or fails there with its error).
        return run_complete_workflow(metadata, context, client=connected, fovs=sorted(follower.fovs),
                                     progress=progress, performance_report=performance_report)


def run_batch(batch: FrameBatch, *previous: BatchDone | None) -> BatchDone:
    """Process a batch of frames on a worker whose allocator keeps frames on the heap (as every task's)."""
    keep_frames_on_heap()
    return process_batch(batch, *previous)


def wait_for_first_frame(source: GrowingSource, limits: FollowLimits) -> Landed:
    """What has landed once the acquisition's first frame has (it may not have started yet).

    Raises
    ------
    ValueError
        Naming the source when the acquisition ended, or stayed idle for
        ``limits.until_idle``, without a complete frame.
    """
    started = time.monotonic()
    while True:
        landed = source.scan()
        if any(landed.frames.get(fov, 0) for fov in landed.fovs):
            return landed
        # Files written last may still be settling after the end marker: ended once the acquisition is quiet.
        changed = source.wait(END_QUIET if landed.ended else limits.poll)
        if (landed.ended and not changed) or (limits.until_idle is not None
                                              and time.monotonic() - started > limits.until_idle):
            why = "the acquisition ended" if landed.ended else f"nothing landed in {limits.until_idle:g} s"
            raise ValueError(f"{source.path}: no complete frame to follow ({why})")


def _default_opener(source: GrowingSource) -> Callable[[], GrowingSource]:
    from functools import partial

    from pyama_dask.io.inputs.growing import open_growing

    return partial(open_growing, Path(source.path).absolute(), use_events=False)  # a worker reads, it does not watch


@dataclass
class _FovProgress:
    """The driver's view of one FOV: frames landed, submitted and processed, and the batches in flight."""

    landed: int = 0
    submitted: int = 0
    processed: int = 0
    in_flight: deque = field(default_factory=deque)
    landed_at: dict[int, float] = field(default_factory=dict)  # frame -> when it was first seen landed
    chained: int = 0  # batches in the current chain (see LONGEST_CHAIN)


class _Follower:
    """The follow loop: scan, submit bounded batches, collect them, report, until the acquisition ends."""

    def __init__(self, client: Client, source: GrowingSource, opener: Callable[[], GrowingSource],
                 context: ProcessingContext, output_dir: Path, params: Params, limits: FollowLimits,
                 on_status: Callable[[dict], None] | None = None, page: str | None = None) -> None:
        self.client, self.source, self.opener, self.on_status, self.page = client, source, opener, on_status, page
        self.context, self.output_dir, self.params, self.limits = context, output_dir, params, limits
        self.fovs: dict[int, _FovProgress] = {}
        self.live: dict[int, LiveFov] = {}
        self.spans: dict[int, dict] = {}  # the span annotation of each FOV's batches
        self.batch_done = threading.Event()  # set by each batch's future when it is done
        self.failed: dict[int, str] = {}
        self.times: dict[int, list[float]] = {}
        self.done_at: deque[tuple[float, int, int]] = deque()  # (when, FOV, frames) of the last minute's batches
        self.shown: list[dict] = []  # the run-log records the dashboard page shows: live-start, the last live
        self.last_change = time.monotonic()
        self.log = run_log_path(output_dir)

    def run(self) -> list[int]:
        """Follow until the acquisition ends; the FOVs followed."""
        remove_stale_temporaries(live_dir(self.output_dir))  # of a run killed while recording its progress
        landed = wait_for_first_frame(self.source, self.limits)
        validate_channels(self.source.metadata(), self.context.channels)
        self.shown = [append_record(self.log, "live-start", input_file=str(self.source.path),
                                    layout=self.source.layout, fovs=list(landed.fovs),
                                    dashboard=self.client.dashboard_link, live_page=self.page)]
        next_status = next_traces = time.monotonic()
        try:
            while True:
                self._take(landed)
                self._submit()
                if self._over(landed):
                    break
                self._collect()
                now = time.monotonic()
                if now >= next_status:
                    self._record_status(now)
                    next_status = now + self.limits.status_every
                if now >= next_traces:
                    write_traces_so_far(self.output_dir, self.context.channels.fl, self._processed())
                    next_traces = now + self.limits.traces_every
                landed = self.source.scan()
        except BaseException:
            logger.warning("Follow run interrupted: cancelling the submitted batches")
            self.client.cancel([future for fov in self.fovs.values() for future in fov.in_flight])
            raise
        self._record_status(time.monotonic())
        write_traces_so_far(self.output_dir, self.context.channels.fl, self._processed())
        end = append_record(self.log, "live-end", reason=self._reason(landed), problems=list(landed.problems),
                            frames=self._processed(), failed=self.failed)
        self._show(end)
        return [fov for fov in self.fovs if fov not in self.failed]

    def _take(self, landed: Landed) -> None:
        """Note the frames that landed since the last look."""
        now = time.monotonic()
        for fov in landed.fovs:
            if fov not in self.fovs:
                self._start_fov(fov)
            progress = self.fovs[fov]
            count = landed.frames.get(fov, 0)
            if self.limits.frames is not None:
                count = min(count, self.limits.frames)
            if count > progress.landed:
                for t in range(progress.landed, count):
                    progress.landed_at[t] = now
                progress.landed = count
                self.last_change = now

    def _start_fov(self, fov: int) -> None:
        """Follow a FOV from where a previous follow run of this output left it."""
        metadata = self.source.metadata()
        height, width = metadata.fov_shapes[fov][1:] if fov < len(metadata.fov_shapes) else (
            metadata.height, metadata.width)
        self.live[fov] = LiveFov(
            self.output_dir, fov, self.context.channels, self.params, (int(height), int(width)),
            tuple(metadata.channel_names), self.opener, tuple(_scale(metadata)),
            None if metadata.pixel_size_um is None else MICROMETER, 0 if self.context.z is None else self.context.z)
        processed = read_state(self.output_dir, fov).frames
        if processed:
            self._check_same_channels(fov)
        remove_stale_partials(self.output_dir, fov)
        discard_unrecorded(self.output_dir, fov, processed)
        self.fovs[fov] = _FovProgress(submitted=processed, processed=processed)
        # One span for all of a FOV's batches: a span entered per batch is a new span that the scheduler keeps,
        # and new metrics that every worker keeps, for each batch of the run.
        with span(f"live-{fov_group_name(fov)}"):
            self.spans[fov] = dask.get_annotations()["span"]
        if processed:
            logger.info("FOV %d: resuming after %d processed frames", fov, processed)

    def _check_same_channels(self, fov: int) -> None:
        """Refuse to go on with a FOV followed before with other channels: its frames so far would not fit."""
        channels = self.context.channels
        before = followed_channels(self.output_dir, fov)
        if before != (channels.pc, sorted(channels.fl)):
            raise ValueError(
                f"{self.output_dir}: FOV {fov} was followed with segmented channel {before[0]} and fluorescence "
                f"channels {before[1]}, this run asks for {channels.pc} and {sorted(channels.fl)}: give the same "
                f"channels to resume it, or another output folder")

    def _submit(self) -> None:
        """Submit batches of landed frames while the bounds allow, the FOVs furthest behind first."""
        waiting = sorted((fov for fov, p in self.fovs.items() if fov not in self.failed and p.landed > p.submitted),
                         key=lambda fov: self.fovs[fov].submitted)
        for fov in waiting:
            progress = self.fovs[fov]
            while (progress.landed > progress.submitted and self._in_flight() < self.limits.max_in_flight
                   and len(progress.in_flight) < self.limits.max_in_flight_per_fov):
                start = progress.submitted
                # Catching up, batches end at chunk boundaries: each chunk of the images is then written once.
                chunk = chunk_frames(*self.live[fov].frame_shape)
                stop = min(progress.landed, start + self.limits.max_batch, (start // chunk + 1) * chunk)
                times = self._times(fov, stop)
                if times is None:
                    break  # the next look, once the frames whose stamps these take have landed too
                previous = list(progress.in_flight)[-1:]
                if previous and progress.chained >= LONGEST_CHAIN:
                    break  # the chain ends: the next batch starts a new one once this one is done
                progress.chained = progress.chained + 1 if previous else 1
                batch = FrameBatch(self.live[fov], start, stop, tuple(times[start:stop]))
                # Keys named live_fov_000-...: each FOV's batches are a task group of their own, in the FOV's span.
                with dask.annotate(span=self.spans[fov]):
                    future = self.client.submit(run_batch, batch, *previous, pure=False,
                                                key=f"live_{fov_group_name(fov)}-{start:06d}-{stop:06d}-"
                                                    f"{time.time_ns() % 10**9}")
                future.add_done_callback(self._batch_done)
                progress.in_flight.append(future)
                progress.submitted = stop

    def _times(self, fov: int, n: int) -> list[float] | None:
        """Minutes of frames 0..n-1 of a FOV; None while they are not known yet.

        A source may take them from another FOV's frames (the batch reader
        gives FOV 0's stamps), which may land later than this FOV's.
        """
        known = self.times.get(fov, [])
        if len(known) < n:
            try:
                known = self.times[fov] = list(self.source.frame_times(fov, n))
            except MicroscopyError as exc:
                logger.debug("FOV %d: times of %d frames not known yet: %s", fov, n, exc)
                return None
        return known

    def _processed(self) -> dict[int, int]:
        return {fov: progress.processed for fov, progress in self.fovs.items()}

    def _in_flight(self) -> int:
        return sum(len(p.in_flight) for p in self.fovs.values())

    def _batch_done(self, _future: Future) -> None:
        self.batch_done.set()

    def _collect(self) -> None:
        """Wait a little for a batch to finish (or the acquisition to change), and take the finished ones."""
        if not self._in_flight():
            self.source.wait(self.limits.poll)
            return
        # Not distributed.wait: the exception of its timeout holds the futures it waited on (a reference cycle)
        # until the garbage collector runs, and with them their tasks on the scheduler.
        self.batch_done.wait(self.limits.poll)
        self.batch_done.clear()  # before looking: a batch done from now on sets it again
        for fov, progress in self.fovs.items():
            while progress.in_flight and progress.in_flight[0].done():
                self._finish(fov, progress, progress.in_flight.popleft())

    def _finish(self, fov: int, progress: _FovProgress, future: Future) -> None:
        if future.status != "finished":
            error = f"{type(future.exception()).__name__}: {future.exception()}"
            if fov not in self.failed:
                logger.error("FOV %d: a batch failed, the FOV is no longer followed: %s", fov, error)
                self.failed[fov] = error
            self.client.cancel(list(progress.in_flight))
            progress.in_flight.clear()
            return
        done: BatchDone = future.result()
        now = time.monotonic()
        latency = [now - progress.landed_at.pop(t, now) for t in range(done.start, done.stop)]
        progress.processed = done.stop
        self.done_at.append((now, fov, done.stop - done.start))
        append_record(self.log, "live-batch", fov=fov, start=done.start, stop=done.stop,
                      seconds=round(done.seconds, 3), rows=done.rows, tracks=done.tracks,
                      latency=[round(value, 3) for value in latency])

    def _show(self, record: dict) -> None:
        """Give the dashboard page a new ``live`` or ``live-end`` record (after live-start and the last ``live``)."""
        if self.page is None:
            return
        self.shown = [*self.shown[:1 if record["event"] == "live" else 2], record]
        publish(self.client, self.output_dir, self.shown)

    def _over(self, landed: Landed) -> bool:
        """Whether the acquisition ended and everything of it is processed."""
        if self._in_flight() or any(p.processed < p.landed for fov, p in self.fovs.items() if fov not in self.failed):
            return False
        reason = self._reason(landed)
        # The end marker may come before the last files have settled: over once the acquisition is quiet.
        return reason is not None and not (landed.ended and self.source.wait(END_QUIET))

    def _reason(self, landed: Landed) -> str | None:
        """Why the acquisition is over, or None while it is not."""
        limits = self.limits
        if limits.frames is not None and self.fovs and all(p.landed >= limits.frames for p in self.fovs.values()):
            return f"{limits.frames} frames"
        if landed.ended:
            return "end marker"
        if limits.until_idle is not None and time.monotonic() - self.last_change > limits.until_idle:
            return f"idle for {limits.until_idle:g} s"
        return None

    def _record_status(self, now: float) -> None:
        """Append a ``live`` record: frames landed and processed per FOV, lag and rate (all FOVs and each)."""
        while self.done_at and now - self.done_at[0][0] > 60:
            self.done_at.popleft()
        lag_seconds = {fov: round(now - min(p.landed_at.values(), default=now), 3) for fov, p in self.fovs.items()}
        fields = {
            "landed": {fov: p.landed for fov, p in self.fovs.items()},
            "processed": {fov: p.processed for fov, p in self.fovs.items()},
            "lag_frames": max((p.landed - p.processed for p in self.fovs.values()), default=0),
            "lag_seconds": max(lag_seconds.values(), default=0.0),
            "frames_per_minute": sum(frames for _, _, frames in self.done_at),
            "fov_lag_seconds": lag_seconds,
            "fov_frames_per_minute": {fov: sum(n for _, done, n in self.done_at if done == fov) for fov in self.fovs},
            "in_flight": self._in_flight(),
        }
        self._show(append_record(self.log, "live", **fields))
        if self.on_status is not None:
            self.on_status(fields)
