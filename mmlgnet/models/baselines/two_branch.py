"""Two-Branch CNN as a feature network under the package's network contract (pure PyTorch).

Paper: X. Xu, W. Li, Q. Ran, Q. Du, L. Gao, B. Zhang, "Multisource Remote Sensing Data Classification Based on
Convolutional Neural Network", IEEE Transactions on Geoscience and Remote Sensing 56(2):937-949, 2018.
Reference implementation (Keras): github.com/BUCT-Vision/Two-branch-CNN-Multisource-RS-classification,
models.py (`finetune_Net`, `hsi_branch`, `lidar_branch`, `simple_cnn_branch(small_mode=False)`,
`pixel_branch`, `cascade_Net`, `cascade_block`) with data_util.py / main.py,
commit 201644cd0c7679ad4768133b70a1f500f3d1b267.
Layer facts below are read from those files; the code is ours. All LeakyReLUs have slope 0.2.

Architecture (P = patch, reference r = 5 → 11×11):
- HSI spatial branch [simple_cnn_branch]: conv3×3 H→256, BN, LeakyReLU; conv1×1 256→512, LeakyReLU;
  2×2 max-pool ('same': ceil, 11 → 6); flatten → 512·⌈P/2⌉².
- HSI spectral branch [pixel_branch] on the centre pixel's spectrum (B, 1, H): conv1d k=11 'valid' 1→64, BN,
  LeakyReLU; conv1d k=3 'valid' 64→128, LeakyReLU; max-pool 2 ('valid') → 128·⌊(H−12)/2⌋.
- LiDAR branch [cascade_Net]: conv3×3 L→64, LeakyReLU; cascade block(64); 2×2 max-pool ('same');
  LeakyReLU; cascade block(128); flatten → 128·⌈P/2⌉². A cascade block(n) [cascade_block] on x:
  a = BN(conv1×1 2n→n (ReLU(BN(conv3×3 →2n (x))))); b = LeakyReLU(BN(conv3×3 n→2n (LeakyReLU(a)) +
  conv1×1 →2n without bias (x))); out = LeakyReLU(BN(conv3×3 2n→n (b)) + a).
- Fusion [finetune_Net]: concat(spatial, spectral, lidar) → BN → Dropout(0.25) → Dense(128) → LeakyReLU →
  Dense(K, softmax). This network ends after the LeakyReLU: `reference_out_dim = 128`; the package's linear
  head is the reference's Dense(K) (same 128·K + K parameters).

Parameter counts (reference Keras fused model from `finetune_Net(trainable=True)`, `model.trainable_weights`;
BN moving statistics are not trainable, as PyTorch buffers are not parameters): Trento (63, 1, K=6)
4,743,302; MUUFL (64, 2, 11) 4,763,467; Houston 2013 (144, 1, 15) 5,613,327 — test_contract.py and
reference_counts/ say how. With the reference's weights loaded, this network + a Linear head reproduces the
Keras model's softmax outputs (eval mode, max abs difference 1.2e-7; reference_counts/equiv_two_branch.py).

Deliberate differences from the reference (every one we know of):
1. Framework: Keras → PyTorch. Initialisation copies Keras' defaults (Glorot-uniform kernels, zero biases, BN
   γ=1, β=0) and BN copies Keras' momentum 0.99 (PyTorch momentum 0.01) and ε=1e-3; random streams differ.
2. Branch pre-training replaced by end-to-end training. The README's recipe trains the HSI branch and the
   LiDAR branch separately (each with its own Dropout(0.5) + Dense(K) head, Adam 1e-4), then the fused
   network. As committed, main.py's fused stage calls `finetune_Net(hsi_weight=None, lidar_weight=None,
   trainable=False)`: no branch weights are loaded; and, to our reading of Keras 2.1 (its requirements),
   `Model.trainable = False` is a flag of the branch container that is consulted only where the container
   itself is called as a layer, not by a new model built from its inner layers' tensors as here, so the
   committed code trains the whole fused network from scratch (not verified by running Keras 2.1). Under
   tf.keras / Keras 3 the same call freezes the randomly initialised branches, leaving 3,412,102 / 3,429,387
   / 4,095,503 trainable parameters. The branch-only heads are not built here (no unused parameters).
3. The reference's Dense(K) classifier is not part of the network: the package's head replaces it.
   `out_dim` other than 128 sets the width of the fusion Dense layer (the layer before the classifier).
4. Any patch size runs (the flatten widths follow P); the reference uses 11. hsi_bands must be ≥ 14 (the
   spectral branch's valid convolutions and pooling need it).
5. The reference inputs the centre spectrum as a separate tensor (`Xh[:, r, r, :]`); here it is cut from the
   HSI patch (`hsi[:, :, P//2, P//2]`), the same values.
6. Training recipe (not in the network; see two_branch.yaml): fused stage SGD(lr 0.005, momentum 1e-6),
   batch 100, 20 epochs, per-pixel 4× augmentation (original, vertical flip, horizontal flip + Gaussian noise,
   random 90° rotation), whole-image (not per-band) standardisation, 11 % of the training pixels per class
   held out for validation and the best-validation-loss weights kept (validation, not test).
7. The widths are options so that tests can run a small copy; defaults are the reference's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # Keras BatchNormalization: epsilon 1e-3, moving average 0.99
_SLOPE = 0.2                                  # every LeakyReLU(alpha=0.2) of the reference


def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class _CascadeBlock(nn.Module):
    """[cascade_block]: two residual conv pairs. (B, cin, h, w) → (B, n, h, w)."""

    def __init__(self, cin: int, n: int) -> None:
        super().__init__()
        self.conv1_1, self.bn1_1 = nn.Conv2d(cin, 2 * n, 3, padding=1), _bn2d(2 * n)
        self.conv1_2, self.bn1_2 = nn.Conv2d(2 * n, n, 1), _bn2d(n)
        self.shortcut = nn.Conv2d(cin, 2 * n, 1, bias=False)
        self.conv2_1, self.bn2_1 = nn.Conv2d(n, 2 * n, 3, padding=1), _bn2d(2 * n)
        self.conv2_2, self.bn2_2 = nn.Conv2d(2 * n, n, 3, padding=1), _bn2d(n)
        self.act = nn.LeakyReLU(_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.bn1_2(self.conv1_2(torch.relu(self.bn1_1(self.conv1_1(x)))))  # (B, n, h, w) pre-activation
        b = self.act(self.bn2_1(self.conv2_1(self.act(a)) + self.shortcut(x)))  # (B, 2n, h, w)
        return self.act(self.bn2_2(self.conv2_2(b)) + a)                        # (B, n, h, w)


class TwoBranchCNN(nn.Module):
    """Two-Branch CNN (Xu et al., TGRS 2018) up to the layer before its classifier:
    (hsi, lidar) → (B, out_dim).

    hsi: (B, hsi_bands, P, P), lidar: (B, lidar_bands, P, P), any P ≥ 1 (reference: 11).
    spatial_widths (256, 512), spectral_widths (64, 128), lidar_widths (64, 128): the reference's conv widths;
    fusion_dropout 0.25: the reference's Dropout before the fusion Dense."""

    reference_out_dim: int = 128
    reference_patch_size: int = 11
    min_hsi_bands: int = 14  # conv1d k=11 and k=3 'valid' then max-pool 2 need H − 12 ≥ 2

    def __init__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int,
                 spatial_widths: Sequence[int] = (256, 512), spectral_widths: Sequence[int] = (64, 128),
                 lidar_widths: Sequence[int] = (64, 128), fusion_dropout: float = 0.25) -> None:
        super().__init__()
        check_ints("TwoBranchCNN", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "patch_size": patch_size,
                                    "out_dim": out_dim},
                   {"hsi_bands": (self.min_hsi_bands, "the spectral branch's valid conv1d k=11, k=3 and max-pool 2 "
                                  "need it")})
        for name, widths in (("spatial_widths", spatial_widths), ("spectral_widths", spectral_widths),
                             ("lidar_widths", lidar_widths)):
            if len(widths) != 2 or any(not isinstance(w, int) or w < 1 for w in widths):
                raise ValueError(f"TwoBranchCNN: {name}={widths!r}; expected two positive integers")
        if not 0.0 <= fusion_dropout < 1.0:
            raise ValueError(f"TwoBranchCNN: fusion_dropout={fusion_dropout!r}; expected a value in [0, 1)")
        self.hsi_bands, self.lidar_bands = hsi_bands, lidar_bands
        self.patch_size, self.out_dim = patch_size, out_dim
        s1, s2 = spatial_widths
        p1, p2 = spectral_widths
        l1, l2 = lidar_widths
        act = nn.LeakyReLU(_SLOPE)
        half = math.ceil(patch_size / 2)  # Keras MaxPool2D((2, 2), padding='same'): ceil; here ceil_mode=True
        # [simple_cnn_branch(small_mode=False)]: (B, H, P, P) → (B, s2·⌈P/2⌉²)
        self.spatial = nn.Sequential(
            nn.Conv2d(hsi_bands, s1, 3, padding=1), _bn2d(s1), act,
            nn.Conv2d(s1, s2, 1), act, nn.MaxPool2d(2, ceil_mode=True), nn.Flatten())
        # [pixel_branch]: (B, 1, H) → (B, p2·⌊(H − 12)/2⌋)
        self.spectral = nn.Sequential(
            nn.Conv1d(1, p1, 11), nn.BatchNorm1d(p1, eps=_BN_EPS, momentum=_BN_MOMENTUM), act,
            nn.Conv1d(p1, p2, 3), act, nn.MaxPool1d(2), nn.Flatten())
        # [cascade_Net]: (B, L, P, P) → (B, l2·⌈P/2⌉²)
        self.lidar = nn.Sequential(
            nn.Conv2d(lidar_bands, l1, 3, padding=1), act, _CascadeBlock(l1, l1),
            nn.MaxPool2d(2, ceil_mode=True), act, _CascadeBlock(l1, l2), nn.Flatten())
        fused = s2 * half * half + p2 * ((hsi_bands - 12) // 2) + l2 * half * half
        # [finetune_Net] fusion, without its Dense(K): (B, fused) → (B, out_dim)
        self.fusion = nn.Sequential(nn.BatchNorm1d(fused, eps=_BN_EPS, momentum=_BN_MOMENTUM),
                                    nn.Dropout(fusion_dropout), nn.Linear(fused, out_dim), act)
        self._keras_init()

    def _keras_init(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases (BN γ=1, β=0 are PyTorch's defaults too)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("TwoBranchCNN", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        c = self.patch_size // 2
        spectrum = hsi[:, :, c, c].unsqueeze(1)                   # (B, 1, H) centre pixel's spectrum
        merged = torch.cat([self.spatial(hsi),                    # (B, s2·⌈P/2⌉²)
                            self.spectral(spectrum),              # (B, p2·⌊(H−12)/2⌋)
                            self.lidar(lidar)], 1)                # (B, l2·⌈P/2⌉²)
        return self.fusion(merged)                                # (B, out_dim)
