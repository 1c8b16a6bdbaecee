"""`python -m mmlgnet.reproduce`: every scene × split × variant × seed (fit, test, maps), then the result tables.

The loop is made of small pieces (DESIGN §6): the plan with each run's fingerprint (mmlgnet.repro.plan,
.fingerprint), the results lock (.lock), the registry of run folders (.registry), the executors (.executors);
the tables (mmlgnet.repro.tables) are built from the registry only.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mmlgnet.atomic import write_json
from mmlgnet.configs import SHIPPED
from mmlgnet.console import debug_enabled
from mmlgnet.data.io.download import hashed_once
from mmlgnet.data.sampling.splits import parse_protocol
from mmlgnet.errors import UserError
from mmlgnet.outputs import check_output_dir
from mmlgnet.repro.dispatch import Dispatch
from mmlgnet.repro.executors import EXECUTORS, Subprocess, sigterm_as_interrupt
from mmlgnet.repro.fingerprint import versions
from mmlgnet.repro.groups import (
    DEFAULT_GROUPS,
    GROUPS,
    QUICK_GROUPS,
    WEIGHTS,
    Variant,
    parse_weights,
    variant,
)
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import (
    MUUFL_PROTOCOLS,
    SCENES,
    VARIANTS,
    DataCheck,
    Plan,
    RunOptions,
    common_patch_settings,
    make_plan,
    plan_layout,
    plan_settings,
    protocol_slug,
)
from mmlgnet.repro.registry import Registry, summary
from mmlgnet.repro.tables import collect, write_tables
from mmlgnet.repro.weights import check_files, duplicates

SHIPPED_CONFIGS = SHIPPED  # the configs shipped in the package (mmlgnet.configs): the same from a wheel
__all__ = ["MUUFL_PROTOCOLS", "SCENES", "VARIANTS", "availability", "main", "plan_settings", "protocol_slug"]
availability = DataCheck()  # (scene, root) -> (runnable, HSI cube present, reason); used by the notebook


def _at_least_one(meaning: str = "") -> Callable[[str], int]:
    """An argparse `type=` for an integer >= 1; `meaning` (what N is) goes into its message."""
    def parse(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1{f' ({meaning})' if meaning else ''}, got {value}")
        return value
    parse.__name__ = "int"  # argparse's message for a non-number: "invalid int value: 'x'"
    return parse


_positive_int = _at_least_one()


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


T = TypeVar("T")


def _epochs(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (Lightning reads -1 as 'train forever'), got {value}")
    return value


def _user_checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type=`: `parse(text)`, its UserError turned into argparse's usage error (exit 2, option named)."""
    def check(text: str) -> T:
        try:
            return parse(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from e
    return check


def _kept(validate: Callable[[str], object]) -> Callable[[str], str]:
    """`validate(text)` for its errors only; the option keeps the text."""
    return lambda text: (validate(text), text)[1]


_protocol = _user_checked(_kept(parse_protocol))  # SplitError is a UserError
_weights = _user_checked(lambda text: next(iter(parse_weights([text]).items())))


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m mmlgnet.reproduce",
        description="Reproduce the result tables: for every scene whose data is present, every variant and N seeds: "
        "fit, test (results/<setting>/<variant>/seed<k>/test_metrics.json) and full-scene maps; then "
        "results/tables.{md,csv,tex,json} (mean ± std over seeds beside the reported numbers). A finished run is "
        "reused only when its fingerprint (resolved config after all overrides, data files' sha256, package "
        "versions) matches; otherwise it is rerun and the old folder kept aside. An interrupted run is restarted "
        "from scratch. One runner at a time per results folder (lock).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small synthetic scene, tiny model and CLIP config, few epochs, 2 seeds: minutes on 2 CPU cores")
    p.add_argument("--scenes", nargs="+", default=list(SCENES), choices=[*SCENES, "synthetic"],
                   help="scenes of the full mode (ignored with --quick)")
    p.add_argument("--groups", nargs="+", default=None, choices=list(GROUPS),
                   help="variant groups, one table each: main (paper ablations), text (text encoders), prompts, "
                   "openvocab (each class held out in turn), baselines (established methods as published), "
                   f"baselines-text (their backbones with the text head), fewshot (5 and 20 pixels per class: linear head, "
                   "untrained vs real MiniLM, paired differences; LiDAR only where no cube exists), fewshot-openvocab "
                   f"(each class held out at 20 per class, MiniLM). Default: {' '.join(DEFAULT_GROUPS)}; with --quick "
                   f"{' '.join(QUICK_GROUPS)}")
    p.add_argument("--variants", nargs="+", default=None,
                   help=f"only these variants of the groups ({', '.join(VARIANTS)}, unseen-<k>, or a name of "
                   "--variants-file); default: all")
    p.add_argument("--variants-file", type=Path, default=None, metavar="YAML",
                   help="user-defined variants added to the plan: a list of {name, label, group, overrides} "
                   "(README, 'Add your own method'); same fingerprints and reuse as the built-in ones")
    p.add_argument("--common-patch", type=_at_least_one("the patch side in pixels"), default=None, metavar="P",
                   help="common protocol: every variant (MMLGNet and each method) at patch size P, so that patch "
                   "size is not the hidden variable; results in <setting>-p<P>/ (a method that needs larger "
                   "patches is listed as absent)")
    p.add_argument("--text-weights", nargs="+", type=_weights, default=[], metavar="NAME=PATH",
                   help=f"CLIP weights for the text group ({', '.join(WEIGHTS)}): a file, or `hub` to download; "
                   "a variant whose weights are not given is listed as absent, with the reason")
    p.add_argument("--seeds", type=_at_least_one("seeds 0..N-1 are run"), default=None,
                   help="seeds 0..N-1 (default 5; 2 with --quick)")
    p.add_argument("--epochs", type=_epochs, default=None, help="override trainer.max_epochs of the configs")
    p.add_argument("--muufl-protocols", nargs="+", type=_protocol, default=list(MUUFL_PROTOCOLS),
                   help="MUUFL split protocols, one table row group each")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="scene files in DIR/<scene>")
    p.add_argument("--results", type=Path, default=Path("results"), help="output directory")
    p.add_argument("--configs", type=Path, default=SHIPPED_CONFIGS,
                   help="directory of the scene configs (default: the ones shipped in the package)")
    p.add_argument("--maps", choices=["first", "all", "none"], default="first",
                   help="full-scene maps for the first seed of each variant, every seed, or none")
    p.add_argument("--force", action="store_true",
                   help="rerun finished runs even when their fingerprint matches (old folders are kept aside)")
    p.add_argument("--wait-lock", type=_seconds, default=0.0, metavar="SECONDS",
                   help="when another runner holds the results folder, wait up to SECONDS for it (0: refuse at once)")
    p.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=True,
                   help="also log to Weights & Biases (offline without an API key)")
    p.add_argument("--wandb-project", default="mmlgnet")
    p.add_argument("--launcher", choices=["auto", *EXECUTORS, "slurm"], default="auto",
                   help="run each fit in this process, in a subprocess (isolates failures), or as a SLURM job "
                   "(submitit; see --slurm-*); auto: in-process with --quick and --jobs 1, subprocess otherwise")
    p.add_argument("--jobs", type=_at_least_one("the number of runs at once; 1 runs them one after another"),
                   default=1, metavar="N",
                   help="local launchers: N runs at once, each a subprocess with its own GPU (round robin over the "
                   "visible ones) and an equal share of the CPU cores (pinned). A slot's cores bound only its speed: "
                   "each run computes with its own --threads (default 1, whatever the slot), set with `-- --threads "
                   "N` (part of the run's config: another N is another run, with another fingerprint)")
    slurm = p.add_argument_group("SLURM (--launcher slurm)")
    slurm.add_argument("--slurm-partition", default=None, help="partition (default: the cluster's default)")
    slurm.add_argument("--slurm-time", type=_positive_int, default=60, metavar="MINUTES",
                       help="time limit per run; a run that reaches it is requeued and resumes from its last.ckpt")
    slurm.add_argument("--slurm-gpus-per-run", type=_non_negative_int, default=0, metavar="G")
    slurm.add_argument("--slurm-cpus-per-run", type=_positive_int, default=1, metavar="C",
                       help="CPU cores of each run's job: they bound only its speed; the run computes with its own "
                       "--threads (default 1), set with `-- --threads N` (another N changes its fingerprint)")
    slurm.add_argument("--slurm-extra", nargs="+", default=[], metavar="KEY=VALUE",
                       help="more sbatch parameters, e.g. --slurm-extra qos=high account=proj constraint=a100")
    slurm.add_argument("--slurm-array-parallelism", type=_positive_int, default=256, metavar="N",
                       help="at most N runs of the job array at once")
    slurm.add_argument("--slurm-folder", type=Path, default=None,
                       help="submitit's job files (scripts, logs, pickles); default <results>/.slurm")
    slurm.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                       help="wait for the SLURM jobs and write the tables; --no-wait returns after submitting "
                       "(a later reproduce call or --tables-only collects the finished runs)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan, each run's fingerprint and whether it would run or be reused; run nothing")
    p.add_argument("--tables-only", action="store_true", help="only rebuild the tables from finished runs")
    p.add_argument("extra", nargs="*", help="extra CLI overrides after `--`, e.g. -- --trainer.precision bf16-mixed "
                   "or -- --threads 4 (each run's CPU threads); they are part of every run's fingerprint")
    ns = p.parse_args(argv)
    ns.seeds = ns.seeds if ns.seeds is not None else (2 if ns.quick else 5)
    ns.groups = ns.groups or list(QUICK_GROUPS if ns.quick else DEFAULT_GROUPS)
    ns.launcher = ns.launcher if ns.launcher != "auto" else (
        "inprocess" if ns.quick and ns.jobs == 1 else "subprocess")
    if ns.launcher == "inprocess" and ns.jobs > 1:
        p.error("--jobs N > 1 runs subprocesses: it cannot be combined with --launcher inprocess")
    if ns.launcher == "slurm" and ns.jobs > 1:
        p.error("--jobs is for the local launchers; with --launcher slurm use --slurm-array-parallelism")
    if ns.launcher != "slurm":
        given = [f"--{k.replace('_', '-')}" for k, v in vars(ns).items() if k.startswith("slurm_")
                 and v != p.get_default(k)] + (["--no-wait"] if not ns.wait else [])
        if given:
            p.error(f"{', '.join(given)} only apply with --launcher slurm (the launcher is {ns.launcher})")
    ns.slurm_folder = ns.slurm_folder or ns.results / ".slurm"
    ns.custom = _variants_file(p, ns.variants_file)
    for name in ns.variants or []:
        if not any(name in [v.name for v in vs] for vs in ns.custom.values()):
            try:
                variant(name)
            except UserError as e:
                p.error(str(e))
    twice = duplicates(ns.text_weights)
    if twice:
        p.error(twice)
    return ns


def _variants_file(p: argparse.ArgumentParser, path: Path | None) -> dict[str, list[Variant]]:
    """--variants-file's variants by group ({} without the option); its errors are usage errors (exit 2)."""
    if path is None:
        return {}
    from mmlgnet.repro.compare.variants_file import read_variants_file

    try:
        return read_variants_file(path)
    except UserError as e:
        p.error(str(e))


def preflight(args: argparse.Namespace) -> None:
    """Before the plan and any run: the output folders can be written, SLURM is there when it will be used,
    and every --text-weights file loads (a UserError naming the option otherwise: exit 2)."""
    check_output_dir(args.results, "--results")
    if args.launcher == "slurm" and not (args.dry_run or args.tables_only):
        check_output_dir(args.slurm_folder, "--slurm-folder")
        from mmlgnet.repro.slurm import require_commands

        require_commands()
    check_files(args.text_weights)


def main(argv: list[str] | None = None) -> int:
    """Returns 0 (all runs done), 1 (some run failed), 2 (user error, e.g. results folder busy), 130 (interrupted)."""
    command = "python -m mmlgnet.reproduce " + shlex.join(argv if argv is not None else sys.argv[1:])
    args = parse_args(argv)
    try:
        return reproduce(args, command)
    except UserError as e:
        if debug_enabled():  # MMLGNET_DEBUG=1: the traceback too
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # str(e): "signal SIGTERM" from our handler; empty for a plain Ctrl-C (an exception object is always true)
        print(f"[reproduce] interrupted ({str(e) or 'Ctrl-C'}): the current run is marked interrupted", file=sys.stderr)
        return 130


def reproduce(args: argparse.Namespace, command: str) -> int:
    if args.quick:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the quick mode needs no weights
    start = time.time()
    preflight(args)
    with hashed_once():  # the data check and the fingerprints hash each data file once, together
        plan = plan_of(args)
    for line in plan.skipped:
        print(f"[reproduce] {line}", flush=True)
    if args.dry_run:
        show(plan, Registry(args.results), args.force)
        return 0
    slurm_options = _slurm_options(args) if args.launcher == "slurm" else None  # option errors before the lock
    with ResultsLock(args.results, args.wait_lock, command) as lock, sigterm_as_interrupt():
        registry = Registry(args.results, lock)
        runs = Dispatch(registry, plan.runs, args.force)
        status = "interrupted"
        try:
            runs.collect()  # SLURM jobs of earlier calls that ended since: recorded (any launcher, --tables-only)
            if args.tables_only:
                pass
            elif slurm_options is not None:
                runs.submit(slurm_options, args.wait)
            elif args.jobs > 1:
                runs.parallel(Subprocess(), args.jobs)
            else:
                runs.sequential(EXECUTORS[args.launcher]())
            status = "submitted" if runs.queued else "finished"
        finally:  # also when interrupted: reproduce.json states what run.json says, run by run
            write_json(args.results / "reproduce.json", {
                "command": command, "status": status, "wall_s": round(time.time() - start, 1), "machine": _machine(),
                "skipped": plan.skipped, "failures": runs.failures, "queued": runs.queued,
                "runs": summary(registry, plan.runs)})
        paths = write_tables(args.results, *tables_header(args, plan, command, time.time() - start, registry),
                             registry=registry)  # one registry: each finished run read once per invocation
    failures = runs.failures
    print(f"[reproduce] tables: {', '.join(str(p) for p in paths.values())} ({time.time() - start:.0f} s)")
    if runs.queued:
        print(f"[reproduce] {len(runs.queued)} runs still queued or running in SLURM; the tables hold the finished "
              f"ones. Collect the rest later with the same command or with --tables-only ({runs.queued[0]}, ...)")
    if args.wandb:
        from mmlgnet.tracking.wandb_logger import has_api_key

        if not has_api_key() or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun"):
            print(f"[reproduce] W&B runs are offline; upload with:  wandb sync {args.results / 'wandb'}/offline-run-*")
    for f in failures:
        print(f"[reproduce] FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


def plan_of(args: argparse.Namespace) -> Plan:
    """The runs (with fingerprints) and skipped settings that `args` ask for."""
    opts = RunOptions(args.results, args.data_root, args.epochs, tuple(args.extra), args.wandb, args.wandb_project,
                      args.quick, tuple(args.text_weights), args.common_patch)
    settings = common_patch_settings(plan_settings(args.scenes, args.muufl_protocols, args.quick, args.configs),
                                     args.common_patch)
    return make_plan(settings, args.variants, args.seeds, args.maps, opts, DataCheck(), groups=args.groups,
                     extra=args.custom)


def show(plan: Plan, registry: Registry, force: bool) -> None:
    """--dry-run: each run's fingerprint, what would happen to it, and its command."""
    for i, run in enumerate(plan.runs, 1):
        state, reason = registry.state(run)
        action = f"reuse (done{'; ' + reason if reason else ''})" if state == "done" and not force else \
            f"collect it or leave it alone ({reason})" if state == "submitted" else \
            f"run{f' ({reason})' if reason else ''}"
        print(f"[reproduce {i}/{len(plan.runs)}] {run.key}: fingerprint {run.fingerprint.short}, would {action}: "
              f"python -m mmlgnet {shlex.join(run.cli_args)}")


def tables_header(args: argparse.Namespace, plan: Plan, command: str, wall: float,
                  registry: Registry | None = None) -> tuple[list[str], list[str], dict[tuple[str, str], str], dict[str, object]]:
    """(header lines, skipped, plan fingerprints, meta) for write_tables."""
    groups, _ = collect(args.results, plan.fingerprints(), registry)
    compute = sum(float(r.get("wall_s", 0)) for g in groups for r in g.runs)
    n_runs = sum(len(g.runs) for g in groups)
    header = [f"Produced by `{command}` on {_machine()}: {n_runs} runs, {compute:.0f} s of fit + test + maps in "
              f"total (this invocation: {wall:.0f} s; finished runs with the same fingerprint are reused).",
              "Each seed is a different initialisation and, for per-class / fraction splits, a different "
              "training draw; ± is the sample standard deviation (n − 1) over seeds. Wall time per run = "
              "fit + test (+ maps for the first seed). `paper (MMLGNet)`: the only numbers the paper's "
              "abstract gives (protocol unknown to us); `literature`: other methods at the same split "
              "(../shared/DATASETS.md)."]
    if args.quick:
        header.append("QUICK MODE: synthetic scene, tiny model, untrained tiny CLIP text tower, few epochs: "
                      "a check that the pipeline runs, not a result.")
    meta = {"command": command, "wall_s": round(wall, 1), "compute_s": round(compute, 1), "n_runs": n_runs,
            "machine": _machine(), "quick": bool(args.quick), "versions": versions(), **plan_layout(plan)}
    return header, plan.skipped, plan.fingerprints(), meta


def _slurm_options(args: argparse.Namespace) -> object:
    from mmlgnet.repro.slurm import SlurmOptions, parse_extra

    return SlurmOptions(args.slurm_folder, args.slurm_partition, args.slurm_time, args.slurm_gpus_per_run,
                        args.slurm_cpus_per_run, parse_extra(args.slurm_extra), args.slurm_array_parallelism)


def _machine() -> str:
    try:
        import torch

        dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # noqa: BLE001
        dev = "?"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} CPU cores, {dev}"

