"""MFT: contract (shapes, errors), reference parameter counts, a short training run, no unused parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.mft import MFT

# (hsi_bands, lidar_bands, classes) of each scene.
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}
REFERENCE_PATCH = 11  # MFT.ipynb: patchsize = 11; paper Sec. IV ("patches of size 11 × 11")

# Trainable parameters of the REFERENCE model with a K-way classifier, obtained by instantiating it:
# `MFT(16, C1, C2, K, False)` from the "MFT WITH CHANNEL TOKENIZATION" cell of AnkurDeria/MFT Model/MFT.ipynb
# @ de214e512ff1a8f6aefdf27fc2cb60c75e0f559a (the cell's classes executed as they are; einops.rearrange
# shimmed by a transpose), sum(p.numel() for p in parameters() if p.requires_grad) (reference_counts/count_mft.py).
# The notebook's own torchsummary output prints 263,526 (Trento) and 313,071 (Houston): torchsummary misses
# the 8,832 parameters held directly by MFT (position_embeddings 320, token_wA 256, token_wV 4,096,
# token_wA_L 64, token_wV_L 4,096); 263,526 + 8,832 = 272,358 and 313,071 + 8,832 = 321,903.
# Arithmetic, with S = 8·(C1 − 8) and g = 16 if S % 16 == 0 else 8:
#   672 (Conv3d + BN3d) + [64·(S/g)·9 + 64] + [64·S + 64] + 128 (HetConv + BN) + [9·64·C2 + 64 + 128] (LiDAR)
#   + 2·100,736 (blocks) + 128 (final LN) + 8,832 + 65·K
REFERENCE_TOTAL = {"trento": 272_358, "muufl": 258_219, "houston2013": 321_903}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these tiny tensors run many times slower when threads fight for shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def make(hsi: int, lidar: int, patch: int = REFERENCE_PATCH, out_dim: int = MFT.reference_out_dim) -> MFT:
    return MFT(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch, out_dim=out_dim)


def arithmetic_total(hsi: int, lidar: int, classes: int) -> int:
    s = 8 * (hsi - 8)
    g = 16 if s % 16 == 0 else 8
    hetconv = 64 * (s // g) * 9 + 64 + 64 * s + 64 + 128
    return 672 + hetconv + 9 * 64 * lidar + 64 + 128 + 2 * 100_736 + 128 + 8_832 + 65 * classes


@pytest.mark.parametrize("scene", sorted(SCENES))
@pytest.mark.parametrize("patch", [REFERENCE_PATCH, 7])
def test_forward_shape(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = make(hsi, lidar, patch).eval()
    with torch.no_grad():
        out = net(torch.randn(2, hsi, patch, patch), torch.randn(2, lidar, patch, patch))
    assert out.shape == (2, MFT.reference_out_dim)
    assert torch.isfinite(out).all()


def test_out_dim_other_than_reference() -> None:
    net = make(12, 1, 5, out_dim=20)
    assert net(torch.randn(3, 12, 5, 5), torch.randn(3, 1, 5, 5)).shape == (3, 20)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_parameter_count_matches_reference(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    out_dim = MFT.reference_out_dim
    ours = n_params(make(hsi, lidar)) + out_dim * classes + classes  # + the package's Linear(out_dim, K) head
    assert ours == REFERENCE_TOTAL[scene] == arithmetic_total(hsi, lidar, classes)


@pytest.mark.parametrize(
    ("hsi_shape", "lidar_shape", "tensor"),
    [
        ((2, 13, 11, 11), (2, 1, 11, 11), "hsi"),
        ((2, 12, 11, 11), (2, 2, 11, 11), "lidar"),
        ((2, 12, 7, 7), (2, 1, 7, 7), "hsi"),
        ((12, 11, 11), (2, 1, 11, 11), "hsi"),
    ],
)
def test_wrong_input_shape_is_named(hsi_shape: tuple, lidar_shape: tuple, tensor: str) -> None:
    net = make(12, 1)
    with pytest.raises(ValueError, match=rf"MFT: {tensor} has shape .*expected \(B, \d+, 11, 11\)"):
        net(torch.randn(*hsi_shape), torch.randn(*lidar_shape))


def test_too_few_hsi_bands_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MFT: hsi_bands must be an integer >= 9, got 8"):
        make(8, 1)


@pytest.mark.parametrize("out_dim", [MFT.reference_out_dim, 16])
def test_gradients_reach_every_parameter(out_dim: int) -> None:
    torch.manual_seed(0)
    net = make(12, 2, 5, out_dim=out_dim)
    net(torch.randn(4, 12, 5, 5), torch.randn(4, 2, 5, 5)).square().sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_short_training_lowers_the_loss() -> None:
    torch.manual_seed(0)
    labels = torch.arange(16) % 2
    hsi = torch.randn(16, 12, 7, 7) + 1.5 * labels.view(-1, 1, 1, 1)  # class 1 is brighter
    lidar = torch.randn(16, 1, 7, 7)
    net = make(12, 1, 7)
    head = nn.Linear(MFT.reference_out_dim, 2)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    losses = []
    for _ in range(31):
        loss = nn.functional.cross_entropy(head(net(hsi, lidar)), labels)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0]
