#!/usr/bin/env bash
# Stop the single-node Slurm started by start.sh: cancel its jobs, shut down
# slurmctld and slurmd, and stop munged if start.sh started it.
#
# Usage: deploy/local-slurm/stop.sh [--keep-munge]
set -euo pipefail

STATE_DIR=${PYAMA_SLURM_DIR:-/tmp/pyama-slurm}
export SLURM_CONF=$STATE_DIR/slurm.conf
keep_munge=${1:-}

log() { echo "local-slurm: $*" >&2; }

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Waits up to 10 s for the daemon of a pid file to exit, then kills it.
stop_daemon() {
    local pidfile=$STATE_DIR/$1.pid pid _
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    for _ in $(seq 1 20); do
        pid_alive "$pid" || break
        sleep 0.5
    done
    if pid_alive "$pid"; then
        log "$1 (pid $pid) did not shut down; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Cancels every job and waits up to 10 s for them to end: slurmd leaves the
# processes of running jobs behind when it shuts down.
cancel_jobs() {
    local job_ids _
    for _ in $(seq 1 20); do
        job_ids=$(squeue --noheader --format=%i 2>/dev/null) || return 0
        [ -n "$job_ids" ] || return 0
        # shellcheck disable=SC2086  # one argument per job id
        scancel --quiet $job_ids 2>/dev/null || true
        sleep 0.5
    done
    log "jobs still in the queue after 10 s: $job_ids"
}

if [ -f "$SLURM_CONF" ] && timeout 5 scontrol ping >/dev/null 2>&1; then
    log "cancelling jobs and shutting down slurmctld and slurmd"
    cancel_jobs
    timeout 10 scontrol shutdown >/dev/null 2>&1 || true
fi
stop_daemon slurmctld
stop_daemon slurmd

if [ "$keep_munge" != --keep-munge ] && [ -f "$STATE_DIR/munged.started" ]; then
    log "stopping munged"
    munged --stop >/dev/null 2>&1 || true
    rm -f "$STATE_DIR/munged.started"
fi
