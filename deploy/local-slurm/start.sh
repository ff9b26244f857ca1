#!/usr/bin/env bash
# Start a single-node Slurm (munged, slurmctld, slurmd) on this machine, for
# trying `pyama-dask run --cluster slurm` and for the integration tests.
#
# Usage: deploy/local-slurm/start.sh        then: export SLURM_CONF=<printed path>
#
# Installs munge and Slurm with apt-get when they are missing (Debian/Ubuntu,
# as root), writes slurm.conf from slurm.conf.in under $PYAMA_SLURM_DIR
# (default /tmp/pyama-slurm), starts the daemons and waits until the node is
# idle. Running it again while that Slurm is up only prints the path again.
# Its only output on stdout is the path of slurm.conf; progress goes to stderr.
# Exits with 3 when Slurm is missing and cannot be installed, 1 on other errors.
set -euo pipefail

STATE_DIR=${PYAMA_SLURM_DIR:-/tmp/pyama-slurm}
PARTITION=${PYAMA_SLURM_PARTITION:-debug}
# Memory a job gets per CPU when it asks for none (MB).
DEF_MEM_PER_CPU_MB=2048
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE=$(hostname -s)
export SLURM_CONF=$STATE_DIR/slurm.conf

log() { echo "local-slurm: $*" >&2; }
# die MESSAGE [EXIT_CODE]
die() {
    log "error: $1"
    exit "${2:-1}"
}

node_state() {
    [ -f "$SLURM_CONF" ] || return 0
    timeout 5 sinfo --noheader --nodes="$NODE" --format=%t 2>/dev/null || true
}

node_is_up() {
    case "$(node_state)" in
        # A trailing '*' (not responding) or other flag means not up yet.
        idle | mix | alloc) return 0 ;;
        *) return 1 ;;
    esac
}

install_packages() {
    local command missing=0
    for command in munged slurmctld slurmd sbatch; do
        command -v "$command" >/dev/null || missing=1
    done
    [ "$missing" = 1 ] || return 0
    [ "$(id -u)" = 0 ] || die "Slurm is not installed, and installing it needs root" 3
    command -v apt-get >/dev/null || die "Slurm is not installed, and there is no apt-get to install it" 3
    log "installing munge and Slurm with apt-get"
    local packages=(munge slurmctld slurmd slurm-client)
    export DEBIAN_FRONTEND=noninteractive
    # Wait for another apt-get to finish rather than failing on its lock.
    local apt=(apt-get -o DPkg::Lock::Timeout=300 -qq)
    # Try without refreshing the package lists first: it is much faster when
    # they are recent enough.
    "${apt[@]}" install -y --no-install-recommends "${packages[@]}" >&2 \
        || { "${apt[@]}" update >&2 && "${apt[@]}" install -y --no-install-recommends "${packages[@]}" >&2; } \
        || die "apt-get could not install ${packages[*]}" 3
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    local key=/etc/munge/munge.key
    if [ ! -s "$key" ]; then
        log "creating $key"
        mungekey --create --keyfile="$key"
        chown munge:munge "$key"
        chmod 0400 "$key"
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    log "starting munged"
    runuser -u munge -- munged
    # stop.sh stops munged only when this script started it.
    touch "$STATE_DIR/munged.started"
    munge -n | unmunge >/dev/null || die "munged started but cannot encode and decode a credential"
}

write_conf() {
    local probe hardware total_mb real_mb cpus def_mem
    probe=$(slurmd -C | head -n 1)
    hardware=$(grep -o 'CPUs=.*ThreadsPerCore=[0-9]*' <<<"$probe")
    total_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$probe")
    cpus=$(sed -n 's/^CPUs=\([0-9]*\).*/\1/p' <<<"$hardware")
    [ -n "$hardware" ] && [ -n "$total_mb" ] && [ -n "$cpus" ] \
        || die "cannot read CPUs and memory from 'slurmd -C': $probe"
    # slurmd drains a node that has less memory than configured: leave 5 % slack.
    real_mb=$((total_mb * 95 / 100))
    def_mem=$((real_mb / cpus < DEF_MEM_PER_CPU_MB ? real_mb / cpus : DEF_MEM_PER_CPU_MB))
    sed -e "s|@NODE@|$NODE|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@HARDWARE@|$hardware|g" \
        -e "s|@REAL_MEMORY@|$real_mb|g" \
        -e "s|@DEF_MEM_PER_CPU@|$def_mem|g" \
        -e "s|@PARTITION@|$PARTITION|g" \
        "$HERE/slurm.conf.in" >"$SLURM_CONF"
    log "wrote $SLURM_CONF ($hardware RealMemory=$real_mb)"
}

wait_until_up() {
    local _
    for _ in $(seq 1 60); do
        node_is_up && return 0
        sleep 0.5
    done
    die "node $NODE is '$(node_state)' after 30 s, not idle; see $STATE_DIR/slurmctld.log and $STATE_DIR/slurmd.log"
}

main() {
    if node_is_up; then
        log "already running with $SLURM_CONF"
        echo "$SLURM_CONF"
        return
    fi
    install_packages
    mkdir -p "$STATE_DIR/state" "$STATE_DIR/spool"
    # Leftovers of an earlier run whose node is not up any more.
    "$HERE/stop.sh" --keep-munge >/dev/null 2>&1 || true
    start_munge
    write_conf
    log "starting slurmctld and slurmd"
    slurmctld -c -f "$SLURM_CONF"
    slurmd -c -f "$SLURM_CONF"
    wait_until_up
    log "node $NODE is $(node_state) in partition $PARTITION"
    echo "$SLURM_CONF"
}

main "$@"
