"""S2ENet: contract (shapes, errors), reference parameter counts, short training, no unused parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.s2enet import S2ENet

# (hsi_bands, lidar_bands, classes) of each scene.
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}
REFERENCE_PATCH = 7  # MMRS model_utils.get_model: kwargs.setdefault("patch_size", 7) for S2ENet

# Trainable parameters of the REFERENCE model with a K-way classifier at its 7×7 patch, obtained by
# instantiating it: `S2ENet(C1, C2, K, 7)` from likyoo/Multimodal-Remote-Sensing-Toolkit model/S2ENet.py
# @ 2cfc4a2506526adcf6965e0e409be01f5b0523d7, sum(p.numel() for p in parameters() if p.requires_grad)
# (reference_counts/count_s2enet.py). Arithmetic check: 1152·C1 + 72·C2 + P² + 104,296 + 33·K + 3,312.
REFERENCE_TOTAL = {"trento": 180_503, "muufl": 181_892, "houston2013": 274_112}
# Of these, the reference's SAEM.g (528), SAEM.W_z (544 + 64), SEEM.g (1,056) and SEEM.W_z (1,056 + 64) are
# built but never called in forward: after a forward/backward pass they are the only parameters whose .grad is
# None (same script). Our network omits them (docstring, difference 1), so it matches the rest exactly.
REFERENCE_DEAD = 3_312


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these tiny tensors run many times slower when threads fight for shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def make(
    hsi: int, lidar: int, patch: int = REFERENCE_PATCH, out_dim: int = S2ENet.reference_out_dim
) -> S2ENet:
    return S2ENet(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=out_dim)


@pytest.mark.parametrize("scene", sorted(SCENES))
@pytest.mark.parametrize("patch", [REFERENCE_PATCH, 11])
def test_forward_shape(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = make(hsi, lidar, patch).eval()
    with torch.no_grad():
        out = net(torch.randn(2, hsi, patch, patch), torch.randn(2, lidar, patch, patch))
    assert out.shape == (2, S2ENet.reference_out_dim)
    assert torch.isfinite(out).all()


def test_out_dim_other_than_reference() -> None:
    net = make(8, 1, 5, out_dim=20)
    assert net(torch.randn(3, 8, 5, 5), torch.randn(3, 1, 5, 5)).shape == (3, 20)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_parameter_count_matches_reference(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    out_dim = S2ENet.reference_out_dim
    ours = n_params(make(hsi, lidar)) + out_dim * classes + classes  # + the package's Linear(out_dim, K) head
    assert ours == REFERENCE_TOTAL[scene] - REFERENCE_DEAD
    assert ours == 1152 * hsi + 72 * lidar + REFERENCE_PATCH**2 + 104_296 + 33 * classes


@pytest.mark.parametrize(
    ("hsi_shape", "lidar_shape", "tensor"),
    [
        ((2, 9, 7, 7), (2, 1, 7, 7), "hsi"),
        ((2, 8, 7, 7), (2, 2, 7, 7), "lidar"),
        ((2, 8, 9, 9), (2, 1, 9, 9), "hsi"),
        ((8, 7, 7), (2, 1, 7, 7), "hsi"),
    ],
)
def test_wrong_input_shape_is_named(hsi_shape: tuple, lidar_shape: tuple, tensor: str) -> None:
    net = make(8, 1)
    with pytest.raises(ValueError, match=rf"S2ENet: {tensor} has shape .*expected \(B, \d+, 7, 7\)"):
        net(torch.randn(*hsi_shape), torch.randn(*lidar_shape))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    net = make(8, 2, out_dim=16)
    net(torch.randn(4, 8, 7, 7), torch.randn(4, 2, 7, 7)).square().sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_short_training_lowers_the_loss() -> None:
    torch.manual_seed(0)
    labels = torch.arange(16) % 2
    hsi = torch.randn(16, 8, 7, 7) + 1.5 * labels.view(-1, 1, 1, 1)  # class 1 is brighter
    lidar = torch.randn(16, 1, 7, 7)
    net = make(8, 1)
    head = nn.Linear(S2ENet.reference_out_dim, 2)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    losses = []
    for _ in range(31):
        loss = nn.functional.cross_entropy(head(net(hsi, lidar)), labels)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0]
