"""Bidirectional (vision→text, text→vision) InfoNCE loss over pixel-vs-class-prompt logits."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

LossMode = Literal["symmetric", "v2t", "t2v"]

#: λ of L = λ·L_v→t + (1−λ)·L_t→v for each `mode`.
LOSS_WEIGHTS: dict[str, float] = {"symmetric": 0.5, "v2t": 1.0, "t2v": 0.0}


def v2t_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Vision→text: each pixel picks its class prompt among the K prompts; mean CE over pixels.

    logits (B, K) = s·v_i·t_kᵀ, labels (B,) in [0, K). Returns a 0-dim tensor.
    """
    return F.cross_entropy(logits, labels)


def t2v_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Text→vision: each class prompt present in the batch picks its pixels among all B pixels.

    Multi-positive InfoNCE: for class k, every pixel with y_i = k is a positive; the softmax runs over
    the batch axis, so all B pixels are in the denominator and same-class pixels are never counted as
    negatives of the numerator. Mean over the positives of k, then mean over the classes present.
    Classes absent from the batch contribute nothing (they have no positive).
    """
    log_p = F.log_softmax(logits, dim=0)  # (B, K): log p(pixel i | prompt k)
    positives = F.one_hot(labels, num_classes=logits.shape[1]).to(log_p.dtype)  # (B, K)
    counts = positives.sum(dim=0)  # (K,)
    per_class = -(log_p * positives).sum(dim=0) / counts.clamp(min=1)  # (K,)
    present = counts > 0  # (K,)
    return per_class[present].mean()


class InfoNCELoss(nn.Module):
    """L = λ·L_v→t + (1−λ)·L_t→v with λ = 0.5 (symmetric, default), 1 (v2t) or 0 (t2v).

    forward returns {"loss", "v2t", "t2v"}; both components are always returned (detached) for logging.
    """

    def __init__(self, mode: LossMode = "symmetric") -> None:
        super().__init__()
        if mode not in LOSS_WEIGHTS:
            raise ValueError(f"mode={mode!r} is not one of {list(LOSS_WEIGHTS)}")
        self.mode = mode
        self.weight = LOSS_WEIGHTS[mode]

    def forward(self, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        if logits.ndim != 2 or labels.shape != logits.shape[:1]:
            raise ValueError(f"need logits (B, K) and labels (B,), got {tuple(logits.shape)}, {tuple(labels.shape)}")
        v2t = v2t_loss(logits, labels)
        t2v = t2v_loss(logits, labels)
        if self.weight == 1.0:
            loss = v2t
        elif self.weight == 0.0:
            loss = t2v
        else:
            loss = self.weight * v2t + (1.0 - self.weight) * t2v
        # components are detached: they are for logging, only "loss" carries the graph
        return {"loss": loss, "v2t": v2t.detach(), "t2v": t2v.detach()}
