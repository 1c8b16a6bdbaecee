"""`python -m mmlgnet.reproduce`: quick mode end to end, skip-on-rerun, restart of an interrupted run, table maths."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from mmlgnet import reproduce
from mmlgnet.tables import fmt, mean_std, write_tables

SHARED_DATA = Path(os.environ.get("MMLGNET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TINY = ["--epochs", "2", "--", "--data.synthetic_height", "32", "--data.synthetic_width", "48", "--data.patch_size", "5",
        "--model.hsi_widths", "[8, 16]", "--model.lidar_widths", "[8, 16]", "--model.fusion_dim", "32"]


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

    stamps = {p: p.stat().st_mtime_ns for p in found}
    # an interrupted run: its directory exists but it never finished
    interrupted = results / "synthetic-quick" / "lidar_only" / "seed1"
    (interrupted / "run.json").unlink()
    (interrupted / "stale.tmp").write_text("half-written")
    capsys.readouterr()
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("done already, skipped") == 3 and "lidar_only / seed 1: running" in out
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.parent != interrupted)
    assert not (interrupted / "stale.tmp").exists() and (interrupted / "test_metrics.json").is_file()


def _fake_run(results: Path, setting: str, variant: str, seed: int, oa: float, acc_a: float, done: bool = True) -> None:
    d = results / setting / variant / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "test_metrics.json").write_text(json.dumps({
        "scene": "trento", "OA": oa, "AA": oa - 1, "kappa": oa - 2,
        "per_class_accuracy": {"Apple trees": acc_a, "Roads": 50.0},
        "split": {"name": "standard", "counts": {"train": [129, 122], "val": [0, 0], "test": [3905, 3052]}},
    }))
    (d / "run.json").write_text(json.dumps({"status": "done" if done else "failed", "wall_s": 10.0 + seed,
                                            "max_epochs": 3}))


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
            "--launcher", "inprocess", "--", "--model.clip_model", "mmlgnet-tiny", "--model.clip_pretrained", "null",
            "--model.lidar_widths", "[8, 16]", "--data.patch_size", "5", "--trainer.limit_test_batches", "2"]
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert "trento / mmlgnet: skipped (no hyperspectral cube: missing HSI.mat" in out
    assert "houston2013: every variant skipped (missing HSI.mat, LiDAR.mat" in out
    rec = json.loads((results / "trento" / "lidar_only" / "seed0" / "test_metrics.json").read_text())
    assert rec["split"]["totals"]["train"] == 819 and rec["variant"]["modalities"] == ["lidar"]
    assert "## Not run" in (results / "tables.md").read_text()
