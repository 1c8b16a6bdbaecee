"""The device-resident path and the per-sample DataLoader path serve identical batches; bf16-mixed runs on both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule

REPO = Path(__file__).resolve().parents[2]


def _dm(pipeline: str, **kw) -> HSILidarDataModule:
    dm = HSILidarDataModule(scene="synthetic", synthetic_height=40, synthetic_width=56, lidar_channels=2,
                            split="per_class:10", patch_size=7, batch_size=16, eval_batch_size=50,
                            pipeline=pipeline, **kw)
    dm.setup("fit")
    return dm


def _batches(dm: HSILidarDataModule, loader) -> list[dict[str, torch.Tensor]]:
    return [dm.on_after_batch_transfer(b, 0) for b in loader]


@pytest.mark.parametrize("which", ["test", "predict"])
def test_device_and_per_sample_paths_give_identical_batches(which):
    dev, ref = _dm("device"), _dm("per_sample")
    get = {"test": lambda d: d.test_dataloader(), "predict": lambda d: d.predict_dataloader()}[which]
    a, b = _batches(dev, get(dev)), _batches(ref, get(ref))
    assert len(a) == len(b) > 1
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y) == {"index", "target", "hsi", "lidar"}
        for key in x:
            assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
    assert a[0]["hsi"].shape == (50, dev.hsi_channels, 7, 7) and a[0]["lidar"].shape == (50, 2, 7, 7)


def test_same_indices_same_patches_any_order():
    dev, ref = _dm("device"), _dm("per_sample")
    index = np.random.default_rng(0).permutation(dev.scene.height * dev.scene.width)[:300]  # corners, edges included
    index = np.concatenate([index, [0, dev.scene.width - 1, dev.scene.height * dev.scene.width - 1]])
    got = dev.gather(torch.as_tensor(index))
    items = [ref._loader(index, False, len(index)).dataset[i] for i in range(len(index))]
    for name in ("hsi", "lidar"):
        assert torch.equal(got[name], torch.stack([it[name] for it in items]))
    # shuffled training batches of the device path: targets match the labels of the served indices
    for batch in _batches(dev, dev.train_dataloader()):
        flat = batch["index"].numpy()
        assert np.array_equal(batch["target"].numpy(), dev.scene.labels.reshape(-1)[flat] - 1)


@pytest.mark.parametrize("pipeline", ["device", "per_sample"])
def test_bf16_mixed_fit_and_test_on_both_paths(tmp_path, pipeline):
    main(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml"),
          "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.precision", "bf16-mixed",
          "--data.pipeline", pipeline, "--test_after_fit", "true"])
    rec = json.loads(next(tmp_path.rglob("test_metrics.json")).read_text())
    assert 0 <= rec["OA"] <= 100 and rec["num_test_pixels"] > 0
