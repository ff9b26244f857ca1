"""The cluster factory: cluster requests, connecting, local clusters, job scripts and settings (no batch system)."""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
import socket
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import dask
import pytest
from dask.utils import parse_bytes, parse_timedelta
from distributed import Client
from distributed.core import Status
from distributed.security import Security

import pyama_dask.workflow.clusters as clusters
from pyama_dask.workflow.clusters import (
    ClusterRequest,
    JobReplacingAdaptive,
    cluster_request,
    connect,
    job_script,
    make_cluster,
    scale_for,
    walltime_seconds,
    worker_memory_limit,
)
from pyama_dask.workflow.live_page import serves_page
from pyama_dask.workflow.security import CERT_FILE, FOLDER_PREFIX, KEY_FILE, RunCredentials
from pyama_dask.workflow.worker_logs import QuietTaskFailures

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


def test_settings_given_for_a_run_win_over_the_run_config() -> None:
    config = {"kind": "pbs", "queue": "from-config", "account": "lab", "cores": 4}
    given = {"queue": "from-flag", "cores": None, "memory": "4GB"}

    request = cluster_request(config, kind="slurm", settings=given, n_workers=3, n_fovs=5)

    expected = {"queue": "from-flag", "account": "lab", "cores": 4, "memory": "4GB"}
    assert request == ClusterRequest("slurm", n_workers=3, settings=expected, n_fovs=5)
    assert config["kind"] == "pbs" and config["queue"] == "from-config"


def test_the_kind_comes_from_the_run_config_else_is_local() -> None:
    assert cluster_request({"kind": "sge", "cores": 1, "memory": "1GB"}).kind == "sge"
    assert cluster_request({"kind": "sge"}, kind="lsf").kind == "lsf"
    assert cluster_request(None).kind == "local"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "condor"}, "unknown cluster kind 'condor': expected one of local, slurm"),
        ({"n_workers": 0}, "n_workers must be an integer of at least 1, got 0"),
        ({"n_fovs": 0}, "n_fovs must be an integer of at least 1, got 0"),
        ({"kind": "slurm", "settings": {1: "x"}}, "cluster settings are named by strings, got 1"),
    ],
)
def test_a_bad_request_is_refused(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        ClusterRequest(**values)


def test_values_a_request_does_not_use_are_named_in_warnings(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        ClusterRequest("slurm", scheduler_address="tcp://host:8786", dashboard_address=":9999",
                       settings={"queue": "q"})
        ClusterRequest(settings={"queue": "q", "cores": 2})
    open_scheduler, *messages = [record.getMessage() for record in caplog.records]
    assert open_scheduler.startswith("the scheduler at tcp://host:8786 takes plain TCP connections")
    assert messages == [
        "dashboard_address ':9999' ignored: the scheduler at tcp://host:8786 serves its own dashboard",
        "cluster kind 'slurm' and settings queue ignored: the run uses the running scheduler at tcp://host:8786",
        "cluster settings queue, cores ignored: they are for batch-queue jobs, and the cluster is local",
    ]


def test_connect_passes_a_given_client_through_untouched(dask_client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        with connect(dask_client, dashboard_address=":9999") as client:
            assert client is dask_client
    assert dask_client.status == "running"
    assert "dashboard_address ':9999' ignored: the scheduler of the given client serves" in caplog.text


@pytest.mark.parametrize("as_request", [False, True])
def test_connect_to_a_scheduler_address_leaves_its_cluster_running(dask_client, as_request) -> None:
    address = dask_client.scheduler.address
    with connect(ClusterRequest(scheduler_address=address) if as_request else address) as client:
        assert client is not dask_client
        assert client.scheduler.address == address
        assert client.submit(pow, 2, 5).result() == 32
    assert client.status == "closed"
    assert dask_client.submit(pow, 2, 5).result() == 32


def test_a_local_cluster_has_workers_that_ignore_ctrl_c() -> None:
    def sigint_handler() -> int:  # nested: travels to the worker by value
        import signal

        return int(signal.getsignal(signal.SIGINT))

    driver_handler = signal.getsignal(signal.SIGINT)
    with connect(ClusterRequest(n_workers=2, dashboard_address=":0")) as client:
        cluster = client.cluster
        handlers = client.run(sigint_handler)
        plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert list(handlers.values()) == [int(signal.SIG_IGN)] * 2
    assert all(QuietTaskFailures.name in names for names in plugins.values())
    assert signal.getsignal(signal.SIGINT) is driver_handler
    assert cluster.status == Status.closed


@pytest.mark.parametrize(("n_fovs", "sized_for"), [(5, 5), (None, 3)])
def test_a_batch_queue_cluster_starts_without_jobs_then_is_sized_for_the_fovs(monkeypatch, n_fovs, sized_for) -> None:
    sized = []
    monkeypatch.setattr(clusters, "scale_for", lambda *args, **kwargs: sized.append((args, kwargs)))
    request = ClusterRequest("slurm", n_workers=3, dashboard_address=":0", settings={"interface": "lo", **SLURM_JOB},
                             n_fovs=n_fovs)
    with connect(request) as client:
        cluster = client.cluster
        assert cluster.worker_spec == {}
        assert client.scheduler.address == cluster.scheduler_address
    assert sized == [((cluster, sized_for), {"max_workers": 3})]
    assert cluster.status == Status.closed


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


def test_a_dashboard_is_served_on_loopback_unless_asked_otherwise_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        with make_cluster("local", n_workers=0) as cluster:
            default = cluster.dashboard_link
        assert caplog.records == []
        # Allowed, with a warning.
        with make_cluster("local", n_workers=0, dashboard_address="0.0.0.0:0") as cluster:
            assert cluster.dashboard_link
    assert default.startswith("http://127.0.0.1:")
    assert [record.getMessage() for record in caplog.records] == [
        "the dashboard (dashboard_address '0.0.0.0:0') is served on a network interface: anyone who can reach it "
        "sees the run's tasks, workers and logs. The default, 127.0.0.1:8787, keeps it on this machine; reach it "
        "through an SSH tunnel (see deploy/README.md)"
    ]


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
    # The workers present the run's credentials, from its private folder, to a TLS scheduler.
    assert "dask_worker tls://<scheduler-address>:8786 " in script
    assert worker_option(script, "--protocol") == "tls://"
    assert worker_option(script, "--tls-ca-file") == f"<credentials-folder>/{CERT_FILE}"
    assert worker_option(script, "--tls-cert") == f"<credentials-folder>/{CERT_FILE}"
    assert worker_option(script, "--tls-key") == f"<credentials-folder>/{KEY_FILE}"


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


def test_slurm_cluster_starts_its_scheduler_without_submitting_jobs(tmp_path, caplog) -> None:
    port = free_port()
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        cluster = make_cluster("slurm", n_workers=0, interface="lo", dashboard_address=f":{port}",
                               shared_temp_directory=str(tmp_path), **SLURM_JOB)
    with cluster:
        assert cluster.dashboard_link.endswith(f":{port}/status")
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        assert "--lifetime" in cluster.job_script()
        assert cluster.workers == {}
        assert serves_page(cluster.scheduler)  # the follow run's page, on the scheduler in this process
        [folder] = tmp_path.iterdir()
        assert f"--tls-key {folder / KEY_FILE}" in cluster.job_script()
    # A dashboard on every interface is allowed, and named in a warning.
    assert f"the dashboard (dashboard_address ':{port}') is served on a network interface" in caplog.text
    # Credentials made by make_cluster go with the cluster.
    del cluster
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_a_batch_queue_run_takes_only_clients_with_its_credentials_and_removes_them_at_the_end(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(clusters, "scale_for", lambda *args, **kwargs: None)  # no batch system here
    settings = {"interface": "lo", "shared_temp_directory": str(tmp_path), **SLURM_JOB}
    with connect(ClusterRequest("slurm", settings=settings)) as client:
        address = client.scheduler.address
        dashboard = client.dashboard_link
        [folder] = tmp_path.iterdir()
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [folder, *folder.iterdir()]}
        assert client.run_on_scheduler(lambda: 6 * 7) == 42
        # Someone else's credentials, and none at all, are refused.
        for intruder in (dict(address=address, security=Security.temporary()),
                         dict(address=address.replace("tls://", "tcp://"), security=Security())):
            with pytest.raises(OSError):
                Client(**intruder, timeout="2s")
    assert address.startswith("tls://127.0.0.1:")
    assert dashboard.startswith("http://127.0.0.1:")
    assert folder.name.startswith(FOLDER_PREFIX)
    assert modes == {folder.name: 0o700, CERT_FILE: 0o600, KEY_FILE: 0o600}
    assert list(tmp_path.iterdir()) == []


def test_credentials_in_a_missing_folder_are_refused_naming_it(tmp_path) -> None:
    with pytest.raises(OSError, match=f"cannot make the run's TLS credentials folder in {tmp_path / 'gone'}"):
        RunCredentials(tmp_path / "gone")


@pytest.mark.parametrize(("address", "exposed"), [
    ("tcp://10.1.2.3:8786", True),
    ("node042:8786", True),
    ("tcp://127.0.0.1:8786", False),
    ("tcp://localhost:8786", False),
])
def test_a_plain_tcp_scheduler_off_this_machine_gets_a_warning_saying_what_is_exposed(
        address, exposed, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        ClusterRequest(scheduler_address=address)
    warned = f"the scheduler at {address} takes plain TCP connections without credentials: anyone who" in caplog.text
    assert warned == exposed
    assert ("give a tls:// address (see deploy/README.md)" in caplog.text) == exposed


def test_a_tls_scheduler_without_certificates_in_dask_config_is_refused() -> None:
    with dask.config.set({"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None}):
        with pytest.raises(ValueError, match=r"scheduler tls://node042:8786 speaks TLS, but dask's config has no "
                                             r"client certificate for it: set distributed.comm.tls.ca-file"):
            ClusterRequest(scheduler_address="tls://node042:8786")


def test_a_tls_scheduler_is_reached_with_the_certificates_of_dask_config(tmp_path) -> None:
    with RunCredentials(tmp_path) as credentials:
        cert, key = str(credentials.folder / CERT_FILE), str(credentials.folder / KEY_FILE)
        with make_cluster("local", n_workers=1, dashboard_address=":0", protocol="tls://",
                          security=credentials.security) as cluster:
            tls_config = {"distributed.comm.tls.ca-file": cert, "distributed.comm.tls.client.cert": cert,
                          "distributed.comm.tls.client.key": key, "distributed.comm.require-encryption": True}
            with dask.config.set(tls_config), connect(cluster.scheduler_address) as client:
                assert client.submit(pow, 2, 10).result() == 1024


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
    # Imported first: its defaults join dask's config then, and would be lost inside the config.set below.
    pytest.importorskip("dask_jobqueue")
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    example = dask.config.collect(paths=[str(deploy / f"jobqueue-{kind}.yaml")], env={})
    with dask.config.set(dask.config.merge(dask.config.config, example)):
        script = job_script(kind)
    assert "pyama-worker" in script
    assert worker_option(script, "--nthreads") == "1"
    assert "--lifetime " in script
