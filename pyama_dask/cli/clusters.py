"""Where a run's tasks go: command-line options for the local cluster, a scheduler or a batch queue."""

from __future__ import annotations

import argparse
from typing import Any

from pyama_dask.workflow.clusters import CLUSTER_KINDS, ClusterRequest, cluster_request, job_script

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
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tls://host:8786 (with the "
                        "certificates of dask's distributed.comm.tls config) or tcp://127.0.0.1:8786")
    parser.add_argument("--dashboard-address", help="where the cluster's scheduler serves its dashboard (default "
                        "127.0.0.1:8787, this machine only, or a free port when that one is taken); one other "
                        "machines can reach, e.g. 0.0.0.0:8787, gets a warning")
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


def request_from_args(args: argparse.Namespace, config: dict[str, Any], n_fovs: int | None = None) -> ClusterRequest:
    """The cluster request of a run: flags win over the run config's ``cluster`` mapping.

    Raises
    ------
    ValueError
        For an unknown cluster kind or a bad setting (see `ClusterRequest`).
    """
    return cluster_request(
        config.get("cluster"),
        kind=args.cluster,
        settings={flag: getattr(args, flag, None) for flag in JOBQUEUE_FLAGS},
        n_workers=args.workers,
        scheduler_address=args.scheduler or None,
        dashboard_address=args.dashboard_address,
        n_fovs=n_fovs,
    )


def dry_run(args: argparse.Namespace, config: dict[str, Any]) -> str:
    """The job script a batch-queue run would submit."""
    request = request_from_args(args, config)
    if request.kind == "local":
        raise ValueError("--dry-run shows a batch-queue job script: give --cluster slurm|pbs|sge|lsf")
    return job_script(request.kind, **request.settings)
