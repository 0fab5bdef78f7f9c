#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying profiles/slurm without a real cluster.
#
#   profiles/slurm/local-cluster.sh install   # apt-get install slurmctld slurmd slurm-client munge (root)
#   profiles/slurm/local-cluster.sh start     # munged + slurmctld + slurmd; waits until the node is idle
#   eval "$(profiles/slurm/local-cluster.sh env)"   # SLURM_CONF for sbatch/squeue/sinfo in this shell
#   profiles/slurm/local-cluster.sh status    # sinfo + squeue; exit 0 only if the node answers
#   profiles/slurm/local-cluster.sh stop      # ends the daemons this script started
#
# One node named "localhost" with this machine's CPUs and memory, one partition "local" (the
# default), no cgroups (proctrack/linuxproc, task/none), no accounting database: the executor plugin
# polls job states with squeue, which keeps finished jobs listed for MinJobAge (1 h) here.
# Every file (slurm.conf, munge key and socket, spool, logs, pids) lives under $AUDIO_GS_SLURM_DIR
# (default /tmp/audio_gs-slurm); outside it only the link /run/slurm/conf -> $DIR/etc is made (what a
# configless slurmd makes; removed by stop), so that srun inside a job finds the config. Non-default ports
# ($AUDIO_GS_SLURM_PORT and the next one, default 16817/16818) keep it clear of a system Slurm.
# Daemons run as the calling user (root on the project's machines; slurmd needs root to start jobs
# as another user, not for jobs of its own user). Start and stop are idempotent.
set -euo pipefail

DIR="${AUDIO_GS_SLURM_DIR:-/tmp/audio_gs-slurm}"
PORT="${AUDIO_GS_SLURM_PORT:-16817}"
CONF="$DIR/etc/slurm.conf"
RUN_CONF=/run/slurm/conf   # where Slurm clients look when SLURM_CONF is unset and /etc/slurm/slurm.conf absent
MUNGE_SOCKET="$DIR/munge/munge.socket"
NODE=localhost
PARTITION=local
export SLURM_CONF="$CONF"

die() { echo "local-cluster: $*" >&2; exit 2; }

need() {
    local missing=()
    for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
        command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool")
    done
    ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run '$0 install' (Debian: slurmctld slurmd slurm-client munge)"
}

sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

alive() {  # alive NAME: the daemon whose pid file is $DIR/run/NAME.pid is running
    local pidfile="$DIR/run/$1.pid"
    [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

write_conf() {
    local cpus mem_mb user
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    user=$(id -un)
    mkdir -p "$DIR"/{etc,munge,spool/ctld,spool/d,log,run,jobs}
    chmod 700 "$DIR/munge"
    cat >"$CONF.tmp" <<EOF
# written by profiles/slurm/local-cluster.sh: one node, this machine, no cgroups, no accounting
ClusterName=audio-gs-local
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
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
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
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    alive munged && return 0
    [[ -s "$DIR/munge/munge.key" ]] || mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
    chmod 400 "$DIR/munge/munge.key"
    # --force: munged refuses a key or socket dir it judges insecure (e.g. /tmp sticky dirs) otherwise
    "$(sbin munged)" --force --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
}

link_conf() {
    # The jobstep plugin strips every SLURM_* variable (SLURM_CONF included) before its nested srun,
    # so the job's srun finds the config only where Slurm looks by default: /etc/slurm/slurm.conf,
    # then /run/slurm/conf/slurm.conf (the cache of a configless slurmd). Link the latter to ours.
    if [[ -e /etc/slurm/slurm.conf ]]; then
        die "/etc/slurm/slurm.conf exists (a system Slurm): jobs' srun would read it; use that cluster instead"
    fi
    if [[ -L "$RUN_CONF" && "$(readlink "$RUN_CONF")" == "$DIR/etc" ]]; then return 0; fi
    [[ -e "$RUN_CONF" || -L "$RUN_CONF" ]] && die "$RUN_CONF exists and is not this cluster's: remove it or stop that slurmd"
    mkdir -p "$(dirname "$RUN_CONF")" 2>/dev/null && ln -s "$DIR/etc" "$RUN_CONF" 2>/dev/null ||
        die "cannot link $RUN_CONF -> $DIR/etc (needs root): jobs' srun would not find the config"
}

start() {
    need
    write_conf
    link_conf
    start_munge
    alive slurmctld || "$(sbin slurmctld)" -f "$CONF"
    alive slurmd || "$(sbin slurmd)" -f "$CONF" -N "$NODE"
    local deadline=$((SECONDS + ${AUDIO_GS_SLURM_WAIT:-60})) state=""
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case "$state" in
            idle | mixed | allocated) echo "local-cluster: node $NODE $state (SLURM_CONF=$CONF)"; return 0 ;;
            down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    echo "local-cluster: node $NODE not idle after ${AUDIO_GS_SLURM_WAIT:-60} s (state '${state:-no answer}'); logs:" >&2
    tail -n 5 "$DIR"/log/*.log >&2 || true
    exit 1
}

stop() {
    local name pid
    for name in slurmd slurmctld munged; do
        alive "$name" || continue
        pid=$(cat "$DIR/run/$name.pid")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        rm -f "$DIR/run/$name.pid"
    done
    if [[ -L "$RUN_CONF" && "$(readlink "$RUN_CONF")" == "$DIR/etc" ]]; then rm -f "$RUN_CONF"; fi
    echo "local-cluster: stopped"
}

status() {
    [[ -f "$CONF" ]] || { echo "local-cluster: not configured ($CONF absent)"; exit 1; }
    local name
    for name in munged slurmctld slurmd; do
        if alive "$name"; then echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"; else echo "$name: not running"; fi
    done
    sinfo && squeue
}

install() {
    [[ $(id -u) == 0 ]] || die "install needs root (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$(printf %q "$CONF")" ;;
    *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
