"""The follow run's page on the Dask dashboard: the numbers of ``pyama-dask status``, per FOV, while it runs."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import asdict
from html.parser import HTMLParser

from distributed import Client

from pyama_dask.io.inputs.growing import open_growing
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.synthetic import SyntheticSpec
from pyama_dask.synthetic.acquisition import start_acquisition
from pyama_dask.workflow.clusters import make_cluster
from pyama_dask.workflow.live import FollowLimits, follow_workflow
from pyama_dask.workflow.live_page import live_page_url, serves_page
from pyama_dask.workflow.live_status import fov_rows, summarise_live

SPEC = SyntheticSpec(n_fovs=2, n_frames=8, size=256, n_cells=9, n_fluorescence=2, seed=3)


class _TableCells(HTMLParser):
    """The text of each table row's cells (header rows left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _page_and_status(out):
    """What the page shows of the run into ``out``, and what ``status`` shows (from the run log), per FOV."""
    status = summarise_live(read_records(run_log_path(out)))
    [run] = json.loads(_get(status.live_page + ".json"))["runs"]
    parser = _TableCells()
    parser.feed(_get(status.live_page))
    shown = [row for row in parser.rows if row]
    expected = [[str(r.fov), str(r.landed), str(r.processed), str(r.lag_frames), f"{r.lag_seconds:.1f}",
                 f"{r.frames_per_minute:.0f}"] for r in fov_rows(status)]
    return run, shown, status, expected


def test_the_dashboard_page_shows_the_numbers_of_status_per_fov_while_following(tmp_path):
    acquisition = start_acquisition(tmp_path / "acquisition", SPEC, "tiff-folder", 0.3)
    out = tmp_path / "live"
    seen = []
    with make_cluster("local", n_workers=1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        # At each live record, the page (HTML and JSON) is fetched and compared with the run log's status.
        assert follow_workflow(open_growing(acquisition.path, poll_interval=0.2),
                               ProcessingContext(out, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 3}),
                               FollowLimits(poll=0.1, status_every=0.3), client=client,
                               on_status=lambda _: seen.append(_page_and_status(out)))
        acquisition.result()
        run, shown, status, expected = _page_and_status(out)  # after the run: its last numbers
    assert status.live_page.startswith(cluster.dashboard_link.removesuffix("status"))
    assert len(seen) >= 2
    for run_then, shown_then, status_then, expected_then in seen:
        assert run_then["fovs"] == [asdict(row) for row in fov_rows(status_then)]
        assert shown_then == expected_then and run_then["ended"] is None
    assert any(0 < sum(status.processed.values()) for _, _, status, _ in seen)  # frames processed meanwhile
    assert run["ended"] == "end marker" and run["output_dir"] == str(out)
    assert shown == expected and [row[2] for row in shown] == [str(SPEC.n_frames)] * SPEC.n_fovs


def test_a_scheduler_started_without_the_page_is_named_in_one_log_line(dask_client, caplog):
    """The session's cluster was started without the page's route (as a scheduler started elsewhere may be)."""
    assert not dask_client.run_on_scheduler(serves_page)
    with caplog.at_level(logging.INFO, logger="pyama_dask"):
        assert live_page_url(dask_client) is None
    [line] = [r.getMessage() for r in caplog.records if r.name.startswith("pyama_dask")]
    assert dask_client.scheduler.address in line and "pyama_dask.workflow.live_page" in line
