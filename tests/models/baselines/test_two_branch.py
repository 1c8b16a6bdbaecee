"""Two-Branch CNN under the network contract: shapes, reference parameter counts, training, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmlgnet.models.baselines.two_branch import TwoBranchCNN

# scene: (HSI bands, LiDAR bands, classes K)
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}

# Total parameters of the reference Keras fused network
# (BUCT-Vision/Two-branch-CNN-Multisource-RS-classification models.py @201644c, finetune_Net with all layers
# trainable, r = 5 → 11x11, Dense(K) classifier included), obtained by running
# reference_counts/count_two_branch.py: it executes the reference's models.py (Keras-2 names shimmed) under
# TensorFlow 2.21 / Keras 3.15 with hchn=H, lchn=L, NUM_CLASS=K and sums
# `model.trainable_weights` (BN γ, β; moving statistics excluded). Arithmetic cross-check (P = 11, ⌈P/2⌉ = 6):
#   spatial  = (9·H·256 + 256 + 2·256) + (256·512 + 512)
#   spectral = (11·64 + 64 + 2·64) + (3·64·128 + 128)                                           = 25,600
#   lidar    = (9·L·64 + 64) + block(64, 64) + block(64, 128), block(c, n) = (9·c·2n + 2n + 4n)
#              + (2n·n + n + 2n) + c·2n + (9·n·2n + 2n + 4n) + (9·2n·n + n + 2n)
#   fusion   = 2F + (128·F + 128), F = 512·36 + 128·⌊(H − 12)/2⌋ + 128·36;  head = 128·K + K
# Trento:  277,504 + 25,600 + 1,028,096 + 3,411,328 (F = 26,240) +   774 = 4,743,302
# MUUFL:   279,808 + 25,600 + 1,028,672 + 3,427,968 (F = 26,368) + 1,419 = 4,763,467
# Houston: 464,128 + 25,600 + 1,028,096 + 4,093,568 (F = 31,488) + 1,935 = 5,613,327
# (Frozen-branch variant under Keras 3, not used: 3,412,102 / 3,429,387 / 4,095,503.)
REFERENCE_TOTALS = {"trento": 4_743_302, "muufl": 4_763_467, "houston2013": 5_613_327}

SMALL = {"spatial_widths": (8, 16), "spectral_widths": (4, 8), "lidar_widths": (4, 8)}  # test-sized widths


@pytest.fixture(autouse=True)
def _one_thread():  # 2 shared cores: one intra-op thread is faster and steadier than oversubscribed two
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("scene", SCENES)
def test_parameters_plus_linear_head_equal_the_reference_total(scene: str) -> None:
    hsi, lidar, classes = SCENES[scene]
    net = TwoBranchCNN(hsi_bands=hsi, lidar_bands=lidar, patch_size=TwoBranchCNN.reference_patch_size,
                       out_dim=TwoBranchCNN.reference_out_dim)
    head = nn.Linear(TwoBranchCNN.reference_out_dim, classes)
    assert n_params(net) + n_params(head) == REFERENCE_TOTALS[scene]


@pytest.mark.parametrize("patch", [11, 7])
@pytest.mark.parametrize("scene", SCENES)
def test_forward_shape_at_reference_widths(scene: str, patch: int) -> None:
    hsi, lidar, _ = SCENES[scene]
    torch.manual_seed(0)
    net = TwoBranchCNN(hsi_bands=hsi, lidar_bands=lidar, patch_size=patch,
                       out_dim=TwoBranchCNN.reference_out_dim)
    out = net.eval()(torch.randn(2, hsi, patch, patch), torch.randn(2, lidar, patch, patch))
    assert out.shape == (2, TwoBranchCNN.reference_out_dim)
    assert torch.isfinite(out).all()


def test_out_dim_sets_the_feature_width() -> None:
    net = TwoBranchCNN(hsi_bands=20, lidar_bands=2, patch_size=9, out_dim=7, **SMALL)
    assert net(torch.randn(3, 20, 9, 9), torch.randn(3, 2, 9, 9)).shape == (3, 7)


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


def _two_class_batch(n: int, hsi: int, lidar: int,
                     patch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two classes whose HSI means differ by 1 (noise σ = 1); LiDAR is pure noise."""
    y = torch.arange(n) % 2
    x_hsi = torch.randn(n, hsi, patch, patch) + (y.float() - 0.5)[:, None, None, None]
    return x_hsi, torch.randn(n, lidar, patch, patch), y


def test_thirty_adam_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    net = TwoBranchCNN(hsi_bands=16, lidar_bands=1, patch_size=7, out_dim=16, **SMALL)
    head = nn.Linear(16, 2)
    x_hsi, x_lidar, y = _two_class_batch(32, 16, 1, 7)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    first = None
    for _ in range(30):
        loss = nn.functional.cross_entropy(head(net(x_hsi, x_lidar)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = nn.functional.cross_entropy(head(net(x_hsi, x_lidar)), y).item()
    assert final < 0.7 * first, (first, final)


def test_every_parameter_receives_a_gradient_at_reference_widths() -> None:
    torch.manual_seed(0)
    net = TwoBranchCNN(hsi_bands=64, lidar_bands=2, patch_size=11, out_dim=TwoBranchCNN.reference_out_dim)
    head = nn.Linear(TwoBranchCNN.reference_out_dim, 11)
    loss = nn.functional.cross_entropy(head(net(torch.randn(4, 64, 11, 11), torch.randn(4, 2, 11, 11))),
                                       torch.tensor([0, 1, 2, 3]))
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(("hsi_shape", "lidar_shape", "tensor", "expected"), [
    ((2, 19, 9, 9), (2, 2, 9, 9), "hsi", "(B, 20, 9, 9)"),         # wrong band count
    ((2, 20, 11, 11), (2, 2, 9, 9), "hsi", "(B, 20, 9, 9)"),       # wrong patch
    ((2, 20, 9, 9), (2, 1, 9, 9), "lidar", "(B, 2, 9, 9)"),        # wrong LiDAR bands
    ((2, 20, 9, 9), (3, 2, 9, 9), "lidar", "same B"),              # batch mismatch
    ((20, 9, 9), (2, 2, 9, 9), "hsi", "(B, 20, 9, 9)"),            # no batch axis
])
def test_wrong_input_shape_names_class_tensor_and_expected_shape(hsi_shape: tuple[int, ...],
                                                                  lidar_shape: tuple[int, ...],
                                                                  tensor: str, expected: str) -> None:
    net = TwoBranchCNN(hsi_bands=20, lidar_bands=2, patch_size=9, out_dim=4, **SMALL)
    with pytest.raises(ValueError, match="TwoBranchCNN") as info:
        net(torch.randn(*hsi_shape), torch.randn(*lidar_shape))
    assert f"{tensor} has shape" in str(info.value) and expected in str(info.value)


def test_too_few_hsi_bands_for_the_spectral_branch_are_refused() -> None:
    with pytest.raises(ValueError, match=r"TwoBranchCNN: hsi_bands=13; expected >= 14"):
        TwoBranchCNN(hsi_bands=13, lidar_bands=1, patch_size=11, out_dim=4)
