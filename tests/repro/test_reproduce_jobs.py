"""`reproduce --jobs N` (issue 11.1): slots' resources, same numbers as the sequential path, failures and
interrupts of one run, options that contradict each other, SLURM-owned folders never cleared (issue 11.2)."""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from mmlgnet.repro import reproduce, slurm
from mmlgnet.repro.dispatch import Dispatch
from mmlgnet.repro.executors import Subprocess
from mmlgnet.repro.fingerprint import Fingerprint
from mmlgnet.repro.jobs import Slot, run_pool, slots, usable_cpus
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import VARIANTS, Run, Setting
from mmlgnet.repro.registry import Registry

TINY = ["--data.synthetic_height", "32", "--data.synthetic_width", "48", "--data.patch_size", "5",
        "--model.hsi_widths", "[8, 16]", "--model.lidar_widths", "[8, 16]", "--model.fusion_dim", "32",
        "--trainer.limit_train_batches", "2"]


def test_slots_split_gpus_round_robin_and_cores_disjointly():
    four = slots(4, gpus=["0", "3"], cpus=list(range(8)))
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in four] == ["0", "3", "0", "3"]
    assert [s.cpus for s in four] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert all(s.env["OMP_NUM_THREADS"] == s.env["MKL_NUM_THREADS"] == "2" for s in four)
    two = slots(2, gpus=[], cpus=[0, 1])
    assert [(s.cpus, s.env) for s in two] == [((0,), {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}),
                                              ((1,), {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})]
    assert [s.cpus for s in slots(3, gpus=[], cpus=[0, 1])] == [(0,), (1,), (0,)]  # more jobs than cores: shared
    assert slots(1, gpus=["0", "1"], cpus=[0, 1]) == [Slot(0)]  # one job: the sequential path's resources


REPRO = ["--quick", "--seeds", "2", "--variants", "mmlgnet", "lidar_only", "--maps", "none", "--no-wandb"]
SEEDS = [f"synthetic-quick/{v}/seed{k}" for v in ("mmlgnet", "lidar_only") for k in (0, 1)]


def _read(results: Path, run: str, name: str) -> dict:
    return json.loads((results / run / name).read_text())


@pytest.mark.slow  # parallel reproduce, 8 runs: `make test-all` only
def test_jobs_1_and_jobs_2_give_the_same_numbers_for_every_seed(tmp_path):
    """Issue 15.6, the repro itself: `--jobs 1` (in-process, in a runner that has 2 torch threads) and `--jobs 2`
    (subprocesses pinned to one core each) give identical confusion matrices for all 4 runs, because every run
    computes with its own `--threads` (default 1), recorded in run.json, test_metrics.json and the fingerprint.
    Before, the in-process runs used the runner's thread count and 3 of the 4 runs differed by a test pixel."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what an in-process launcher on a 2-core machine gives (whatever cores CI has)
    try:
        assert reproduce.main([*REPRO, "--results", str(tmp_path / "seq")]) == 0
        assert torch.get_num_threads() == 2  # the runner's own thread count is left as it was
    finally:
        torch.set_num_threads(before)
    assert reproduce.main([*REPRO, "--jobs", "2", "--results", str(tmp_path / "par")]) == 0
    for run in SEEDS:
        seq, par = (_read(tmp_path / r, run, "test_metrics.json") for r in ("seq", "par"))
        for key in ("OA", "AA", "kappa", "confusion_matrix", "num_test_pixels"):
            assert seq[key] == par[key], (run, key, seq[key], par[key])
        assert seq["environment"]["threads"] == par["environment"]["threads"] == 1, run
        for r, launcher in (("seq", "inprocess"), ("par", "subprocess")):
            info = _read(tmp_path / r, run, "run.json")
            assert info["status"] == "done" and info["launcher"] == launcher and info["threads"] == 1, (run, info)
            assert info["environment"] == _read(tmp_path / r, run, "test_metrics.json")["environment"]
            assert _read(tmp_path / r, run, "fingerprint.json")["config"]["threads"] == 1
        assert _read(tmp_path / "par", run, "run.json")["resources"]["cpus"]  # pinned to its slot's cores
    slots_used = {_read(tmp_path / "par", run, "run.json")["resources"]["slot"] for run in SEEDS}
    assert slots_used == {0, 1}  # both slots used: they ran at once
    seq_rows, par_rows = (json.loads((tmp_path / r / "tables.json").read_text())["rows"] for r in ("seq", "par"))
    assert [r["OA"] for r in seq_rows] == [r["OA"] for r in par_rows]


@pytest.mark.slow  # parallel reproduce in fresh processes: `make test-all` only
def test_a_slot_with_fewer_cores_than_threads_gives_the_in_process_numbers(tmp_path):
    """`-- --threads 2` in a `--jobs 2` slot pinned to one core: the run still computes with 2 threads (a warning
    in cli.log says it is slower), so its numbers are those of the in-process run with 2 threads."""
    argv = ["--quick", "--seeds", "1", "--variants", "lidar_only", "--epochs", "2", "--maps", "none", "--no-wandb"]
    run, jobs = "synthetic-quick/lidar_only/seed0", str(max(2, len(usable_cpus())))  # one core per slot
    assert reproduce.main([*argv, "--results", str(tmp_path / "seq"), "--", *TINY, "--threads", "2"]) == 0
    assert reproduce.main([*argv, "--jobs", jobs, "--results", str(tmp_path / "par"), "--", *TINY,
                           "--threads", "2"]) == 0
    seq, par = (_read(tmp_path / r, run, "test_metrics.json") for r in ("seq", "par"))
    assert seq["confusion_matrix"] == par["confusion_matrix"] and seq["OA"] == par["OA"]
    assert seq["environment"]["threads"] == par["environment"]["threads"] == 2
    info = _read(tmp_path / "par", run, "run.json")
    assert info["threads"] == 2 and len(info["resources"]["cpus"]) == 1 and par["environment"]["cpu_cores"] == 1
    assert "--threads 2 but this process may use only 1 CPU core" in (tmp_path / "par" / run / "cli.log").read_text()


class _Fake(Subprocess):
    """Children that sleep or fail instead of fitting: the pool's bookkeeping, in seconds."""

    def start(self, cli_args, run_dir, env=None, cpus=()):
        import subprocess

        code = {"fail": "import sys; sys.exit(3)", "slow": "import time; time.sleep(60)"}.get(cli_args[0], "pass")
        (run_dir / "cli.log").write_text(f"error: {cli_args[0]} run\n" if cli_args[0] == "fail" else "")
        return subprocess.Popen([sys.executable, "-c", code], start_new_session=True, env=env)


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path):
    done: list[tuple[str, bool, str]] = []
    work = {name: tmp_path / name for name in ("fail", "ok1", "ok2", "ok3")}
    for d in work.values():
        d.mkdir()
    run_pool(list(work), 2, _Fake(), lambda name, slot: ((name,), work[name]),
             lambda name, ok, error, wall, slot: done.append((name, ok, error)), lambda *a: None, poll_s=0.05)
    assert sorted(n for n, ok, _ in done if ok) == ["ok1", "ok2", "ok3"]
    (failed,) = [(n, e) for n, ok, e in done if not ok]
    assert failed[0] == "fail" and "exit code 3" in failed[1] and "error: fail run" in failed[1]


def test_an_interrupt_stops_every_running_child_and_marks_it(tmp_path):
    work = {name: tmp_path / name for name in ("slow", "slow2", "third")}
    for d in work.values():
        d.mkdir()
    started: list[int] = []
    interrupted: list[str] = []

    class Recording(_Fake):
        def start(self, cli_args, run_dir, env=None, cpus=()):
            proc = super().start(("slow",), run_dir, env, cpus)
            started.append(proc.pid)
            return proc

    def launch(name, slot):
        if len(started) == 2:  # two children running, a third about to start: the runner gets Ctrl-C
            raise KeyboardInterrupt("test")
        return (name,), work[name]

    with pytest.raises(KeyboardInterrupt):
        run_pool(["slow", "slow2", "third"], 3, Recording(grace_s=2), launch,
                 lambda *a: None, lambda name, wall, slot: interrupted.append(name), poll_s=0.05)
    assert sorted(interrupted) == ["slow", "slow2"]
    time.sleep(0.2)
    assert not [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("argv, expected", [
    (["--jobs", "2", "--launcher", "inprocess"], "cannot be combined with --launcher inprocess"),
    (["--jobs", "2", "--launcher", "slurm"], "--slurm-array-parallelism"),
    (["--no-wait"], "--no-wait only apply with --launcher slurm"),
    (["--slurm-partition", "gpu", "--launcher", "subprocess"], "--slurm-partition only apply with --launcher slurm"),
    (["--jobs", "0"], "--jobs"),
])
def test_contradictory_options_are_refused(tmp_path, capsys, argv, expected):
    with pytest.raises(SystemExit) as e:
        reproduce.main(["--quick", "--results", str(tmp_path / "r"), *argv])
    assert e.value.code == 2 and expected in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_bad_slurm_extra_names_the_option():
    assert slurm.parse_extra(["qos=high", "--mail-type=END"]) == {"qos": "high", "mail_type": "END"}
    with pytest.raises(slurm.ConfigError, match="--slurm-extra 'qos'.*KEY=VALUE"):
        slurm.parse_extra(["qos"])


GOOD = {"scene": "synthetic", "OA": 80.0, "AA": 75.0, "kappa": 70.0, "per_class_accuracy": {"a": 90.0, "b": None},
        "confusion_matrix": [[9, 1], [0, 0]], "num_test_pixels": 10, "seed": 0, "split": {"name": "per_class:20"},
        "trained": {"global_step": 12, "epochs": 2}}


def _run() -> Run:
    setting = Setting("synthetic-quick", "synthetic", "per_class:20", ())
    return Run(setting, VARIANTS["lidar_only"], 0, False, ("fit",), (), Fingerprint("a" * 12, "a" * 64, {"config": {}}))


def test_a_folder_owned_by_a_queued_slurm_job_is_never_cleared_then_collected(tmp_path, monkeypatch):
    """While squeue lists the job, no launcher (not even --force) touches its folder; once it ended, the run is
    recorded done only with submitit's success result and metrics that pass the done-check."""
    run, jobs = _run(), tmp_path / "slurm"
    state = {"42_0": "RUNNING"}
    monkeypatch.setattr(slurm, "states", lambda ids: {j: state[j] for j in ids if j in state})
    with ResultsLock(tmp_path / "R") as lock:
        registry = Registry(tmp_path / "R", lock)
        d = registry.start(run, "slurm")
        registry.submitted(run, "42_0", jobs)
        (d / "partial.txt").write_text("being written by the job")
        runs = Dispatch(registry, [run], force=True)
        assert runs.collect() == 1 and runs.queued == ["synthetic-quick/lidar_only/seed0: SLURM job 42_0 RUNNING"]
        assert runs.prepare(run, "subprocess") is None and (d / "partial.txt").exists()
        with pytest.raises(RuntimeError, match="SLURM job may still write"):
            registry.clear(run, "submitted")

        state["42_0"] = "COMPLETED"  # ended, but submitit left no result: a failure naming the job
        assert runs.collect() == 0 and "SLURM job 42_0 ended without a result" in runs.failures[0]
        assert registry.state(run)[0] == "attempt"

        registry.submitted(run, "42_0", jobs)  # resubmitted; this time it succeeded
        result = jobs / "42_0" / "42_0_0_result.pkl"
        result.parent.mkdir(parents=True)
        result.write_bytes(pickle.dumps(("success", {"job_wall_s": 12.5, "resumed_from": None, "restarts": 0})))
        (d / "test_metrics.json").write_text(json.dumps(GOOD))
        runs.failures.clear()
        assert runs.collect() == 0 and runs.failures == []
        info = registry.read(d)
        assert info["status"] == "done" and info["wall_s"] == 12.5 and info["slurm"]["state"] == "COMPLETED"


def test_slurm_run_job_resumes_from_last_checkpoint_and_reports_failures(tmp_path, monkeypatch):
    """RunJob (what each SLURM array task runs), without SLURM: a restart adds --ckpt_path last.ckpt; the child
    gets the task's CPU count and Lightning's 'interactive' switch; a failure raises with the CLI's error line."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    rc = {"value": 0}

    def fake_call(cmd, stdout, stderr, env, preexec_fn):
        calls.append((cmd, env))
        stdout.write(b"error: the CLI's one-line message\n" if rc["value"] else b"fine\n")
        return rc["value"]

    monkeypatch.setattr(slurm.subprocess, "call", fake_call)
    monkeypatch.setattr(slurm, "PREEMPT_GRACE_S", 0.0)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    out = slurm.RunJob()(["fit", "--seed_everything", "0"], str(tmp_path))
    assert calls[-1][0][-3:] == ["fit", "--seed_everything", "0"] and out["resumed_from"] is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    out = slurm.RunJob()(["fit"], str(tmp_path))
    cmd, env = calls[-1]
    assert cmd[-3:] == ["fit", "--ckpt_path", str(tmp_path / "checkpoints" / "last.ckpt")]
    assert out["resumed_from"] == str(tmp_path / "checkpoints" / "last.ckpt") and out["restarts"] == 1
    assert env["SLURM_JOB_NAME"] == "interactive" and env["OMP_NUM_THREADS"] == "3"
    log = (tmp_path / "cli.log").read_text()
    assert "(restart 1)] start" in log and "(restart 1)] resuming from" in log  # appended, one line per start
    for code in (1, 143):  # a plain failure, and a SIGTERM'd child with no requeue coming
        rc["value"] = code
        with pytest.raises(RuntimeError, match=f"exit code {code}: error: the CLI's one-line message"):
            slurm.RunJob()(["fit"], str(tmp_path))
