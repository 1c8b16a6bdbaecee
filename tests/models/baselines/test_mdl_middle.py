"""MDLMiddleFusion's specifics (the contract's shared checks, with its reference count, are in test_contract.py):
its global pool is the reference's pool at the reference patch."""

from __future__ import annotations

import torch
from torch import nn

from mmlgnet.models.baselines.mdl_middle import MDLMiddleFusion
from tests.models.baselines.test_contract import MDL_MIDDLE_PATCH


def test_global_pool_equals_the_reference_pool_at_its_patch_size() -> None:
    """At 7×7 the map before the last pool is 2×2, so the reference's avgpool 2/2 is the global mean."""
    torch.manual_seed(0)
    net = MDLMiddleFusion(hsi_bands=8, lidar_bands=1, patch_size=MDL_MIDDLE_PATCH,
                          out_dim=MDLMiddleFusion.reference_out_dim).eval()
    hsi, lidar = torch.randn(3, 8, 7, 7), torch.randn(3, 1, 7, 7)
    with torch.no_grad():
        joint = torch.cat([net.hsi_branch(hsi), net.lidar_branch(lidar)], dim=1)
        assert joint.shape == (3, 256, 2, 2)
        reference = torch.relu(nn.functional.avg_pool2d(net.joint(joint), 2, 2)).flatten(1)
        assert torch.allclose(net(hsi, lidar), reference, atol=1e-6)
