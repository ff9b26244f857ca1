"""Where a run's tasks go: command-line options for the local cluster, a scheduler or a batch queue."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Client

from pyama_dask.workflow.clusters import CLUSTER_KINDS, job_script, make_cluster, scale_for

logger = logging.getLogger(__name__)

# Batch-queue settings that may be given on the command line; any other
# dask-jobqueue keyword goes in the run config's ``cluster`` mapping or in
# dask's jobqueue.yaml.
JOBQUEUE_FLAGS = ("queue", "account", "cores", "memory", "walltime", "interface")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Options choosing and sizing the cluster of ``run`` and ``demo``."""
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the local cluster, or most workers of a batch-queue cluster "
                             "(default 2)")
    parser.add_argument("--batch-size", type=int, default=2, help="FOVs in flight at once (default 2)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--dashboard-address", help="where the cluster's scheduler serves its dashboard "
                        "(default :8787, or a free port when that one is taken)")
    parser.add_argument("--cluster", choices=CLUSTER_KINDS,
                        help="local (default), or a batch queue through dask-jobqueue: its settings come from "
                             "dask's jobqueue config, the run config's 'cluster' mapping and the flags below")
    group = parser.add_argument_group("batch-queue jobs (override dask's jobqueue config)")
    group.add_argument("--queue", help="queue or partition")
    group.add_argument("--account", help="account or project to charge")
    group.add_argument("--cores", type=int, help="cores per job")
    group.add_argument("--memory", help="memory per job, e.g. 4GB")
    group.add_argument("--walltime", help="walltime per job, e.g. 01:00:00")
    group.add_argument("--interface", help="network interface of the workers, e.g. ib0")
    group.add_argument("--dry-run", action="store_true", help="print the job script and exit")


def cluster_settings(args: argparse.Namespace, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The cluster kind and its keyword overrides: flags win over the run config's ``cluster`` mapping."""
    settings = dict(config.get("cluster") or {})
    kind = args.cluster or settings.pop("kind", "local")
    settings.pop("kind", None)
    if kind not in CLUSTER_KINDS:
        raise ValueError(f"cluster kind {kind!r} is unknown; choose one of {', '.join(CLUSTER_KINDS)}")
    settings.update({flag: getattr(args, flag) for flag in JOBQUEUE_FLAGS if getattr(args, flag, None) is not None})
    return kind, settings


def dry_run(args: argparse.Namespace, config: dict[str, Any]) -> str:
    """The job script a batch-queue run would submit."""
    kind, settings = cluster_settings(args, config)
    if kind == "local":
        raise ValueError("--dry-run shows a batch-queue job script: give --cluster slurm|pbs|sge|lsf")
    return job_script(kind, **settings)


@contextmanager
def connect(args: argparse.Namespace, config: dict[str, Any], n_fovs: int) -> Iterator[Client | str | None]:
    """What to pass as ``client`` to ``run_complete_workflow``.

    A scheduler address is passed on; ``local`` gives None (the run starts
    and closes its own LocalCluster); a batch-queue kind starts that cluster
    here, adapting between zero and one worker per FOV to do (at most
    ``--workers``), and closes it, cancelling its jobs, at the end.
    """
    kind, settings = cluster_settings(args, config)
    if args.scheduler:
        yield args.scheduler
        return
    if kind == "local":
        yield None
        return
    cluster = make_cluster(kind, n_workers=0, dashboard_address=args.dashboard_address, **settings)
    with cluster, Client(cluster) as client:
        scale_for(cluster, max(n_fovs, 1), max_workers=args.workers)
        yield client
