"""The plan: settings (scene × split protocol) × variant groups × seeds -> runs, each with its command and fingerprint.

Variants of one setting whose resolved configs are identical (same fingerprint: e.g. `prompts-templates` and
`mmlgnet`, which already uses templates) run once: the later one is an alias of the first (`Plan.aliases`),
and its table row shows the first one's runs.

The few-shot groups (groups.FEWSHOT_SHOTS) run at settings of their own, derived from the first setting of each
scene when such a group is asked: `<scene>-fewshot-<N>pc` (split per_class:N, the scene's config), which serve
only those groups. Every run's split seed is its seed, so seeds differ in the pixels drawn as well as in the
initialisation, and the variants of one seed share the same training and test pixels (paired comparisons).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mmlgnet.errors import ConfigError
from mmlgnet.repro.compare.methods import too_small
from mmlgnet.repro.fingerprint import SENTINEL_SEED, Fingerprint, Fingerprinter
from mmlgnet.repro.groups import (
    DEFAULT_GROUPS,
    FEWSHOT_SHOTS,
    GROUPS,
    OPEN_VOCAB,
    UNSEEN,
    VARIANTS,
    Variant,
    group_variants,
    lidar_only,
    variant,
    with_weights,
)

MUUFL_PROTOCOLS = ("per_class:20", "per_class:40", "per_class:60", "fraction:0.05")
SCENES = ("trento", "muufl", "houston2013")


__all__ = ["DEFAULT_GROUPS", "GROUPS", "MUUFL_PROTOCOLS", "SCENES", "VARIANTS", "Plan", "Run", "RunOptions", "Setting",
           "Variant", "make_plan", "plan_settings", "run_args"]


@dataclass(frozen=True)
class Setting:
    """One table row group: a scene at one split protocol (MUUFL has several)."""

    slug: str  # results/<slug>/...
    scene: str
    protocol: str
    configs: tuple[Path, ...]
    groups: tuple[str, ...] | None = None  # the only groups it serves; None: every group but the few-shot ones

    def serves(self, group: str) -> bool:
        return group in self.groups if self.groups is not None else group not in FEWSHOT_SHOTS


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
    weights: tuple[tuple[str, str], ...] = ()  # --text-weights: (name, PATH or "hub")
    common_patch: int | None = None  # --common-patch: every variant at this patch size (settings <slug>-p<P>)


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
    absent: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, variant) -> why it has no runs
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, variant) -> variant run instead
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # group -> slug -> its variants
    labels: dict[str, str] = field(default_factory=dict)  # variant -> table label, where not a built-in one

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


def common_patch_settings(settings: Sequence[Setting], patch: int | None) -> list[Setting]:
    """--common-patch P: the same settings under their own slug `<slug>-p<P>` (own folders, own table rows)."""
    return list(settings) if patch is None else [replace(s, slug=f"{s.slug}-p{patch}") for s in settings]


def fewshot_settings(settings: Sequence[Setting], groups: Sequence[str], opts: RunOptions) -> list[Setting]:
    """The few-shot groups' settings: for the first setting of each scene, `<scene>-fewshot-<N>pc` (quick mode:
    `synthetic-quick-fewshot-<N>pc`; --common-patch: `-p<P>` appended) at split per_class:N with that setting's
    config files, for every N of the asked few-shot groups; each serves the asked groups that use its N."""
    asked = [g for g in groups if g in FEWSHOT_SHOTS]
    firsts: dict[str, Setting] = {}
    for s in settings:
        if s.groups is None:
            firsts.setdefault(s.scene, s)
    out: list[Setting] = []
    for s in firsts.values():
        stem = "synthetic-quick" if opts.quick else s.scene
        for n in sorted({n for g in asked for n in FEWSHOT_SHOTS[g]}):
            slug = f"{stem}-fewshot-{n}pc" + (f"-p{opts.common_patch}" if opts.common_patch is not None else "")
            out.append(Setting(slug, s.scene, f"per_class:{n}", s.configs,
                               tuple(g for g in asked if n in FEWSHOT_SHOTS[g])))
    return out


def variant_configs(setting: Setting, variant: Variant, opts: RunOptions) -> list[Path]:
    """Config files a variant adds after the setting's: its method overlay (relative to the setting's configs
    folder) and, in quick mode, the quick overlays of methods (overlays/quick-baselines.yaml: few epochs on
    the quick scene, then overlays/quick-baselines/<name>.yaml where one exists: narrower layers)."""
    if not variant.configs:
        return []
    root = setting.configs[0].parent
    out = [root / c for c in variant.configs]
    if opts.quick:
        quick = root / "overlays" / "quick-baselines"
        own = quick / f"{Path(variant.configs[0]).stem}.yaml"
        out += [quick.with_suffix(".yaml"), *([own] if own.is_file() else [])]
    return out


def run_dir(results: Path, setting: Setting, variant: Variant, seed: int) -> Path:
    return results / setting.slug / variant.name / f"seed{seed}"


def overrides(variant: Variant, opts: RunOptions) -> tuple[str, ...]:
    epochs = ("--trainer.max_epochs", str(opts.epochs)) if opts.epochs is not None else ()
    patch = ("--data.patch_size", str(opts.common_patch)) if opts.common_patch is not None else ()
    return (*variant.overrides, *epochs, *patch, *opts.extra)


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
    for c in (*setting.configs, *variant_configs(setting, variant, opts)):
        out += ["--config", str(c)]
    out += ["--seed_everything", str(seed), "--data.split", setting.protocol, "--data.split_seed", str(seed),
            "--test_after_fit", "true", "--predict_after_fit", str(maps).lower(),
            "--trainer.logger", json.dumps(loggers)]
    if setting.scene != "synthetic":
        out += ["--data.root", str(opts.data_root / setting.scene)]
    return out + list(overrides(variant, opts))


#: (scene, data root) -> (runnable at all, HSI cube present, reason when not)
Availability = Callable[[str, Path], tuple[bool, bool, str]]


def make_plan(settings: Sequence[Setting], variants: Sequence[str] | None, seeds: int, maps: str, opts: RunOptions,
              available: Availability, fingerprinter: Fingerprinter | None = None,
              groups: Sequence[str] = DEFAULT_GROUPS, extra: Mapping[str, Sequence[Variant]] | None = None) -> Plan:
    """Every runnable (setting, variant of `groups`) × seeds 0..seeds-1; the rest in `skipped` with the reason.

    `variants` (None: all) keeps only those variants of the groups. One config resolution per (setting,
    variant), with the seeds at SENTINEL_SEED: the fingerprint is then the same for every seed by construction,
    and parse errors in the overrides (e.g. an option this mmlgnet does not have) surface here, before any run,
    as a ConfigError naming the variant. A variant whose fingerprint equals an earlier one's is an alias.
    `extra` (group -> user-defined variants, from --variants-file) adds variants to their groups, new or not.
    """
    fingerprinter = fingerprinter or Fingerprinter()
    extra = extra or {}
    own = {v.name: v for vs in extra.values() for v in vs}
    groups = [*groups, *(g for g in extra if g not in groups)]
    weights = dict(opts.weights)
    wanted = None if variants is None else set(variants)
    plan = Plan()
    classes: dict[str, int] = {}  # slug -> class count, of the settings whose open-vocabulary ids were listed
    for s in [*settings, *fewshot_settings(settings, groups, opts)]:
        if not any(s.serves(g) for g in groups):
            continue
        ok, has_hsi, reason = available(s.scene, opts.data_root)
        if not ok:
            plan.skipped.append(f"{s.slug}: every variant skipped ({reason})")
            continue
        seen: dict[str, str] = {}  # full fingerprint -> the variant that runs it
        fallback = False  # a variant of this setting runs on LiDAR only for want of the cube
        for group in [g for g in groups if s.serves(g)]:
            n_classes = _num_classes(s, opts, fingerprinter, group, wanted)
            if n_classes:
                classes[s.slug] = n_classes
            names = [n for n in (*(group_variants(group, n_classes) if group in GROUPS else ()),
                                 *(v.name for v in extra.get(group, ()))) if wanted is None or n in wanted]
            plan.groups.setdefault(group, {})[s.slug] = names
            for name in names:
                if (s.slug, name) in plan.absent or any(r.setting == s and r.variant.name == name for r in plan.runs) \
                        or (s.slug, name) in plan.aliases:
                    continue  # in an earlier group already
                v = with_weights(own.get(name) or variant(name), weights, opts.quick)
                if not isinstance(v, str) and v.needs_hsi and not has_hsi and v.lidar_fallback:
                    v, fallback = lidar_only(v), True
                why = v if isinstance(v, str) else (reason if v.needs_hsi and not has_hsi else "") or \
                    (too_small(name, opts.common_patch) if opts.common_patch is not None else "")
                if isinstance(v, str) or why:
                    plan.absent[s.slug, name] = str(why)
                    plan.skipped.append(f"{s.slug} / {name}: skipped ({why})")
                    continue
                fp = fingerprinter(run_args(s, v, SENTINEL_SEED, opts, maps=False),
                                   f"{s.slug} / {v.name}" + (f" ({v.origin})" if v.origin else ""))
                if fp.full in seen:
                    plan.aliases[s.slug, name] = seen[fp.full]
                    continue
                seen[fp.full] = name
                for k in range(seeds):
                    with_maps = maps == "all" or (maps == "first" and k == 0)
                    plan.runs.append(Run(s, v, k, with_maps, tuple(run_args(s, v, k, opts, with_maps)),
                                         overrides(v, opts), fp))
        if fallback:
            plan.skipped.append(f"{s.slug}: hyperspectral input skipped, the few-shot variants run on LiDAR only "
                                f"({reason})")
    plan.labels = {v.name: v.label for v in (*VARIANTS.values(), *own.values()) if v.label}
    _check_wanted(wanted, groups, plan)
    _check_class_ids(wanted, classes, plan)
    return plan


def _check_class_ids(wanted: set[str] | None, classes: dict[str, int], plan: Plan) -> None:
    """`--variants unseen-<k>` with k past every setting's class count would silently run nothing: ConfigError.
    A k that only some settings have is skipped, with the reason, at the others."""
    for name in sorted(wanted or set(), key=lambda n: (len(n), n)):
        m = UNSEEN.fullmatch(name)
        if not m or not classes:
            continue
        k = int(m.group(2))
        short = {slug: n for slug, n in classes.items() if k > n}
        if len(short) == len(classes):
            counts = ", ".join(f"{slug} has {n}" for slug, n in classes.items())
            raise ConfigError(f"--variants {name}: there is no class {k} to hold out ({counts} classes). Give "
                              f"{m.group(1)}<k> with k from 1 to the scene's class count (e.g. {m.group(1)}1 .. "
                              f"{m.group(1)}{max(classes.values())}).")
        plan.skipped += [f"{slug} / {name}: skipped ({slug} has {n} classes, no class {k})"
                         for slug, n in short.items()]


def _check_wanted(wanted: set[str] | None, groups: Sequence[str], plan: Plan) -> None:
    """A --variants name that none of the selected groups holds would silently run nothing: ConfigError."""
    listed = {n for by in plan.groups.values() for names in by.values() for n in names}
    for name in sorted((wanted or set()) - listed):
        m = UNSEEN.fullmatch(name)
        homes = [g for g, prefix in OPEN_VOCAB.items() if m and m.group(1) == prefix] if m else \
            [g for g, ns in GROUPS.items() if name in ns]
        if set(homes) & set(groups) and plan.groups:
            continue  # in a selected group: unseen-<k> past a scene's classes (_check_class_ids), or none runnable
        raise ConfigError(f"--variants {name}: not in the selected --groups {' '.join(groups)}; it belongs to "
                          f"{' or '.join(homes) or 'no group'}: add that to --groups.")


def plan_layout(plan: Plan) -> dict[str, object]:
    """What the group tables need from the plan (saved in tables.json's meta): groups, aliases, absent rows."""
    return {"groups": plan.groups,
            "aliases": {f"{slug}/{v}": other for (slug, v), other in plan.aliases.items()},
            "absent": {f"{slug}/{v}": why for (slug, v), why in plan.absent.items()},
            "labels": {n: label for n, label in plan.labels.items()
                       if any(n in names for by in plan.groups.values() for names in by.values())}}


def _num_classes(s: Setting, opts: RunOptions, fingerprinter: Fingerprinter, group: str,
                 wanted: set[str] | None) -> int:
    """The setting's class count (the open-vocabulary group holds each class out in turn); 0 when not needed."""
    prefix = OPEN_VOCAB.get(group)
    if prefix is None or (wanted is not None and not any(n.startswith(prefix) for n in wanted)):
        return 0
    if s.scene != "synthetic":
        from mmlgnet.data.scenes.catalog_load import SPECS

        return len(SPECS[s.scene].class_names)
    cfg = fingerprinter(run_args(s, VARIANTS["mmlgnet"], SENTINEL_SEED, opts, maps=False), s.slug).payload["config"]
    return int(cfg["data"]["synthetic_classes"])


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
        from mmlgnet.data.io.download import DataError
        from mmlgnet.data.scenes.catalog_load import load_scene

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
