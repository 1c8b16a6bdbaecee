"""What decides a run's numbers besides its config: the CPU thread count (a run option) and the compute environment.

CPU kernels (matrix products, convolutions, reductions) split their work over torch's intra-op threads and add
the partial results in an order that depends on how many threads there are: the same seed gives other weights,
and after some epochs another test pixel or two, with 1 thread than with 2. So the thread count is a property of
the run, `--threads N` (default 1: a fixed number, never "however many cores this process was given"), applied
right after the options are parsed and before anything is built or computed, whoever starts the run: by hand,
`reproduce` in-process, a `--jobs N` slot pinned to fewer cores, a SLURM job. It is also exported as
OMP_NUM_THREADS / MKL_NUM_THREADS, so the processes the run starts itself (DDP ranks) use it and Lightning does
not replace it by its own cores-per-process guess. More threads than cores is slower, never different (a warning
says so). Inter-op threads are left alone: they only run independent operations side by side (no kernel adds in
another order) and torch allows setting them only once per process.

`environment()` records, in each run's test_metrics.json, what the run cannot choose and that can still change
its numbers: the device (CPU model and the instruction set torch dispatches to, GPU name), torch's version and
build, the CUDA / cuDNN versions, whether deterministic algorithms were on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from collections.abc import Iterator
from functools import cache
from typing import Any

import torch

DEFAULT_THREADS = 1
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREADS_HELP = (
    "CPU threads of this run's computations (torch.set_num_threads; also OMP_NUM_THREADS / MKL_NUM_THREADS for "
    "the processes it starts). Part of the run, not of the machine: CPU kernels add partial results in an order "
    "that depends on it, so the same seed gives the same numbers only with the same --threads. Applied the same "
    "under every launcher (more threads than cores: slower, same numbers); recorded in test_metrics.json and in "
    "the reproduce fingerprint"
)


def add_threads_argument(parser: Any) -> None:
    """`--threads N` (a positive integer, default DEFAULT_THREADS) on a LightningCLI parser."""
    from jsonargparse.typing import PositiveInt

    parser.add_argument("--threads", type=PositiveInt, default=DEFAULT_THREADS, help=THREADS_HELP)


def usable_cores() -> int:
    """How many CPU cores this process may run on (its affinity mask; all cores where there is none)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def apply_threads(threads: int | None) -> int:
    """Make `threads` (None: DEFAULT_THREADS) the thread count of this process and of the processes it starts."""
    n = DEFAULT_THREADS if threads is None else int(threads)
    torch.set_num_threads(n)
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    cores = usable_cores()
    if n > cores:
        from lightning.pytorch.utilities import rank_zero_warn

        rank_zero_warn(f"--threads {n} but this process may use only {cores} CPU core(s): the run is slower, its "
                       "numbers are the same (they depend on --threads, not on the cores).")
    return n


@contextlib.contextmanager
def restored_threads() -> Iterator[None]:
    """Within the block a run may change the thread count (apply_threads); afterwards the caller's comes back."""
    before = torch.get_num_threads()
    env = {var: os.environ.get(var) for var in THREAD_ENV}
    try:
        yield
    finally:
        torch.set_num_threads(before)
        for var, value in env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what the platform module says)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown"


def cudnn_version() -> int | None:
    """The cuDNN library's version as torch loads it (None: a build without cuDNN, or no library found)."""
    try:
        return torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except (RuntimeError, OSError):
        return None


def device_name(device: torch.device | str | None) -> str:
    """`cuda: <GPU name>` for a CUDA device, `cpu: <CPU model>` for the CPU, else the device type."""
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu: {cpu_model()}"
    return device.type


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """What this run computed with, beyond its config (test_metrics.json `environment`).

    `threads` and `device` are the run's; the rest is the machine and the libraries: numbers are guaranteed
    equal only where all of it is equal (see the README, "Results you can trust").
    """
    return {
        "threads": torch.get_num_threads(),
        "device": device_name(device),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch dispatches to (AVX2, ...)
        "cpu_cores": usable_cores(),  # speed only
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cudnn": cudnn_version(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "host": socket.gethostname(),
    }
