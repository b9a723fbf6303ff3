#!/usr/bin/env bash
# Stop the single-node Slurm cluster started by slurm_cluster_start.sh: cancel all jobs, then stop
# slurmd, slurmctld, slurmdbd, MariaDB and munged, each by its pid, waiting for each to exit.
# Idempotent: does nothing (and exits 0) when nothing runs. Leaves $FIDLE_SLURM_DIR in place, so a
# later start recovers the job-id sequence and accounting; wipe that folder for a fresh cluster.
set -euo pipefail

# shellcheck source=slurm_cluster_common.sh
source "$(dirname "$0")/slurm_cluster_common.sh"

log() { echo "slurm_cluster_stop: $*"; }

# stop_daemon NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_daemon() {
    local name=$1 pidfile=$2 pids pid waited=0 t0
    pids=$(pids_of "$name" "$pidfile")
    [ -n "$pids" ] || return 0
    t0=$(now)
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM $pids 2>/dev/null || true
    for pid in $pids; do
        while [ -e "/proc/$pid" ]; do
            if [ "$waited" -ge 150 ]; then
                log "$name (pid $pid) ignored SIGTERM for 30 s, killing it"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 0.5
                break
            fi
            sleep 0.2
            waited=$((waited + 1))
        done
    done
    rm -f "$pidfile"
    log "stopped $name (pid $(echo "$pids" | tr '\n' ' ' | sed 's/ $//'), $(elapsed "$t0")s)"
}

cancel_jobs() {
    local jobs deadline
    command -v squeue >/dev/null || return 0
    jobs=$(squeue -h -o %A 2>/dev/null) || return 0
    [ -n "$jobs" ] || return 0
    # shellcheck disable=SC2086 # one job id per word
    scancel $jobs 2>/dev/null || true
    log "cancelled $(echo "$jobs" | wc -l) job(s)"
    # KillWait=10: running jobs get SIGTERM, then SIGKILL 10 s later.
    deadline=$((SECONDS + 30))
    while [ -n "$(squeue -h -o %A 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.5
    done
}

main() {
    local t0
    [ "$(id -u)" -eq 0 ] || { echo "slurm_cluster_stop: ERROR: must run as root" >&2; exit 1; }
    t0=$(now)
    if [ -z "$(pids_of slurmctld "$D/run/slurmctld.pid")$(pids_of slurmd "$D/run/slurmd.pid")$(pids_of slurmdbd "$D/run/slurmdbd.pid")$(pids_of mariadbd "$D/mysql/mariadb.pid")$(pids_of munged "$D/munge/munged.pid")$(pids_of slurmstepd /nonexistent)" ]; then
        log "cluster not running"
        return 0
    fi
    [ -z "$(pids_of slurmctld "$D/run/slurmctld.pid")" ] || cancel_jobs
    stop_daemon slurmd "$D/run/slurmd.pid"
    # Job steps that outlived scancel (e.g. slurmctld was already down) would keep running.
    stop_daemon slurmstepd /nonexistent
    stop_daemon slurmctld "$D/run/slurmctld.pid"
    stop_daemon slurmdbd "$D/run/slurmdbd.pid"
    stop_daemon mariadbd "$D/mysql/mariadb.pid"
    stop_daemon munged "$D/munge/munged.pid"
    log "cluster stopped ($(elapsed "$t0")s)"
}

main "$@"
