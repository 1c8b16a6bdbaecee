"""EndNet's specifics (the contract's shared checks are in test_contract.py): the decoders' share of the reference
count, the centre pixel alone, the reconstruction loss as auxiliary_loss()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.endnet import EndNet
from tests.models.baselines.test_contract import ENDNET_TOTALS, SCENES

# The two decoders' parameters in the reference count (dec(H) + dec(L), test_contract.ENDNET_TOTALS' arithmetic).
REFERENCE_DECODERS = {"trento": 22_816, "muufl": 22_850, "houston2013": 24_193}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("scene", SCENES)
def test_without_reconstruction_only_the_decoders_are_missing(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    net = EndNet(hsi_bands=hsi, lidar_bands=lidar, patch_size=1, out_dim=64, reconstruction=False)
    assert n_params(net) + 64 * classes + classes == ENDNET_TOTALS[scene] - REFERENCE_DECODERS[scene]
    net(torch.rand(4, hsi, 1, 1), torch.rand(4, lidar, 1, 1))
    assert net.auxiliary_loss().item() == 0.0


def test_only_the_centre_pixel_is_used() -> None:
    torch.manual_seed(0)
    net = EndNet(hsi_bands=20, lidar_bands=2, patch_size=5, out_dim=8).eval()
    hsi, lidar = torch.rand(3, 20, 5, 5), torch.rand(3, 2, 5, 5)
    changed_hsi, changed_lidar = torch.rand(3, 20, 5, 5), torch.rand(3, 2, 5, 5)
    changed_hsi[:, :, 2, 2], changed_lidar[:, :, 2, 2] = hsi[:, :, 2, 2], lidar[:, :, 2, 2]
    with torch.no_grad():
        assert torch.equal(net(hsi, lidar), net(changed_hsi, changed_lidar))
        loss = net.auxiliary_loss()
        net(hsi, lidar)
        assert torch.equal(loss, net.auxiliary_loss())


def test_auxiliary_loss_is_the_reconstruction_mse_of_the_latest_forward() -> None:
    torch.manual_seed(0)
    net = EndNet(hsi_bands=12, lidar_bands=3, patch_size=1, out_dim=8).eval()
    hsi, lidar = torch.rand(5, 12, 1, 1), torch.rand(5, 3, 1, 1)
    with torch.no_grad():
        net(hsi, lidar)
        x1, x2 = hsi[:, :, 0, 0], lidar[:, :, 0, 0]
        a1 = net.joint1(torch.cat([net.hsi_encoder(x1), net.lidar_encoder(x2)], 1))
        assert net.hsi_decoder is not None and net.lidar_decoder is not None
        expected = ((net.hsi_decoder(a1) - x1) ** 2).mean() + ((net.lidar_decoder(a1) - x2) ** 2).mean()
        assert torch.allclose(net.auxiliary_loss(), expected)


def test_auxiliary_loss_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="call forward first"):
        EndNet(hsi_bands=12, lidar_bands=3, patch_size=1, out_dim=8).auxiliary_loss()
