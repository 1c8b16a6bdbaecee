"""FusAtNet as a feature network under the package's network contract (pure PyTorch).

Paper: S. Mohla, S. Pande, B. Banerjee, S. Chaudhuri, "FusAtNet: Dual Attention based SpectroSpatial
Multimodal Fusion Network for Hyperspectral and LiDAR Classification", IEEE/CVF CVPR Workshops, 2020.
Reference implementation (Keras): github.com/ShivamP1993/FusAtNet, model.py (and data_prepare.py), commit
776fc9b35f3da5a9ce7e3d1a55c533e668ed2fc4. Layer facts below are read from that file; the code is ours.

Architecture (reference function names in brackets; every conv is 3×3, Keras `Conv2D(activation='relu')`
followed by `BatchNormalization`, i.e. conv → ReLU → BN, in that order):
- HSI feature extractor [hs]: 6 'same' convs H→256→256→256→256→256→1024.
- Spectral attention [mask_spec], from the HSI: c1 H→256, c2 256→256, concat(c1, c2) → 2×2 max-pool,
  c3 512→256, c4 256→256, concat(c3, c4) → max-pool, c5 512→256, c6 256→1024, max-pool, global average
  pool → a (B, 1024) vector that multiplies the HSI features channel-wise (self-attention).
- Spatial attention [mask_spat], from the LiDAR: t1 L→128, t2 128→128, concat → t3 256→128, t4 128→256,
  concat(t3, t4) → t5 384→256, t6 256→1024; a (B, 1024, P, P) map that multiplies the HSI features
  element-wise (cross-attention). Neither mask has a sigmoid: they are ReLU+BN outputs, as in the reference.
- Modality features [main2] (same layout as hs) and modality attention [att2] (same layout as mask_spat)
  on concat(hsi, lidar, spectral-attended, spatial-attended) (H + L + 2048 channels); multiplied.
- Classifier [clf]: five 'valid' convs 1024→256→256→256→256→1024 (11×11 → 1×1), then a 1×1 conv
  1024→K with softmax. That last 1×1 conv on a 1×1 map is exactly a Linear(1024, K) on the flattened
  vector, so this network ends after the fifth valid conv (+ReLU+BN): `reference_out_dim = 1024`, and the
  package's linear head plays the part of the reference's 1×1 conv classifier (same K·1024 + K parameters).

Trainable parameter counts (reference Keras model, `model.trainable_weights`; BN moving mean/variance are not
trainable, as PyTorch buffers are not parameters): Trento (63, 1, K=6) 37,421,190; MUUFL (64, 2, 11)
37,438,987; Houston 2013 (144, 1, 15) 38,083,599 — see tests/models/baselines/test_contract.py and reference_counts/.
With the reference's weights loaded, this network + a Linear head reproduces the Keras model's softmax outputs
(eval mode, max abs difference 7e-8; reference_counts/equiv_fusatnet.py).

Deliberate differences from the reference (every one we know of):
1. Framework: Keras → PyTorch. Initialisation copies Keras' defaults (Glorot-uniform kernels, zero biases, BN
   γ=1, β=0) and BN copies Keras' momentum 0.99 (PyTorch momentum 0.01) and ε=1e-3; random streams differ.
2. The reference's 1×1 conv classifier (with softmax) is not part of the network: the package's head replaces
   it (`head: linear` = Linear(out_dim, K) + cross-entropy, the same function and parameter count).
3. `out_dim` other than 1024 sets the width of the last valid conv (the layer before the classifier).
4. Patch size: the reference is built for 11×11 only (five valid convs reduce 11 → 1). Here any
   patch_size ≥ 11 runs: the classifier's valid convs leave a (P−10)×(P−10) map that is averaged over space
   (a no-op at P = 11, where the map is 1×1). patch_size < 11 raises ValueError (the valid convs and the
   spectral mask's three 2×2 max-pools need at least 11).
5. The Keras L2 kernel regulariser (0.01·Σw² on every conv kernel, added to the loss) is not in the network;
   it is an optimiser/loss setting (see fusatnet.yaml: the package's AdamW decouples weight decay).
6. Training recipe (not part of the network; see fusatnet.yaml): reference Nadam(2e-5, β=(0.9, 0.999)),
   batch 64, 4× rotation augmentation (0/90/180/270°, precomputed), per-band min–max scaling, and the model
   kept at the best TEST accuracy epoch; the harness never selects on test.
7. The widths (256 / 128 / 1024) are options so that tests can run a small copy; defaults are the reference's.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # Keras BatchNormalization: epsilon 1e-3, moving average 0.99


def _conv_relu_bn(cin: int, cout: int, padding: int) -> nn.Sequential:
    """Keras `Conv2D(cout, (3, 3), activation='relu')` then `BatchNormalization()`: conv → ReLU → BN."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding), nn.ReLU(),
                         nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOMENTUM))


class _Trunk(nn.Module):
    """[hs] / [main2]: six 'same' conv-ReLU-BN layers cin→c→c→c→c→c→feat. (B, cin, P, P) → (B, feat, P, P)."""

    def __init__(self, cin: int, channels: int, feature_channels: int) -> None:
        super().__init__()
        widths = [cin] + [channels] * 5 + [feature_channels]
        self.layers = nn.Sequential(*(_conv_relu_bn(a, b, 1) for a, b in pairwise(widths)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _SpectralMask(nn.Module):
    """[mask_spec]: dense pairs with 2×2 max-pools, then global average pool. (B, H, P, P) → (B, feat)."""

    def __init__(self, cin: int, channels: int, feature_channels: int) -> None:
        super().__init__()
        c = channels
        self.c1, self.c2 = _conv_relu_bn(cin, c, 1), _conv_relu_bn(c, c, 1)
        self.c3, self.c4 = _conv_relu_bn(2 * c, c, 1), _conv_relu_bn(c, c, 1)
        self.c5, self.c6 = _conv_relu_bn(2 * c, c, 1), _conv_relu_bn(c, feature_channels, 1)
        self.pool = nn.MaxPool2d(2)  # Keras MaxPooling2D((2, 2), padding='valid'): floor, 11 → 5 → 2 → 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.c1(x)                                           # (B, c, P, P)
        y = self.pool(torch.cat([y1, self.c2(y1)], 1))            # (B, 2c, P/2, P/2)  (concat "residual")
        y3 = self.c3(y)                                           # (B, c, ., .)
        y = self.pool(torch.cat([y3, self.c4(y3)], 1))            # (B, 2c, P/4, P/4)
        y = self.pool(self.c6(self.c5(y)))                        # (B, feat, P/8, P/8)
        return y.mean(dim=(2, 3))                                 # (B, feat)  GlobalAveragePooling2D


class _DenseMask(nn.Module):
    """[mask_spat] / [att2]: t1 cin→m, t2 m→m, t3 2m→m, t4 m→c, t5 (m+c)→c, t6 c→feat, all 'same'.

    (B, cin, P, P) → (B, feat, P, P)."""

    def __init__(self, cin: int, mask_channels: int, channels: int, feature_channels: int) -> None:
        super().__init__()
        m, c = mask_channels, channels
        self.t1, self.t2 = _conv_relu_bn(cin, m, 1), _conv_relu_bn(m, m, 1)
        self.t3, self.t4 = _conv_relu_bn(2 * m, m, 1), _conv_relu_bn(m, c, 1)
        self.t5, self.t6 = _conv_relu_bn(m + c, c, 1), _conv_relu_bn(c, feature_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.t1(x)                                           # (B, m, P, P)
        y3 = self.t3(torch.cat([y1, self.t2(y1)], 1))             # (B, m, P, P)
        y5 = self.t5(torch.cat([y3, self.t4(y3)], 1))             # (B, c, P, P)
        return self.t6(y5)                                        # (B, feat, P, P)


class FusAtNet(nn.Module):
    """FusAtNet (Mohla et al., CVPRW 2020) up to the layer before its classifier: (hsi, lidar) → (B, out_dim).

    hsi: (B, hsi_bands, P, P), lidar: (B, lidar_bands, P, P), P = patch_size ≥ 11 (reference: 11).
    channels / mask_channels / feature_channels: the reference's 256 / 128 / 1024 conv widths."""

    reference_out_dim: int = 1024
    reference_patch_size: int = 11

    def __init__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int,
                 channels: int = 256, mask_channels: int = 128, feature_channels: int = 1024) -> None:
        super().__init__()
        check_ints("FusAtNet", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "out_dim": out_dim,
                                "channels": channels, "mask_channels": mask_channels,
                                "feature_channels": feature_channels, "patch_size": patch_size},
                   {"patch_size": (self.reference_patch_size, "the reference uses 11: its five valid 3x3 classifier "
                                   "convs and three 2x2 max-pools need at least 11x11")})
        self.hsi_bands, self.lidar_bands = hsi_bands, lidar_bands
        self.patch_size, self.out_dim = patch_size, out_dim
        c, feat = channels, feature_channels
        self.hsi_features = _Trunk(hsi_bands, c, feat)                           # [hs]
        self.spectral_mask = _SpectralMask(hsi_bands, c, feat)                   # [mask_spec]
        self.spatial_mask = _DenseMask(lidar_bands, mask_channels, c, feat)      # [mask_spat]
        fused_in = hsi_bands + lidar_bands + 2 * feat
        self.modality_features = _Trunk(fused_in, c, feat)                       # [main2]
        self.modality_mask = _DenseMask(fused_in, mask_channels, c, feat)        # [att2]
        widths = [feat, c, c, c, c, out_dim]                                     # [clf] without its 1x1 conv
        self.classifier = nn.Sequential(*(_conv_relu_bn(a, b, 0) for a, b in pairwise(widths)))
        self._keras_init()

    def _keras_init(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases (BN γ=1, β=0 are PyTorch's defaults too)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("FusAtNet", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        feats = self.hsi_features(hsi)                                  # (B, 1024, P, P)
        spec = feats * self.spectral_mask(hsi)[:, :, None, None]        # (B, 1024, P, P) channel attention
        spat = feats * self.spatial_mask(lidar)                         # (B, 1024, P, P) spatial attention
        conc = torch.cat([hsi, lidar, spec, spat], 1)                   # (B, H + L + 2048, P, P)
        fused = self.modality_features(conc) * self.modality_mask(conc)  # (B, 1024, P, P)
        z = self.classifier(fused)                                      # (B, out_dim, P - 10, P - 10)
        return z.mean(dim=(2, 3))                                       # (B, out_dim); P = 11: the 1x1 map
