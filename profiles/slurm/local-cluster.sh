#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for running profiles/slurm without a real cluster.
#
#   profiles/slurm/local-cluster.sh install   # apt-get install slurmctld slurmd slurm-client munge (root)
#   profiles/slurm/local-cluster.sh start     # munged + slurmctld + slurmd; waits until the node is idle
#   profiles/slurm/local-cluster.sh status    # the daemons, sinfo, squeue; exit 0 only if Slurm answers
#   profiles/slurm/local-cluster.sh stop      # ends the daemons this script started
#   profiles/slurm/local-cluster.sh env       # prints export SLURM_CONF=... (optional, see below)
#
# One node "localhost" with this machine's CPUs and memory, one partition "local" (the default), no
# cgroups (proctrack/linuxproc, task/none). Two kinds of accounting:
#   default                      none: sacct cannot answer, so run Snakemake with
#                                --slurm-status-command squeue (MinJobAge=3600 keeps finished jobs
#                                in squeue for an hour); without that flag the run never sees a job end.
#   AUDIO_GS_SLURM_ACCOUNTING=1  slurmdbd on a private MariaDB (`install` then adds mariadb-server and
#                                slurmdbd): sacct works, as on most real clusters, and the executor
#                                plugin's default status command (sacct) is used.
# Every file (slurm.conf, munge key and socket, database, spool, logs, pids) lives under
# $AUDIO_GS_SLURM_DIR (default /tmp/audio_gs-slurm). Outside it only the link /run/slurm/conf ->
# $DIR/etc is made (what a configless slurmd makes; removed by stop): Slurm clients read the config
# there when SLURM_CONF is unset, which matters because the jobstep plugin unsets SLURM_CONF before the
# srun inside each job. Ports $AUDIO_GS_SLURM_PORT .. +3 (default 16817-16820: slurmctld, slurmd,
# MariaDB on 127.0.0.1, slurmdbd) keep clear of a system Slurm. The daemons run as the calling user
# (root here; slurmd needs root only to run jobs of other users). Start and stop are idempotent.
set -euo pipefail

DIR="${AUDIO_GS_SLURM_DIR:-/tmp/audio_gs-slurm}"
PORT="${AUDIO_GS_SLURM_PORT:-16817}"
ACCOUNTING="${AUDIO_GS_SLURM_ACCOUNTING:-0}"
CONF="$DIR/etc/slurm.conf"
RUN_CONF=/run/slurm/conf
MUNGE_SOCKET="$DIR/munge/munge.socket"
DB_SOCKET="$DIR/run/mariadb.sock"
CLUSTER=audio-gs-local
NODE=localhost
PARTITION=local
DAEMONS=(slurmd slurmctld slurmdbd mariadb munged)  # stop order
export SLURM_CONF="$CONF"

die() { echo "local-cluster: $*" >&2; exit 2; }

sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

need() {
    local tool missing=() tools=(munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol)
    [[ $ACCOUNTING == 1 ]] && tools+=(slurmdbd sacctmgr mariadbd mariadb-install-db mariadb)
    for tool in "${tools[@]}"; do [[ -x "$(sbin "$tool")" ]] || missing+=("$tool"); done
    ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run '$0 install' first"
}

alive() {  # alive NAME: the daemon whose pid file is $DIR/run/NAME.pid is running
    local pidfile="$DIR/run/$1.pid"
    [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { tail -n 5 "$DIR"/log/*.log >&2 || true; die "$what not up after ${limit} s; logs above"; }
        sleep 0.5
    done
}

slurm_conf() {
    local user cpus mem_mb
    user=$(id -un)
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    cat <<EOF
# written by profiles/slurm/local-cluster.sh: one node (this machine), no cgroups
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
MpiDefault=none
SwitchType=switch/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ $ACCOUNTING == 1 ]]; then
        # AccountingStoragePass: the munge socket for talking to slurmdbd (else the default /run/munge one)
        printf '%s\n' AccountingStorageType=accounting_storage/slurmdbd AccountingStorageHost=localhost \
            "AccountingStoragePort=$((PORT + 3))" "AccountingStoragePass=$MUNGE_SOCKET"
    else
        echo AccountingStorageType=accounting_storage/none
    fi
}

write_conf() {  # (re)writes slurm.conf; refuses to change the config of running daemons
    mkdir -p "$DIR"/{etc,munge,spool/ctld,spool/d,log,run,db}
    chmod 700 "$DIR/munge" "$DIR/db"
    slurm_conf >"$CONF.tmp"
    if [[ -f "$CONF" ]] && ! cmp -s "$CONF.tmp" "$CONF" && { alive slurmctld || alive slurmd; }; then
        rm -f "$CONF.tmp"
        die "the cluster runs with another config (e.g. AUDIO_GS_SLURM_ACCOUNTING changed): '$0 stop' first"
    fi
    mv "$CONF.tmp" "$CONF"
}

link_conf() {
    if [[ -e /etc/slurm/slurm.conf ]]; then
        die "/etc/slurm/slurm.conf exists (a system Slurm): the srun inside jobs would read it; use that cluster"
    fi
    [[ -L "$RUN_CONF" && "$(readlink "$RUN_CONF")" == "$DIR/etc" ]] && return 0
    [[ -e "$RUN_CONF" || -L "$RUN_CONF" ]] && die "$RUN_CONF exists and is not this cluster's (a configless slurmd?)"
    { mkdir -p "$(dirname "$RUN_CONF")" && ln -s "$DIR/etc" "$RUN_CONF"; } 2>/dev/null ||
        die "cannot link $RUN_CONF -> $DIR/etc (needs root): the srun inside jobs would not find the config"
}

start_munge() {
    alive munged && return 0
    [[ -s "$DIR/munge/munge.key" ]] || mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
    chmod 400 "$DIR/munge/munge.key"
    # --force: munged otherwise refuses a socket under a world-writable sticky dir such as /tmp
    "$(sbin munged)" --force --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
}

start_accounting() {  # MariaDB on 127.0.0.1:PORT+2 (own datadir), then slurmdbd on PORT+3
    local user pass
    user=$(id -un)
    if ! alive mariadb; then
        [[ -d "$DIR/db/mysql" ]] || mariadb-install-db --no-defaults --user="$user" --datadir="$DIR/db" \
            --auth-root-authentication-method=socket --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1
        setsid "$(sbin mariadbd)" --no-defaults --user="$user" --datadir="$DIR/db" --socket="$DB_SOCKET" \
            --bind-address=127.0.0.1 --port=$((PORT + 2)) --skip-name-resolve \
            --pid-file="$DIR/run/mariadb.pid" --log-error="$DIR/log/mariadb.log" </dev/null >/dev/null 2>&1 &
        wait_for 60 MariaDB mariadb --no-defaults --socket="$DB_SOCKET" -e "select 1"
    fi
    if ! alive slurmdbd; then
        pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
        mariadb --no-defaults --socket="$DB_SOCKET" -e "CREATE OR REPLACE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        (
            umask 077
            cat >"$DIR/etc/slurmdbd.conf" <<EOF
# written by profiles/slurm/local-cluster.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 3))
SlurmUser=$user
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 2))
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
EOF
        )
        "$(sbin slurmdbd)"  # reads slurmdbd.conf beside $SLURM_CONF
        wait_for 60 slurmdbd sacctmgr -n list cluster
    fi
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
}

start() {
    need
    write_conf
    link_conf
    start_munge
    [[ $ACCOUNTING == 1 ]] && start_accounting
    alive slurmctld || "$(sbin slurmctld)" -f "$CONF"
    alive slurmd || "$(sbin slurmd)" -f "$CONF" -N "$NODE"
    local deadline=$((SECONDS + ${AUDIO_GS_SLURM_WAIT:-60})) state=""
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case "$state" in
            idle | mixed | allocated) echo "local-cluster: node $NODE $state (accounting: $([[ $ACCOUNTING == 1 ]] && echo slurmdbd || echo none))"; return 0 ;;
            down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    tail -n 5 "$DIR"/log/*.log >&2 || true
    die "node $NODE not idle after ${AUDIO_GS_SLURM_WAIT:-60} s (state '${state:-no answer}'); logs above"
}

stop() {
    local name pid
    for name in "${DAEMONS[@]}"; do
        alive "$name" || continue
        pid=$(cat "$DIR/run/$name.pid")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        rm -f "$DIR/run/$name.pid"
    done
    if [[ -L "$RUN_CONF" && "$(readlink "$RUN_CONF")" == "$DIR/etc" ]]; then rm -f "$RUN_CONF"; fi
    echo "local-cluster: stopped"
}

status() {
    [[ -f "$CONF" ]] || { echo "local-cluster: not configured ($CONF absent)"; exit 1; }
    local name
    for name in "${DAEMONS[@]}"; do
        if alive "$name"; then echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"; else echo "$name: not running"; fi
    done
    sinfo && squeue
}

install() {
    [[ $(id -u) == 0 ]] || die "install needs root (apt-get)"
    local pkgs=(slurmctld slurmd slurm-client munge)
    [[ $ACCOUNTING == 1 ]] && pkgs+=(slurmdbd mariadb-server)
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$(printf %q "$CONF")" ;;
    *) echo "usage: $0 install|start|stop|status|env   (AUDIO_GS_SLURM_ACCOUNTING=1: with slurmdbd)" >&2; exit 2 ;;
esac
