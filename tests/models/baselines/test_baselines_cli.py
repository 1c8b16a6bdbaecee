"""Every baseline through the real CLI under both heads: its overlay (configs/baselines/<name>.yaml) on the synthetic
demo scene, shrunk to seconds (debug overlay, 2 epochs, test-sized widths), fit then test; language on any backbone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from mmlgnet.cli import main
from mmlgnet.training.module import MMLGNetModule
from mmlgnet.training.network import ProjectedNetwork

REPO = Path(__file__).resolve().parents[3]
DEBUG = str(REPO / "configs" / "overlays" / "debug.yaml")

# overlay -> (class name, patch size, test-sized init_args): the smallest patch each network allows
BASELINES: dict[str, tuple[str, int, list[str]]] = {
    "fusatnet": ("FusAtNet", 11, ["--model.network.init_args.channels", "8",
                                  "--model.network.init_args.mask_channels", "4",
                                  "--model.network.init_args.feature_channels", "16"]),
    "two_branch": ("TwoBranchCNN", 5, ["--model.network.init_args.spatial_widths", "[8, 16]",
                                       "--model.network.init_args.spectral_widths", "[4, 8]",
                                       "--model.network.init_args.lidar_widths", "[4, 8]"]),
    "endnet": ("EndNet", 3, []),
    "s2enet": ("S2ENet", 5, []),
    "mdl_middle": ("MDLMiddleFusion", 5, []),
    "mft": ("MFT", 5, []),
}


@pytest.fixture(autouse=True)
def _one_thread():  # 2 shared cores: one intra-op thread is faster and steadier than oversubscribed two
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("head", ["linear", "text"])
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_overlay_fits_and_tests_under_either_head(tmp_path: Path, name: str, head: str) -> None:
    cls, patch, small = BASELINES[name]
    main(["fit", "--config", str(REPO / "configs" / "demo.yaml"),
          "--config", str(REPO / "configs" / "baselines" / f"{name}.yaml"), "--config", DEBUG,
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "2",
          "--data.patch_size", str(patch), "--data.val_fraction", "0.0", "--model.head", head,
          "--test_after_fit", "true", *small])
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["num_test_pixels"] > 0 and rec["variant"]["head"] == head and rec["trained"]["global_step"] > 0
    model = MMLGNetModule.load_from_checkpoint(next((tmp_path / "runs").rglob("last.ckpt")), map_location="cpu")
    assert isinstance(model.net, ProjectedNetwork) and type(model.net.network).__name__ == cls
    width = type(model.net.network).reference_out_dim  # the published classifier's input width, by the contract
    if head == "linear":  # as published: the network, then Linear(reference_out_dim, K)
        assert isinstance(model.net.projection, torch.nn.Identity)
        assert model.head.linear.in_features == width
    else:  # language on the same backbone: MMLGNet's projection into the text space
        assert model.net.projection.in_features == width
    if name == "endnet":  # the reconstruction loss was part of the training loss
        rows = list(csv.DictReader(next((tmp_path / "runs").rglob("metrics.csv")).open()))
        assert any(r.get("train/auxiliary") for r in rows)
