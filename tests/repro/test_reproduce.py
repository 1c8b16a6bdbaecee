"""`python -m mmlgnet.reproduce`: quick mode end to end, reuse only on a matching fingerprint, restarts, table maths."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from mmlgnet.repro import reproduce
from mmlgnet.repro.checks import read_strict_json
from mmlgnet.repro.tables import collect, fmt, mean_std, write_tables

SHARED_DATA = Path(os.environ.get("MMLGNET_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
TINY = ["--epochs", "2", "--", "--data.synthetic_height", "32", "--data.synthetic_width", "48", "--data.patch_size", "5",
        "--model.hsi_widths", "[8, 16]", "--model.lidar_widths", "[8, 16]", "--model.fusion_dim", "32"]


TINY_MODEL = TINY[2:]  # the overrides after `--`, without --epochs


def _one_run(results: Path, *more: str) -> list[str]:
    """reproduce argv of one tiny LiDAR-only run (the issue's repro) with more options before `--`."""
    return ["--quick", "--seeds", "1", "--variants", "lidar_only", "--maps", "none", "--no-wandb",
            "--results", str(results), *more, *TINY_MODEL]


def _metrics(results: Path) -> list[Path]:
    return sorted(results.glob("*/*/seed*/test_metrics.json"))


def test_quick_mode_tables_maps_and_skip_on_rerun(tmp_path, capsys):
    results = tmp_path / "results"
    argv = ["--quick", "--results", str(results), "--seeds", "2", "--variants", "mmlgnet", "lidar_only", "--no-wandb", *TINY]
    assert reproduce.main(argv) == 0
    found = _metrics(results)
    assert [p.parent.relative_to(results).as_posix() for p in found] == [
        "synthetic-quick/lidar_only/seed0", "synthetic-quick/lidar_only/seed1",
        "synthetic-quick/mmlgnet/seed0", "synthetic-quick/mmlgnet/seed1"]
    rec = json.loads(found[2].read_text())
    assert rec["split"]["name"] == "per_class:20" and rec["seed"] == 0
    for name in ("tables.md", "tables.csv", "tables.tex"):
        assert (results / name).stat().st_size > 0
    md = (results / "tables.md").read_text()
    assert "MMLGNet (symmetric)" in md and "LiDAR only" in md and " ± " in md and "QUICK MODE" in md
    maps_dir = results / "synthetic-quick" / "mmlgnet" / "seed0" / "maps"  # first seed only
    assert (maps_dir / "prediction.png").is_file() and (maps_dir / "prediction.npy").is_file()
    assert not (results / "synthetic-quick" / "mmlgnet" / "seed1" / "maps").exists()

    assert "| fingerprint | overrides |" in md and "--model.modalities '[lidar]'" in md

    stamps = {p: p.stat().st_mtime_ns for p in found}
    # an interrupted run: killed while running, its run.json still says so
    interrupted = results / "synthetic-quick" / "lidar_only" / "seed1"
    info = json.loads((interrupted / "run.json").read_text())
    (interrupted / "run.json").write_text(json.dumps({**info, "status": "running"}))
    (interrupted / "stale.tmp").write_text("half-written")
    capsys.readouterr()
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("done already, skipped") == 3 and "lidar_only/seed1: running" in out
    assert "an earlier attempt ended 'running': unfinished attempt removed" in out
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.parent != interrupted)
    assert not (interrupted / "stale.tmp").exists() and (interrupted / "test_metrics.json").is_file()


def test_changed_settings_rerun_never_reuse_and_rows_name_their_settings(tmp_path, capsys):
    """Issue 7.1 + 7.3: an untrained (0-epoch) run is never done; changed overrides rerun (old run kept aside)."""
    results = tmp_path / "R"
    seed0 = results / "synthetic-quick" / "lidar_only" / "seed0"
    assert reproduce.main(_one_run(results, "--epochs", "0")) == 1  # UntrainedModelError in the run: failed
    assert json.loads((seed0 / "run.json").read_text())["status"] == "failed"
    assert "No finished run yet." in (results / "tables.md").read_text()

    assert reproduce.main(_one_run(results, "--epochs", "1")) == 0
    first = json.loads((seed0 / "run.json").read_text())
    assert first["status"] == "done" and first["max_epochs"] == 1 and len(first["fingerprint"]) == 12
    capsys.readouterr()

    gated = _one_run(results, "--epochs", "1") + ["--model.fusion", "gated"]
    assert reproduce.main(gated) == 0
    out = capsys.readouterr().out
    assert "settings changed (fingerprint " + first["fingerprint"] in out and "done already" not in out
    second = json.loads((seed0 / "run.json").read_text())
    assert second["fingerprint"] != first["fingerprint"] and "gated" in second["overrides"]
    aside = [p for p in seed0.parent.iterdir() if p.name.startswith("seed0.stale-")]
    assert len(aside) == 1 and json.loads((aside[0] / "run.json").read_text()) == first  # kept, not mixed
    md = (results / "tables.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| synthetic-quick |"))
    assert f"| {second['fingerprint']} |" in row and "--model.fusion gated" in row and "| 1 | 1 |" in row
    assert "--model.fusion gated" in md.splitlines()[2]  # the header's command and the row agree
    assert reproduce.main(gated) == 0 and "done already, skipped" in capsys.readouterr().out

    assert reproduce.main(_one_run(results, "--epochs", "1", "--force") + ["--model.fusion", "gated"]) == 0
    assert "--force: old folder kept as" in capsys.readouterr().out
    assert len([p for p in seed0.parent.iterdir() if p.name.startswith("seed0.replaced-")]) == 1
    table = read_strict_json(results / "tables.json")
    assert [(r["fingerprint"], r["seeds"]) for r in table["rows"]] == [(second["fingerprint"], [0])]
    summary = read_strict_json(results / "reproduce.json")["runs"]
    assert summary == [{"run": "synthetic-quick/lidar_only/seed0", "status": "done",
                        "fingerprint": second["fingerprint"]}]


@pytest.mark.parametrize("seeds", ["0", "-2"])
def test_seeds_must_be_positive(tmp_path, capsys, seeds):
    with pytest.raises(SystemExit) as e:
        reproduce.main(["--quick", "--seeds", seeds, "--results", str(tmp_path / "r")])
    assert e.value.code == 2 and "--seeds" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("option,value", [("--epochs", "-1"), ("--muufl-protocols", "fraction:x"),
                                          ("--muufl-protocols", "per_class:0")])
def test_bad_epochs_or_protocol_is_an_option_error(tmp_path, capsys, option, value):
    """Refused by argparse (exit 2, naming the option) before anything runs; was a traceback / 'train forever'."""
    with pytest.raises(SystemExit) as e:
        reproduce.main([option, value, "--results", str(tmp_path / "r"), "--no-wandb"])
    assert e.value.code == 2 and option in capsys.readouterr().err and not (tmp_path / "r").exists()


def _fake_run(results: Path, setting: str, variant: str, seed: int, oa: float, acc_a: float, done: bool = True,
              fingerprint: str = "f00", finished: str = "2026-01-01T00:00:00") -> None:
    d = results / setting / variant / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "test_metrics.json").write_text(json.dumps({
        "scene": "trento", "OA": oa, "AA": oa - 1, "kappa": oa - 2,
        "per_class_accuracy": {"Apple trees": acc_a, "Roads": 50.0},
        "split": {"name": "standard", "counts": {"train": [129, 122], "val": [0, 0], "test": [3905, 3052]}},
    }))
    (d / "run.json").write_text(json.dumps({
        "status": "done" if done else "failed", "created_by": "mmlgnet.reproduce", "wall_s": 10.0 + seed,
        "max_epochs": 3, "fingerprint": fingerprint, "overrides": ["--model.fusion", fingerprint],
        "finished": finished}))


def test_aggregation_mean_std_on_hand_made_files(tmp_path):
    results = tmp_path / "r"
    for seed, oa, acc in ((0, 90.0, 99.0), (1, 92.0, 100.0), (2, 94.0, 98.0)):
        _fake_run(results, "trento", "mmlgnet", seed, oa, acc)
    _fake_run(results, "trento", "mmlgnet", 3, 10.0, 10.0, done=False)  # failed: never aggregated
    _fake_run(results, "trento", "v2t", 0, 80.0, 97.0)
    write_tables(results, ["header line"], ["houston2013: every variant skipped (missing LiDAR.mat)"])
    md = (results / "tables.md").read_text()
    assert "| trento | standard | MMLGNet (symmetric) | 3 | 3 | 92.00 ± 2.00 | 91.00 ± 2.00 | 90.00 ± 2.00 |" in md
    assert "| trento | standard | v2t loss only | 1 | 3 | 80.00 | 79.00 | 78.00 |" in md  # n = 1: no ± shown
    assert "| Apple trees | 129 | 3905 | 99.00 ± 1.00 | 97.00 | 99.95 |" in md  # per-class, paper column
    assert "| trento | symmetric − v2t | +12.00 | +0.16 |" in md
    assert "MFT 98.32 / 95.98 / 97.75" in md and "apple trees 99.95" in md and "missing LiDAR.mat" in md
    assert "| 11.0 ± 1.0 |" in md  # wall time per run: 10, 11, 12 s
    rows = list(csv.DictReader((results / "tables.csv").open()))
    oa = next(r for r in rows if r["variant"] == "mmlgnet" and r["metric"] == "OA")
    assert float(oa["mean"]) == 92.0 and float(oa["std"]) == 2.0 and oa["n_seeds"] == "3"
    assert r"92.00 $\pm$ 2.00" in (results / "tables.tex").read_text()
    assert oa["fingerprint"] == "f00" and oa["overrides"] == "--model.fusion f00"


def test_table_rows_never_mix_fingerprints(tmp_path):
    """Seeds of different fingerprints never share a row: the plan's fingerprint wins, else the latest; notes say so."""
    results = tmp_path / "r"
    _fake_run(results, "trento", "mmlgnet", 0, 90.0, 99.0, fingerprint="aaa", finished="2026-01-01T10:00:00")
    _fake_run(results, "trento", "mmlgnet", 1, 92.0, 99.0, fingerprint="aaa", finished="2026-01-01T11:00:00")
    _fake_run(results, "trento", "mmlgnet", 2, 50.0, 99.0, fingerprint="bbb", finished="2026-01-02T09:00:00")
    (results / "trento" / "mmlgnet" / "seed0.stale-20260101T000000").mkdir()  # kept aside: never read
    _fake_run(results, "trento", "mmlgnet", 5, 10.0, 9.0, fingerprint="aaa")
    (results / "trento" / "mmlgnet" / "seed5").rename(results / "trento" / "mmlgnet" / "seed5.stale-2026")

    groups, notes = collect(results, {("trento", "mmlgnet"): "aaa"})
    assert [(g.fingerprint, sorted(g.seeds), g.stat("OA")[0]) for g in groups] == [("aaa", [0, 1], 91.0)]
    assert len(notes) == 1 and "bbb (seeds 2" in notes[0] and "this command's settings" in notes[0]

    groups, notes = collect(results)  # no plan (e.g. another command's rows): the most recently finished
    assert [(g.fingerprint, g.seeds) for g in groups] == [("bbb", [2])] and "aaa (seeds 0,1" in notes[0]

    groups, notes = collect(results, {("trento", "mmlgnet"): "ccc"})  # nothing finished with the plan's settings
    assert groups == [] and "aaa (seeds 0,1" in notes[0] and "bbb (seeds 2" in notes[0]

    write_tables(results, plan={("trento", "mmlgnet"): "aaa"})
    md = (results / "tables.md").read_text()
    assert "| 2 | 3 | 91.00 ± 1.41 |" in md and "| aaa | --model.fusion aaa |" in md
    assert "## Runs left out of the rows" in md and "bbb (seeds 2" in md
    table = read_strict_json(results / "tables.json")
    assert [(r["fingerprint"], r["seeds"]) for r in table["rows"]] == [("aaa", [0, 1])]


def test_mean_std_and_format():
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, 1.2909944))
    assert fmt(*mean_std([5.0])) == "5.00"
    assert fmt(*mean_std([])) == "–"


def test_protocol_slugs_and_muufl_rows():
    assert [reproduce.protocol_slug(p) for p in reproduce.MUUFL_PROTOCOLS] == ["20pc", "40pc", "60pc", "5pct"]
    settings = reproduce.plan_settings(["trento", "muufl"], list(reproduce.MUUFL_PROTOCOLS), False, Path("configs"))
    assert [s.slug for s in settings] == ["trento", "muufl-20pc", "muufl-40pc", "muufl-60pc", "muufl-5pct"]


@pytest.mark.skipif(not (SHARED_DATA / "trento" / "LiDAR.mat").is_file(), reason="no shared real data")
def test_real_lidar_only_on_trento_and_skips(tmp_path, capsys):
    """Full mode on the real Trento LiDAR + published split; HSI variants and Houston are skipped with a reason."""
    results = tmp_path / "results"
    argv = ["--scenes", "trento", "houston2013", "--variants", "mmlgnet", "lidar_only", "--seeds", "1", "--epochs", "1",
            "--data-root", str(SHARED_DATA), "--results", str(results), "--maps", "none", "--no-wandb",
            "--launcher", "inprocess", "--", "--model.text_model", "mmlgnet-tiny", "--model.text_pretrained", "null",
            "--model.lidar_widths", "[8, 16]", "--data.patch_size", "5", "--trainer.limit_test_batches", "2"]
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert "trento / mmlgnet: skipped (no hyperspectral cube: missing HSI.mat" in out
    assert "houston2013: every variant skipped (missing HSI.mat, LiDAR.mat" in out
    rec = json.loads((results / "trento" / "lidar_only" / "seed0" / "test_metrics.json").read_text())
    assert rec["split"]["totals"]["train"] == 819 and rec["variant"]["modalities"] == ["lidar"]
    assert "## Not run" in (results / "tables.md").read_text()
