"""Dask clusters to run the workflow on: local processes or batch-queue jobs.

A run's cluster is described once, by a `ClusterRequest` (`cluster_request`
merges the settings given for a run over a run config's ``cluster``
mapping), and `connect` turns it into a client: it connects to a running
scheduler, or starts a cluster and closes it at the end.

``make_cluster("local")`` starts single-threaded worker processes on this
machine. The other kinds submit dask workers as jobs through dask-jobqueue (the
``hpc`` extra). Their queue, account, cores, memory, walltime, interface, ...
come from dask's own configuration, as dask-jobqueue reads it: a
``jobqueue.yaml`` in ``~/.config/dask`` or ``$DASK_CONFIG``, or environment
variables such as ``DASK_JOBQUEUE__SLURM__QUEUE``; keyword overrides win over
both. ``deploy/jobqueue-slurm.yaml`` is a commented example.

Every worker preloads :mod:`pyama_dask.workflow.preload` (imports and allocator set
before the first task) and runs with
:data:`pyama_dask.workflow.allocator.WORKER_ENVIRONMENT`. The workers of a local
cluster are forked from a process that has made those imports once
(:mod:`pyama_dask.workflow.fork_server`), so they are ready as soon as they
start.

Two choices are made on top of dask-jobqueue's defaults:

- each job runs one single-threaded worker process per core (``processes =
  cores // threads_per_worker``) unless ``processes`` is configured, because
  the per-FOV tasks hold the GIL much of the time;
- when the jobs have a walltime, workers get ``--lifetime`` and
  ``--lifetime-stagger`` so that they retire (handing their results to other
  workers) before the batch system kills them, and `scale_for` makes the
  cluster adaptive with `JobReplacingAdaptive`, which submits replacement
  jobs.

Each worker's memory limit is the job's ``memory`` divided by its worker
processes: dask-jobqueue passes it as ``--memory-limit``, and the nanny
restarts a worker that goes past it instead of letting the batch system kill
the whole job.

A batch-queue cluster's scheduler listens where the whole cluster can reach
it, so it speaks TLS with credentials made for the run (`RunCredentials`):
only the run's client and workers get in. The local cluster stays on the
loopback interface without TLS. The dashboard of either is served on
127.0.0.1 unless another address is asked for, and has the follow run's page
(:mod:`pyama_dask.workflow.live_page`). A running scheduler given by
address is reached over TLS with dask's ``distributed.comm.tls`` config when
its address is ``tls://``; a ``tcp://`` one off this machine gets a warning
(see :mod:`pyama_dask.workflow.security`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dask.config
from distributed import Adaptive, Client, LocalCluster
from distributed.worker_memory import parse_memory_limit

from pyama_dask.workflow.allocator import WORKER_ENVIRONMENT
from pyama_dask.workflow.fork_server import FORK_SERVER, sigint_ignored, start_fork_server
from pyama_dask.workflow.live_page import scheduler_routes
from pyama_dask.workflow.security import (
    DASHBOARD_ADDRESS,
    RunCredentials,
    check_scheduler_address,
    placeholder_security,
    warn_if_open_dashboard,
)
from pyama_dask.workflow.worker_logs import QuietTaskFailures

if TYPE_CHECKING:
    from distributed.deploy import Cluster

logger = logging.getLogger(__name__)

#: Module every worker preloads (``dask worker --preload``).
PRELOAD = "pyama_dask.workflow.preload"
CLUSTER_KINDS = ("local", "slurm", "pbs", "sge", "lsf")
JOBQUEUE_CLASSES = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}
# Address written into a dry-run job script, where the scheduler's would be.
PLACEHOLDER_SCHEDULER = "tls://<scheduler-address>:8786"
# Fractions of the walltime by which worker lifetimes are staggered, and that
# a worker is given to start and to leave, with their caps (see lifetime_args).
LIFETIME_STAGGER_FRACTION = 0.05
LIFETIME_STAGGER_MAX_S = 300
LIFETIME_GRACE_FRACTION = 0.10
LIFETIME_GRACE_MAX_S = 60
# Adaptive scaling looks at the load every ADAPT_INTERVAL and cancels a job
# only after that many checks in a row found it idle: a new job may wait long
# in the queue, so short lulls between FOVs should not give jobs away.
ADAPT_INTERVAL = "1s"
IDLE_CHECKS_BEFORE_CANCEL = 60
# Seconds per field of a walltime, from the last field backwards, for the
# formats each batch system accepts without a day part.
WALLTIME_FIELD_SECONDS = {
    # Slurm: MM, MM:SS, HH:MM:SS
    "slurm": {1: (60,), 2: (60, 1), 3: (3600, 60, 1)},
    # PBS, SGE: SS, MM:SS, HH:MM:SS
    "pbs": {1: (1,), 2: (60, 1), 3: (3600, 60, 1)},
    "sge": {1: (1,), 2: (60, 1), 3: (3600, 60, 1)},
    # LSF (bsub -W): MM, HH:MM
    "lsf": {1: (60,), 2: (3600, 60)},
}
# Slurm's D-HH, D-HH:MM, D-HH:MM:SS.
SLURM_DAY_FIELD_SECONDS = {1: (3600,), 2: (3600, 60), 3: (3600, 60, 1)}


@dataclass(frozen=True)
class ClusterRequest:
    """Where a run's tasks go: a cluster to start, or a running scheduler.

    Checked when made: a bad value raises, and a value that has no effect
    (say, batch-queue settings for a local cluster) is logged as a warning.

    Attributes
    ----------
    kind
        One of `CLUSTER_KINDS`: ``"local"`` worker processes on this machine
        or batch-queue jobs. Ignored when `scheduler_address` is given.
    n_workers
        Worker processes of a local cluster, or most workers of a
        batch-queue cluster.
    scheduler_address
        A running scheduler to connect to, e.g. ``"tls://host:8786"`` (with
        the certificates of dask's ``distributed.comm.tls`` config) or
        ``"tcp://host:8786"``; no cluster is started then.
    dashboard_address
        Where the scheduler of a started cluster serves its dashboard;
        ``None`` keeps the default (see `make_cluster`); one that other
        machines can reach is logged as a warning.
    settings
        Keyword overrides of the dask-jobqueue cluster class (``queue``,
        ``cores``, ``memory``, ``walltime``, ...; see `make_cluster`), for a
        batch-queue kind only; the request keeps a copy.
    n_fovs
        FOVs the run processes: a batch-queue cluster adapts between zero and
        one worker per FOV, at most `n_workers`; ``None`` counts as
        `n_workers` FOVs.

    Raises
    ------
    ValueError
        For an unknown kind, a count below 1, a setting not named by a
        string, or a ``tls://`` scheduler address without TLS credentials in
        dask's config.
    """

    kind: str = "local"
    n_workers: int = 2
    scheduler_address: str | None = None
    dashboard_address: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    n_fovs: int | None = None

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _check_count("n_workers", self.n_workers)
        if self.n_fovs is not None:
            _check_count("n_fovs", self.n_fovs)
        if self.scheduler_address is not None:
            check_scheduler_address(self.scheduler_address)
        unnamed = [repr(name) for name in self.settings if not isinstance(name, str)]
        if unnamed:
            raise ValueError(f"cluster settings are named by strings, got {', '.join(unnamed)}")
        object.__setattr__(self, "settings", dict(self.settings))  # not the caller's
        self._warn_about_unused_values()

    def _warn_about_unused_values(self) -> None:
        settings = ", ".join(self.settings)
        if self.scheduler_address is None:
            if self.kind == "local" and settings:
                logger.warning("cluster settings %s ignored: they are for batch-queue jobs, and the cluster is "
                               "local", settings)
            return
        if self.dashboard_address is not None:
            _warn_dashboard_ignored(self.dashboard_address,
                                    f"the scheduler at {self.scheduler_address} serves its own dashboard")
        unused = []
        if self.kind != "local":
            unused.append(f"kind {self.kind!r}")
        if settings:
            unused.append(f"settings {settings}")
        if unused:
            logger.warning("cluster %s ignored: the run uses the running scheduler at %s", " and ".join(unused),
                           self.scheduler_address)

def cluster_request(
    config: Mapping[str, Any] | None = None,
    *,
    kind: str | None = None,
    settings: Mapping[str, Any] | None = None,
    n_workers: int = 2,
    scheduler_address: str | None = None,
    dashboard_address: str | None = None,
    n_fovs: int | None = None,
) -> ClusterRequest:
    """Merge what is given for one run (e.g. command-line flags) over a run config's ``cluster`` mapping.

    Parameters
    ----------
    config
        The run config's ``cluster`` mapping: an optional ``kind`` and any
        dask-jobqueue keywords.
    kind
        The cluster kind; ``None`` takes the config's, else ``"local"``.
    settings
        Dask-jobqueue keywords given for the run; those that are ``None``
        count as not given, the others win over the config's.
    n_workers, scheduler_address, dashboard_address, n_fovs
        As in `ClusterRequest`.

    Returns
    -------
    ClusterRequest
        The checked request.

    Raises
    ------
    ValueError
        As `ClusterRequest` does.
    """
    merged = dict(config or {})
    configured_kind = merged.pop("kind", None)
    merged.update({name: value for name, value in (settings or {}).items() if value is not None})
    return ClusterRequest(
        kind=next((k for k in (kind, configured_kind) if k is not None), "local"),
        n_workers=n_workers,
        scheduler_address=scheduler_address,
        dashboard_address=dashboard_address,
        settings=merged,
        n_fovs=n_fovs,
    )


@contextmanager
def connect(
    target: Client | ClusterRequest | str | None = None,
    *,
    n_workers: int = 2,
    dashboard_address: str | None = None,
) -> Iterator[Client]:
    """Yield a client to run on; a cluster started here is closed (its jobs cancelled) at the end.

    Parameters
    ----------
    target
        An existing ``distributed.Client``: yielded untouched and left open.
        A `ClusterRequest`: a client of its running scheduler, of a local
        cluster whose workers ignore Ctrl-C, or of a batch-queue cluster
        that submits the jobs the FOVs need at once, then adapts (`scale_for`).
        A scheduler address, or ``None`` for a local cluster: the same as
        ``ClusterRequest(n_workers=n_workers, scheduler_address=target,
        dashboard_address=dashboard_address)``.
    n_workers, dashboard_address
        Used only when `target` is a scheduler address or ``None``; a
        `dashboard_address` given with a client or a request is ignored, with
        a warning.

    Yields
    ------
    distributed.Client
        A client connected to the run's scheduler.
    """
    if isinstance(target, Client):
        _warn_dashboard_ignored(dashboard_address, "the scheduler of the given client serves its own dashboard")
        yield target
        return
    if isinstance(target, ClusterRequest):
        _warn_dashboard_ignored(dashboard_address, "the ClusterRequest's own dashboard_address applies")
        request = target
    else:
        request = ClusterRequest(n_workers=n_workers, scheduler_address=target, dashboard_address=dashboard_address)
    with _client_of(request) as client:
        yield client


def _warn_dashboard_ignored(dashboard_address: str | None, reason: str) -> None:
    if dashboard_address is not None:
        logger.warning("dashboard_address %r ignored: %s", dashboard_address, reason)


def _client_of(request: ClusterRequest) -> AbstractContextManager[Client]:
    """A context manager giving a client of the scheduler or the cluster `request` asks for."""
    if request.scheduler_address is not None:
        return Client(request.scheduler_address)
    if request.kind == "local":
        return _local_client(request.n_workers, request.dashboard_address)
    return _batch_queue_client(request)


@contextmanager
def _local_client(n_workers: int, dashboard_address: str | None) -> Iterator[Client]:
    """A client of a new local cluster whose workers ignore Ctrl-C and leave task failures to the driver."""
    with sigint_ignored():
        cluster = make_cluster("local", n_workers=n_workers, dashboard_address=dashboard_address)
    with cluster, Client(cluster) as client:
        client.register_plugin(QuietTaskFailures())
        yield client


@contextmanager
def _batch_queue_client(request: ClusterRequest) -> Iterator[Client]:
    """A client of a new batch-queue cluster sized for the request's FOVs; its credentials go with it."""
    shared_directory = _setting(request.kind, "shared_temp_directory", dict(request.settings))
    with RunCredentials(shared_directory) as credentials:
        cluster = make_cluster(request.kind, n_workers=0, dashboard_address=request.dashboard_address,
                               credentials=credentials, **request.settings)
        with cluster, Client(cluster) as client:
            scale_for(cluster, request.n_fovs or request.n_workers, max_workers=request.n_workers)
            yield client


def make_cluster(
    kind: str = "local",
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    dashboard_address: str | None = None,
    credentials: RunCredentials | None = None,
    **overrides: Any,
) -> Cluster:
    """Start a cluster of dask workers.

    A batch-queue cluster speaks TLS: its scheduler accepts only clients and
    workers holding the run's credentials.

    Parameters
    ----------
    kind
        One of `CLUSTER_KINDS`.
    n_workers
        Worker processes to start right away. For a batch queue this submits
        ``ceil(n_workers / processes)`` jobs; `scale_for` can change it later.
    threads_per_worker
        Threads of each worker process.
    dashboard_address
        Where the scheduler serves its dashboard; ``None`` keeps the default:
        for a batch-queue cluster the jobqueue config's ``scheduler-options``,
        else `DASHBOARD_ADDRESS`. An address other machines can reach is
        logged as a warning. When the port is taken, distributed serves on a
        free one and warns.
    credentials
        TLS credentials of a batch-queue cluster, removed by their owner;
        ``None`` makes them in ``shared_temp_directory`` (an override or the
        jobqueue config; else the home directory) and removes them when the
        cluster is garbage-collected or Python exits.
    **overrides
        Keyword arguments of `distributed.LocalCluster` or of the
        dask-jobqueue cluster class (``queue``, ``account``, ``cores``,
        ``memory``, ``walltime``, ``interface``, ...); they win over dask's
        config.

    Returns
    -------
    distributed.deploy.Cluster
        A running cluster; close it (or use it as a context manager) when done.

    Raises
    ------
    ValueError
        For an unknown kind, or a jobqueue kind without cores or memory.
    ImportError
        For a jobqueue kind when dask-jobqueue is not installed.
    OSError
        When the credentials folder cannot be made.
    """
    _check_kind(kind)
    if kind == "local":
        overrides["dashboard_address"] = DASHBOARD_ADDRESS if dashboard_address is None else dashboard_address
        warn_if_open_dashboard(overrides["dashboard_address"])
        logger.info(
            "starting a local cluster of %d worker processes with %d thread(s) each",
            n_workers,
            threads_per_worker,
        )
        overrides["env"] = {**WORKER_ENVIRONMENT, **overrides.get("env", {})}
        overrides["preload"] = _worker_preloads(overrides.get("preload", []))
        # Workers forked from the fork server start with their imports done; a worker the nanny
        # restarts later (after it died) is spawned as distributed's config says.
        method = FORK_SERVER if start_fork_server() else dask.config.get("distributed.worker.multiprocessing-method")
        with dask.config.set({"distributed.worker.multiprocessing-method": method,
                              "distributed.scheduler.http.routes": scheduler_routes()}):
            return LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                **overrides,
            )
    cluster_class = _jobqueue_class(kind)
    scheduler_options = {
        **dask.config.get(f"jobqueue.{kind}.scheduler-options", {}),
        **overrides.pop("scheduler_options", {}),
    }
    if dashboard_address is not None:
        scheduler_options["dashboard_address"] = dashboard_address
    if scheduler_options.get("dashboard_address") is None:
        scheduler_options["dashboard_address"] = DASHBOARD_ADDRESS
    warn_if_open_dashboard(scheduler_options["dashboard_address"])
    job_options = _job_options(kind, threads_per_worker, overrides)
    owned = credentials is None
    if owned:
        credentials = RunCredentials(_setting(kind, "shared_temp_directory", overrides))
    try:
        with dask.config.set({"distributed.scheduler.http.routes": scheduler_routes()}):
            cluster = cluster_class(n_workers=n_workers, scheduler_options=scheduler_options, protocol="tls://",
                                    security=credentials.security, **job_options)
    except BaseException:
        if owned:
            credentials.remove()
        raise
    if owned:
        weakref.finalize(cluster, credentials.remove)
    logger.info("started a %s cluster with its scheduler at %s", kind, cluster.scheduler_address)
    logger.debug("its worker job script:\n%s", cluster.job_script())
    return cluster


def job_script(kind: str, *, threads_per_worker: int = 1, **overrides: Any) -> str:
    """Return the script a jobqueue cluster would submit for each worker job.

    Nothing is started or submitted: the scheduler address in the script is a
    placeholder. Takes the same configuration and overrides as `make_cluster`.

    Raises
    ------
    ValueError
        For ``"local"``, an unknown kind, or a kind without cores or memory.
    ImportError
        When dask-jobqueue is not installed.
    """
    return _dry_run_job(kind, threads_per_worker, overrides).job_script()


def worker_memory_limit(
    kind: str = "local", *, n_workers: int = 2, threads_per_worker: int = 1, **overrides: Any
) -> int | None:
    """Return the memory limit in bytes that each worker process gets.

    For ``"local"`` this is distributed's share of this machine's memory (or
    the ``memory_limit`` override); for a jobqueue kind it is the job's memory
    divided by its worker processes. ``None`` means no limit.
    """
    _check_kind(kind)
    if kind == "local":
        return parse_memory_limit(
            overrides.get("memory_limit", "auto"),
            nthreads=threads_per_worker,
            total_cores=n_workers * threads_per_worker,
            logger=logger,
        )
    job = _dry_run_job(kind, threads_per_worker, overrides)
    return int(job.worker_memory / job.worker_processes)


def scale_for(cluster: Cluster, n_fovs_left: int, max_workers: int | None = None) -> None:
    """Size the cluster for the FOVs still to process.

    A local cluster keeps the processes it was made with. A batch-queue
    cluster adapts between zero and one worker per FOV left (at most
    `max_workers`): dask submits jobs while there is work, replaces jobs whose
    workers have left (see `JobReplacingAdaptive`), and cancels jobs that have
    been idle for about a minute.
    """
    if n_fovs_left < 1:
        raise ValueError(f"n_fovs_left must be at least 1, got {n_fovs_left}")
    if max_workers is not None and max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers}")
    if isinstance(cluster, LocalCluster):
        # This machine's processes are there anyway, and an FOV's own tasks
        # can keep more than one of them busy.
        return
    maximum = n_fovs_left if max_workers is None else min(n_fovs_left, max_workers)
    logger.info("adapting between 0 and %d workers for %d FOVs", maximum, n_fovs_left)
    # Ask for the jobs the work needs at once: jobs wait in the queue far
    # longer than adaptive scaling's first decision takes; idle ones are
    # cancelled later like any other.
    cluster.scale(maximum)
    cluster.adapt(
        Adaptive=JobReplacingAdaptive,
        minimum=0,
        maximum=maximum,
        interval=ADAPT_INTERVAL,
        wait_count=IDLE_CHECKS_BEFORE_CANCEL,
    )


class JobReplacingAdaptive(Adaptive):
    """Adaptive scaling that also replaces jobs whose workers have left.

    When a worker leaves (its lifetime is over, or its job was cancelled or
    killed), distributed's SpecCluster drops the job from ``cluster.workers``
    but keeps it in ``cluster.worker_spec``, so plain `Adaptive` still counts
    it as planned and never submits a replacement (dask-jobqueue issue #691).
    Before each adaptive step this drops such jobs from ``worker_spec`` too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_jobs: set = set()

    async def adapt(self) -> None:
        self._forget_finished_jobs()
        await super().adapt()

    def _forget_finished_jobs(self) -> None:
        # A job that was in cluster.workers and is gone from it while still
        # in worker_spec has ended; one not yet in cluster.workers may just
        # be on its way, so only jobs seen before are dropped.
        current = set(self.cluster.workers)
        finished = (self._known_jobs - current) & set(self.cluster.worker_spec)
        for name in finished:
            logger.info("job of worker %s has ended; a new one may replace it", name)
            del self.cluster.worker_spec[name]
        self._known_jobs = current | (self._known_jobs & set(self.cluster.worker_spec))


def walltime_seconds(kind: str, walltime: str | int) -> int:
    """Parse a jobqueue walltime in the format of the batch system `kind`.

    Raises
    ------
    ValueError
        When `walltime` is not in one of the formats `kind` accepts.
    """
    text = str(walltime).strip()
    field_seconds = WALLTIME_FIELD_SECONDS[kind]
    days = 0
    if kind == "slurm" and "-" in text:
        day_text, text = text.split("-", 1)
        days = _parse_int(kind, walltime, day_text)
        field_seconds = SLURM_DAY_FIELD_SECONDS
    fields = text.split(":")
    if len(fields) not in field_seconds:
        raise ValueError(f"walltime {walltime!r} is not a {kind} walltime (too many ':' fields)")
    values = [_parse_int(kind, walltime, field) for field in fields]
    return days * 86400 + sum(v * s for v, s in zip(values, field_seconds[len(fields)]))


def lifetime_args(walltime_s: float) -> list[str]:
    """Return dask-worker arguments that retire a worker before its walltime.

    Lifetimes are staggered by ±5 % of the walltime (at most 5 min) so that
    workers do not all leave at once. The latest a worker leaves is one
    stagger plus a grace period (10 % of the walltime, at most 1 min) before
    the walltime: time for the worker to start after its job does and to
    hand its results to the other workers when it leaves.
    """
    stagger = min(LIFETIME_STAGGER_FRACTION * walltime_s, LIFETIME_STAGGER_MAX_S)
    grace = min(LIFETIME_GRACE_FRACTION * walltime_s, LIFETIME_GRACE_MAX_S)
    lifetime = walltime_s - 2 * stagger - grace
    return ["--lifetime", f"{int(lifetime)}s", "--lifetime-stagger", f"{int(stagger)}s"]


def _check_kind(kind: str) -> None:
    if kind not in CLUSTER_KINDS:
        raise ValueError(
            f"unknown cluster kind {kind!r}: expected one of {', '.join(CLUSTER_KINDS)}"
        )


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")


def _jobqueue_class(kind: str) -> type:
    _check_kind(kind)
    if kind == "local":
        raise ValueError("a local cluster submits no jobs: choose a batch-queue kind")
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ImportError(
            f"cluster kind {kind!r} needs dask-jobqueue: pip install 'pyama-dask[hpc]'"
        ) from exc
    return getattr(dask_jobqueue, JOBQUEUE_CLASSES[kind])


def _dry_run_job(kind: str, threads_per_worker: int, overrides: dict[str, Any]):
    """Build the job object of `kind` without starting a scheduler."""
    cluster_class = _jobqueue_class(kind)
    job_options = _job_options(kind, threads_per_worker, dict(overrides))
    return cluster_class.job_cls(PLACEHOLDER_SCHEDULER, name="<worker-name>", protocol="tls://",
                                 security=placeholder_security(), **job_options)


def _job_options(kind: str, threads_per_worker: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """Complete the keyword overrides of a jobqueue kind with our two defaults; drop the credentials folder's."""
    options = dict(overrides)
    options.pop("shared_temp_directory", None)  # RunCredentials' folder, not the jobs'
    cores = _setting(kind, "cores", options)
    memory = _setting(kind, "memory", options)
    missing = [name for name, value in (("cores", cores), ("memory", memory)) if value is None]
    if missing:
        raise ValueError(
            f"{kind} jobs need {' and '.join(missing)} per job: set them in the "
            f"jobqueue.{kind} section of a dask config file (example: "
            f"deploy/jobqueue-slurm.yaml), as environment variables "
            f"{', '.join(f'DASK_JOBQUEUE__{kind.upper()}__{name.upper()}' for name in missing)}, "
            f"or as keyword arguments {', '.join(f'{name}=...' for name in missing)}"
        )
    if _setting(kind, "processes", options) is None:
        options["processes"] = max(1, int(cores) // threads_per_worker)
    walltime = _setting(kind, "walltime", options)
    extra_args = list(_setting(kind, "worker_extra_args", options) or [])
    has_lifetime = any(str(arg).split("=")[0] == "--lifetime" for arg in extra_args)
    if walltime and not has_lifetime:
        extra_args += lifetime_args(walltime_seconds(kind, walltime))
    given = [str(arg) for flag, arg in zip(extra_args, extra_args[1:]) if flag == "--preload"]
    extra_args += [arg for name in _worker_preloads(given) if name not in given for arg in ("--preload", name)]
    options["worker_extra_args"] = extra_args
    prologue = list(_setting(kind, "job_script_prologue", options) or [])
    options["job_script_prologue"] = [*prologue, *(f"export {k}={v}" for k, v in WORKER_ENVIRONMENT.items())]
    return options


def _worker_preloads(given: list[str]) -> list[str]:
    """The preloads of a worker: those given, those of dask's config (which given ones would replace), ours."""
    configured = dask.config.get("distributed.worker.preload", None) or []
    names = [*configured, *given, PRELOAD]
    return list(dict.fromkeys(names))


def _setting(kind: str, name: str, overrides: dict[str, Any]) -> Any:
    """Return a job setting: the override if given, else dask's jobqueue config."""
    if overrides.get(name) is not None:
        return overrides[name]
    return dask.config.get(f"jobqueue.{kind}.{name.replace('_', '-')}", None)


def _parse_int(kind: str, walltime: str | int, field: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise ValueError(f"walltime {walltime!r} is not a {kind} walltime") from None
