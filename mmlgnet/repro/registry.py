"""The results folder as a registry: a run.json per run attempt, its state, an atomic "done", safe clean-up.

Layout: `<results>/<setting>/<variant>/seed<k>/` holds one run attempt: `run.json` (written by the runner
first, status `running`, then `done` / `failed` / `interrupted`), `fingerprint.json` (what the fingerprint
was computed from), the CLI's outputs (test_metrics.json, checkpoints, metrics.csv, maps/) and, with the
subprocess launcher, `cli.log`. A run is `done` only after its test_metrics.json passed `metrics_problems`.

Each file of a run folder is read once per invocation (one Registry): the registry remembers what it read and
what it wrote, and forgets a folder when a new attempt starts there or it is moved aside. A new invocation reads
again, so edits made between invocations are seen.

Clean-up rules: a finished run (stale fingerprint, failed re-check, or --force) is never deleted, it is moved
aside to `seed<k>.<why>-<time>/`; a folder without our run.json (not created by a run attempt) is moved aside
too; only an unfinished attempt we recorded (`running`/`failed`/`interrupted`) is deleted. Both happen only
while the results lock is held.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mmlgnet.atomic import write_json
from mmlgnet.repro.checks import metrics_problems, read_strict_json
from mmlgnet.repro.fingerprint import code_digest, run_environment
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import Run, run_dir

CREATED_BY = "mmlgnet.reproduce"
RUN_DIR_NAME = re.compile(r"seed\d+")
State = Literal["absent", "done", "stale", "invalid", "attempt", "foreign", "submitted"]
ATTEMPT_STATUSES = ("running", "failed", "interrupted")


@dataclass(frozen=True)
class Finished:
    """A finished run as the tables see it."""

    setting: str
    variant: str
    seed: int
    run: dict[str, Any]  # run.json
    metrics: dict[str, Any]  # test_metrics.json


class Registry:
    """The run folders of one results folder, for one invocation (see the module docstring: each file read once)."""

    def __init__(self, results: Path, lock: ResultsLock | None = None) -> None:
        self.results, self.lock = Path(results), lock
        self._read: dict[Path, Any] = {}  # file -> its strict JSON, or the OSError/ValueError reading it raised

    def dir(self, run: Run) -> Path:
        return run_dir(self.results, run.setting, run.variant, run.seed)

    def load(self, path: Path) -> Any:
        """read_strict_json(path), read once: later calls return (or raise) what the first one did."""
        path = Path(path)
        if path not in self._read:
            try:
                self._read[path] = read_strict_json(path)
            except (OSError, ValueError) as e:
                self._read[path] = e
        got = self._read[path]
        if isinstance(got, (OSError, ValueError)):
            raise got
        return got

    def _forget(self, directory: Path) -> None:
        """Drop what was read in `directory` (a new attempt writes there, or it was moved aside or removed)."""
        for path in [p for p in self._read if p.parent == directory]:
            del self._read[path]

    def _write_run(self, directory: Path, info: dict[str, Any]) -> None:
        write_json(directory / "run.json", info)  # atomic: readers see the old state or the new one, never half
        self._read[directory / "run.json"] = info

    def read(self, directory: Path) -> dict[str, Any] | None:
        """The run.json of `directory` when a run attempt of ours wrote it, else None."""
        try:
            info = self.load(directory / "run.json")
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and info.get("created_by") == CREATED_BY else None

    def _problems(self, run: Run) -> list[str]:
        return metrics_problems(self.dir(run) / "test_metrics.json", run.setting.scene, run.setting.protocol, run.seed,
                                load=self.load)

    def state(self, run: Run) -> tuple[State, str]:
        """(state, reason) of the run's folder against the plan: only `done` may be reused."""
        d = self.dir(run)
        if not d.exists():
            return "absent", ""
        info = self.read(d)
        if info is None:
            return "foreign", f"{d} has no run.json written by a reproduce run attempt"
        if info.get("status") == "submitted":  # a SLURM job may be writing into it: never cleared from here
            return "submitted", f"submitted to SLURM job {(info.get('slurm') or {}).get('job_id')}"
        if info.get("status") != "done":
            return "attempt", f"an earlier attempt ended {info.get('status')!r}"
        if info.get("fingerprint_sha256") != run.fingerprint.full:
            return "stale", f"settings changed (fingerprint {info.get('fingerprint')} -> {run.fingerprint.short})"
        problems = self._problems(run)
        if problems:
            return "invalid", f"its test_metrics.json no longer passes the check: {'; '.join(problems)}"
        if info.get("code_sha256") != code_digest():
            return "done", "made by other package sources (not in the fingerprint; --force reruns)"
        return "done", ""

    def clear(self, run: Run, state: State) -> str:
        """Make room for a new attempt; returns what was done. Finished or foreign folders are moved aside."""
        d = self.dir(run)
        if state == "absent":
            return ""
        if state == "submitted":
            raise RuntimeError(f"refusing to clear {d}: a SLURM job may still write into it")
        if self.lock is None or not self.lock.held:
            raise RuntimeError(f"refusing to touch {d} without holding the results lock")
        self._forget(d)
        if state == "attempt":
            shutil.rmtree(d)
            return "unfinished attempt removed"
        aside = _aside_name(d, {"done": "replaced", "foreign": "foreign"}.get(state, state))
        os.replace(d, aside)
        return f"old folder kept as {aside}"

    def start(self, run: Run, launcher: str, **more: Any) -> Path:
        """Create the run folder and record the attempt (status `running`) before anything runs."""
        d = self.dir(run)
        d.mkdir(parents=True)
        self._forget(d)
        write_json(d / "fingerprint.json", {"fingerprint": run.fingerprint.short,
                                            "sha256": run.fingerprint.full, **run.fingerprint.payload})
        self._write_run(d, self.describe(run, "running", launcher=launcher, **more))
        return d

    def submitted(self, run: Run, job_id: str, folder: Path) -> None:
        """Record that SLURM job `job_id` (submitit files in `folder`) now owns the run folder."""
        info = self.describe(run, "submitted", launcher="slurm", slurm={"job_id": job_id, "folder": str(folder)},
                             submitted=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self._write_run(self.dir(run), info)

    def finish(self, run: Run, status: str, wall_s: float, error: str = "", launcher: str = "",
               **more: Any) -> dict[str, Any]:
        """Record how the attempt ended. `done` is checked here: failing metrics turn it into `failed`."""
        d = self.dir(run)
        self._forget(d)  # the attempt wrote its outputs since: read them now, once
        if status == "done":
            problems = self._problems(run)
            if problems:
                status, error = "failed", "not a finished result: " + "; ".join(problems)
        more.setdefault("environment", run_environment(d, self.load))  # what it computed on (training.runtime)
        info = self.describe(run, status, launcher=launcher, error=error, wall_s=round(wall_s, 2),
                             finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **more)
        self._write_run(d, info)
        return info

    def describe(self, run: Run, status: str, **more: Any) -> dict[str, Any]:
        return {"status": status, "created_by": CREATED_BY, "setting": run.setting.slug, "scene": run.setting.scene,
                "protocol": run.setting.protocol, "variant": run.variant.name, "seed": run.seed,
                "fingerprint": run.fingerprint.short, "fingerprint_sha256": run.fingerprint.full,
                "threads": run.fingerprint.threads,
                "overrides": list(run.overrides), "max_epochs": run.fingerprint.max_epochs, "maps": run.maps,
                "runner": {"pid": os.getpid(), "host": socket.gethostname()}, "code_sha256": code_digest(),
                "command": "python -m mmlgnet " + shlex.join(run.cli_args), **more}

    def finished(self) -> Iterator[Finished]:
        """Every run folder `<setting>/<variant>/seed<k>` of ours with status done and readable metrics."""
        for d in sorted(self.results.glob("*/*/seed*")):
            if not (d.is_dir() and RUN_DIR_NAME.fullmatch(d.name)):
                continue  # seed<k>.stale-<time> and other folders moved aside
            info = self.read(d)
            if info is None or info.get("status") != "done":
                continue
            try:
                metrics = self.load(d / "test_metrics.json")
            except (OSError, ValueError):
                continue
            yield Finished(d.parent.parent.name, d.parent.name, int(d.name[4:]), info, metrics)


def _aside_name(d: Path, why: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside, n = d.with_name(f"{d.name}.{why}-{stamp}"), 1
    while aside.exists():
        aside, n = d.with_name(f"{d.name}.{why}-{stamp}-{n}"), n + 1
    return aside


def summary(registry: Registry, runs: list[Run]) -> list[dict[str, Any]]:
    """Each planned run's state as its run.json says (reproduce.json lists this: it agrees by construction)."""
    out = []
    for run in runs:
        info = registry.read(registry.dir(run)) or {}
        out.append({"run": run.key, "status": info.get("status", "not run"), "fingerprint": info.get("fingerprint")})
    return out
