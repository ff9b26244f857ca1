"""A whole run killed at exact points resumes to the outputs of an uninterrupted run; two runs never share a directory.

Each killed run is ``pyama-dask run`` in a session of its own, killed (driver,
scheduler and worker, SIGKILL) by ``kill_points.py`` at the chosen point.
Each resumed run redoes only what its predecessor left incomplete (read from
the completion markers, checked against the run log), and the last one ends
with the outputs of ``tiny_run``, the uninterrupted run of the same request.
The kill during copy, and Ctrl-C, are in ``test_interrupted_runs.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_outputs import assert_same_outputs, recorded_fovs

from pyama_dask.cli import main
from pyama_dask.rundir.lock import LOCK_NAME, is_locked
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.rundir.results import RESULTS_FILE
from pyama_dask.rundir.runlog import read_records, run_log_path
from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.store import ImageRef
from pyama_dask.io.fov_files import traces_path
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.workflow.run import run_complete_workflow

pytestmark = pytest.mark.timeout(300)

KILL_POINTS = Path(__file__).with_name("kill_points.py")
PARAMS = {"min_trace_length": 5}  # tiny_run's request: pc 0, fl 1 and 2, every FOV
CHANNELS = Channels(pc=0, fl=[1, 2])


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "run.yaml"
    path.write_text(f"params:\n  min_trace_length: {PARAMS['min_trace_length']}\n")
    return path


def _command(tiny_dataset, out: Path, config: Path, *extra: str) -> list[str]:
    return ["run", str(tiny_dataset.image_path), "--pc", "0", "--fl", "1", "2", "--out", str(out),
            "--config", str(config), "--no-progress", "--dashboard-address", ":0", *extra]


def _killed_run(tiny_dataset, out: Path, config: Path, kill_at: str) -> None:
    """Run in a session of its own until ``kill_points.py`` kills it at ``kill_at``."""
    env = {**os.environ, "PYAMA_KILL_AT": kill_at, "DASK_DISTRIBUTED__WORKER__PRELOAD": f"['{KILL_POINTS}']"}
    argv = [sys.executable, str(KILL_POINTS), *_command(tiny_dataset, out, config, "--batch-size", "1",
                                                          "--workers", "1")]
    proc = subprocess.run(argv, env=env, start_new_session=True, capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed at {kill_at}:\n{proc.stdout}{proc.stderr}"


def _incomplete_tasks(meta, out: Path) -> set[tuple[str, int, int]]:
    """(step, FOV, channel) of every task whose output is not complete in ``out``."""
    params, identity = Params.from_mapping(PARAMS), input_identity(meta.file_path)
    plans = [plan_fov(meta, out, fov, CHANNELS, params, identity) for fov in range(meta.n_fovs)]
    return {(task.step, task.fov, task.channel) for plan in plans for task in plan.pending}


def _last_run_tasks(out: Path, status: str) -> set[tuple[str, int, int]]:
    """(step, FOV, channel) of the tasks the last run logged with ``status`` before it was killed."""
    records = read_records(run_log_path(out))
    start = max(i for i, record in enumerate(records) if record["event"] == "run-start")
    return {(r["step"], r["fov"], r["channel"]) for r in records[start:] if r.get("status") == status}


def test_a_run_killed_at_three_points_resumes_to_identical_outputs(
        tiny_dataset, tiny_run, dask_client, config, tmp_path):
    out = tmp_path / "out"
    meta = read_metadata(tiny_dataset.image_path)
    all_tasks = _incomplete_tasks(meta, out)
    assert run_complete_workflow(meta, ProcessingContext(out, CHANNELS, params=dict(PARAMS)), 0, 0,
                                 client=dask_client)
    results_before = (out / RESULTS_FILE).read_bytes()

    # 1. while the masks of FOV 1 are written (their one chunk is, the completion marker not yet)
    _killed_run(tiny_dataset, out, config, "frame:fov_001/seg_ch_0/0:0")
    masks = ImageRef(out, 1, "seg", 0)
    assert completed_fingerprint(masks) is None and any((masks.location / "0" / "c").iterdir()), \
        "the masks of FOV 1 were meant to be written but not marked complete"
    incomplete = _incomplete_tasks(meta, out)
    assert ("segment", 1, 0) in incomplete and not any(fov == 0 for _, fov, _ in incomplete)
    assert _last_run_tasks(out, "done") <= all_tasks - incomplete

    # 2. while a trace file of FOV 2 is written, not yet in place: only what was incomplete is redone
    csv = traces_path(out, meta.base_name, 2, 2)
    _killed_run(tiny_dataset, out, config, f"replace:{csv.name}")
    assert not csv.exists() and completed_fingerprint(csv) is None
    assert list(csv.parent.glob(f".{csv.name}.*.tmp")), "the trace file was meant to be written, not in place"
    assert _last_run_tasks(out, "done") <= incomplete
    assert _last_run_tasks(out, "skipped") == all_tasks - incomplete
    incomplete = _incomplete_tasks(meta, out)
    assert ("extract", 2, 2) in incomplete and {fov for _, fov, _ in incomplete} == {2}

    # 3. while the results file is replaced, every output being complete: the old file stays whole
    _killed_run(tiny_dataset, out, config, f"driver-replace:{RESULTS_FILE}")
    assert _last_run_tasks(out, "done") == incomplete
    assert (out / RESULTS_FILE).read_bytes() == results_before and recorded_fovs(out) == [0]

    events = []
    assert run_complete_workflow(meta, ProcessingContext(out, CHANNELS, params=dict(PARAMS)),
                                 client=dask_client, progress=events.append)
    assert {e.status for e in events} == {"skipped"}
    assert_same_outputs(out, tiny_run)
    assert recorded_fovs(out) == [0, 1, 2]
    assert not list(out.glob("**/.*.tmp")), "the temporary files of the killed runs are removed"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_a_second_run_on_the_same_directory_is_refused_naming_the_first(
        tiny_dataset, tiny_run, dask_client, config, tmp_path, capsys):
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "pyama_dask", *_command(
        tiny_dataset, out, config, "--fovs", "0", "--scheduler", dask_client.scheduler.address)],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not is_locked(out):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.02)
        os.killpg(first.pid, signal.SIGSTOP)  # holds the lock, writes nothing while the second one tries
        before = _tree(out)
        code = main(_command(tiny_dataset, out, config, "--fovs", "1", "--scheduler", dask_client.scheduler.address))
        err = capsys.readouterr().err
        assert code == 2
        assert f"{out} is in use by another pyama-dask run" in err
        assert f'"pid": {first.pid}' in err and str(tiny_dataset.image_path) in err
        assert "Traceback" not in err
        assert _tree(out) == before
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    text, _ = first.communicate(timeout=120)
    assert first.returncode == 0, text
    assert_same_outputs(out, tiny_run, fovs=[0])
    assert not is_locked(out) and (out / LOCK_NAME).exists()
