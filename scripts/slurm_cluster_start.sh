#!/usr/bin/env bash
# Start a single-node Slurm 22.05 cluster (slurmctld + slurmd + slurmdbd/MariaDB accounting, munge)
# on this machine, shaped like a Jean Zay GPU node (96 CPUs, 4 fake GPUs, Jean Zay partition names).
# Installs the Debian 12 packages if missing; runs without systemd or cgroups.
# Idempotent: says so and exits 0 when the cluster already runs. Stop it with slurm_cluster_stop.sh.
# State, spool, logs, pid files and the MariaDB data live in $FIDLE_SLURM_DIR (default /tmp/fidle-slurm);
# the config goes to /etc/slurm so that every client finds it without environment variables.
set -euo pipefail

# shellcheck source=slurm_cluster_common.sh
source "$(dirname "$0")/slurm_cluster_common.sh"
CLUSTER=fidle
NODE=$(uname -n)
NODE=${NODE%%.*} # what `hostname -s` says, and what slurmd looks for in slurm.conf
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
MYSQL_SOCKET=/run/mysqld/mysqld.sock # the default one, so slurmdbd and the mariadb client need no option
DB_USER=slurm
DB_PASS=slurm # MariaDB listens on its socket only (skip-networking)
PARTITIONS=(gpu_p13 gpu_p5 gpu_p6 gpu_p2 cpu_p1 local)

log() { echo "slurm_cluster_start: $*"; }

# die MESSAGE [LOGFILE...]: one clear line, then the tail of the relevant logs, exit 1.
die() {
    local msg=$1 f
    shift
    echo "slurm_cluster_start: ERROR: $msg" >&2
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "--- tail of $f" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

# wait_up NAME PIDFILE SECONDS CHECK...: poll CHECK every 0.5 s until it succeeds; fail after SECONDS,
# or as soon as daemon NAME has been gone for 2 s.
wait_up() {
    local name=$1 pidfile=$2 deadline=$((SECONDS + $3)) gone=0
    shift 3
    until "$@" >/dev/null 2>&1; do
        if [ -n "$(pids_of "$name" "$pidfile")" ]; then
            gone=0
        else
            gone=$((gone + 1))
            [ "$gone" -lt 4 ] || return 1
        fi
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | awk 'NR == 1'; }
node_usable() { [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; }
sacct_works() { sacct -n -X -a -S now-1minutes >/dev/null; }
cluster_usable() { node_usable && sacct_works; }
munge_works() { munge -n </dev/null | unmunge >/dev/null; }
mysql_works() { mariadb --socket="$MYSQL_SOCKET" -Nse 'SELECT 1'; }
dbd_works() { sacctmgr -n list cluster format=cluster; }

all_daemons_running() {
    [ -n "$(pids_of munged "$D/munge/munged.pid")" ] &&
        [ -n "$(pids_of mariadbd "$D/mysql/mariadb.pid")" ] &&
        [ -n "$(pids_of slurmdbd "$D/run/slurmdbd.pid")" ] &&
        [ -n "$(pids_of slurmctld "$D/run/slurmctld.pid")" ] &&
        [ -n "$(pids_of slurmd "$D/run/slurmd.pid")" ]
}

summary() {
    local slurm munge_v maria
    slurm=$(sinfo --version | awk '{print $2}')
    munge_v=$(munged --version 2>&1 | awk 'NR == 1 {print $1}')
    maria=$(mariadbd --version | awk '{print $3}')
    log "slurm $slurm, $munge_v, MariaDB $maria; cluster '$CLUSTER', node $NODE, folder $D"
    sinfo -o '%P %a %l %D %T %N %G %f' | sed 's/^/  /'
}

install_packages() {
    local missing=() p added_policy=0
    for p in "${PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]} (apt-get, log in $D/log/apt.log)"
    mkdir -p "$D/log"
    # Keep the packages' postinst scripts from starting their own daemons (mariadb on /var/lib/mysql
    # would take the socket); this script starts everything itself.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    } >"$D/log/apt.log" 2>&1 || rc=$?
    [ "$added_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die "apt-get install ${missing[*]} failed (exit $rc)" "$D/log/apt.log"
}

prepare_dirs() {
    mkdir -p "$D"/{state,spool,log,run} /etc/slurm
    chmod 755 "$D"
    install -d -o munge -g munge -m 700 "$D/munge"
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o mysql -g mysql -m 750 "$D/mysql"
    install -d -o mysql -g mysql -m 755 /run/mysqld
    if [ ! -s /etc/munge/munge.key ]; then
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    fi
}

# Character devices standing for the GPUs of gres.conf (major 195 as NVIDIA's, minors no driver uses).
make_fake_gpus() {
    local i
    for i in 0 1 2 3; do
        [ -e "/dev/fake_nvidia$i" ] && continue
        mknod "/dev/fake_nvidia$i" c 195 $((100 + i)) 2>/dev/null ||
            die "cannot create /dev/fake_nvidia$i (mknod needs CAP_MKNOD)"
    done
}

# write_file PATH MODE: stdin to PATH, only when the content differs.
write_file() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        install -m "$2" "$tmp" "$1"
        rm -f "$tmp"
    fi
}

write_configs() {
    local p default
    {
        cat <<EOF
# Written by fidle_runs scripts/slurm_cluster_start.sh: single-node test cluster, no systemd or cgroups.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Short credential lifetime: a requeued job may run again after ~12 s instead of ~120 s.
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5,bf_interval=5
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=86400
# The node declares Jean Zay sizes (96 CPUs, 500 GB, 4 GPUs), more than this machine has.
SlurmdParameters=config_overrides
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Accounting through slurmdbd, needed by sacct (and so by submitit's job states); nothing enforced,
# so that any --account or --qos is accepted.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
MailProg=/bin/true
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=96 Boards=1 Sockets=2 CoresPerSocket=48 ThreadsPerCore=1 RealMemory=512000 Gres=gpu:4 Features=v100-16g,v100-32g,a100,h100 State=UNKNOWN
EOF
        for p in "${PARTITIONS[@]}"; do
            default=NO
            [ "$p" = gpu_p13 ] && default=YES
            echo "PartitionName=$p Nodes=$NODE Default=$default MaxTime=INFINITE OverSubscribe=YES State=UP"
        done
    } | write_file /etc/slurm/slurm.conf 644

    write_file /etc/slurm/gres.conf 644 <<EOF
NodeName=$NODE Name=gpu File=/dev/fake_nvidia[0-3]
EOF

    write_file /etc/slurm/slurmdbd.conf 600 <<EOF
# Written by fidle_runs scripts/slurm_cluster_start.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$D/run/slurmdbd.pid
LogFile=$D/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF

    write_file "$D/mysql/my.cnf" 644 <<EOF
[mysqld]
datadir=$D/mysql/data
socket=$MYSQL_SOCKET
pid-file=$D/mysql/mariadb.pid
log-error=$D/mysql/mariadb.log
skip-networking
innodb_lock_wait_timeout=900
EOF
}

start_munge() {
    [ -n "$(pids_of munged "$D/munge/munged.pid")" ] && return 0
    runuser -u munge -- munged --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" \
        </dev/null >"$D/log/munged.out" 2>&1 ||
        die "munged did not start" "$D/log/munged.out" "$D/munge/munged.log"
    wait_up munged "$D/munge/munged.pid" 20 munge_works || die "munge does not answer" "$D/munge/munged.log"
}

start_mariadb() {
    if [ ! -d "$D/mysql/data/mysql" ]; then
        mariadb-install-db --defaults-file="$D/mysql/my.cnf" --user=mysql --skip-test-db \
            --auth-root-authentication-method=socket >"$D/log/mariadb-install-db.out" 2>&1 ||
            die "mariadb-install-db failed" "$D/log/mariadb-install-db.out"
    fi
    if [ -z "$(pids_of mariadbd "$D/mysql/mariadb.pid")" ]; then
        setsid mariadbd --defaults-file="$D/mysql/my.cnf" --user=mysql \
            </dev/null >"$D/log/mariadbd.out" 2>&1 &
    fi
    wait_up mariadbd "$D/mysql/mariadb.pid" 60 mysql_works || die "MariaDB did not start" "$D/log/mariadbd.out" "$D/mysql/mariadb.log"
    mariadb --socket="$MYSQL_SOCKET" <<EOF || die "cannot create the slurm_acct_db database" "$D/mysql/mariadb.log"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO '$DB_USER'@'localhost';
EOF
}

# start_slurm_daemon NAME PIDFILE: the Slurm daemons fork into the background themselves.
start_slurm_daemon() {
    local name=$1 pidfile=$2
    [ -n "$(pids_of "$name" "$pidfile")" ] && return 0
    "$name" </dev/null >"$D/log/$name.out" 2>&1 || die "$name did not start" "$D/log/$name.out" "$D/log/$name.log"
}

register_cluster() {
    if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr cannot register cluster $CLUSTER" "$D/log/slurmdbd.log"
    fi
}

main() {
    local t0 t_install t_start
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    t0=$(now)
    install_packages
    t_install=$(elapsed "$t0")

    if all_daemons_running && cluster_usable; then
        log "cluster already running"
        summary
        return 0
    fi

    t0=$(now)
    prepare_dirs
    make_fake_gpus
    write_configs
    start_munge
    start_mariadb
    start_slurm_daemon slurmdbd "$D/run/slurmdbd.pid"
    wait_up slurmdbd "$D/run/slurmdbd.pid" 60 dbd_works || die "slurmdbd does not answer" "$D/log/slurmdbd.out" "$D/log/slurmdbd.log"
    register_cluster
    start_slurm_daemon slurmctld "$D/run/slurmctld.pid"
    wait_up slurmctld "$D/run/slurmctld.pid" 60 scontrol ping || die "slurmctld does not answer" "$D/log/slurmctld.out" "$D/log/slurmctld.log"
    start_slurm_daemon slurmd "$D/run/slurmd.pid"
    wait_up slurmd "$D/run/slurmd.pid" 60 node_usable ||
        die "node $NODE is not idle (state: $(node_state))" "$D/log/slurmd.out" "$D/log/slurmd.log" "$D/log/slurmctld.log"
    wait_up slurmdbd "$D/run/slurmdbd.pid" 30 sacct_works || die "sacct does not work" "$D/log/slurmdbd.log" "$D/log/slurmctld.log"
    t_start=$(elapsed "$t0")

    log "cluster started (install ${t_install}s, start ${t_start}s)"
    summary
}

main "$@"
