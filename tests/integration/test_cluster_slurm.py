"""make_cluster("slurm") on a real single-node Slurm (the local_slurm fixture)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import dask
import pytest
from distributed import Client, as_completed

from pyama_dask.workflow.clusters import make_cluster, scale_for

pytestmark = pytest.mark.timeout(180)


def _make_square_in_job():
    # The workers run in Slurm jobs that cannot import this test module; a
    # local function is not picklable by reference, so dask sends it by value.
    def square_in_job(x: int, seconds: float) -> tuple[int, str]:
        """Return x² and the Slurm job the task ran in, after sleeping."""
        time.sleep(seconds)
        return x * x, os.environ["SLURM_JOB_ID"]

    return square_in_job


square_in_job = _make_square_in_job()


def queued_jobs(job_name: str) -> dict[str, str]:
    """Return {job id: state} of the jobs named `job_name` in squeue."""
    out = subprocess.run(
        ["squeue", "--noheader", "--name", job_name, "--format", "%i %T"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


def wait_for_empty_queue(job_name: str, timeout_s: float = 15) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while (jobs := queued_jobs(job_name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return jobs


@pytest.fixture
def slurm_cluster(local_slurm: Path, tmp_path: Path):
    """Build a SLURMCluster of single-core 2 GB jobs named uniquely for the test."""
    job_name = f"pyama-test-{uuid.uuid4().hex[:8]}"
    clusters = []

    def build(**overrides):
        options = dict(
            cores=1,
            memory="2GB",
            walltime="00:10:00",
            # The scheduler and the workers talk over loopback on this one node.
            interface="lo",
            dashboard_address=":0",
            job_name=job_name,
            log_directory=str(tmp_path / "logs"),
            # The run's TLS credentials, out of the home directory.
            shared_temp_directory=str(tmp_path),
        )
        cluster = make_cluster("slurm", **{**options, **overrides})
        clusters.append(cluster)
        return cluster

    build.job_name = job_name
    yield build
    for cluster in clusters:
        cluster.close()
    assert wait_for_empty_queue(job_name) == {}


def test_two_jobs_compute_and_leave_the_queue_when_closed(slurm_cluster) -> None:
    cluster = slurm_cluster(n_workers=2)
    with Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        futures = client.map(square_in_job, range(20), seconds=0.3)
        jobs_while_computing = queued_jobs(slurm_cluster.job_name)
        results = client.gather(futures)

    assert list(jobs_while_computing.values()) == ["RUNNING", "RUNNING"]
    assert [square for square, _ in results] == [x * x for x in range(20)]
    assert {job for _, job in results} == set(jobs_while_computing)

    cluster.close()
    assert wait_for_empty_queue(slurm_cluster.job_name) == {}


def test_computation_survives_a_cancelled_worker_job(slurm_cluster) -> None:
    n_tasks = 40
    # Forget the lost worker after 1 s instead of 15 s, so its replacement is
    # submitted while the computation still runs.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"}):
        cluster = slurm_cluster(n_workers=0)
        with Client(cluster) as client:
            results = as_completed(client.map(square_in_job, range(n_tasks), seconds=0.5))
            scale_for(cluster, n_fovs_left=2)
            squares, jobs, cancelled = [], [], None
            for future in results:
                square, job = future.result()
                squares.append(square)
                jobs.append(job)
                if cancelled is None and len(set(jobs)) == 2:
                    cancelled = job
                    subprocess.run(["scancel", cancelled], check=True)

    assert sorted(squares) == [x * x for x in range(n_tasks)]
    assert cancelled is not None
    jobs_after_cancel = set(jobs[jobs.index(cancelled) + 1 :])
    # The other job went on, and a new job replaced the cancelled one.
    assert len(jobs_after_cancel - {cancelled}) >= 2, jobs


def test_workers_retiring_at_their_lifetime_are_replaced(slurm_cluster) -> None:
    n_tasks = 40
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"}):
        cluster = slurm_cluster(
            n_workers=0, worker_extra_args=["--lifetime", "5s", "--lifetime-stagger", "1s"]
        )
        assert cluster.job_script().count("--lifetime ") == 1
        with Client(cluster) as client:
            results = as_completed(client.map(square_in_job, range(n_tasks), seconds=0.5))
            scale_for(cluster, n_fovs_left=2)
            # Results are released as they come, so none is lost when a
            # worker retires.
            outcomes = [future.result() for future in results]

    assert sorted(square for square, _ in outcomes) == [x * x for x in range(n_tasks)]
    # 20 s of work on 2 workers that live about 5 s each: several generations.
    assert len({job for _, job in outcomes}) >= 4
