"""EndNet as a feature network under the package's network contract (pure PyTorch).

Paper: D. Hong, L. Gao, R. Hang, B. Zhang, J. Chanussot, "Deep Encoder-Decoder Networks for Classification of
Hyperspectral and LiDAR Data", IEEE Geoscience and Remote Sensing Letters, vol. 19, 2022 (early access August
2020, DOI 10.1109/LGRS.2020.3017414).
Reference implementation (TensorFlow 1): github.com/danfenghong/IEEE_GRSL_EndNet, EndNet.py
(`initialize_parameters`, `mynetwork`, `mynetwork_optimaization`, `train_mynetwork`), commit
adbaf62eb007fc93cca227f1765eaa249732e14a. Layer facts below are read from that file; the code is ours.

Architecture (per pixel; every encoder layer is Linear → BN → ReLU):
- HSI encoder: H → 16 → 32 → 64 → 128. LiDAR encoder: L → 16 → 32 → 64 → 128.
- Joint encoder: concat (256) → 128 (=: a1) → 64 (=: a2) → [Linear 64 → K, the classifier].
- Two decoders from a1, every layer Linear → sigmoid: 128 → 64 → 32 → 16 → H and 128 → 64 → 32 → 16 → L.
- Loss: softmax cross-entropy + 1·MSE(HSI reconstruction, HSI input)
  + 1·MSE(LiDAR reconstruction, LiDAR input) + 0.001 · Σ ½‖W‖² over every weight matrix (tf.nn.l2_loss;
  biases and BN excluded).
This network returns a2 (B, out_dim): `reference_out_dim = 64`; the package's linear head is the reference's
joint_encoder_h3/b3 (64·K + K parameters).

Auxiliary head (the decoders). The reconstruction loss is part of EndNet's training (it is the method), so the
decoders are built when `reconstruction=True` (default, as the reference) and each forward call stores
the reconstruction loss; `auxiliary_loss()` returns it. The trainer MUST add `network.auxiliary_loss()` to
the training loss (TODO(integrator): the package's training step does not do this today); otherwise the
decoder parameters get no gradient (DDP would report unused parameters) and EndNet degenerates to its
encoder. `reconstruction=False` builds the encoder only (then the parameters fall short of the reference's by
the decoders').

Trainable parameter counts (reference graph, `tf.trainable_variables()`, with the harness' raw LiDAR bands as
the LiDAR input width; BN moving statistics are not trainable, as PyTorch buffers are not parameters):
Trento (63, 1, K=6) 88,710; MUUFL (64, 2, 11) 89,101; Houston 2013 (144, 1, 15) 91,968 — decoders included
(22,816 / 22,850 / 24,193 of them). With the official 21 attribute-profile LiDAR features Houston would be
92,628. tests/models/baselines/test_contract.py and reference_counts/ say how. With the reference's weights loaded, this network + a
Linear head reproduces the TF graph's logits and both reconstructions (inference mode, max abs difference
1e-7; reference_counts/equiv_endnet.py).

Deliberate differences from the reference (every one we know of):
1. LiDAR input: the official code feeds 21-dimensional attribute profiles computed from the DSM (Houston's
   HSI_LiDAR_FC/LiDAR_TrSet.mat); here the encoder takes the scene's raw LiDAR bands (1 for Trento/Houston,
   2 for MUUFL), as the Multimodal-Remote-Sensing-Toolkit port (likyoo, model/EndNet.py) also does.
2. Per-pixel method: the input patch's centre pixel (`hsi[:, :, P//2, P//2]`) is used, whatever P; the rest of
   the patch is ignored (the reference patch size is 1).
3. Framework: TF1 → PyTorch. Initialisation copies the reference's (tf.contrib variance_scaling_initializer
   defaults: truncated normal, stddev √(1.3·2/fan_in), cut at 2 stddev; zero biases) and BN copies its
   momentum 0.9 (PyTorch 0.1) and ε=1e-3; the random streams (tf seed 1) differ.
4. The classifier (Linear 64 → K) is not in the network: the package's head replaces it. `out_dim` other than
   64 sets the width of the second joint layer (the layer before the classifier).
5. The L2 term (0.001·Σ½‖W‖², i.e. a coupled weight decay of 0.001 on weight matrices) is an optimiser
   setting, not part of the network (see endnet.yaml; the package's AdamW decouples it).
6. The decoders' sigmoid outputs reconstruct inputs scaled to [0, 1] (the reference data are); use the
   package's `minmax` normalisation with this network (z-scored inputs cannot be reconstructed by a sigmoid).
7. Training recipe (not in the network; see endnet.yaml): Adam 1e-3 halved every 30 epochs (staircase),
   batch 64, 150 epochs (the loop runs num_epochs + 1 = 151), last epoch kept, no augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

_BN_EPS, _BN_MOMENTUM = 1e-3, 0.1  # tf.layers.batch_normalization(momentum=0.9, epsilon=1e-3)


def _encoder(widths: Sequence[int]) -> nn.Sequential:
    """Linear → BN → ReLU per step of widths: (B, widths[0]) → (B, widths[-1])."""
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b, eps=_BN_EPS, momentum=_BN_MOMENTUM), nn.ReLU()]
    return nn.Sequential(*layers)


def _decoder(widths: Sequence[int]) -> nn.Sequential:
    """Linear → sigmoid per step of widths: (B, widths[0]) → (B, widths[-1]) in (0, 1)."""
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers += [nn.Linear(a, b), nn.Sigmoid()]
    return nn.Sequential(*layers)


class EndNet(nn.Module):
    """EndNet (Hong et al., GRSL 2020) up to the layer before its classifier: (hsi, lidar) → (B, out_dim).

    hsi: (B, hsi_bands, P, P), lidar: (B, lidar_bands, P, P), any P ≥ 1; only the centre pixel is used
    (reference: per pixel, P = 1). widths (16, 32, 64, 128): each modality's encoder; joint_width 128: the
    first joint layer; reconstruction: build the two decoders and compute their loss (`auxiliary_loss()`)."""

    reference_out_dim: int = 64
    reference_patch_size: int = 1

    def __init__(self, *, hsi_bands: int, lidar_bands: int, patch_size: int, out_dim: int,
                 widths: Sequence[int] = (16, 32, 64, 128), joint_width: int = 128,
                 reconstruction: bool = True) -> None:
        super().__init__()
        check_ints("EndNet", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "patch_size": patch_size,
                              "out_dim": out_dim, "joint_width": joint_width})
        if len(widths) < 1 or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"EndNet: widths={widths!r}; expected one or more positive integers")
        self.hsi_bands, self.lidar_bands = hsi_bands, lidar_bands
        self.patch_size, self.out_dim = patch_size, out_dim
        w = list(widths)
        self.hsi_encoder = _encoder([hsi_bands, *w])                    # (B, H) → (B, 128)
        self.lidar_encoder = _encoder([lidar_bands, *w])                # (B, L) → (B, 128)
        self.joint1 = _encoder([2 * w[-1], joint_width])                # (B, 256) → (B, 128)  a1
        self.joint2 = _encoder([joint_width, out_dim])                  # (B, 128) → (B, out_dim)  a2
        back = [joint_width, *reversed(w[:-1])]                         # 128 → 64 → 32 → 16
        self.hsi_decoder = _decoder([*back, hsi_bands]) if reconstruction else None
        self.lidar_decoder = _decoder([*back, lidar_bands]) if reconstruction else None
        self._reconstruction_loss: torch.Tensor | None = None
        self._reference_init()

    def _reference_init(self) -> None:
        """tf.contrib.layers.variance_scaling_initializer(): truncated normal, stddev √(1.3·2/fan_in);
        zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                std = math.sqrt(1.3 * 2.0 / m.in_features)
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("EndNet", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        c = self.patch_size // 2
        x1, x2 = hsi[:, :, c, c], lidar[:, :, c, c]                     # (B, H), (B, L) centre pixel
        a1 = self.joint1(torch.cat([self.hsi_encoder(x1), self.lidar_encoder(x2)], 1))  # (B, 128)
        if self.hsi_decoder is not None and self.lidar_decoder is not None:
            self._reconstruction_loss = (F.mse_loss(self.hsi_decoder(a1), x1)           # (B, H) vs input
                                         + F.mse_loss(self.lidar_decoder(a1), x2))      # (B, L) vs input
        return self.joint2(a1)                                          # (B, out_dim)

    def auxiliary_loss(self) -> torch.Tensor:
        """The reconstruction loss of the latest forward call (reference weight 1 per modality), to be
        ADDED to the training loss; 0 when `reconstruction=False`. Raises if forward has not run yet."""
        if self.hsi_decoder is None:
            return torch.zeros((), device=next(self.parameters()).device)
        if self._reconstruction_loss is None:
            raise RuntimeError("EndNet.auxiliary_loss(): call forward first")
        return self._reconstruction_loss
