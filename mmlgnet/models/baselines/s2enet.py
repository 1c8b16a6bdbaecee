"""S²ENet: spatial–spectral cross-modal enhancement network for HSI + LiDAR classification.

Paper: S. Fang, K. Li and Z. Li, "S²ENet: Spatial–Spectral Cross-Modal Enhancement Network for Classification
of Hyperspectral and LiDAR Data", IEEE Geoscience and Remote Sensing Letters, vol. 19, 2022, art. 6504205,
doi:10.1109/LGRS.2021.3121028.

Reference implementation (the authors' own): likyoo/Multimodal-Remote-Sensing-Toolkit, ``model/S2ENet.py``
(commit 2cfc4a2506526adcf6965e0e409be01f5b0523d7), trained by its ``main.py`` / ``model_utils.py``.

Architecture (facts carried over from the reference; the code is ours):
  - HSI branch: three conv3×3(pad 1, bias) → BN → ReLU with 128, 64, 32 channels.
  - LiDAR branch: the same with 8, 16, 32 channels.
  - SAEM (spatial enhancement of the HSI features by the LiDAR features): T1, T2 = conv1×1(32→16) → BN →
    sigmoid on HSI and LiDAR features; affinity = T1ᵀ·T2 (P²×P²); a bias-free Conv1d over the P² LiDAR
    positions reduces it to one P×P spatial map that multiplies the HSI features.
  - SEEM (spectral enhancement of the LiDAR features by the HSI features): T1, T2 = conv1×1(32→32) → BN →
    sigmoid on LiDAR and HSI features; affinity = T1·T2ᵀ (32×32 channels); a bias-free Conv1d over the 32 HSI
    channels reduces it to one weight per LiDAR channel.
  - Fusion: concat (64) → conv1×1 → BN → ReLU (32) → global average pool → the reference's ``fc`` (here: the
    package's head). So ``reference_out_dim`` = 32 and this network ends at the pooled 32-d vector.
  - Init as the reference: kaiming_normal(fan_out, relu) for every Conv2d, BN weight 1 / bias 0; Conv1d and
    the head keep PyTorch defaults (as the reference's Conv1d and fc do).

Deliberate differences from the reference (every one):
  1. Dead parameters dropped. The reference's SAEM and SEEM construct ``g`` (conv1×1) and ``W_z`` (conv1×1 +
     BN) — remnants of a non-local block — that its ``forward`` never calls: 3,312 parameters (SAEM.g 528,
     SAEM.W_z 544 + 64, SEEM.g 1,056, SEEM.W_z 1,056 + 64) that never receive a gradient. They are counted by
     the reference's ``parameters()`` but change nothing; keeping them would leave unused parameters (which
     DDP rejects). Hence params(this) + linear head == reference total − 3,312 (the reference's parameters
     that take part in its forward pass). Tested in tests/models/baselines/test_contract.py.
  2. Head width. The reference's DeepHyperX pipeline builds its classifier with n_classes = K + 1 (class 0
     "Unclassified" has loss weight 0, an always-dead logit: +33 parameters); the package's head has K
     outputs. The reference totals in the test are for K outputs.
  3. ``out_dim`` ≠ 32: the fusion conv1×1 outputs ``out_dim`` channels instead of 32 (at out_dim = 32 the
     network is the reference's).
  4. Training recipe lives outside the network (see s2enet.yaml): the reference's flip/rotation augmentation
     (``--flip_augmentation``), Adam (not AdamW) and per-band min–max scaling are not part of this module;
     the reference tests its last epoch (no test-set selection), as we do.
  5. Input checks: wrong shapes raise ValueError (the reference would fail inside a layer or, for a wrong
     patch size, in the Conv1d).

Any patch size works; the SAEM's Conv1d has P² input channels, so ``patch_size`` fixes the spatial size
(the reference's own default is 7).
"""

from __future__ import annotations

import torch
from torch import nn

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

__all__ = ["S2ENet"]


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv(k, same padding, bias) → BN → ReLU, the reference's ``conv_bn_relu``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=True),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def _conv1x1_bn_sigmoid(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels), nn.Sigmoid())


class SpatialEnhance(nn.Module):
    """SAEM: one P×P map computed from HSI–LiDAR positional affinities re-weights the HSI features."""

    def __init__(self, channels: int, inter_channels: int, patch_size: int) -> None:
        super().__init__()
        self.t1 = _conv1x1_bn_sigmoid(channels, inter_channels)  # on the features being enhanced (HSI)
        self.t2 = _conv1x1_bn_sigmoid(channels, inter_channels)  # on the guiding features (LiDAR)
        self.reduce = nn.Conv1d(patch_size * patch_size, 1, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape  # x, guide: (B, C, P, P)
        t1 = self.t1(x).flatten(2)  # (B, Ci, P²)
        t2 = self.t2(guide).flatten(2)  # (B, Ci, P²)
        affinity = torch.bmm(t2.transpose(1, 2), t1)  # (B, P²_guide, P²_x)
        spatial = self.reduce(affinity).view(b, 1, h, w)  # (B, 1, P, P)
        return x * spatial  # (B, C, P, P)


class SpectralEnhance(nn.Module):
    """SEEM: one weight per LiDAR channel, computed from LiDAR–HSI channel affinities."""

    def __init__(self, channels: int, guide_channels: int) -> None:
        super().__init__()
        self.t1 = _conv1x1_bn_sigmoid(channels, channels)  # on the features being enhanced (LiDAR)
        self.t2 = _conv1x1_bn_sigmoid(guide_channels, guide_channels)  # on the guiding features (HSI)
        self.reduce = nn.Conv1d(guide_channels, 1, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]  # x: (B, C, P, P); guide: (B, Cg, P, P)
        t1 = self.t1(x).flatten(2)  # (B, C, P²)
        t2 = self.t2(guide).flatten(2)  # (B, Cg, P²)
        affinity = torch.bmm(t2, t1.transpose(1, 2))  # (B, Cg, C)
        spectral = self.reduce(affinity).view(b, c, 1, 1)  # (B, C, 1, 1)
        return x * spectral  # (B, C, P, P)


class S2ENet(nn.Module):
    """S²ENet (Fang et al., GRSL 2022) up to the pooled fusion features; the package adds the classifier."""

    reference_out_dim: int = 32
    hsi_planes: tuple[int, int, int] = (128, 64, 32)
    lidar_planes: tuple[int, int, int] = (8, 16, 32)

    def __init__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        check_ints("S2ENet", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "patch_size": patch_size,
                              "out_dim": out_dim})
        self.hsi_bands, self.lidar_bands, self.patch_size, self.out_dim = hsi_bands, lidar_bands, patch_size, out_dim
        a, b = self.hsi_planes, self.lidar_planes
        self.hsi_convs = nn.Sequential(
            _conv_bn_relu(hsi_bands, a[0], 3), _conv_bn_relu(a[0], a[1], 3), _conv_bn_relu(a[1], a[2], 3)
        )
        self.lidar_convs = nn.Sequential(
            _conv_bn_relu(lidar_bands, b[0], 3), _conv_bn_relu(b[0], b[1], 3), _conv_bn_relu(b[1], b[2], 3)
        )
        self.saem = SpatialEnhance(a[2], a[2] // 2, patch_size)
        self.seem = SpectralEnhance(b[2], a[2])
        self.fusion = nn.Sequential(nn.Conv2d(a[2] + b[2], out_dim, 1), nn.BatchNorm2d(out_dim), nn.ReLU())
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("S2ENet", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        x1 = self.hsi_convs(hsi)  # (B, 32, P, P)
        x2 = self.lidar_convs(lidar)  # (B, 32, P, P)
        enhanced_hsi = self.saem(x1, x2)  # (B, 32, P, P)
        enhanced_lidar = self.seem(x2, x1)  # (B, 32, P, P)
        fused = self.fusion(torch.cat([enhanced_hsi, enhanced_lidar], dim=1))  # (B, out_dim, P, P)
        return fused.mean(dim=(-2, -1))  # (B, out_dim)
