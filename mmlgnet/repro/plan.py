"""The plan: settings (scene × split protocol) × variants × seeds -> runs, each with its command and fingerprint."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmlgnet.repro.fingerprint import SENTINEL_SEED, Fingerprint, Fingerprinter

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


@dataclass(frozen=True)
class RunOptions:
    """What the command line decides about every run (the reproduce options that reach `python -m mmlgnet`)."""

    results: Path
    data_root: Path
    epochs: int | None = None
    extra: tuple[str, ...] = ()  # overrides after `--`
    wandb: bool = False
    wandb_project: str = "mmlgnet"
    quick: bool = False


@dataclass(frozen=True)
class Run:
    """One fit + test (+ maps) of a variant at a setting with one seed."""

    setting: Setting
    variant: Variant
    seed: int
    maps: bool
    cli_args: tuple[str, ...]  # python -m mmlgnet <cli_args>
    overrides: tuple[str, ...]  # on top of the setting's config files: variant, --epochs, extra
    fingerprint: Fingerprint  # of the (setting, variant): shared by all its seeds

    @property
    def key(self) -> str:
        return f"{self.setting.slug}/{self.variant.name}/seed{self.seed}"


@dataclass
class Plan:
    runs: list[Run] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<slug>[ / <variant>]: skipped (<reason>)"

    def fingerprints(self) -> dict[tuple[str, str], str]:
        """(setting slug, variant) -> short fingerprint: what the tables show for this plan."""
        return {(r.setting.slug, r.variant.name): r.fingerprint.short for r in self.runs}


def protocol_slug(protocol: str) -> str:
    kind, _, value = protocol.partition(":")
    if kind == "per_class":
        return f"{value}pc"
    if kind == "fraction":
        return f"{float(value) * 100:g}pct"
    return kind


def plan_settings(scenes: Sequence[str], muufl_protocols: Sequence[str], quick: bool, configs: Path) -> list[Setting]:
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


def run_dir(results: Path, setting: Setting, variant: Variant, seed: int) -> Path:
    return results / setting.slug / variant.name / f"seed{seed}"


def overrides(variant: Variant, opts: RunOptions) -> tuple[str, ...]:
    epochs = ("--trainer.max_epochs", str(opts.epochs)) if opts.epochs is not None else ()
    return (*variant.overrides, *epochs, *opts.extra)


def run_args(setting: Setting, variant: Variant, seed: int, opts: RunOptions, maps: bool) -> list[str]:
    """`python -m mmlgnet` arguments of one run: the setting's configs, seeds, logging into the run folder."""
    out_dir = run_dir(opts.results, setting, variant, seed)
    loggers = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(out_dir), "name": "", "version": ""}}]
    if opts.wandb:
        loggers.append({"class_path": "mmlgnet.tracking.WandbLogger", "init_args": {
            "project": opts.wandb_project, "group": setting.slug, "job_type": variant.name,
            "name": f"{setting.slug}/{variant.name}/seed{seed}", "save_dir": str(opts.results),
            "tags": [setting.scene, setting.protocol, variant.name, "quick" if opts.quick else "full"]}})
    out = ["fit"]
    for c in setting.configs:
        out += ["--config", str(c)]
    out += ["--seed_everything", str(seed), "--data.split", setting.protocol, "--data.split_seed", str(seed),
            "--test_after_fit", "true", "--predict_after_fit", str(maps).lower(),
            "--trainer.logger", json.dumps(loggers)]
    if setting.scene != "synthetic":
        out += ["--data.root", str(opts.data_root / setting.scene)]
    return out + list(overrides(variant, opts))


#: (scene, data root) -> (runnable at all, HSI cube present, reason when not)
Availability = Callable[[str, Path], tuple[bool, bool, str]]


def make_plan(settings: Sequence[Setting], variants: Sequence[str], seeds: int, maps: str, opts: RunOptions,
              available: Availability, fingerprinter: Fingerprinter | None = None) -> Plan:
    """Every runnable (setting, variant) × seeds 0..seeds-1; the rest in `skipped` with the reason.

    One config resolution per (setting, variant), with the seeds at SENTINEL_SEED: the fingerprint is then
    the same for every seed by construction, and parse errors in the overrides surface here, before any run.
    """
    fingerprinter = fingerprinter or Fingerprinter()
    plan = Plan()
    for s in settings:
        ok, has_hsi, reason = available(s.scene, opts.data_root)
        if not ok:
            plan.skipped.append(f"{s.slug}: every variant skipped ({reason})")
            continue
        for v in (VARIANTS[n] for n in variants):
            if v.needs_hsi and not has_hsi:
                plan.skipped.append(f"{s.slug} / {v.name}: skipped ({reason})")
                continue
            fp = fingerprinter(run_args(s, v, SENTINEL_SEED, opts, maps=False), f"{s.slug} / {v.name}")
            for k in range(seeds):
                with_maps = maps == "all" or (maps == "first" and k == 0)
                plan.runs.append(Run(s, v, k, with_maps, tuple(run_args(s, v, k, opts, with_maps)),
                                     overrides(v, opts), fp))
    return plan


class DataCheck:
    """`Availability` of the scenes: each scene's files are read and verified once per invocation.

    MUUFL's four protocols share one check; a new invocation checks again (files may have changed).
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, Path], tuple[bool, bool, str]] = {}

    def __call__(self, scene: str, root: Path) -> tuple[bool, bool, str]:
        if (scene, root) not in self._seen:
            self._seen[scene, root] = self._check(scene, root)
        return self._seen[scene, root]

    @staticmethod
    def _check(scene: str, root: Path) -> tuple[bool, bool, str]:
        if scene == "synthetic":
            return True, True, ""
        from mmlgnet.data.download import DataError
        from mmlgnet.data.scenes import load_scene

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
