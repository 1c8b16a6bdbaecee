"""reproduce as processes: two runners on one results folder, and a killed runner with the subprocess launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from mmlgnet.repro import reproduce
from mmlgnet.repro.checks import metrics_problems, read_strict_json

TINY = ["--data.synthetic_height", "32", "--data.synthetic_width", "48", "--data.patch_size", "5",
        "--model.hsi_widths", "[8, 16]", "--model.lidar_widths", "[8, 16]", "--model.fusion_dim", "32"]
SEED0 = Path("synthetic-quick") / "lidar_only" / "seed0"


def _argv(results: Path, *more: str) -> list[str]:
    return ["--quick", "--seeds", "1", "--variants", "lidar_only", "--maps", "none", "--no-wandb",
            "--results", str(results), *more, "--", *TINY]


def _until(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"runner exited ({proc.returncode}) before {what}: {proc.stdout.read() if proc.stdout else ''}")
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _holder(results: Path) -> int | None:
    try:
        return json.loads((results / ".lock.owner").read_text()).get("pid")
    except (OSError, ValueError):
        return None


@pytest.mark.slow  # a reproduce runner in a fresh process: `make test-all` only
def test_two_runners_on_one_results_folder(tmp_path, capsys):
    """Issue 7.2: a second runner refuses at once naming the holder, a third waits (--wait-lock); nothing corrupted.

    The first runner is paused (SIGSTOP) while it holds the lock, so the others meet it there whatever the load.
    """
    results = tmp_path / "R"
    first = subprocess.Popen([sys.executable, "-m", "mmlgnet.reproduce", *_argv(results, "--epochs", "1")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    paused = psutil.Process(first.pid)
    try:
        _until(lambda: _holder(results) == first.pid, 300, "the first runner to hold the lock", first)
        paused.suspend()
        assert reproduce.main(_argv(results, "--epochs", "1")) == 2
        err = capsys.readouterr().err
        assert f"is in use now by another reproduce runner: pid {first.pid}" in err and "--wait-lock" in err

        third: list[int] = []
        waiter = threading.Thread(target=lambda: third.append(reproduce.main(
            _argv(results, "--epochs", "1", "--wait-lock", "600"))))
        waiter.start()
        seen = ""

        def waiting() -> bool:
            nonlocal seen
            seen += capsys.readouterr().err
            return f"in use by pid {first.pid}" in seen and "waiting up to 600 s" in seen

        _until(waiting, 120, "the third runner to wait for the lock")
        paused.resume()
        waiter.join(timeout=600)
        assert first.wait(timeout=600) == 0, first.stdout.read() if first.stdout else ""
        assert third == [0] and "done already, skipped" in capsys.readouterr().out  # reused the first one's run
    finally:
        if first.poll() is None:
            paused.resume()
            first.kill()
    run = read_strict_json(results / SEED0 / "run.json")
    assert run["status"] == "done" and run["runner"]["pid"] == first.pid
    assert metrics_problems(results / SEED0 / "test_metrics.json", "synthetic", "per_class:20", 0) == []
    summary = read_strict_json(results / "reproduce.json")
    assert summary["status"] == "finished" and summary["runs"] == [
        {"run": "synthetic-quick/lidar_only/seed0", "status": "done", "fingerprint": run["fingerprint"]}]
    assert [p.name for p in (results / SEED0.parent).iterdir()] == ["seed0"]  # nothing moved aside or half-done


@pytest.mark.slow  # kill: a runner and its child in fresh processes: `make test-all` only
def test_killed_runner_leaves_no_orphan_and_no_done_run(tmp_path):
    """Issue 7.11b: the child runs in its own process group and is stopped with the runner; run `interrupted`."""
    results = tmp_path / "R"
    runner = subprocess.Popen([sys.executable, "-m", "mmlgnet.reproduce",
                               *_argv(results, "--epochs", "1000", "--launcher", "subprocess")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _until(lambda: (results / SEED0 / "config.yaml").is_file(), 300, "the child to write its run folder", runner)
        children = psutil.Process(runner.pid).children(recursive=True)
        assert any("mmlgnet" in " ".join(c.cmdline()) for c in children)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=120) == 130
    finally:
        if runner.poll() is None:
            runner.kill()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"orphaned: {[c.pid for c in alive]}"
    run = read_strict_json(results / SEED0 / "run.json")
    assert run["status"] == "interrupted" and not (results / SEED0 / "test_metrics.json").exists()
    assert read_strict_json(results / "reproduce.json")["runs"][0]["status"] == "interrupted"


def test_interrupted_subprocess_executor_stops_the_child_group(tmp_path):
    """Ctrl-C (SIGINT -> KeyboardInterrupt) while the executor waits: the child is stopped before it re-raises."""
    from mmlgnet.repro.executors import Subprocess

    seen: list[psutil.Process] = []

    def interrupt() -> None:  # as soon as the child exists (it is still importing torch: seconds)
        _until(lambda: bool(psutil.Process().children()), 60, "the child")
        seen.extend(psutil.Process().children(recursive=True))
        if all(p.is_running() for p in seen):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        Subprocess(grace_s=5)(["fit", "--print_config"], tmp_path)  # writes nothing even if it got that far
    _, alive = psutil.wait_procs(seen, timeout=5)
    assert seen and alive == []


def test_stop_ends_the_group_and_descendants_that_left_it():
    from mmlgnet.repro.executors import stop

    script = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
              "start_new_session=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    _until(lambda: bool(psutil.Process(proc.pid).children()), 60, "the grandchild")
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    stop(proc, grace_s=5)
    _, alive = psutil.wait_procs(family, timeout=5)
    assert proc.returncode is not None and alive == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_in_process_run_stops_the_loop(tmp_path, sig):
    """Lightning turns Ctrl-C during fit into sys.exit(1): the run must still be `interrupted` and the loop stop."""
    results = tmp_path / "R"
    # 1000 epochs: still running when the signal comes; max_time: a loop that wrongly goes on ends in bounded time
    argv = _argv(results, "--epochs", "1000", "--launcher", "inprocess") + ["--trainer.max_time", "00:00:00:20"]
    argv[argv.index("--seeds") + 1] = "2"
    previous = signal.getsignal(signal.SIGTERM)

    returned = threading.Event()
    # SIGINT must start as Python's own handler: one left ignored (by Lightning, after an interrupted fit of an
    # earlier test) would swallow the signal (tests/conftest.py restores it between tests)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def interrupt() -> None:
        # signal only a run that is going: never the test process after reproduce.main returned (a late SIGTERM
        # would kill pytest itself, in whichever test runs then)
        end = time.monotonic() + 300
        while not (results / SEED0 / "config.yaml").is_file() and not returned.is_set() and time.monotonic() < end:
            time.sleep(0.1)
        if not returned.is_set():
            os.kill(os.getpid(), sig)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        code = reproduce.main(argv)
    finally:
        returned.set()
    assert code == 130, f"reproduce ended with {code} before or without the signal"
    assert read_strict_json(results / SEED0 / "run.json")["status"] == "interrupted"
    assert not (results / SEED0.parent / "seed1").exists()  # the loop stopped
    assert [r["status"] for r in read_strict_json(results / "reproduce.json")["runs"]] == ["interrupted", "not run"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Lightning left it ignored
    assert signal.getsignal(signal.SIGTERM) == previous
