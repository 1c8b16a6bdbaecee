"""How the plan's runs are carried out: one after another, N at once (`--jobs`), or as SLURM jobs.

Every path goes through the same two steps, always in the runner's main thread and under the results lock:
`prepare` (reuse a finished run with the plan's fingerprint, else clear the folder and record the attempt) and
`record` (the outcome, checked by the registry's done-check). SLURM runs submitted by an earlier call are
collected first (`collect`), whatever the launcher, so no path ever clears a folder a queued job owns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from mmlgnet.repro.compare.costs import run_costs
from mmlgnet.repro.executors import Executor, Subprocess
from mmlgnet.repro.jobs import Slot, run_pool
from mmlgnet.repro.plan import Run
from mmlgnet.repro.registry import Registry


def say(line: str) -> None:
    print(line, flush=True)


class Dispatch:
    """The runs of one invocation; `failures` collects one line per failed run, `queued` the SLURM runs left."""

    def __init__(self, registry: Registry, runs: Sequence[Run], force: bool) -> None:
        self.registry, self.runs, self.force = registry, list(runs), force
        self.failures: list[str] = []
        self.queued: list[str] = []
        self.tags = {run.key: f"[reproduce {i}/{len(runs)}] {run.key}" for i, run in enumerate(runs, 1)}

    # -- the two steps ------------------------------------------------------------------------------------------
    def prepare(self, run: Run, launcher: str, verb: str = "running", **more: object) -> Path | None:
        """The run folder of a new attempt (recorded `running`), or None when the run is reused or still queued."""
        tag = self.tags[run.key]
        state, reason = self.registry.state(run)
        if state == "submitted":
            say(f"{tag}: {reason}, still queued or running: left alone (scancel the job to stop it)")
            return None
        if state == "done" and not self.force:
            say(f"{tag}: done already, skipped (fingerprint {run.fingerprint.short}{'; ' + reason if reason else ''})")
            return None
        why = "--force" if state == "done" else reason
        note = self.registry.clear(run, state)
        say(f"{tag}: {verb} (fingerprint {run.fingerprint.short})" + (f"; {why}: {note}" if note else ""))
        return self.registry.start(run, launcher, **more)

    def record(self, run: Run, ok: bool, error: str, wall_s: float, launcher: str, **more: object) -> None:
        if ok:  # parameters, fit time, test throughput, read off the run folder (mmlgnet.repro.compare.costs)
            more.setdefault("costs", run_costs(self.registry.dir(run)))
        info = self.registry.finish(run, "done" if ok else "failed", wall_s, error, launcher, **more)
        say(f"{self.tags[run.key]}: {info['status']} in {info['wall_s']:.1f} s {info['error']}")
        if info["status"] != "done":
            self.failures.append(f"{run.key}: {info['error']}")

    # -- local -------------------------------------------------------------------------------------------------
    def sequential(self, executor: Executor) -> None:
        for run in self.runs:
            run_dir = self.prepare(run, executor.name)
            if run_dir is None:
                continue
            t0 = time.time()
            try:
                ok, error = executor(run.cli_args, run_dir)
            except KeyboardInterrupt:
                self.registry.finish(run, "interrupted", time.time() - t0, "interrupted (Ctrl-C or SIGTERM)",
                                     executor.name)
                raise
            self.record(run, ok, error, time.time() - t0, executor.name)

    def parallel(self, executor: Subprocess, n_jobs: int) -> None:
        """Up to n_jobs runs at once (mmlgnet.repro.jobs); each run.json records its slot's resources."""

        def launch(run: Run, slot: Slot) -> tuple[Sequence[str], Path] | None:
            run_dir = self.prepare(run, executor.name, resources=slot.describe())
            return None if run_dir is None else (run.cli_args, run_dir)

        def done(run: Run, ok: bool, error: str, wall_s: float, slot: Slot) -> None:
            self.record(run, ok, error, wall_s, executor.name, resources=slot.describe())

        def interrupted(run: Run, wall_s: float, slot: Slot) -> None:
            self.registry.finish(run, "interrupted", wall_s, "interrupted (Ctrl-C or SIGTERM)", executor.name,
                                 resources=slot.describe())

        run_pool(self.runs, n_jobs, executor, launch, done, interrupted)

    # -- SLURM -------------------------------------------------------------------------------------------------
    def collect(self) -> int:
        """Record every submitted run whose SLURM job ended; returns how many are still queued or running."""
        from mmlgnet.repro import slurm

        submitted = {}
        for run in self.runs:
            info = self.registry.read(self.registry.dir(run)) or {}
            if info.get("status") == "submitted":
                submitted[run.key] = (run, info)
        if not submitted:
            self.queued = []
            return 0
        known = slurm.states([str((i.get("slurm") or {}).get("job_id")) for _, i in submitted.values()])
        self.queued = []
        for run, info in submitted.values():
            job = info.get("slurm") or {}
            job_id, state = str(job.get("job_id")), known.get(str(job.get("job_id")))
            if slurm.is_active(state):
                self.queued.append(f"{run.key}: SLURM job {job_id} {state}")
                continue
            ok, error, returned = slurm.job_outcome(Path(str(job.get("folder"))), job_id)
            wall = float(returned.get("job_wall_s") or time.time() - _epoch(info.get("submitted")))
            self.record(run, ok, error, wall, "slurm",
                        slurm={**job, "state": state or "gone from squeue", **returned})
        return len(self.queued)

    def submit(self, options: object, wait: bool, poll_s: float = 5.0) -> None:
        """Submit every run that needs running as one job array; with `wait`, collect until none is left."""
        from mmlgnet.repro import slurm

        assert isinstance(options, slurm.SlurmOptions)
        todo = [(run, d) for run in self.runs if (d := self.prepare(run, "slurm", "submitting")) is not None]
        try:
            job_ids = slurm.submit(options, [(run.cli_args, d) for run, d in todo])
        except Exception as e:
            for run, _ in todo:
                self.record(run, False, str(e), 0.0, "slurm")
            raise
        for (run, _), job_id in zip(todo, job_ids, strict=True):
            self.registry.submitted(run, job_id, options.folder)
            say(f"{self.tags[run.key]}: submitted as SLURM job {job_id}")
        left = self.collect()
        try:
            while wait and left:
                time.sleep(poll_s)
                left = self.collect()
        except KeyboardInterrupt:
            say(f"[reproduce] stopped waiting: {len(self.queued)} SLURM jobs go on (the folders stay theirs); collect "
                "them later with the same command or --tables-only, or stop them with scancel")
            raise


def _epoch(stamp: object) -> float:
    try:
        return time.mktime(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%S%z"))
    except (TypeError, ValueError):
        return time.time()
