"""Every config in configs/ through the real CLI (fit then test) on fixture files in the real layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmlgnet.cli import main
from mmlgnet.data.scenes.catalog_load import SPECS
from mmlgnet.data.scenes.synthetic import make_synthetic_scene, write_scene_files

REPO = Path(__file__).resolve().parents[1]
DEBUG = str(REPO / "configs" / "overlays" / "debug.yaml")
CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.yaml"))
LAYOUTS = {  # config -> (layout written for it, .mat version)
    "trento.yaml": [("trento_original", "7.3"), ("split", "5")],
    "muufl.yaml": [("muufl_original", "5")],
    "houston2013.yaml": [("houston_split", "7.3")],
}


def _fixture_root(tmp_path: Path, scene: str, layout: str, version: str) -> Path:
    spec = SPECS[scene]
    fake = make_synthetic_scene(height=40, width=56, num_classes=len(spec.class_names), hsi_bands=spec.hsi_bands,
                                lidar_bands=spec.lidar_bands, seed=1)
    root = tmp_path / f"{scene}-{layout}"
    write_scene_files(fake, root, layout, mat_version=version)
    return root


def _run(args: list[str]) -> None:
    main(args)


def _cases() -> list[tuple[str, str | None, str | None]]:
    out: list[tuple[str, str | None, str | None]] = []
    for name in CONFIGS:
        for layout, version in LAYOUTS.get(name, [(None, None)]):
            out.append((name, layout, version))
    return out


@pytest.mark.parametrize("config,layout,version", _cases())
def test_config_fit_then_test(tmp_path, config, layout, version):
    args = ["fit", "--config", str(REPO / "configs" / config), "--config", DEBUG,
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--test_after_fit", "true"]
    if layout is not None:
        scene = config.removesuffix(".yaml")
        args += ["--data.root", str(_fixture_root(tmp_path, scene, layout, version)), "--data.verify", "false"]
        if layout in ("muufl_original", "trento_original"):  # no published TR/TS maps in these layouts
            args += ["--data.split", "per_class:10"]
    _run(args)
    metrics = sorted((tmp_path / "runs").rglob("test_metrics.json"))
    assert len(metrics) == 1, metrics
    rec = json.loads(metrics[0].read_text())
    assert 0 <= rec["OA"] <= 100 and 0 <= rec["AA"] <= 100 and -100 <= rec["kappa"] <= 100
    assert rec["checkpoint"] and rec["checkpoint"].endswith("last.ckpt") and Path(rec["checkpoint"]).exists()
    assert sum(map(sum, rec["confusion_matrix"])) == rec["num_test_pixels"] > 0
    assert (metrics[0].parent / "split.npz").exists()


def test_standalone_test_subcommand_and_linear_head(tmp_path):
    base = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", DEBUG,
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--model.head", "linear",
            "--model.modalities", "[lidar]"]
    _run(["fit", *base])
    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    _run(["test", *base, "--ckpt_path", str(ckpt)])
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["checkpoint"] == str(ckpt) and rec["variant"]["head"] == "linear"
    assert rec["variant"]["modalities"] == ["lidar"]


def test_validation_carve_out_saves_best_checkpoint(tmp_path):
    _run(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", DEBUG,
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--data.val_fraction", "0.2",
          "--trainer.limit_val_batches", "2", "--test_after_fit", "true"])
    assert list((tmp_path / "runs").rglob("best-*.ckpt"))
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert "best-" in rec["checkpoint"] and rec["split"]["totals"]["val"] > 0


@pytest.mark.slow  # a fresh `python -m mmlgnet` process: `make test-all` only
def test_print_config_and_help_in_subprocess():
    # timeout: a hang guard sized for a loaded 2-core machine (~12 CPU-s of imports took 76 s of 120 there)
    out = subprocess.run([sys.executable, "-m", "mmlgnet", "fit", "--config", "configs/trento.yaml", "--print_config"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "scene: trento" in out.stdout and "text_model: ViT-B-32" in out.stdout


def test_bad_option_is_rejected():
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--model.loss", "bogus"])


def test_fit_resumes_from_last_checkpoint(tmp_path):
    import csv

    base = ["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", DEBUG,
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    _run(base)
    (ckpt,) = (tmp_path / "runs").rglob("last.ckpt")
    cli = main([*base, "--trainer.max_epochs", "2", "--ckpt_path", str(ckpt)])
    assert cli.trainer.current_epoch == 2
    with open(Path(cli.trainer.log_dir) / "metrics.csv") as f:
        epochs = {r["epoch"] for r in csv.DictReader(f) if r.get("train/loss_step")}
    assert epochs == {"1"}  # the resumed run trained epoch 1 only: it continued, it did not start over
