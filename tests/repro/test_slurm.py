"""`reproduce --launcher slurm` on a real SLURM (issue 11.3): scripts/slurm_localhost.sh starts a single-node cluster
on localhost (.ci/run does it before `make test-all`); without one these tests skip, naming what is missing.

Bounded in time: every wait has a deadline, and every job a test submitted is cancelled when it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a real SLURM cluster, jobs of minutes: `make test-all` only
TINY = ["--data.synthetic_height", "32", "--data.synthetic_width", "48", "--data.patch_size", "5",
        "--model.hsi_widths", "[8, 16]", "--model.lidar_widths", "[8, 16]", "--model.fusion_dim", "32",
        "--trainer.limit_train_batches", "2"]
DEADLINE_S = 600  # per wait; a run needs ~20 CPU-seconds, but CI's 2 cores may be shared


def _slurm_up() -> None:
    missing = [c for c in ("sbatch", "squeue", "sinfo", "scontrol", "scancel") if shutil.which(c) is None]
    if missing:
        pytest.skip(f"SLURM commands missing ({', '.join(missing)}): start a local cluster with "
                    "`sudo bash scripts/slurm_localhost.sh` (needs root and apt-get)")
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        pytest.skip(f"no SLURM node is up (sinfo exit {out.returncode}: {(out.stdout + out.stderr).strip()[:200]!r});"
                    " start one with `sudo bash scripts/slurm_localhost.sh`")


def _argv(results: Path, *more: str, epochs: int = 1) -> list[str]:
    return ["--quick", "--seeds", "1", "--variants", "lidar_only", "mmlgnet", "--epochs", str(epochs), "--maps",
            "none", "--no-wandb", "--results", str(results), *more, "--", *TINY]


def _reproduce(*argv: str, timeout: float = DEADLINE_S) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, "-m", "mmlgnet.reproduce", *argv], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)


def _job_ids(results: Path) -> list[str]:
    ids = []
    for run_json in results.glob("*/*/seed*/run.json"):
        job = json.loads(run_json.read_text()).get("slurm") or {}
        ids += [str(job["job_id"])] if job.get("job_id") else []
    return ids


def _squeue(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return out.stdout.strip()


def _until(condition, what: str, timeout: float = DEADLINE_S) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)


@pytest.fixture
def results(tmp_path):
    _slurm_up()
    yield tmp_path
    for root in tmp_path.iterdir():  # never leave a job of ours running
        ids = _job_ids(root) if root.is_dir() else []
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True)


def test_quick_reproduction_through_slurm_equals_a_local_run(results):
    local = _reproduce(*_argv(results / "local"))
    assert local.returncode == 0, local.stdout[-2000:] + local.stderr[-3000:]
    first = _reproduce(*_argv(results / "slurm", "--launcher", "slurm", "--slurm-time", "30"))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert first.stdout.count("submitted as SLURM job") == 2
    rows = {name: json.loads((results / name / "tables.json").read_text())["rows"] for name in ("local", "slurm")}
    keys = ("variant", "fingerprint", "seeds", "OA", "AA", "kappa")
    assert [[r[k] for k in keys] for r in rows["slurm"]] == [[r[k] for k in keys] for r in rows["local"]]
    assert len(rows["slurm"]) == 2
    for variant in ("lidar_only", "mmlgnet"):
        info = json.loads((results / "slurm" / "synthetic-quick" / variant / "seed0" / "run.json").read_text())
        assert info["status"] == "done" and info["launcher"] == "slurm" and info["slurm"]["state"] == "COMPLETED"

    again = _reproduce(*_argv(results / "slurm", "--launcher", "slurm"))  # resubmitting: done runs are skipped
    assert again.returncode == 0 and again.stdout.count("done already, skipped") == 2, again.stdout[-2000:]
    assert "submitted as SLURM job" not in again.stdout


def test_no_wait_then_requeue_resumes_from_last_checkpoint_and_a_later_call_collects(results):
    """--no-wait returns at once; a runner meanwhile leaves the job's folder alone; the job, signalled as at its
    time limit, is requeued by submitit and resumes from last.ckpt; --tables-only then collects the run."""
    def argv(*more: str) -> list[str]:
        return ["--quick", "--seeds", "1", "--variants", "lidar_only", "--epochs", "4", "--maps", "none",
                "--no-wandb", "--results", str(results / "R"), *more, "--", *TINY]

    sub = _reproduce(*argv("--launcher", "slurm", "--no-wait"))
    assert sub.returncode == 0 and "still queued or running in SLURM" in sub.stdout, sub.stdout + sub.stderr
    run = results / "R" / "synthetic-quick" / "lidar_only" / "seed0"
    (job,) = _job_ids(results / "R")
    assert json.loads((run / "run.json").read_text())["status"] == "submitted"

    _until(lambda: (run / "checkpoints" / "last.ckpt").is_file() or not _squeue(job).startswith(("PENDING",
                                                                                                 "RUNNING")),
           "the job's first checkpoint")
    assert _squeue(job) == "RUNNING", "the job ended before it could be interrupted: " + (run / "cli.log").read_text()
    subprocess.run(["scancel", "--signal", "USR2", job], check=True)  # what SLURM sends before the time limit
    _until(lambda: _squeue(job) == "PENDING", "submitit to requeue the job")  # held ~2 min by SLURM before restart
    busy = _reproduce(*argv())  # another runner meanwhile: leaves the job's folder alone
    assert "still queued or running: left alone" in busy.stdout, busy.stdout[-2000:] + busy.stderr[-2000:]
    assert json.loads((run / "run.json").read_text())["status"] == "submitted"
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)  # skip SLURM's 2-min delay
    _until(lambda: _squeue(job) not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"), "the requeued job")

    done = _reproduce(*argv("--tables-only"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and info["slurm"]["restarts"] == 1, info
    assert info["slurm"]["resumed_from"] == str(run / "checkpoints" / "last.ckpt")
    log = (run / "cli.log").read_text()
    assert "(restart 1)] resuming from" in log and "Restoring states from the checkpoint" in log
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["trained"]["global_step"] == 8  # 4 epochs × 2 batches: resumed, not restarted nor cut short
    table = json.loads((results / "R" / "tables.json").read_text())
    assert [r["seeds"] for r in table["rows"]] == [[0]]
