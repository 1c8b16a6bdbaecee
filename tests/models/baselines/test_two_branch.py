"""Two-Branch CNN's specifics (the contract's shared checks, with its reference count, are in test_contract.py):
the spectral branch reads the centre pixel; the spectral branch's minimum band count."""

from __future__ import annotations

import pytest
import torch

from mmlgnet.models.baselines.two_branch import TwoBranchCNN

SMALL = {"spatial_widths": (8, 16), "spectral_widths": (4, 8), "lidar_widths": (4, 8)}  # test-sized widths


def test_spectral_branch_reads_the_centre_pixel() -> None:
    """Off-centre HSI pixels reach the output only through the spatial branch: zeroing that branch's first
    conv makes the output depend on the centre spectrum (and LiDAR) alone."""
    torch.manual_seed(0)
    net = TwoBranchCNN(hsi_bands=20, lidar_bands=1, patch_size=5, out_dim=6, **SMALL).eval()
    with torch.no_grad():
        net.spatial[0].weight.zero_()
        hsi, lidar = torch.randn(2, 20, 5, 5), torch.randn(2, 1, 5, 5)
        changed = hsi.clone()
        changed[:, :, 0, :] += 5.0  # every pixel of the first row; the centre (2, 2) untouched
        assert torch.allclose(net(hsi, lidar), net(changed, lidar))
        changed[:, :, 2, 2] += 5.0
        assert not torch.allclose(net(hsi, lidar), net(changed, lidar))


def test_too_few_hsi_bands_for_the_spectral_branch_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^TwoBranchCNN: hsi_bands=13; expected an integer >= 14 \(the spectral branch's"):
        TwoBranchCNN(hsi_bands=13, lidar_bands=1, patch_size=11, out_dim=4)
