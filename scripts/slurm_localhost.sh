#!/usr/bin/env bash
# A single-node SLURM cluster on localhost (controller + one compute daemon, loopback only), for the end-to-end
# test of `python -m mmlgnet.reproduce --launcher slurm` (tests/repro/test_slurm.py) and for trying the launcher.
#
#   sudo bash scripts/slurm_localhost.sh          # install (apt-get), configure, start; wait until the node is idle
#
# Idempotent: when `sinfo` already shows the node idle/mixed/allocated, it does nothing. Works in a container:
# no cgroups (proctrack/linuxproc, task/none), no accounting (squeue keeps finished jobs for MinJobAge), no
# systemd (the daemons are started directly). Needs root and apt. Exit code 0: the cluster is up; otherwise the
# last lines of the daemons' logs are printed. Environment: SLURM_LOCALHOST_WAIT_S (default 120).
set -euo pipefail

WAIT_S=${SLURM_LOCALHOST_WAIT_S:-120}
CONF=/etc/slurm/slurm.conf
LOGS=/var/log/slurm
say() { echo "[slurm_localhost] $*"; }

node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -n1 || true; }
up() { case "$(node_state)" in idle*|mixed*|allocated*|completing*) return 0 ;; *) return 1 ;; esac; }

if command -v sinfo >/dev/null 2>&1 && up; then
  say "already up: node localhost is $(node_state)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "needs root (apt-get, daemons); run it with sudo"; exit 1
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
    || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  say "installing slurmctld slurmd slurm-client munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# munge: one key shared by the controller and the node (the package's postinst usually made it already)
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  mungekey --create --force 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
fi

# the node as slurmd sees it (so it is never drained for a hardware mismatch); memory a little below the total
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
HW=$(slurmd -C 2>/dev/null | head -n1 | sed -E 's/^NodeName=[^ ]+ //; s/ RealMemory=[0-9]+//')
[ -n "$HW" ] || HW="CPUs=$CPUS"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGS"
cat > "$CONF.new" <<EOF
# written by scripts/slurm_localhost.sh: a single-node test cluster on localhost
ClusterName=mmlgnet-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=900
KillWait=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $HW RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s "$CONF.new" "$CONF" 2>/dev/null; then
  mv "$CONF.new" "$CONF"; say "wrote $CONF ($HW, RealMemory=$MEM_MB)"; CHANGED=1
else
  rm -f "$CONF.new"; CHANGED=0
fi

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running /run/slurmctld.pid && [ "$CHANGED" = 1 ]; then scontrol reconfigure || true; fi
if ! running /run/slurmctld.pid; then say "starting slurmctld"; slurmctld -c 2>/dev/null || slurmctld; fi
if ! running /run/slurmd.pid; then say "starting slurmd"; slurmd -N localhost; fi

say "waiting up to ${WAIT_S} s for the node to be idle"
for _ in $(seq "$WAIT_S"); do
  if up; then say "up: $(sinfo -h -o '%P %D %T %C' | head -n1) (partition nodes state cpus A/I/O/T)"; exit 0; fi
  case "$(node_state)" in down*|drain*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;; esac
  sleep 1
done
say "the node did not come up (state: '$(node_state)'); last log lines:"
tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" 2>/dev/null || true
exit 1
