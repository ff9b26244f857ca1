"""What the run log says about a follow run: frames landed and processed per FOV, lag, rate, latency.

Pure functions of the parsed run-log records (:mod:`pyama_dask.rundir.runlog`),
as :mod:`pyama_dask.workflow.status`: the follow run
(:mod:`pyama_dask.workflow.live`) appends a ``live-start`` record, a ``live``
record every few seconds, a ``live-batch`` record per batch of frames done
and a ``live-end`` record; its finalisation is a batch run, summarised by
:func:`~pyama_dask.workflow.status.summarise_run`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class LiveStatus:
    """The last follow run of an output directory.

    ``landed`` and ``processed`` are frames per FOV at the last ``live``
    record, ``fov_lag_seconds`` and ``fov_frames_per_minute`` each FOV's lag
    and rate then (empty in the logs of older runs); ``latency`` the seconds
    from each frame landing to its trace rows being written, over the batches
    so far.
    """

    input_file: str
    layout: str
    dashboard: str | None
    live_page: str | None  # the page of the follow run on the dashboard, when its scheduler serves it
    started: datetime
    updated: datetime
    ended: str | None  # why it ended, None while it follows
    landed: dict[int, int]
    processed: dict[int, int]
    lag_frames: int
    lag_seconds: float
    frames_per_minute: float
    fov_lag_seconds: dict[int, float]
    fov_frames_per_minute: dict[int, float]
    latency: tuple[float, ...]
    finalised: bool  # the batch run that finalises it has started (:mod:`~pyama_dask.workflow.status` says how far)

    def latency_percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of the frames' latency; None before any batch is done."""
        if not self.latency:
            return None
        if len(self.latency) == 1:
            return self.latency[0]
        return statistics.quantiles(self.latency, n=100, method="inclusive")[min(max(round(q), 1), 99) - 1]


@dataclass(frozen=True)
class FovLive:
    """One FOV of a follow run: frames landed and processed, lag in frames and seconds, frames per minute."""

    fov: int
    landed: int
    processed: int
    lag_frames: int
    lag_seconds: float
    frames_per_minute: float


def fov_rows(status: LiveStatus) -> list[FovLive]:
    """Each FOV of ``status``, in FOV order; lag seconds and rate are 0 where the run log does not give them."""
    return [FovLive(fov, landed, status.processed.get(fov, 0), landed - status.processed.get(fov, 0),
                    status.fov_lag_seconds.get(fov, 0.0), status.fov_frames_per_minute.get(fov, 0.0))
            for fov, landed in sorted(status.landed.items())]


def summarise_live(records: list[dict[str, Any]]) -> LiveStatus | None:
    """The last follow run in a run log; None when the log holds none."""
    starts = [i for i, record in enumerate(records) if record["event"] == "live-start"]
    if not starts:
        return None
    start, *rest = records[starts[-1]:]
    status = [record for record in rest if record["event"] == "live"]
    last = status[-1] if status else {}
    end = next((record for record in rest if record["event"] == "live-end"), None)
    latency = tuple(value for record in rest if record["event"] == "live-batch" for value in record["latency"])
    return LiveStatus(
        input_file=start["input_file"],
        layout=start.get("layout", ""),
        dashboard=start.get("dashboard"),
        live_page=start.get("live_page"),
        started=datetime.fromisoformat(start["time"]),
        updated=datetime.fromisoformat(records[-1]["time"]),
        ended=None if end is None else end["reason"],
        landed={int(fov): n for fov, n in last.get("landed", {}).items()},
        processed={int(fov): n for fov, n in last.get("processed", {}).items()},
        lag_frames=int(last.get("lag_frames", 0)),
        lag_seconds=float(last.get("lag_seconds", 0.0)),
        frames_per_minute=float(last.get("frames_per_minute", 0.0)),
        fov_lag_seconds={int(fov): float(s) for fov, s in last.get("fov_lag_seconds", {}).items()},
        fov_frames_per_minute={int(fov): float(n) for fov, n in last.get("fov_frames_per_minute", {}).items()},
        latency=latency,
        finalised=any(record["event"] == "run-start" for record in rest),
    )


def describe_live(status: LiveStatus, *, running: bool) -> str:
    """Lines for a terminal; ``running`` says whether the run still holds the output directory."""
    if status.ended is not None:
        finalised = ", then finalised by a batch run (below)" if status.finalised else ""
        state = f"acquisition over ({status.ended}){finalised}"
    elif running:
        state = "following the acquisition"
    else:
        state = "stopped while following: interrupted or killed; a new --follow run resumes and catches up"
    lines = [f"live:       {status.input_file} ({status.layout}): {state}"]
    if status.dashboard and running and status.ended is None:
        page = f" (live page: {status.live_page})" if status.live_page else ""
        lines.append(f"dashboard:  {status.dashboard}{page}")
    lines.append(f"frames:     {sum(status.processed.values())} processed of {sum(status.landed.values())} landed; "
                 f"lag {status.lag_frames} frame(s), {status.lag_seconds:.1f} s; "
                 f"{status.frames_per_minute:.0f} frames/min")
    for row in fov_rows(status):
        lines.append(f"  FOV {row.fov}: {row.processed} of {row.landed} frames; lag {row.lag_frames} frame(s), "
                     f"{row.lag_seconds:.1f} s; {row.frames_per_minute:.0f} frames/min")
    median, p95 = status.latency_percentile(50), status.latency_percentile(95)
    if median is not None and p95 is not None:
        lines.append(f"latency:    median {median:.1f} s, 95th percentile {p95:.1f} s (landing to trace rows)")
    return "\n".join(lines)
