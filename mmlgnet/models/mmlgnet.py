"""Patch encoders, fusion modules, the MMLGNet vision side and its classification heads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Modality = Literal["hsi", "lidar"]
MODALITIES: tuple[str, ...] = ("hsi", "lidar")


def _conv2d_blocks(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """len(widths) × [Conv3×3 (pad 1) → BatchNorm2d → ReLU]; the spatial size P is kept."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        in_channels = width
    return nn.Sequential(*layers)


def _check_widths(widths: Sequence[int], name: str = "widths") -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {widths}")
    return widths


class CNN2dEncoder(nn.Module):
    """2-D CNN over a (B, C, P, P) patch: bands are input channels; global average pooled.

    The default of the paper-like design: cheap, and spectral mixing happens in the first conv.
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (64, 128, 256), dropout: float = 0.0) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        widths = _check_widths(widths)
        self.in_channels = in_channels
        self.out_dim = widths[-1]
        self.features = _conv2d_blocks(in_channels, widths)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (B, widths[-1], P, P)
        x = x.mean(dim=(-2, -1))  # (B, out_dim)
        return self.dropout(x)


class CNN3dEncoder(nn.Module):
    """3-D convs over (band, y, x) first, then bands folded into channels and 2-D convs; GAP.

    The 3-D stage learns local spectral shapes shared across bands (kernel `spectral_kernel` × 3 × 3,
    stride `spectral_stride` on the band axis to cut cost). Band padding is kernel//2, so any number
    of bands ≥ 1 works (a 1-band LiDAR raster included).
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int] = (64, 128, 256),
        dropout: float = 0.0,
        spectral_widths: Sequence[int] = (8, 16),
        spectral_kernel: int = 7,
        spectral_stride: int = 2,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if spectral_kernel < 1 or spectral_kernel % 2 == 0:
            raise ValueError(f"spectral_kernel must be a positive odd int, got {spectral_kernel}")
        if spectral_stride < 1:
            raise ValueError(f"spectral_stride must be >= 1, got {spectral_stride}")
        widths = _check_widths(widths)
        spectral_widths = _check_widths(spectral_widths, "spectral_widths")
        self.in_channels = in_channels
        self.out_dim = widths[-1]

        layers: list[nn.Module] = []
        bands, channels = in_channels, 1
        for width in spectral_widths:
            layers += [
                nn.Conv3d(
                    channels,
                    width,
                    kernel_size=(spectral_kernel, 3, 3),
                    stride=(spectral_stride, 1, 1),
                    padding=(spectral_kernel // 2, 1, 1),
                    bias=False,
                ),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            ]
            bands = (bands - 1) // spectral_stride + 1  # odd kernel, padding k//2
            channels = width
        self.spectral = nn.Sequential(*layers)
        self.folded_channels = channels * bands
        self.spatial = _conv2d_blocks(self.folded_channels, widths)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, _, p, q = x.shape  # (B, C, P, P)
        x = self.spectral(x.unsqueeze(1))  # (B, S, C', P, P)
        x = x.reshape(b, self.folded_channels, p, q)  # (B, S·C', P, P)
        x = self.spatial(x)  # (B, widths[-1], P, P)
        x = x.mean(dim=(-2, -1))  # (B, out_dim)
        return self.dropout(x)


ENCODERS: dict[str, type[nn.Module]] = {"cnn2d": CNN2dEncoder, "cnn3d": CNN3dEncoder}


def _check_in_dims(in_dims: Sequence[int]) -> tuple[int, ...]:
    in_dims = tuple(int(d) for d in in_dims)
    if len(in_dims) not in (1, 2) or any(d < 1 for d in in_dims):
        raise ValueError(f"fusion takes 1 or 2 modality features of positive width, got in_dims={in_dims}")
    return in_dims


def _check_inputs(features: Sequence[Tensor], in_dims: tuple[int, ...]) -> None:
    if len(features) != len(in_dims):
        raise ValueError(f"fusion built for {len(in_dims)} modalities got {len(features)} feature tensors")


class ConcatFusion(nn.Module):
    """Concatenate modality features, then a 2-layer MLP (LayerNorm: works with any batch size)."""

    def __init__(self, in_dims: Sequence[int], out_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_dims = _check_in_dims(in_dims)
        self.out_dim = out_dim
        self.mlp = nn.Sequential(
            nn.Linear(sum(self.in_dims), out_dim),
            nn.LayerNorm(out_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(out_dim, out_dim),
        )

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        _check_inputs(features, self.in_dims)
        return self.mlp(torch.cat(list(features), dim=-1))  # (B, out_dim)


class SumFusion(nn.Module):
    """Project each modality to out_dim with its own Linear, add, then LayerNorm → ReLU → Dropout."""

    def __init__(self, in_dims: Sequence[int], out_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_dims = _check_in_dims(in_dims)
        self.out_dim = out_dim
        self.projections = nn.ModuleList(nn.Linear(d, out_dim) for d in self.in_dims)
        self.post = nn.Sequential(nn.LayerNorm(out_dim), nn.ReLU(inplace=True), nn.Dropout(dropout))

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        _check_inputs(features, self.in_dims)
        fused = sum(proj(f) for proj, f in zip(self.projections, features, strict=True))  # (B, out_dim)
        return self.post(fused)


class GatedFusion(nn.Module):
    """Project each modality to out_dim; a learned per-feature gate g mixes them: g·a + (1−g)·b.

    g = sigmoid(Linear(concat(inputs))) decides, per pixel and per feature, which modality to trust.
    With one modality there is nothing to gate: the output is the projection (then the same
    LayerNorm → ReLU → Dropout as with two).
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.in_dims = _check_in_dims(in_dims)
        self.out_dim = out_dim
        self.projections = nn.ModuleList(nn.Linear(d, out_dim) for d in self.in_dims)
        self.gate = nn.Linear(sum(self.in_dims), out_dim) if len(self.in_dims) == 2 else None
        self.post = nn.Sequential(nn.LayerNorm(out_dim), nn.ReLU(inplace=True), nn.Dropout(dropout))

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        _check_inputs(features, self.in_dims)
        projected = [proj(f) for proj, f in zip(self.projections, features, strict=True)]  # M × (B, out_dim)
        if self.gate is None:
            return self.post(projected[0])
        g = torch.sigmoid(self.gate(torch.cat(list(features), dim=-1)))  # (B, out_dim)
        return self.post(g * projected[0] + (1.0 - g) * projected[1])


FUSIONS: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "sum": SumFusion, "gated": GatedFusion}


def _check_choice(option: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{option}={value!r} is not one of {list(allowed)}")


class MMLGNet(nn.Module):
    """Vision side of MMLGNet: per-modality patch encoders → fusion → Linear projection to D.

    Only the encoders of `modalities` are built, so single-modality ablations run the same code.
    The output is NOT L2-normalised; the heads normalise (TextHead) or not (LinearHead).
    """

    def __init__(
        self,
        hsi_channels: int,
        lidar_channels: int,
        modalities: Sequence[Modality] = ("hsi", "lidar"),
        hsi_encoder: Literal["cnn2d", "cnn3d"] = "cnn2d",
        lidar_encoder: Literal["cnn2d", "cnn3d"] = "cnn2d",
        hsi_widths: Sequence[int] = (64, 128, 256),
        lidar_widths: Sequence[int] = (32, 64, 128),
        fusion: Literal["concat", "sum", "gated"] = "concat",
        fusion_dim: int = 256,
        embed_dim: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        modalities = tuple(modalities)
        if not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {list(MODALITIES)}")
        for m in modalities:
            _check_choice("modalities", m, MODALITIES)
        if len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities has duplicates: {list(modalities)}")
        _check_choice("hsi_encoder", hsi_encoder, list(ENCODERS))
        _check_choice("lidar_encoder", lidar_encoder, list(ENCODERS))
        _check_choice("fusion", fusion, list(FUSIONS))
        if fusion_dim < 1 or embed_dim < 1:
            raise ValueError(f"fusion_dim and embed_dim must be >= 1, got {fusion_dim}, {embed_dim}")

        self.modalities: tuple[str, ...] = modalities
        self.embed_dim = embed_dim
        spec = {
            "hsi": (hsi_encoder, hsi_channels, hsi_widths),
            "lidar": (lidar_encoder, lidar_channels, lidar_widths),
        }
        self.encoders = nn.ModuleDict(
            {m: ENCODERS[spec[m][0]](in_channels=spec[m][1], widths=spec[m][2]) for m in modalities}
        )
        in_dims = [self.encoders[m].out_dim for m in modalities]
        self.fusion = FUSIONS[fusion](in_dims=in_dims, out_dim=fusion_dim, dropout=dropout)
        self.projection = nn.Linear(fusion_dim, embed_dim)

    def forward(self, hsi: Tensor | None = None, lidar: Tensor | None = None) -> Tensor:
        """(B, C_hsi, P, P), (B, C_lidar, P, P) → (B, embed_dim); inputs of unused modalities are ignored."""
        inputs = {"hsi": hsi, "lidar": lidar}
        features = []
        for m in self.modalities:
            x = inputs[m]
            if x is None:
                raise ValueError(f"MMLGNet built with modalities={list(self.modalities)} needs the {m!r} input")
            features.append(self.encoders[m](x))  # (B, out_dim_m)
        return self.projection(self.fusion(features))  # (B, embed_dim)


class TextHead(nn.Module):
    """Cosine-similarity logits against class text embeddings, with a learnable temperature.

    logits = exp(min(logit_scale, log(max))) · normalize(v) @ normalize(t)ᵀ, as in CLIP/open_clip.
    The (K, D) embeddings are a persistent buffer so checkpoints carry them (no CLIP at load time): frozen
    template embeddings, or the final embeddings of learned (CoOp) prompts, see mmlgnet.text.coop.
    """

    def __init__(
        self, class_embeddings: Tensor, logit_scale_init: float = 1 / 0.07, logit_scale_max: float = 100.0
    ) -> None:
        super().__init__()
        if class_embeddings.ndim != 2:
            raise ValueError(f"class_embeddings must be (K, D), got shape {tuple(class_embeddings.shape)}")
        if not 0 < logit_scale_init <= logit_scale_max:
            raise ValueError(f"need 0 < logit_scale_init <= logit_scale_max, got {logit_scale_init}, {logit_scale_max}")
        t = F.normalize(class_embeddings.detach().float(), dim=-1)  # (K, D)
        self.class_embeddings: Tensor
        self.register_buffer("class_embeddings", t, persistent=True)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale_init)))
        self.log_scale_max = math.log(logit_scale_max)

    @property
    def scale(self) -> Tensor:
        """The (clamped) multiplicative temperature exp(logit_scale), a 0-dim tensor."""
        return self.logit_scale.clamp(max=self.log_scale_max).exp()

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp logit_scale in place to [0, log(max)]; call after each optimizer step (as open_clip)."""
        self.logit_scale.clamp_(0.0, self.log_scale_max)

    @torch.no_grad()
    def set_class_embeddings_(self, class_embeddings: Tensor) -> None:
        """Overwrite the (K, D) buffer in place (normalised): learned prompts store their final embeddings here."""
        if class_embeddings.shape != self.class_embeddings.shape:
            raise ValueError(f"class_embeddings must be {tuple(self.class_embeddings.shape)}, "
                             f"got {tuple(class_embeddings.shape)}")
        self.class_embeddings.copy_(F.normalize(class_embeddings.detach().float(), dim=-1))

    def forward(self, v: Tensor, class_embeddings: Tensor | None = None) -> Tensor:
        """v (B, D) -> logits (B, K) against the buffer, or against `class_embeddings` (K, D) when given
        (learned prompts while training: they carry the gradient to the prompt context)."""
        t = self.class_embeddings if class_embeddings is None else F.normalize(class_embeddings, dim=-1)  # (K, D)
        v = F.normalize(v, dim=-1)  # (B, D)
        return self.scale * v @ t.to(v.dtype).T  # (B, K)


class LinearHead(nn.Module):
    """Visual-only baseline: a plain linear classifier on the projected embedding, no text."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(embed_dim, num_classes)

    def forward(self, v: Tensor) -> Tensor:
        return self.linear(v)  # (B, K)


HEADS: dict[str, type[nn.Module]] = {"text": TextHead, "linear": LinearHead}
