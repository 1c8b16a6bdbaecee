"""MFT: multimodal fusion transformer (channel tokenization) for HSI + LiDAR classification.

Paper: S. K. Roy, A. Deria, D. Hong, B. Rasti, A. Plaza and J. Chanussot, "Multimodal Fusion Transformer for
Remote Sensing Image Classification", IEEE Transactions on Geoscience and Remote Sensing, vol. 61, 2023,
doi:10.1109/TGRS.2023.3286826.

Reference implementation (the authors' own): AnkurDeria/MFT, ``Model/MFT.ipynb``, cell "MFT WITH CHANNEL
TOKENIZATION", class ``MFT`` (commit de214e512ff1a8f6aefdf27fc2cb60c75e0f559a), built as
``MFT(FM=16, NC, NCLidar, Classes, HSIOnly=False)``; training recipe in the same notebook and Sec. IV of the
paper.

Architecture (facts carried over from the reference; the code is ours). d = 64 (= 4·FM), n = 4 HSI tokens:
  HSI:   (B, C₁, P, P) → Conv3d(1→8, kernel (9,3,3), pad (0,1,1)) → BN3d → ReLU       (B, 8, C₁−8, P, P)
         → reshape (B, 8·(C₁−8), P, P) → HetConv (group conv3×3 with g groups + pointwise conv1×1, summed;
         g = 16 if 8·(C₁−8) is a multiple of 16 else 8) → BN → ReLU                  (B, d, P, P)
         → tokens: A = softmax_P²(W_a·X) (n×P²), T = A·X·W_v                         (B, n, d)
  LiDAR: (B, C₂, P, P) → conv3×3(C₂→d) → BN → GELU → one token the same way (W_a: 1×d)  (B, 1, d)
  [LiDAR token (CLS), HSI tokens] + position embedding (randn) → dropout 0.1          (B, n+1, d)
  2 × block: x = x + mCrossPA(LN(x)); x = x + MLP(LN(x)) (LN eps 1e-6; MLP d→512→d, GELU, dropout 0.1).
      mCrossPA: 8 heads of width 8; the CLS token's slice of each head is the only query: W_q, W_k, W_v are
      Linear(8→d, no bias) shared by the heads; softmax(q·kᵀ/√8)·v per head, heads concatenated (8·d) →
      Linear(8·d→d) → dropout 0.1. Its (B, 1, d) output is broadcast-added to all n+1 tokens (paper Eq. 8b).
  final LN → CLS token                                                                (B, d)
  [reference classifier ``out3``: Linear(d, K): the package's head]. So ``reference_out_dim`` = 64.
  Init as the reference: tokenizer weights xavier_normal, MLP weights xavier_uniform with N(0, 1e-6) biases,
  position embedding N(0, 1), everything else PyTorch defaults.

Deliberate differences from the reference (every one):
  1. Head init: the reference initialises its classifier xavier_uniform with N(0, 1e-6) bias; the package's
     linear head keeps PyTorch's default init.
  2. ``out_dim`` ≠ 64: a Linear(64, out_dim) is appended after the CLS token (at 64: none, the reference).
  3. Patch size: any patch size works (the tokenizer pools over P² positions); the reference uses 11.
     ``hsi_bands`` must be ≥ 9 (the 3-D convolution's spectral kernel is 9 without padding) — ValueError.
  4. Training recipe lives outside the network (mft.yaml): Adam lr 5e-4 with coupled weight decay 5e-3,
     StepLR(50, 0.9), 500 epochs, batch 64, no augmentation. The reference keeps the checkpoint with the
     best TEST accuracy (evaluated every 50 steps); we never select on the test set, so expect lower numbers.
  5. Input layout: the reference takes (B, C, P·P) and reshapes with a module-level global ``patchsize``; this
     network takes (B, C, P, P) and checks it (wrong shapes raise ValueError).
"""

from __future__ import annotations

import torch
from torch import nn

from mmlgnet.models.baselines.inputs import check_inputs, check_ints

__all__ = ["MFT"]

_DIM = 64  # 4·FM with the reference's FM = 16; the tokenizer weights are hard-coded to 64 there too
_HEADS = 8
_MLP_DIM = 512
_DEPTH = 2


class HetConv(nn.Module):
    """Heterogeneous convolution: group conv3×3 (``groups`` groups) + pointwise conv1×1, outputs summed."""

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.gwc = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, groups=groups)
        self.pwc = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gwc(x) + self.pwc(x)


class Tokenizer(nn.Module):
    """Soft-pools the P² positions of a (B, d, P, P) map into ``tokens`` tokens of width d."""

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        # Shapes and init as the reference's token_wA / token_wV (xavier_normal on (1, n, d) and (1, d, d)).
        self.weight_a = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, tokens, dim)))
        self.weight_v = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, dim, dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)  # (B, P², d)
        attention = torch.matmul(x, self.weight_a[0].t()).transpose(1, 2).softmax(dim=-1)  # (B, n, P²)
        values = torch.matmul(x, self.weight_v[0])  # (B, P², d)
        return torch.bmm(attention, values)  # (B, n, d)


class CrossPatchAttention(nn.Module):
    """mCrossPA: the first (CLS) token queries all tokens; returns (B, 1, d)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim**-0.5
        self.wq = nn.Linear(self.head_dim, dim, bias=False)
        self.wk = nn.Linear(self.head_dim, dim, bias=False)
        self.wv = nn.Linear(self.head_dim, dim, bias=False)
        self.proj = nn.Linear(dim * heads, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape  # (B, N, d)
        heads = x.reshape(b, n, self.heads, self.head_dim)  # (B, N, h, d/h)
        q = self.wq(heads[:, :1]).permute(0, 2, 1, 3)  # (B, h, 1, d)
        k = self.wk(heads).permute(0, 2, 1, 3)  # (B, h, N, d)
        v = self.wv(heads).permute(0, 2, 1, 3)  # (B, h, N, d)
        attention = (torch.matmul(q, k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # (B, h, 1, N)
        out = torch.matmul(attention, v).transpose(1, 2).reshape(b, 1, self.heads * c)  # (B, 1, h·d)
        return self.drop(self.proj(out))  # (B, 1, d)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.normal_(fc.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim, eps=1e-6)
        self.attention = CrossPatchAttention(dim, heads, dropout)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = Mlp(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))  # (B, 1, d) broadcast onto (B, N, d)
        return x + self.ffn(self.ffn_norm(x))  # (B, N, d)


class MFT(nn.Module):
    """MFT (Roy et al., TGRS 2023), channel tokenization, up to the CLS feature; the package adds the head."""

    reference_out_dim: int = _DIM

    def __init__(
        self,
        *,
        hsi_bands: int,
        lidar_bands: int,
        patch_size: int,
        out_dim: int,
        hsi_tokens: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_ints("MFT", {"hsi_bands": hsi_bands, "lidar_bands": lidar_bands, "patch_size": patch_size,
                           "out_dim": out_dim, "hsi_tokens": hsi_tokens},
                   {"hsi_bands": (9, "the 3-D convolution's spectral kernel spans 9 bands")})
        self.hsi_bands, self.lidar_bands, self.patch_size, self.out_dim = hsi_bands, lidar_bands, patch_size, out_dim
        spectral = 8 * (hsi_bands - 8)
        self.hsi_conv3d = nn.Sequential(
            nn.Conv3d(1, 8, kernel_size=(9, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(8), nn.ReLU()
        )
        groups = (4 * 16) // 4 if spectral % 16 == 0 else (4 * 16) // 8  # the reference's rule with FM = 16
        self.hsi_conv2d = nn.Sequential(HetConv(spectral, _DIM, groups), nn.BatchNorm2d(_DIM), nn.ReLU())
        self.lidar_conv = nn.Sequential(
            nn.Conv2d(lidar_bands, _DIM, 3, padding=1), nn.BatchNorm2d(_DIM), nn.GELU()
        )
        self.hsi_tokenizer = Tokenizer(hsi_tokens, _DIM)
        self.lidar_tokenizer = Tokenizer(1, _DIM)
        self.position_embeddings = nn.Parameter(torch.randn(1, hsi_tokens + 1, _DIM))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(_DIM, _HEADS, _MLP_DIM, dropout) for _ in range(_DEPTH))
        self.encoder_norm = nn.LayerNorm(_DIM, eps=1e-6)
        self.out_projection: nn.Module = nn.Identity() if out_dim == _DIM else nn.Linear(_DIM, out_dim)

    def forward(self, hsi: torch.Tensor, lidar: torch.Tensor) -> torch.Tensor:
        check_inputs("MFT", hsi, lidar, self.hsi_bands, self.lidar_bands, self.patch_size)
        b, p = hsi.shape[0], self.patch_size
        x1 = self.hsi_conv3d(hsi.unsqueeze(1))  # (B, 8, C₁−8, P, P)
        x1 = self.hsi_conv2d(x1.reshape(b, -1, p, p))  # (B, d, P, P)
        x2 = self.lidar_conv(lidar)  # (B, d, P, P)
        tokens = torch.cat([self.lidar_tokenizer(x2), self.hsi_tokenizer(x1)], dim=1)  # (B, 1+n, d)
        x = self.dropout(tokens + self.position_embeddings)  # (B, 1+n, d)
        for block in self.blocks:
            x = block(x)  # (B, 1+n, d)
        return self.out_projection(self.encoder_norm(x)[:, 0])  # (B, out_dim)
