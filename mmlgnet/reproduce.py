"""`python -m mmlgnet.reproduce`: every scene × split × variant × seed (fit, test, maps), then the result tables."""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mmlgnet.atomic import write_json
from mmlgnet.tables import collect, write_tables

REPO = Path(__file__).resolve().parents[1]
MUUFL_PROTOCOLS = ("per_class:20", "per_class:40", "per_class:60", "fraction:0.05")
SCENES = ("trento", "muufl", "houston2013")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]  # CLI overrides on top of the scene's config
    needs_hsi: bool


VARIANTS: dict[str, Variant] = {
    "mmlgnet": Variant("mmlgnet", (), True),  # symmetric InfoNCE, HSI + LiDAR (the configs' default)
    "v2t": Variant("v2t", ("--model.loss", "v2t"), True),
    "t2v": Variant("t2v", ("--model.loss", "t2v"), True),
    "hsi_only": Variant("hsi_only", ("--model.modalities", "[hsi]"), True),
    "lidar_only": Variant("lidar_only", ("--model.modalities", "[lidar]"), False),
    "linear": Variant("linear", ("--model.head", "linear"), True),  # visual only, no text
}


@dataclass(frozen=True)
class Setting:
    """One table row group: a scene at one split protocol (MUUFL has several)."""

    slug: str  # results/<slug>/...
    scene: str
    protocol: str
    configs: tuple[Path, ...]


def protocol_slug(protocol: str) -> str:
    kind, _, value = protocol.partition(":")
    if kind == "per_class":
        return f"{value}pc"
    if kind == "fraction":
        return f"{float(value) * 100:g}pct"
    return kind


def plan_settings(scenes: list[str], muufl_protocols: list[str], quick: bool, configs: Path) -> list[Setting]:
    if quick:
        return [Setting("synthetic-quick", "synthetic", "per_class:20",
                        (configs / "demo.yaml", configs / "overlays" / "quick.yaml"))]
    out = []
    for scene in scenes:
        if scene == "muufl":
            out += [Setting(f"muufl-{protocol_slug(p)}", scene, p, (configs / "muufl.yaml",)) for p in muufl_protocols]
        elif scene == "synthetic":
            out.append(Setting("synthetic", scene, "per_class:30", (configs / "demo.yaml",)))
        else:
            out.append(Setting(scene, scene, "standard", (configs / f"{scene}.yaml",)))
    return out


@functools.cache
def availability(scene: str, root: Path) -> tuple[bool, bool, str]:
    """(runnable at all, HSI cube present, reason when not) for a scene under `root/<scene>`.

    Cached: MUUFL's four protocols share one check, so the scene is read and verified once, not per row.
    """
    if scene == "synthetic":
        return True, True, ""
    from mmlgnet.download import DataError
    from mmlgnet.scenes import load_scene

    try:
        load_scene(scene, root / scene, require_hsi=True)
        return True, True, ""
    except DataError as e:
        hsi_reason = _short(e, root / scene)
    try:
        load_scene(scene, root / scene, require_hsi=False)
        return True, False, f"no hyperspectral cube: {hsi_reason}"
    except DataError:
        return False, False, hsi_reason  # lists every missing file, the cube included


def _short(error: Exception, directory: Path) -> str:
    """One line from a data error: the missing file names, or the error's first line."""
    missing = getattr(error, "missing", ())
    return f"missing {', '.join(missing)} in {directory}" if missing else str(error).splitlines()[0]


def run_args(setting: Setting, variant: Variant, seed: int, run_dir: Path, args: argparse.Namespace,
             maps: bool) -> list[str]:
    loggers = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(run_dir), "name": "", "version": ""}}]
    if args.wandb:
        loggers.append({"class_path": "mmlgnet.tracking.WandbLogger", "init_args": {
            "project": args.wandb_project, "group": setting.slug, "job_type": variant.name,
            "name": f"{setting.slug}/{variant.name}/seed{seed}", "save_dir": str(args.results),
            "tags": [setting.scene, setting.protocol, variant.name, "quick" if args.quick else "full"]}})
    out = ["fit"]
    for c in setting.configs:
        out += ["--config", str(c)]
    out += ["--seed_everything", str(seed), "--data.split", setting.protocol, "--data.split_seed", str(seed),
            "--test_after_fit", "true", "--predict_after_fit", str(maps).lower(),
            "--trainer.logger", json.dumps(loggers)]
    if setting.scene != "synthetic":
        out += ["--data.root", str(args.data_root / setting.scene)]
    if args.epochs is not None:
        out += ["--trainer.max_epochs", str(args.epochs)]
    return out + list(variant.overrides) + list(args.extra)


def is_done(run_dir: Path) -> bool:
    try:
        status = json.loads((run_dir / "run.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return False
    return status == "done" and (run_dir / "test_metrics.json").is_file()


def execute(cli_args: list[str], run_dir: Path, launcher: str) -> tuple[bool, str]:
    """Run one `python -m mmlgnet ...`; returns (ok, error text)."""
    if launcher == "subprocess":
        log = run_dir.with_name(run_dir.name + ".log")
        with open(log, "w") as f:
            rc = subprocess.run([sys.executable, "-m", "mmlgnet", *cli_args], stdout=f, stderr=subprocess.STDOUT).returncode
        return rc == 0, "" if rc == 0 else f"exit code {rc}, see {log}"
    from mmlgnet import tracking
    from mmlgnet.cli import main

    try:
        main(cli_args)
        return True, ""
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 (SystemExit from argument errors included): record, go on
        tracking.finish(exit_code=1)
        return False, f"{type(e).__name__}: {e}"


def max_epochs_of(cli_args: list[str]) -> int | None:
    if "--trainer.max_epochs" in cli_args:
        return int(cli_args[cli_args.index("--trainer.max_epochs") + 1])
    import yaml

    epochs = None
    for i, a in enumerate(cli_args):
        if a == "--config":
            cfg = yaml.safe_load(Path(cli_args[i + 1]).read_text()) or {}
            epochs = (cfg.get("trainer") or {}).get("max_epochs", epochs)
    return epochs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m mmlgnet.reproduce",
        description="Reproduce the result tables: for every scene whose data is present, every variant and N seeds: "
        "fit, test (results/<setting>/<variant>/seed<k>/test_metrics.json) and full-scene maps; then "
        "results/tables.{md,csv,tex} (mean ± std over seeds beside the reported numbers). Finished runs are "
        "skipped on a rerun; an interrupted run is restarted from scratch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small synthetic scene, tiny model and CLIP config, few epochs, 2 seeds: minutes on 2 CPU cores")
    p.add_argument("--scenes", nargs="+", default=list(SCENES), choices=[*SCENES, "synthetic"],
                   help="scenes of the full mode (ignored with --quick)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 5; 2 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs of the configs")
    p.add_argument("--muufl-protocols", nargs="+", default=list(MUUFL_PROTOCOLS),
                   help="MUUFL split protocols, one table row group each")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="scene files in DIR/<scene>")
    p.add_argument("--results", type=Path, default=Path("results"), help="output directory")
    p.add_argument("--configs", type=Path, default=REPO / "configs", help="directory of the scene configs")
    p.add_argument("--maps", choices=["first", "all", "none"], default="first",
                   help="full-scene maps for the first seed of each variant, every seed, or none")
    p.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=True,
                   help="also log to Weights & Biases (offline without an API key)")
    p.add_argument("--wandb-project", default="mmlgnet")
    p.add_argument("--launcher", choices=["auto", "inprocess", "subprocess"], default="auto",
                   help="run each fit in this process or in a subprocess (isolates failures); auto: in-process "
                   "with --quick, subprocess otherwise")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    p.add_argument("--tables-only", action="store_true", help="only rebuild the tables from finished runs")
    p.add_argument("extra", nargs="*", help="extra CLI overrides after `--`, e.g. -- --trainer.precision bf16-mixed")
    ns = p.parse_args(argv)
    ns.seeds = ns.seeds if ns.seeds is not None else (2 if ns.quick else 5)
    ns.launcher = ns.launcher if ns.launcher != "auto" else ("inprocess" if ns.quick else "subprocess")
    return ns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the quick mode needs no weights
    start = time.time()
    settings = plan_settings(args.scenes, args.muufl_protocols, args.quick, args.configs)
    skipped: list[str] = []
    jobs = []
    for s in settings:
        ok, has_hsi, reason = availability(s.scene, args.data_root)
        if not ok:
            skipped.append(f"{s.slug}: every variant skipped ({reason})")
            continue
        for v in (VARIANTS[n] for n in args.variants):
            if v.needs_hsi and not has_hsi:
                skipped.append(f"{s.slug} / {v.name}: skipped ({reason})")
                continue
            jobs += [(s, v, k) for k in range(args.seeds)]
    for line in skipped:
        print(f"[reproduce] {line}", flush=True)
    failures = []
    if not args.tables_only:
        for i, (s, v, k) in enumerate(jobs, 1):
            run_dir = args.results / s.slug / v.name / f"seed{k}"
            maps = args.maps == "all" or (args.maps == "first" and k == 0)
            cli_args = run_args(s, v, k, run_dir, args, maps)
            tag = f"[reproduce {i}/{len(jobs)}] {s.slug} / {v.name} / seed {k}"
            if args.dry_run:
                print(f"{tag}: python -m mmlgnet {shlex.join(cli_args)}")
                continue
            if is_done(run_dir):
                print(f"{tag}: done already, skipped", flush=True)
                continue
            if run_dir.exists():  # an interrupted or failed earlier attempt: restart cleanly
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True)
            print(f"{tag}: running", flush=True)
            t0 = time.time()
            ok, error = execute(cli_args, run_dir, args.launcher)
            ok = ok and (run_dir / "test_metrics.json").is_file()
            info = {"status": "done" if ok else "failed", "error": error, "wall_s": round(time.time() - t0, 2),
                    "setting": s.slug, "scene": s.scene, "protocol": s.protocol, "variant": v.name, "seed": k,
                    "max_epochs": max_epochs_of(cli_args), "maps": maps, "launcher": args.launcher,
                    "command": "python -m mmlgnet " + shlex.join(cli_args)}
            write_json(run_dir / "run.json", info)
            print(f"{tag}: {info['status']} in {info['wall_s']:.1f} s {error}", flush=True)
            if not ok:
                failures.append(f"{s.slug}/{v.name}/seed{k}: {error}")
    if args.dry_run:
        return 0
    command = "python -m mmlgnet.reproduce " + shlex.join(argv if argv is not None else sys.argv[1:])
    wall = time.time() - start
    groups = collect(args.results)
    compute = sum(float(r.get("wall_s", 0)) for g in groups for r in g.runs)
    n_runs = sum(len(g.runs) for g in groups)
    header = [f"Produced by `{command}` on {_machine()}: {n_runs} runs, {compute:.0f} s of fit + test + maps in "
              f"total (this invocation: {wall:.0f} s; finished runs are reused, not recomputed).",
              "Each seed is a different initialisation and, for per-class / fraction splits, a different "
              "training draw; ± is the sample standard deviation (n − 1) over seeds. Wall time per run = "
              "fit + test (+ maps for the first seed). `paper (MMLGNet)`: the only numbers the paper's "
              "abstract gives (protocol unknown to us); `literature`: other methods at the same split "
              "(../shared/DATASETS.md)."]
    if args.quick:
        header.append("QUICK MODE: synthetic scene, tiny model, untrained tiny CLIP text tower, few epochs: "
                      "a check that the pipeline runs, not a result.")
    write_json(args.results / "reproduce.json", {"command": command, "wall_s": round(wall, 1), "skipped": skipped,
                                                 "failures": failures, "machine": _machine()})
    paths = write_tables(args.results, header, skipped)
    print(f"[reproduce] tables: {', '.join(str(p) for p in paths.values())} ({wall:.0f} s)")
    if args.wandb:
        from mmlgnet.tracking import has_api_key

        if not has_api_key() or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun"):
            print(f"[reproduce] W&B runs are offline; upload with:  wandb sync {args.results / 'wandb'}/offline-run-*")
    for f in failures:
        print(f"[reproduce] FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


def _machine() -> str:
    try:
        import torch

        dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # noqa: BLE001
        dev = "?"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} CPU cores, {dev}"


if __name__ == "__main__":
    raise SystemExit(main())
