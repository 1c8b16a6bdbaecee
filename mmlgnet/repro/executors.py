"""Executors: run one `python -m mmlgnet ...` in this process or in a child process; one interface.

An executor returns (ok, error text) and lets KeyboardInterrupt through, so the runner can mark the run
`interrupted`. The subprocess executor starts the child in its own session (process group): a Ctrl-C or
SIGTERM of the runner is forwarded as SIGTERM to the whole group (SIGKILL after a grace period) and waited
for, so no orphan goes on writing into the run folder; on Linux the child is also told to die with its parent
(PR_SET_PDEATHSIG), which covers a runner killed by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

import psutil

from mmlgnet.repro.fingerprint import IN_PROCESS_ARGS_WARNING


class Executor(Protocol):
    name: str

    def __call__(self, cli_args: Sequence[str], run_dir: Path) -> tuple[bool, str]: ...


class InProcess:
    """`mmlgnet.cli.main(cli_args)` in this process: no start-up cost; a crash is recorded, not fatal.

    Lightning turns a Ctrl-C (or our SIGTERM, see `sigterm_as_interrupt`) during fit into `sys.exit(1)` and
    leaves SIGINT ignored; here that is turned back into KeyboardInterrupt and the SIGINT handler restored, so
    an interrupted run is marked `interrupted` and the loop stops instead of going on with the next run.
    """

    name = "inprocess"

    def __call__(self, cli_args: Sequence[str], run_dir: Path) -> tuple[bool, str]:
        from mmlgnet.cli import main
        from mmlgnet.tracking import wandb_logger

        sigint = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        try:
            with warnings.catch_warnings():  # both expected here, not news: run.json is in the run folder already,
                warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
                warnings.filterwarnings("ignore", message=IN_PROCESS_ARGS_WARNING)  # and sys.argv is reproduce's
                main(list(cli_args))
            return True, ""
        except KeyboardInterrupt:
            wandb_logger.finish(exit_code=130)
            raise
        except BaseException as e:  # noqa: BLE001 (SystemExit from argument errors included): record, go on
            if _interrupted(e):
                wandb_logger.finish(exit_code=130)
                raise KeyboardInterrupt(str(_interrupted(e))) from e
            wandb_logger.finish(exit_code=1)
            return False, f"{type(e).__name__}: {e}"
        finally:
            if sigint is not None:
                signal.signal(signal.SIGINT, sigint)


def _interrupted(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt behind `error` (Lightning's sys.exit(1) raised while handling one), if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Subprocess:
    """`python -m mmlgnet cli_args` in its own process group, output in `<run_dir>/cli.log`; isolates crashes."""

    name = "subprocess"

    def __init__(self, grace_s: float = 10.0) -> None:
        self.grace_s = grace_s

    def __call__(self, cli_args: Sequence[str], run_dir: Path) -> tuple[bool, str]:
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = self.start(cli_args, run_dir)
            rc = proc.wait()
        except BaseException:
            if proc is not None:
                stop(proc, self.grace_s)
            raise
        return self.outcome(rc, run_dir)

    def start(self, cli_args: Sequence[str], run_dir: Path, env: dict[str, str] | None = None,
              cpus: Sequence[int] = ()) -> subprocess.Popen[bytes]:
        """Start the child (environment `env`, pinned to `cpus` when given) and return at once."""
        with open(run_dir / "cli.log", "wb") as out:  # the child holds its own copy of the handle
            with deferred_signals() as received:  # a Ctrl-C inside Popen would lose the child's handle
                proc = subprocess.Popen([sys.executable, "-m", "mmlgnet", *cli_args], stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                        preexec_fn=functools.partial(child_setup, tuple(cpus)))
        if received:
            stop(proc, self.grace_s)
            raise KeyboardInterrupt(f"signal {signal.Signals(received[0]).name}")
        return proc

    @staticmethod
    def outcome(rc: int, run_dir: Path) -> tuple[bool, str]:
        """(ok, error text) of a child that exited with `rc`."""
        log = run_dir / "cli.log"
        return (True, "") if rc == 0 else (False, f"exit code {rc}: {_last_line(log)} (log: {log})")


EXECUTORS: dict[str, type[InProcess] | type[Subprocess]] = {"inprocess": InProcess, "subprocess": Subprocess}


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the child's process group (and any descendant that left it), SIGKILL what is left after grace_s."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)  # start_new_session: the group id is the child's pid
    for p in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(descendants, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (like Ctrl-C) so runs are marked `interrupted`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Within the block SIGINT and SIGTERM are only noted (in the yielded list); the caller acts on them after."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def child_setup(cpus: tuple[int, ...] = ()) -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl), and the CPU share of its job slot."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG = 1
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if ln.startswith("error:")]  # the CLI's one-line user error, when there is one
    return (errors or lines or ["no output"])[-1][:300]
