"""The Dask dashboard of a running workflow, seen by a real browser and by Prometheus.

A run on generated data starts its own LocalCluster with a dashboard on a
known port; its progress callback holds the driver at the first finished task
until the checks are done, so the cluster is live however fast the run. Then headless
Chromium (Debian's, driven by Playwright) loads the status page, and the
``/metrics`` endpoint is read: both must name the workflow's steps as task
prefixes. The screenshot, the page's HTML and the metrics are kept under
``tests/artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.pipeline.steps import STEPS
from pyama_dask.synthetic import SyntheticSpec, generate_dataset
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.run import run_complete_workflow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIVE_SPEC = SyntheticSpec(n_fovs=4, n_frames=24, size=384, seed=1)
STARTUP_TIMEOUT_S = 120
RUN_TIMEOUT_S = 300
# A Prometheus sample of distributed's per-prefix task state counter.
PREFIX_SAMPLE = re.compile(r'^dask_scheduler_prefix_state_totals_total\{([^}]*)\} (\S+)$', re.MULTILINE)
# The task prefixes of the status page's progress bars, from the browser's Bokeh
# document: the data source with a name and per-state counts for each bar (the
# task stream's source also has names, and shows transfers and the like too).
PROGRESS_NAMES_JS = """() => {
  const names = new Set();
  for (const doc of Bokeh.documents)
    for (const model of doc.all_models)
      if (model.data && ["name", "all", "processing", "memory"].every(column => column in model.data))
        model.data.name.forEach(name => names.add(String(name)));
  return [...names];
}"""
BOKEH_READY_JS = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].roots().length"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (as root on Debian); skips elsewhere."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and can be installed here only by root on Debian with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0 or not CHROMIUM.exists():
        pytest.skip(f"could not install chromium with apt-get: {result.stderr.strip()[-500:]}")
    return CHROMIUM


class LiveRun:
    """A workflow run in a background thread, on its own LocalCluster with a known dashboard port."""

    def __init__(self, image_path: Path, out: Path, port: int):
        self.out = out
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.error: BaseException | None = None
        self.ok: bool | None = None
        self.events: list = []
        self.release = threading.Event()  # set by the tests once they have looked
        context = ProcessingContext(out, Channels(pc=0, fl=[1, 2]))
        self.thread = threading.Thread(target=self._run, args=(read_metadata(image_path), context), daemon=True)

    def _run(self, meta, context) -> None:
        try:
            self.ok = run_complete_workflow(meta, context, dashboard_address=f"127.0.0.1:{self.port}",
                                            progress=self._on_event)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def _on_event(self, event) -> None:
        self.events.append(event)
        self.release.wait(RUN_TIMEOUT_S)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return response.read().decode()

    def wait_for_tasks(self) -> None:
        """Until the scheduler reports tasks of the first step."""
        self._wait(lambda: 'task_prefix_name="copy"' in self.get("/metrics"), f"a task on {self.base}/metrics")

    def wait_for_first_result(self) -> None:
        """Until a task has finished, so that the dashboard has progress to show."""
        self._wait(lambda: bool(self.events), "a finished task")

    def _wait(self, condition, what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.thread.is_alive(), f"the run ended before {what} showed: {self.error!r}, ok={self.ok}"
            try:
                if condition():
                    return
            except OSError:
                pass  # the dashboard is not up yet
            time.sleep(0.3)
        pytest.fail(f"no {what} within {STARTUP_TIMEOUT_S} s")

    def running(self) -> bool:
        return self.thread.is_alive()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    dataset = generate_dataset(tmp_path_factory.mktemp("live-data"), LIVE_SPEC, name="live")
    run = LiveRun(dataset.image_path, tmp_path_factory.mktemp("live-out"), _free_port())
    run.thread.start()
    run.wait_for_tasks()
    yield run
    run.release.set()
    run.thread.join(RUN_TIMEOUT_S)
    assert not run.thread.is_alive(), f"the run did not end within {RUN_TIMEOUT_S} s"
    assert run.error is None and run.ok, f"the run failed: {run.error!r}"
    start, *_, end = read_records(run_log_path(run.out))
    assert start["dashboard"] == f"{run.base}/status"
    assert end["event"] == "run-end" and end["ok"] is True


def _save(name: str, content: str | bytes) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    print(f"saved {path}")
    return path


def _prefix_samples(metrics: str) -> dict[str, dict[str, float]]:
    """{task prefix: {state: accumulated count}} from the Prometheus text."""
    samples: dict[str, dict[str, float]] = {}
    for labels, value in PREFIX_SAMPLE.findall(metrics):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        samples.setdefault(fields["task_prefix_name"], {})[fields["state"]] = float(value)
    return samples


def _non_background_fraction(png: bytes) -> float:
    """Share of the pixels below the navigation bar that differ from the page's background."""
    pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=int)[60:]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return float((np.abs(pixels - background).sum(axis=-1) > 30).mean())


# First in the module, so that chromium (a session fixture) is ready before the run starts.
def test_status_page_in_a_browser_shows_the_steps(chromium, live_run):
    from playwright.sync_api import sync_playwright

    live_run.wait_for_first_result()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = browser.new_page()
            page.goto(f"{live_run.base}/status")
            # The plots arrive over Bokeh's websocket after the page's load event.
            page.wait_for_function(BOKEH_READY_JS, timeout=30_000)
            page.wait_for_timeout(2_000)  # a few dashboard updates
            names = set(page.evaluate(PROGRESS_NAMES_JS))
            png = page.screenshot()
            html = page.content()
        finally:
            browser.close()
        metrics = live_run.get("/metrics")
    assert live_run.running(), "the run ended before the page was seen"
    _save("dashboard-status.png", png)
    _save("dashboard-status.html", html)
    _save("dashboard-metrics.txt", metrics)
    assert names == set(STEPS), f"progress bars in the browser: {sorted(names)}"
    assert set(_prefix_samples(metrics)) == set(STEPS)
    assert "<title>Dask" in html and "/status" in html
    assert _non_background_fraction(png) > 0.05, "the status page's plots were not drawn"


def test_metrics_count_tasks_of_each_step_during_the_run(live_run):
    metrics = live_run.get("/metrics")
    assert live_run.running(), "the run ended before /metrics was read"
    samples = _prefix_samples(metrics)
    assert set(samples) == set(STEPS), f"task prefixes in /metrics: {sorted(samples)}"
    # both FOVs of the first batch were submitted whole: 3 copies, 2 corrections and extractions each
    waiting = {step: samples[step].get("waiting", 0) for step in STEPS}
    assert waiting["copy"] >= 2 * 3 and waiting["segment"] >= 2 and waiting["correct"] >= 2 * 2
