# Shared by slurm_cluster_start.sh and slurm_cluster_stop.sh (sourced, not run).
# State, spool, logs, pid files and the MariaDB data of the local cluster.
D=${FIDLE_SLURM_DIR:-/tmp/fidle-slurm}

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pids_of NAME PIDFILE: the pid in PIDFILE if it runs NAME, else every process named exactly NAME
# (a daemon whose pid file was wiped with $FIDLE_SLURM_DIR still counts); empty when none runs.
pids_of() {
    local name=$1 pidfile=$2 pid="" comm proc
    [ -r "$pidfile" ] && read -r pid <"$pidfile"
    if [ -n "$pid" ] && read -r comm 2>/dev/null <"/proc/$pid/comm" && [ "$comm" = "$name" ]; then
        echo "$pid"
        return
    fi
    for proc in /proc/[0-9]*; do
        read -r comm 2>/dev/null <"$proc/comm" || continue
        [ "$comm" != "$name" ] || echo "${proc#/proc/}"
    done
}
