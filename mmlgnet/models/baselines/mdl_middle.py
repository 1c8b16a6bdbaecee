"""MDL-RS middle-fusion CNN for HSI + LiDAR classification.

Paper: D. Hong, L. Gao, N. Yokoya, J. Yao, J. Chanussot, Q. Du and B. Zhang, "More Diverse Means Better:
Multimodal Deep Learning Meets Remote-Sensing Imagery Classification", IEEE Transactions on Geoscience and
Remote Sensing, vol. 59, no. 5, pp. 4340–4354, 2021, doi:10.1109/TGRS.2020.3016820.

Reference implementation (the authors' own, TensorFlow 1): danfenghong/IEEE_TGRS_MDL-RS,
``MDL-RS_CNNs/Middle_fusion_CNNs.py`` (commit cb0e1287c6011dfa127a9d2fb10991dbb47e9ac1), run with
MODEL = 'MML' (multimodal learning). A PyTorch port, likyoo/Multimodal-Remote-Sensing-Toolkit
``model/DML_Hong.py`` (Middle_fusion_CNN), has the same layers and parameter count.

Architecture (facts carried over from the reference; the code is ours). Shapes at the reference's 7×7 patch:
  each branch (HSI: C₁ bands, LiDAR: C₂ bands), own weights:
    conv3×3(C→16, bias) → BN → ReLU                               (B, 16, 7, 7)
    conv1×1(16→32, bias) → BN → maxpool 2/2 'SAME' → ReLU          (B, 32, 4, 4)
    conv3×3(32→64, bias) → BN → ReLU                               (B, 64, 4, 4)
    conv1×1(64→128, bias) → BN → maxpool 2/2 'SAME' → ReLU         (B, 128, 2, 2)
  concat                                                           (B, 256, 2, 2)
  conv1×1(256→128, bias) → BN → ReLU                               (B, 128, 2, 2)
  conv1×1(128→64, bias) → BN → avgpool 2/2 'SAME' → ReLU           (B, 64, 1, 1)
  [reference classifier: conv1×1(64→K, bias) on the 1×1 map, i.e. a Linear(64, K): the package's head]
  So ``reference_out_dim`` = 64. BN is TF's ``tf.layers.batch_normalization(momentum=0.9)``: trainable γ, β;
  we use PyTorch momentum 0.1 (the same running-average rate) and TF's epsilon 1e-3. Conv weights use the
  reference's initialiser (TF1 ``variance_scaling_initializer()``: truncated normal, σ = √(1.3·2/fan_in),
  cut at ±2σ), biases zero. TF 'SAME' max pooling with kernel = stride = 2 pads at the bottom/right only and
  padding never wins: that is PyTorch's ``MaxPool2d(2, 2, ceil_mode=True)``.

Deliberate differences from the reference (every one):
  1. LiDAR input: the reference feeds 21 extended attribute-profile bands of the Houston DSM; this network
     takes whatever ``lidar_bands`` the package gives (the raw DSM: 1 band on Trento/Houston, 2 on MUUFL),
     as the MMRS port does. Parameter counts in the test are for these band counts (the reference's own
     Houston configuration, C₂ = 21, has 121,983; with C₂ = 1 it has 119,103).
  2. Patch size: the reference is written for 7×7 (its final 2×2 map is average-pooled to 1×1 and reshaped
     into the logits). Here the last average pool is a global average pool, which is identical for
     patch sizes 5–8 (a 2×2 map before it) and ≤ 4 (1×1), and extends the network to any patch size
     instead of producing K·h·w "logits". Use 7 to run the method as published.
  3. Regularisation: the reference adds 0.001·Σ‖w‖²/2 over the conv kernels (not biases, not BN) to the loss
     (coupled L2 in Adam). That belongs to the optimiser, not to this module: see mdl_middle.yaml (the
     package's AdamW decays all parameters, decoupled).
  4. ``out_dim`` ≠ 64: the last conv1×1 (128→64) outputs ``out_dim`` channels (at 64: the reference).
  5. Training recipe lives outside the network (mdl_middle.yaml): Adam 1e-3 halved every 30 epochs, 150(+1)
     epochs, batch 64, last epoch kept (the reference also prints its best test accuracy; we never select).
  6. Input checks: wrong shapes raise ValueError.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

__all__ = ["MDLMiddleFusion"]

_BN_EPS = 1e-3  # TF tf.layers.batch_normalization default epsilon
_BN_MOMENTUM = 0.1  # TF momentum 0.9 (decay of the running average) == PyTorch momentum 0.1


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=True),
        nn.BatchNorm2d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM),
    ]


def _max_pool_same() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)  # TF 'SAME', kernel = stride = 2


def _branch(in_channels: int) -> nn.Sequential:
    """One modality's encoder: (B, C, P, P) → (B, 128, ⌈⌈P/2⌉/2⌉, …)."""
    return nn.Sequential(
        *_conv_bn(in_channels, 16, 3),
        nn.ReLU(),
        *_conv_bn(16, 32, 1),
        _max_pool_same(),
        nn.ReLU(),
        *_conv_bn(32, 64, 3),
        nn.ReLU(),
        *_conv_bn(64, 128, 1),
        _max_pool_same(),
        nn.ReLU(),
    )


class MDLMiddleFusion(nn.Module):
    """MDL-RS middle-fusion CNN (Hong et al., TGRS 2021) up to its classifier; the package adds the head."""

    reference_out_dim: int = 64

    def __init__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int) -> None:
        super().__init__()
        check_ints("MDLMiddleFusion", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "patch_size": patch_size,
                                       "out_dim": out_dim})
        self.hsi_bands, self.lidar_bands, self.patch_size, self.out_dim = hsi_bands, lidar_bands, patch_size, out_dim
        self.hsi_branch = _branch(hsi_bands)
        self.lidar_branch = _branch(lidar_bands)
        self.joint = nn.Sequential(
            *_conv_bn(256, 128, 1),
            nn.ReLU(),
            *_conv_bn(128, out_dim, 1),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                std = math.sqrt(1.3 * 2.0 / fan_in)
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("MDLMiddleFusion", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        joint = torch.cat([self.hsi_branch(hsi), self.lidar_branch(lidar)], dim=1)  # (B, 256, 2, 2) at P = 7
        z = self.joint(joint)  # (B, out_dim, 2, 2) after conv → BN
        # Reference: avgpool 2/2 'SAME' (2×2 → 1×1) then ReLU; global mean is the same there (see docstring).
        return torch.relu(z.mean(dim=(-2, -1)))  # (B, out_dim)
