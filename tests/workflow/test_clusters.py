"""The cluster factory: local clusters, job scripts and settings (no batch system)."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import dask
import pytest
from dask.utils import parse_bytes, parse_timedelta
from distributed import Client

from pyama_dask.workflow.clusters import (
    JobReplacingAdaptive,
    job_script,
    make_cluster,
    scale_for,
    walltime_seconds,
    worker_memory_limit,
)

SLURM_JOB = dict(cores=1, memory="2GB", walltime="00:30:00")


def worker_option(script: str, option: str) -> str:
    """Return the value of a dask-worker command-line option in a job script."""
    match = re.search(rf"{option} (\S+)", script)
    assert match, f"{option} not in job script:\n{script}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_local_cluster_runs_single_threaded_worker_processes() -> None:
    with make_cluster("local", n_workers=2, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            workers = client.scheduler_info()["workers"].values()
            pids = client.run(os.getpid)
            assert client.submit(pow, 3, 4).result() == 81
            # A local cluster keeps its processes even for fewer FOVs.
            scale_for(cluster, n_fovs_left=1)
            assert len(cluster.worker_spec) == 2

    assert [worker["nthreads"] for worker in workers] == [1, 1]
    assert len(set(pids.values())) == 2
    assert os.getpid() not in pids.values()


def test_workers_start_with_the_steps_imported_and_one_malloc_arena() -> None:
    def state() -> tuple:  # nested: travels to the worker by value
        import os
        import sys

        return "pyama_dask.pipeline.tasks" in sys.modules, os.environ.get("MALLOC_ARENA_MAX")

    with make_cluster("local", n_workers=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        assert list(client.run(state).values()) == [(True, "1")]


def test_preloads_of_dask_config_are_kept_beside_ours() -> None:
    with dask.config.set({"distributed.worker.preload": ["site_monitoring"]}):
        script = job_script("slurm", **SLURM_JOB)
    assert re.findall(r"--preload (\S+)", script) == ["site_monitoring", "pyama_dask.workflow.preload"]


def test_local_dashboard_moves_to_a_free_port_when_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.warns(UserWarning, match=f"Port {port} is already in use"):
            cluster = make_cluster("local", n_workers=1, dashboard_address=f":{port}")
        with cluster:
            assert not cluster.dashboard_link.endswith(f":{port}/status")


def test_unknown_kind_names_the_known_ones() -> None:
    expected = "unknown cluster kind 'kubernetes': expected one of local, slurm, pbs, sge, lsf"
    with pytest.raises(ValueError, match=expected):
        make_cluster("kubernetes")
    with pytest.raises(ValueError, match="unknown cluster kind"):
        job_script("condor")


def test_jobqueue_kind_without_dask_jobqueue_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(ImportError, match=r"'slurm' needs dask-jobqueue.*pyama-dask\[hpc\]"):
        make_cluster("slurm", cores=1, memory="1GB")


def test_local_kind_has_no_job_script() -> None:
    with pytest.raises(ValueError, match="local cluster submits no jobs"):
        job_script("local")


def test_slurm_job_script_has_the_directives_and_retires_workers_before_the_walltime() -> None:
    script = job_script("slurm", queue="short", **SLURM_JOB)
    lines = script.splitlines()

    for directive in ("-p short", "--cpus-per-task=1", "--mem=2G", "-t 00:30:00"):
        assert f"#SBATCH {directive}" in lines
    assert worker_option(script, "--nthreads") == "1"
    assert parse_bytes(worker_option(script, "--memory-limit")) == pytest.approx(2e9, rel=0.01)
    lifetime = parse_timedelta(worker_option(script, "--lifetime"))
    stagger = parse_timedelta(worker_option(script, "--lifetime-stagger"))
    walltime = 30 * 60
    assert stagger > 0
    # Every worker leaves before the walltime, and not much earlier.
    assert lifetime + stagger < walltime
    assert lifetime - stagger > 0.8 * walltime
    assert worker_option(script, "--preload") == "pyama_dask.workflow.preload"
    assert "export MALLOC_ARENA_MAX=1" in lines


def test_settings_come_from_dask_config_and_keywords_win() -> None:
    config = {
        "jobqueue.slurm.queue": "from-config",
        "jobqueue.slurm.account": "lab",
        "jobqueue.slurm.cores": 4,
        "jobqueue.slurm.memory": "8GB",
    }
    with dask.config.set(config):
        from_config = job_script("slurm")
        overridden = job_script("slurm", queue="from-keyword", cores=2)

    assert "#SBATCH -p from-config" in from_config.splitlines()
    assert "#SBATCH -A lab" in from_config.splitlines()
    # One single-threaded worker process per core of the job.
    assert worker_option(from_config, "--nworkers") == "4"
    assert worker_option(from_config, "--nthreads") == "1"
    assert "#SBATCH -p from-keyword" in overridden.splitlines()
    assert "from-config" not in overridden
    assert "#SBATCH --cpus-per-task=2" in overridden.splitlines()


def test_settings_come_from_environment_variables(monkeypatch) -> None:
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__ACCOUNT", "env-account")
    try:
        dask.config.refresh()
        script = job_script("slurm", **SLURM_JOB)
    finally:
        monkeypatch.delenv("DASK_JOBQUEUE__SLURM__ACCOUNT")
        dask.config.refresh()
    assert "#SBATCH -A env-account" in script.splitlines()


def test_configured_processes_and_worker_args_are_kept() -> None:
    script = job_script(
        "slurm",
        cores=4,
        memory="8GB",
        processes=1,
        worker_extra_args=["--lifetime", "10m", "--resources", "GPU=1"],
    )
    assert worker_option(script, "--nthreads") == "4"
    assert "--nworkers" not in script
    assert script.count("--lifetime ") == 1
    assert "--lifetime 10m" in script
    assert "--resources GPU=1" in script


@pytest.mark.parametrize(
    ("kind", "walltime", "directive"),
    [
        ("pbs", "01:00:00", "#PBS -l walltime=01:00:00"),
        ("sge", "01:00:00", "#$ -l h_rt=01:00:00"),
        ("lsf", "01:00", "#BSUB -W 01:00"),
    ],
)
def test_other_batch_systems_get_their_directives_and_lifetimes(kind, walltime, directive) -> None:
    script = job_script(kind, cores=1, memory="2GB", walltime=walltime)
    assert directive in script.splitlines()
    lifetime = parse_timedelta(worker_option(script, "--lifetime"))
    assert 0.8 * 3600 < lifetime < 3600


@pytest.mark.parametrize("kind", ["pbs", "sge", "lsf"])
def test_jobs_without_cores_or_memory_say_where_to_set_them(kind) -> None:
    expected = rf"{kind} jobs need memory .*jobqueue\.{kind}.*DASK_JOBQUEUE__{kind.upper()}__MEMORY"
    with pytest.raises(ValueError, match=expected):
        job_script(kind, cores=1)


@pytest.mark.parametrize(
    ("kind", "walltime", "seconds"),
    [
        ("slurm", "30", 30 * 60),
        ("slurm", "10:30", 10 * 60 + 30),
        ("slurm", "02:00:00", 2 * 3600),
        ("slurm", "1-12", 36 * 3600),
        ("slurm", "2-01:30:15", 2 * 86400 + 3600 + 30 * 60 + 15),
        ("pbs", "3600", 3600),
        ("pbs", "48:00:00", 48 * 3600),
        ("sge", "0:45:00", 45 * 60),
        ("lsf", "90", 90 * 60),
        ("lsf", "01:30", 90 * 60),
        ("lsf", 30, 30 * 60),
    ],
)
def test_walltime_formats_of_each_batch_system(kind, walltime, seconds) -> None:
    assert walltime_seconds(kind, walltime) == seconds


@pytest.mark.parametrize(
    ("kind", "walltime"), [("slurm", "1:2:3:4"), ("lsf", "1:00:00"), ("pbs", "an hour")]
)
def test_bad_walltime_is_named_in_the_error(kind, walltime) -> None:
    with pytest.raises(ValueError, match=f"walltime '{walltime}' is not a {kind} walltime"):
        walltime_seconds(kind, walltime)


def test_worker_memory_limit_follows_the_job_memory() -> None:
    assert worker_memory_limit("slurm", cores=2, memory="4GB") == 2_000_000_000
    assert worker_memory_limit("slurm", cores=2, memory="4GB", processes=1) == 4_000_000_000
    assert worker_memory_limit("local", memory_limit="1GB") == 1_000_000_000


def test_slurm_cluster_starts_its_scheduler_without_submitting_jobs() -> None:
    port = free_port()
    with make_cluster(
        "slurm", n_workers=0, interface="lo", dashboard_address=f":{port}", **SLURM_JOB
    ) as cluster:
        assert cluster.dashboard_link.endswith(f":{port}/status")
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert "--lifetime" in cluster.job_script()
        assert cluster.workers == {}


def test_scale_for_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="n_fovs_left must be at least 1, got 0"):
        scale_for(SimpleNamespace(), n_fovs_left=0)
    with pytest.raises(ValueError, match="max_workers must be at least 1, got 0"):
        scale_for(SimpleNamespace(), n_fovs_left=3, max_workers=0)


def test_ended_jobs_are_forgotten_so_that_they_can_be_replaced() -> None:
    spec = {"job": "options"}
    cluster = SimpleNamespace(worker_spec={"a": spec, "b": spec}, workers={"a": object()})
    adaptive = JobReplacingAdaptive(cluster, interval=0)

    adaptive._forget_finished_jobs()
    # "b" has not been submitted yet: it stays planned.
    assert set(cluster.worker_spec) == {"a", "b"}

    cluster.workers = {"b": object()}
    adaptive._forget_finished_jobs()
    # "a" was running and has gone: its place is free for a new job.
    assert set(cluster.worker_spec) == {"b"}



@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_example_configs_in_deploy_give_working_job_scripts(kind) -> None:
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    example = dask.config.collect(paths=[str(deploy / f"jobqueue-{kind}.yaml")], env={})
    with dask.config.set(dask.config.merge(dask.config.config, example)):
        script = job_script(kind)
    assert "pyama-worker" in script
    assert worker_option(script, "--nthreads") == "1"
    assert "--lifetime " in script
