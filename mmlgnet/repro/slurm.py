"""`reproduce --launcher slurm`: runs as SLURM jobs through submitit, one job array per invocation.

Each run becomes one array task: `RunJob(cli_args, run_dir)` runs `python -m mmlgnet <cli_args>` in a child
(output appended to `<run_dir>/cli.log`). RunJob is a `submitit.helpers.Checkpointable`: when SLURM preempts
the job or its time limit comes near (submitit asks SLURM for SIGUSR2 90 s before the end), submitit requeues
it and the next start resumes the fit from `<run_dir>/checkpoints/last.ckpt` (`--ckpt_path`) instead of
starting over; each start is logged in cli.log.

The runner records `submitted` (with the job id) in the run's run.json; the job itself never writes run.json.
Whoever holds the results lock later (the waiting runner, a later `reproduce`, `--tables-only`) asks SLURM
(`squeue`, which keeps ended jobs for MinJobAge; no accounting needed) whether the job is still queued or
running: while it is, the folder is left alone (never cleared, never resubmitted); once it ended, the run is
recorded `done` when its test_metrics.json passes the done-check, else `failed` with the job's error.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import submitit

from mmlgnet.errors import ConfigError
from mmlgnet.repro.executors import Subprocess, child_setup

#: squeue states of a job that may still write into its run folder
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
          "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED", "RESV_DEL_HOLD"}


@dataclass(frozen=True)
class SlurmOptions:
    """What `--slurm-*` asks of every run's job."""

    folder: Path  # submitit's job files (sbatch script, pickles, logs)
    partition: str | None = None
    time_min: int = 60
    gpus_per_run: int = 0
    cpus_per_run: int = 1
    extra: dict[str, str] = field(default_factory=dict)  # more sbatch parameters, KEY=VALUE
    array_parallelism: int = 256

    def executor(self) -> submitit.SlurmExecutor:
        ex = submitit.SlurmExecutor(folder=self.folder / "%j")
        params: dict[str, Any] = {"time": self.time_min, "cpus_per_task": self.cpus_per_run, "ntasks_per_node": 1,
                                  "nodes": 1, "job_name": "mmlgnet-reproduce",
                                  "array_parallelism": self.array_parallelism}
        if self.partition:
            params["partition"] = self.partition
        if self.gpus_per_run:
            params["gpus_per_node"] = self.gpus_per_run
        if self.extra:
            params["additional_parameters"] = dict(self.extra)
        ex.update_parameters(**params)
        return ex


#: what the launcher runs here: sbatch submits, srun (submitit refuses to start without it) runs, squeue follows
COMMANDS = ("sbatch", "srun", "squeue")


def require_commands() -> None:
    """ConfigError naming the SLURM commands missing on PATH (else submitit ends in a RuntimeError traceback)."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise ConfigError(f"--launcher slurm: {', '.join(missing)} not found on PATH (SLURM is not installed or not "
                          "loaded here). Run reproduce where SLURM's commands work (a login node, e.g. after "
                          "`module load slurm`), start a single-node test cluster on this machine with "
                          "`make slurm-localhost` (root, apt-get), or run locally with --launcher subprocess / --jobs N.")


def parse_extra(items: Sequence[str]) -> dict[str, str]:
    """`--slurm-extra KEY=VALUE ...` -> {KEY: VALUE}; sbatch's dashes may be given as dashes or underscores."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--slurm-extra {item!r}: expected KEY=VALUE (an sbatch option without its dashes, "
                              "e.g. --slurm-extra qos=high account=myproject constraint=a100)")
        out[key] = value
    return out


#: a child stopped by a signal (negative: killed; 128+n: Lightning's or Python's exit on SIGTERM/SIGINT)
SIGNALLED = {-15, -12, -10, -9, -2, 143, 140, 138, 137, 130}
PREEMPT_GRACE_S = 60.0


class RunJob(submitit.helpers.Checkpointable):
    """One run as a SLURM job; requeued on preemption or time-out, then resumed from the run's last.ckpt.

    The child dies with this process (PR_SET_PDEATHSIG) and sees SLURM_JOB_NAME=interactive, Lightning's documented switch that makes it start its own
    processes for `--trainer.devices N` (one SLURM task per run) instead of expecting N srun tasks.
    """

    def __call__(self, cli_args: Sequence[str], run_dir: str) -> dict[str, Any]:
        t0 = time.time()
        run = Path(run_dir)
        last = run / "checkpoints" / "last.ckpt"
        args = [*cli_args]
        resume = last.is_file()
        if resume:
            args += ["--ckpt_path", str(last)]
        env = {**os.environ, "SLURM_JOB_NAME": "interactive"}
        cpus = os.environ.get("SLURM_CPUS_PER_TASK")
        if cpus:
            env.update(OMP_NUM_THREADS=cpus, MKL_NUM_THREADS=cpus)
        log = run / "cli.log"
        job = f"{os.environ.get('SLURM_JOB_ID', '?')} (restart {os.environ.get('SLURM_RESTART_COUNT', '0')})"
        with open(log, "ab") as out:
            out.write(f"[slurm job {job}] {'resuming from ' + str(last) if resume else 'start'}\n".encode())
            out.flush()
            with _noting_sigterm() as sigterm:
                rc = subprocess.call([sys.executable, "-m", "mmlgnet", *args], stdout=out,
                                     stderr=subprocess.STDOUT, env=env, preexec_fn=child_setup)
        if rc != 0 and (rc in SIGNALLED or sigterm):  # preemption: SLURM's SIGTERM ended the child first;
            time.sleep(PREEMPT_GRACE_S)  # submitit's USR2 handler requeues the job and exits from this sleep
        if rc != 0:
            raise RuntimeError(Subprocess.outcome(rc, run)[1])
        return {"job_wall_s": round(time.time() - t0, 2), "resumed_from": str(last) if resume else None,
                "restarts": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)}


@contextlib.contextmanager
def _noting_sigterm() -> Iterator[list[int]]:
    """Note a SIGTERM (SLURM's preemption notice), then pass it on to submitit's handler (which ignores it)."""
    seen: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)

    def note(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # not under submitit: die of it as before
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def submit(options: SlurmOptions, work: Sequence[tuple[Sequence[str], Path]]) -> list[str]:
    """Submit one array job (one task per (cli_args, run_dir)); returns the job ids in order."""
    if not work:
        return []
    try:
        jobs = options.executor().map_array(RunJob(), [list(a) for a, _ in work], [str(d) for _, d in work])
    except (OSError, subprocess.CalledProcessError, submitit.core.utils.FailedJobError) as e:
        raise ConfigError(f"--launcher slurm: sbatch failed ({type(e).__name__}: {str(e).strip()[:500]}). Check "
                          "--slurm-partition, --slurm-time, --slurm-extra, and that sbatch works here "
                          "(scripts/slurm_localhost.sh starts a local test cluster).") from e
    return [str(j.job_id) for j in jobs]


def states(job_ids: Sequence[str]) -> dict[str, str]:
    """squeue's state of each job id it still knows (queued, running, or ended within MinJobAge)."""
    ids = sorted({j for j in job_ids if j})
    if not ids:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"runs of this results folder were submitted to SLURM, but squeue cannot be run here "
                          f"({e}): run reproduce where SLURM's commands work (e.g. the login node)") from e
    found = {}
    for line in out.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        found[jid] = state.split()[0] if state else ""
    if out.returncode != 0 and not found and "Invalid job id" not in out.stderr:
        raise ConfigError(f"squeue failed (exit {out.returncode}): {out.stderr.strip()[:300]}")
    return found


def is_active(state: str | None) -> bool:
    return state in ACTIVE


def job_outcome(folder: Path, job_id: str) -> tuple[bool, str, dict[str, Any]]:
    """(ok, error, what RunJob returned) of an ended job, from submitit's result file (else the job's log)."""
    paths = submitit.core.utils.JobPaths(folder / "%j", job_id=job_id, task_id=0)
    try:
        with open(paths.result_pickle, "rb") as f:
            kind, value = pickle.load(f)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, TypeError):
        kind, value = None, None
    if kind == "success":
        return True, "", value if isinstance(value, dict) else {}
    if kind == "error":
        lines = [ln for ln in str(value).splitlines() if ln.strip()]
        return False, f"SLURM job {job_id}: {lines[-1] if lines else 'error'}", {}
    try:
        tail = [ln for ln in paths.stderr.read_text(errors="replace").splitlines() if ln.strip()][-1:]
    except OSError:
        tail = []
    return False, (f"SLURM job {job_id} ended without a result ({tail[0][:300] if tail else 'no log'}; "
                   f"{paths.stderr})"), {}
