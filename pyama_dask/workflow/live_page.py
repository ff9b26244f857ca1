"""The follow run's page on the Dask dashboard: frames landed and processed per FOV, lag and rate.

The scheduler's HTTP server (the dashboard) serves it at ``/pyama-dask/live``
(HTML, reloaded every few seconds) and ``/pyama-dask/live.json``. Dask adds
pages to that server from the modules named in its config
``distributed.scheduler.http.routes`` (each has a ``routes`` list), read when
the scheduler starts: the clusters a run starts name this module
(:func:`scheduler_routes`, used by
:func:`pyama_dask.workflow.clusters.make_cluster`; their schedulers run in
the driver's process). A scheduler started elsewhere serves the page when
its config names this module too and it can import pyama_dask.

The follow run carries its run-log records to the scheduler with
``Client.set_metadata`` (:func:`publish`) whenever it appends a ``live``
record: the ``live-start`` record, the last ``live`` record and at the end
the ``live-end`` record. The page summarises them with
:mod:`pyama_dask.workflow.live_status`, as ``pyama-dask status`` does from the
run log, so both show the same numbers. Each follow run on the scheduler has
its own section, the latest first.
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask

from distributed.http.utils import RequestHandler

from pyama_dask.workflow.live_status import LiveStatus, fov_rows, summarise_live

if TYPE_CHECKING:
    from distributed import Client, Scheduler

logger = logging.getLogger(__name__)

#: Where the page is, below the dashboard's root.
PAGE = "pyama-dask/live"
#: The scheduler's metadata holding each follow run's records, by output directory.
METADATA_KEY = "pyama-dask-live"
#: Seconds between two reloads of the page (a follow run appends a ``live`` record every 5 s by default).
RELOAD_SECONDS = 2
_ROUTES_CONFIG = "distributed.scheduler.http.routes"


def scheduler_routes() -> list[str]:
    """The route modules of dask's config with this one: the value of ``distributed.scheduler.http.routes``."""
    modules = list(dask.config.get(_ROUTES_CONFIG))
    return modules if __name__ in modules else [*modules, __name__]


def publish(client: Client, output_dir: Path, records: list[dict[str, Any]]) -> None:
    """Give the scheduler the run-log records of the follow run into ``output_dir`` that its page shows."""
    client.set_metadata([METADATA_KEY, str(output_dir)], records)


def live_page_url(client: Client) -> str | None:
    """The page's address when the client's scheduler serves it; else None, said in one log line."""
    link = client.dashboard_link
    try:
        served = bool(client.run_on_scheduler(serves_page))
    except Exception as exc:  # noqa: BLE001 - a scheduler that cannot answer has no page either
        logger.debug("the scheduler could not say whether it serves %s: %s", PAGE, exc)
        served = False
    if not served or not link:
        logger.info("The scheduler at %s was not started with the follow run's page (its config "
                    "%s does not name %s): the dashboard shows the FOVs' spans only",
                    client.scheduler.address, _ROUTES_CONFIG, __name__)
        return None
    root = link[:-len("status")] if link.endswith("/status") else link.rstrip("/") + "/"
    return root + PAGE


def serves_page(dask_scheduler: Scheduler) -> bool:
    """Whether the scheduler's HTTP server has the page (run on the scheduler)."""
    application = getattr(dask_scheduler, "http_application", None)
    return application is not None and any(rule.target is LivePage for rule in application.wildcard_router.rules)


def follow_runs(scheduler: Scheduler) -> list[tuple[str, LiveStatus]]:
    """The follow runs published to the scheduler: output directory and status, the latest started first."""
    runs = []
    for output_dir, records in scheduler.get_metadata([METADATA_KEY], default={}).items():
        status = summarise_live(records)
        if status is not None:
            runs.append((output_dir, status))
    return sorted(runs, key=lambda run: run[1].started, reverse=True)


def status_json(output_dir: str, status: LiveStatus) -> dict[str, Any]:
    """A follow run's numbers as the JSON route gives them."""
    return {"output_dir": output_dir, "input_file": status.input_file, "ended": status.ended,
            "updated": status.updated.isoformat(), "lag_frames": status.lag_frames,
            "lag_seconds": status.lag_seconds, "frames_per_minute": status.frames_per_minute,
            "fovs": [asdict(row) for row in fov_rows(status)]}


def render_page(runs: list[tuple[str, LiveStatus]]) -> str:
    """The HTML page of the follow runs."""
    sections = "\n".join(_section(output_dir, status) for output_dir, status in runs) or (
        "<p>No follow run has reported to this scheduler yet.</p>")
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}"><title>pyama-dask: follow runs</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>Follow runs</h1>"
            f'<p><a href="../status">Dask dashboard</a></p>\n{sections}\n</body></html>\n')


_STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
          "th,td{border:1px solid #bbb;padding:.25em .8em;text-align:right}th{background:#eee}")


def _section(output_dir: str, status: LiveStatus) -> str:
    state = "following the acquisition" if status.ended is None else f"acquisition over ({status.ended})"
    landed, processed = sum(status.landed.values()), sum(status.processed.values())
    rows = "\n".join(
        f"<tr><td>{row.fov}</td><td>{row.landed}</td><td>{row.processed}</td><td>{row.lag_frames}</td>"
        f"<td>{row.lag_seconds:.1f}</td><td>{row.frames_per_minute:.0f}</td></tr>" for row in fov_rows(status))
    return (f"<h2>{html.escape(status.input_file)}</h2>"
            f"<p>into {html.escape(output_dir)}: {html.escape(state)}; updated "
            f"{status.updated.strftime('%Y-%m-%d %H:%M:%S %Z')}</p>"
            f"<p>{processed} of {landed} frames processed; lag {status.lag_frames} frame(s), "
            f"{status.lag_seconds:.1f} s; {status.frames_per_minute:.0f} frames/min</p>\n"
            "<table><tr><th>FOV</th><th>landed</th><th>processed</th><th>lag (frames)</th><th>lag (s)</th>"
            f"<th>frames/min</th></tr>\n{rows}\n</table>")


class LivePage(RequestHandler):
    """The HTML page, served by the scheduler."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(render_page(follow_runs(self.server)))


class LiveJSON(RequestHandler):
    """The same numbers as JSON, served by the scheduler."""

    def get(self) -> None:
        self.write({"runs": [status_json(output_dir, status) for output_dir, status in follow_runs(self.server)]})


routes: list[tuple] = [(PAGE, LivePage, {}), (PAGE + r"\.json", LiveJSON, {})]
