"""Applying a trained model to another scene: the training scene's statistics and classes travel in the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from cardkit import NODATA, small_scene, write_card_scene, write_tif

from mmlgnet.cli import main, run
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.scenes.synthetic import default_split
from mmlgnet.errors import CheckpointError

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]
OFFSET = 100.0  # added to every valid HSI value of scene B


def write_other_scene(folder: Path, hsi_bands: int | None = None, lidar: int = 2, seed: int = 2,
                      class_names: list[str] | None = None) -> tuple[Path, np.ndarray]:
    """Scene B: another seed, every valid HSI value + OFFSET; returns (card, raw HSI cube as written)."""
    folder.mkdir(parents=True, exist_ok=True)
    scene, void = small_scene(seed=seed)
    assert scene.hsi is not None
    hsi = np.where(void[:, :, None], NODATA, scene.hsi + OFFSET).astype(np.float32)[:, :, :hsi_bands]  # (H, W, C)
    write_tif(folder / "hsi.tif", hsi, nodata=NODATA)
    names = []
    for k in range(lidar):
        write_tif(folder / f"lidar{k}.tif", scene.lidar[:, :, k])
        names.append(f"lidar{k}.tif")
    train, test = default_split(scene.labels, per_class=6)
    write_tif(folder / "train.tif", train.astype(np.uint8))
    write_tif(folder / "test.tif", test.astype(np.uint8))
    card: dict[str, Any] = {"name": "neighbour", "hsi": "hsi.tif", "lidar": names, "train": "train.tif",
                            "test": "test.tif", "class_names": class_names or list(scene.class_names)}
    (folder / "scene.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder / "scene.yaml", hsi


def _masked_stats(hsi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of the non-nodata entries, in float64 (independent of the package's code)."""
    x = np.where(hsi == NODATA, np.nan, hsi.astype(np.float64)).reshape(-1, hsi.shape[2])
    return np.nanmean(x, 0), np.nanstd(x, 0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Any]:
    """Card A, a checkpoint fitted on it, and A's scene."""
    tmp = tmp_path_factory.mktemp("transfer")
    card, scene, _ = write_card_scene(tmp / "a")
    main(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(tmp / "runs")])
    return card, next((tmp / "runs").rglob("last.ckpt")), scene


def test_predict_other_scene_uses_training_statistics(trained, tmp_path):
    """predict --ckpt_path A.ckpt on card B serves B normalised with A's mean/std (B's own would remove the offset)."""
    card_a, ckpt, scene_a = trained
    card_b, hsi_b = write_other_scene(tmp_path / "b")
    cli = main(["predict", *BASE, "--data.scene", str(card_b), "--ckpt_path", str(ckpt),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                "--predict_writer.output_dir", str(tmp_path / "pred")])
    dm = cli.datamodule
    mean_a, std_a = _masked_stats(scene_a.hsi)
    np.testing.assert_allclose(dm.norm_stats["hsi"].centre, mean_a, rtol=1e-6)
    np.testing.assert_allclose(dm.norm_stats["hsi"].spread, std_a, rtol=1e-6)
    h, w, c = hsi_b.shape
    centre = dm.patch_size // 2
    served = dm.gather(torch.arange(h * w))["hsi"][:, :, centre, centre].numpy().reshape(h, w, c)  # (H, W, C)
    valid = hsi_b[:, :, 0] != NODATA
    expected = (hsi_b.astype(np.float64) - mean_a) / std_a
    np.testing.assert_allclose(served[valid], expected[valid], atol=1e-4)
    assert served[valid].mean() > 1.0  # B's offset survives: B's own z-scoring would centre it on 0
    np.testing.assert_allclose(served[~valid], 0.0, atol=1e-5)  # nodata -> A's band mean -> 0
    assert np.load(tmp_path / "pred" / "prediction.npy").shape == (h, w)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)[HSILidarDataModule.__qualname__]
    assert state["scene"] == str(card_a) and state["class_names"] == list(scene_a.class_names)
    # `test` on B (same classes, its own labels) goes through the same path and scores B's test pixels.
    cli = main(["test", *BASE, "--data.scene", str(card_b), "--ckpt_path", str(ckpt),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs_test")])
    np.testing.assert_allclose(cli.datamodule.norm_stats["hsi"].centre, mean_a, rtol=1e-6)
    rec = json.loads(next((tmp_path / "runs_test").rglob("test_metrics.json")).read_text())
    assert rec["num_test_pixels"] > 0 and rec["scene"] == str(card_b)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"hsi_bands": 7}, ["8 HSI bands", "has 7"]),
    ({"lidar": 1}, ["2 LiDAR channels", "has 1"]),
])
def test_mismatched_bands_are_refused(trained, tmp_path, capsys, kwargs, words):
    """HSI bands or LiDAR channels other than the training scene's: one clear error naming both scenes, exit 2."""
    card_a, ckpt, _ = trained
    card_b, _ = write_other_scene(tmp_path / "b", **kwargs)
    with pytest.raises(SystemExit) as e:
        run(["predict", *BASE, "--data.scene", str(card_b), "--ckpt_path", str(ckpt),
             "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert str(card_a) in err and str(card_b) in err and "Fix:" in err
    assert all(w in err for w in words), err


def test_old_checkpoint_without_statistics_warns_on_another_scene(trained, tmp_path):
    """A checkpoint written before the statistics were saved: B is normalised with its own, and the user is told."""
    _, ckpt, _ = trained
    old = torch.load(ckpt, map_location="cpu", weights_only=True)
    del old[HSILidarDataModule.__qualname__]
    torch.save(old, tmp_path / "old.ckpt")
    card_b, _ = write_other_scene(tmp_path / "b")
    with pytest.warns(UserWarning, match="no normalisation statistics"):
        cli = main(["predict", *BASE, "--data.scene", str(card_b), "--ckpt_path", str(tmp_path / "old.ckpt"),
                    "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                    "--predict_writer.output_dir", str(tmp_path / "pred")])
    assert abs(float(cli.datamodule.norm_stats["hsi"].centre.mean()) - OFFSET) < 50  # B's own statistics


def test_same_scene_state_round_trip_is_bit_identical(tmp_path):
    """Fitting and testing one scene: the checkpointed statistics give exactly the cube of the scene's own."""
    card, _, _ = write_card_scene(tmp_path / "a")
    dm = HSILidarDataModule(scene=str(card), patch_size=5)
    dm.setup("fit")
    torch.save(dm.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    fresh = HSILidarDataModule(scene=str(card), patch_size=5)
    fresh.load_state_dict(state)  # before setup (the CLI's order)
    fresh.setup("test")
    late = HSILidarDataModule(scene=str(card), patch_size=5)
    late.setup("test")
    late.load_state_dict(state)  # after setup (Lightning's restore order): same stats, nothing recomputed
    for name in ("hsi", "lidar"):
        assert torch.equal(fresh.serving.padded[name], dm.serving.padded[name]) and torch.equal(late.serving.padded[name], dm.serving.padded[name])


def test_state_loaded_after_setup_renormalises_and_class_names_must_match(tmp_path):
    """Lightning restores after setup(): another scene is re-normalised; other class names are refused."""
    card_a, _, _ = write_card_scene(tmp_path / "a")
    a = HSILidarDataModule(scene=str(card_a), patch_size=5)
    a.setup("fit")
    card_b, _ = write_other_scene(tmp_path / "b")
    b = HSILidarDataModule(scene=str(card_b), patch_size=5)
    b.setup("predict")
    own = b.serving.padded["hsi"].clone()
    b.load_state_dict(a.state_dict())
    assert b.norm_stats["hsi"].same_as(a.norm_stats["hsi"]) and not torch.equal(own, b.serving.padded["hsi"])
    card_c, _ = write_other_scene(tmp_path / "c", class_names=["x", "y", "z"])
    c = HSILidarDataModule(scene=str(card_c), patch_size=5)
    c.load_state_dict(a.state_dict())
    with pytest.raises(CheckpointError, match="class lists differ"):
        c.setup("predict")


def test_extra_class_name_is_refused_by_the_class_list_check_not_the_split(tmp_path):
    """Issue 15 item 9: a card with one class name more than the checkpoint was refused by the split's message
    about --data.unseen_classes (its extra class has no training pixel); the class lists are compared first."""
    card_a, scene, _ = write_card_scene(tmp_path / "a")
    a = HSILidarDataModule(scene=str(card_a), patch_size=5)
    a.setup("fit")
    card_b, _ = write_other_scene(tmp_path / "b", class_names=[*scene.class_names, "extra"])
    for stage in ("test", "predict"):
        b = HSILidarDataModule(scene=str(card_b), patch_size=5)
        b.load_state_dict(a.state_dict())  # before setup: the CLI's order
        with pytest.raises(CheckpointError, match=r"(?s)class lists differ.*not in the checkpoint: \['extra'\]") as e:
            b.setup(stage)
        assert "unseen_classes" not in str(e.value)
