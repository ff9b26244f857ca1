"""What the run log says about the last run: FOVs done, running and failed, throughput, ETA.

Pure functions of the parsed run-log records (:mod:`pyama_dask.rundir.runlog`)
and of the time they are read at, so that they give the same answer while a
run is going and after it has ended.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Statuses of a task that count as its FOV's output being there.
COMPLETE = ("done", "skipped")
# Statuses of a task that the workers spent time on.
COMPUTED = ("done", "failed")


@dataclass(frozen=True)
class FovFailure:
    """The task that failed a FOV, and its error."""

    step: str
    channel: int
    error: str


@dataclass(frozen=True)
class RunStatus:
    """Where the last run of an output directory is (or ended).

    ``fovs_running`` are the FOVs some of whose tasks have finished but not
    all; FOVs that have not reported any task yet count as waiting.
    """

    input_file: str
    dashboard: str | None
    started: datetime
    ended: datetime | None  # None while running, or when the run died
    last_record: datetime
    fovs: tuple[int, ...]
    fovs_done: tuple[int, ...]
    fovs_running: tuple[int, ...]
    fovs_failed: dict[int, FovFailure]
    n_tasks: int
    tasks_finished: int  # any status: done, skipped, failed, upstream
    tasks_skipped: int
    tasks_computed: int  # done or failed: the work the rates are made of
    fovs_computed: int  # FOVs done or failed with at least one task computed
    tasks_left: int  # tasks of FOVs neither done nor failed that have not finished

    @property
    def fovs_waiting(self) -> int:
        return len(self.fovs) - len(self.fovs_done) - len(self.fovs_running) - len(self.fovs_failed)

    def minutes(self, now: datetime) -> float:
        """Minutes the run has taken, up to its end or, while it runs, to ``now``."""
        end = self.ended if self.ended is not None else now
        return max((end - self.started).total_seconds() / 60, 0.0)

    def tasks_per_minute(self, now: datetime) -> float | None:
        minutes = self.minutes(now)
        return self.tasks_computed / minutes if minutes > 0 else None

    def fovs_per_minute(self, now: datetime) -> float | None:
        minutes = self.minutes(now)
        return self.fovs_computed / minutes if minutes > 0 else None

    def eta(self, now: datetime) -> datetime | None:
        """When the run should end at its task rate so far; None when it has ended or no rate is known yet."""
        rate = self.tasks_per_minute(now)
        if self.ended is not None or not rate:
            return None
        return now + timedelta(minutes=self.tasks_left / rate)


def summarise_run(records: list[dict[str, Any]]) -> RunStatus:
    """The status of the last run in a run log.

    Raises
    ------
    ValueError
        When the records hold no ``run-start``.
    """
    starts = [i for i, record in enumerate(records) if record["event"] == "run-start"]
    if not starts:
        raise ValueError("the run log holds no run-start record: no run has started yet")
    start, *rest = records[starts[-1]:]
    tasks = [record for record in rest if record["event"] == "task"]
    end = next((record for record in rest if record["event"] == "run-end"), None)
    fovs = tuple(start["fovs"])
    per_fov = _tasks_per_fov(start)

    by_fov: dict[int, Counter] = defaultdict(Counter)
    failures: dict[int, FovFailure] = {}
    for task in tasks:
        by_fov[task["fov"]][task["status"]] += 1
        if task["status"] == "failed" and task["fov"] not in failures:
            failures[task["fov"]] = FovFailure(task["step"], task["channel"], task.get("error") or "")
    done = tuple(f for f in fovs if f not in failures and sum(by_fov[f][s] for s in COMPLETE) == per_fov[f])
    running = tuple(f for f in fovs if by_fov[f] and f not in failures and f not in done)
    statuses = Counter(task["status"] for task in tasks)
    return RunStatus(
        input_file=start["input_file"],
        dashboard=start.get("dashboard"),
        started=_time(start),
        ended=_time(end) if end is not None else None,
        last_record=_time(records[-1]),
        fovs=fovs,
        fovs_done=done,
        fovs_running=running,
        fovs_failed=dict(sorted(failures.items())),
        n_tasks=start["n_tasks"],
        tasks_finished=len(tasks),
        tasks_skipped=statuses["skipped"],
        tasks_computed=sum(statuses[s] for s in COMPUTED),
        fovs_computed=sum(1 for f in (*done, *failures) if any(by_fov[f][s] for s in COMPUTED)),
        tasks_left=sum(per_fov[f] - sum(by_fov[f].values()) for f in fovs if f not in done and f not in failures),
    )


def _tasks_per_fov(start: dict[str, Any]) -> dict[int, int]:
    """Tasks of each FOV of a run, from its ``run-start`` record.

    JSON keys are strings; run logs written before ``fov_tasks`` was recorded
    had the same tasks for every FOV.
    """
    fovs = start["fovs"]
    if "fov_tasks" in start:
        return {int(fov): n for fov, n in start["fov_tasks"].items()}
    return dict.fromkeys(fovs, start["n_tasks"] // len(fovs) if fovs else 0)


def describe_status(status: RunStatus, now: datetime, *, live: bool) -> str:
    """Lines for a terminal; ``live`` says whether the run still holds the output directory."""
    lines = [f"input:      {status.input_file}", f"started:    {_clock(status.started)} ({_state(status, now, live)})"]
    if status.dashboard and status.ended is None and live:
        lines.append(f"dashboard:  {status.dashboard}")
    lines.append(
        f"FOVs:       {len(status.fovs_done)} done, {len(status.fovs_running)} running, "
        f"{len(status.fovs_failed)} failed, {status.fovs_waiting} waiting (of {len(status.fovs)})"
    )
    skipped = f"; {status.tasks_skipped} skipped, already complete" if status.tasks_skipped else ""
    lines.append(f"tasks:      {status.tasks_finished} of {status.n_tasks} finished{skipped}")
    tasks_rate, fovs_rate = status.tasks_per_minute(now), status.fovs_per_minute(now)
    if tasks_rate is not None and fovs_rate is not None:
        lines.append(f"throughput: {tasks_rate:.1f} tasks/min, {fovs_rate:.2f} FOVs/min")
    eta = status.eta(now) if live else None
    if eta is not None:
        lines.append(f"ETA:        {_clock(eta)} (in {_duration(eta - now)})")
    if status.fovs_failed:
        lines.append("failed FOVs:")
        lines.extend(f"  {fov}: {f.step} ch{f.channel}: {f.error}" for fov, f in status.fovs_failed.items())
    return "\n".join(lines)


def _state(status: RunStatus, now: datetime, live: bool) -> str:
    if status.ended is not None:
        verdict = "all FOVs done" if not status.fovs_failed else f"{len(status.fovs_failed)} FOV(s) failed"
        return f"ended after {_duration(status.ended - status.started)}: {verdict}"
    if live:
        return f"running for {_duration(now - status.started)}"
    return (f"stopped without finishing, last record at {_clock(status.last_record)}: "
            "interrupted or killed; a new run resumes from the complete outputs")


def _time(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["time"])


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
