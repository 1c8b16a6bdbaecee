"""`reproduce --jobs N`: up to N runs at once, each a `python -m mmlgnet` child in a job slot with its own resources.

Slot k of N gets, on a machine with visible GPUs, one GPU round robin over them (CUDA_VISIBLE_DEVICES=<that
one>), and everywhere a disjoint share of the CPU cores this process may use: pinned (sched_setaffinity) and
told so (OMP_NUM_THREADS / MKL_NUM_THREADS, for what loads before the run's options are read). The run's own
thread count is its `--threads` option (mmlgnet.training.runtime), not the slot's cores: the CLI applies it first thing,
in a slot, in-process or under SLURM alike (a slot with fewer cores is slower, never different). A run is
started when a slot is free; its result does not depend on the slot (same seeds, same numbers, every seed of
the quick repro: test_reproduce_jobs.py).

Only the runner's main thread starts children and records their outcome, under the results lock (the registry
is not touched concurrently). A failing run is recorded and the others go on; Ctrl-C or SIGTERM stops every
child's process group and marks each running run `interrupted`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from mmlgnet.repro.executors import Subprocess, stop

T = TypeVar("T")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Slot:
    """The resources of one job slot: environment overrides and the CPU cores it is pinned to."""

    index: int
    env: dict[str, str] = field(default_factory=dict)
    cpus: tuple[int, ...] = ()

    def describe(self) -> dict[str, object]:
        return {"slot": self.index, **self.env, "cpus": list(self.cpus)}


def visible_gpus() -> list[str]:
    """The GPUs a child may use, as CUDA_VISIBLE_DEVICES entries: that variable's list when set, else 0..n-1."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    except Exception:  # noqa: BLE001 (no usable CUDA: CPU slots)
        return []


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def slots(n_jobs: int, gpus: Sequence[str] | None = None, cpus: Sequence[int] | None = None) -> list[Slot]:
    """N slots: GPU k mod len(gpus) each (when there are GPUs) and a disjoint block of the cores (shared when
    there are fewer cores than slots); with one slot nothing is changed (the sequential path's resources)."""
    gpus = visible_gpus() if gpus is None else list(gpus)
    cpus = usable_cpus() if cpus is None else list(cpus)
    if n_jobs <= 1:
        return [Slot(0)]
    per = max(1, len(cpus) // n_jobs)
    out = []
    for k in range(n_jobs):
        block = tuple(cpus[k * per:(k + 1) * per]) if len(cpus) >= n_jobs else (cpus[k % len(cpus)],)
        env = {v: str(len(block)) for v in THREAD_VARS}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
        out.append(Slot(k, env, block))
    return out


def run_pool(items: Iterable[T], n_jobs: int, executor: Subprocess,
             launch: Callable[[T, Slot], tuple[Sequence[str], Path] | None],
             done: Callable[[T, bool, str, float, Slot], None],
             interrupted: Callable[[T, float, Slot], None], poll_s: float = 0.2) -> None:
    """Run `items` with up to n_jobs children at once.

    launch(item, slot) prepares the item (its run folder) and returns (cli_args, run_dir), or None when there
    is nothing to run; done(item, ok, error, wall_s, slot) records an outcome; on KeyboardInterrupt every
    running child is stopped and interrupted(item, wall_s, slot) called for it before the interrupt goes on.
    """
    queue = deque(items)
    free = deque(slots(n_jobs))
    env = dict(os.environ)
    active: dict[int, tuple[T, subprocess.Popen[bytes], Path, float, Slot]] = {}
    try:
        while queue or active:
            while queue and free:
                item, slot = queue.popleft(), free.popleft()
                prepared = launch(item, slot)
                if prepared is None:
                    free.appendleft(slot)
                    continue
                cli_args, run_dir = prepared
                try:
                    proc = executor.start(cli_args, run_dir, {**env, **slot.env}, slot.cpus)
                except BaseException:  # an interrupt while starting: the child is stopped already
                    interrupted(item, 0.0, slot)
                    raise
                active[proc.pid] = (item, proc, run_dir, time.time(), slot)
            for pid, (item, proc, run_dir, t0, slot) in list(active.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del active[pid]
                free.append(slot)
                ok, error = executor.outcome(rc, run_dir)
                done(item, ok, error, time.time() - t0, slot)
            if active:
                time.sleep(poll_s)
    except BaseException:
        for item, proc, _, t0, slot in active.values():
            stop(proc, executor.grace_s)
            interrupted(item, time.time() - t0, slot)
        raise
