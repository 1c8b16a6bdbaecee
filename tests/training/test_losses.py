"""Tests of the bidirectional InfoNCE loss against hand computations."""

import math

import pytest
import torch

from mmlgnet.training.losses import LOSS_WEIGHTS, InfoNCELoss, t2v_loss, v2t_loss

# 6 pixels, 4 classes: class 0 three times, class 2 twice, class 1 once, class 3 absent
LABELS = [0, 2, 0, 1, 2, 0]
K = 4


def _logits() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (3.0 * torch.randn(len(LABELS), K, generator=g, dtype=torch.float64)).requires_grad_(True)


def _hand_v2t(logits: list[list[float]], labels: list[int]) -> float:
    total = 0.0
    for row, y in zip(logits, labels, strict=True):
        denom = sum(math.exp(z) for z in row)
        total += -math.log(math.exp(row[y]) / denom)
    return total / len(labels)


def _hand_t2v(logits: list[list[float]], labels: list[int]) -> float:
    per_class = []
    for k in range(len(logits[0])):
        positives = [i for i, y in enumerate(labels) if y == k]
        if not positives:
            continue
        denom = sum(math.exp(logits[j][k]) for j in range(len(labels)))  # all pixels of the batch
        losses = [-math.log(math.exp(logits[i][k]) / denom) for i in positives]
        per_class.append(sum(losses) / len(losses))
    return sum(per_class) / len(per_class)


def test_v2t_and_t2v_match_hand_computation() -> None:
    logits = _logits()
    labels = torch.tensor(LABELS)
    rows = logits.tolist()
    assert math.isclose(v2t_loss(logits, labels).item(), _hand_v2t(rows, LABELS), abs_tol=1e-6)
    assert math.isclose(t2v_loss(logits, labels).item(), _hand_t2v(rows, LABELS), abs_tol=1e-6)


@pytest.mark.parametrize("mode,lam", [("symmetric", 0.5), ("v2t", 1.0), ("t2v", 0.0)])
def test_modes_weight_the_two_directions(mode: str, lam: float) -> None:
    assert LOSS_WEIGHTS[mode] == lam
    logits, labels = _logits(), torch.tensor(LABELS)
    rows = logits.tolist()
    out = InfoNCELoss(mode)(logits, labels)
    v2t, t2v = _hand_v2t(rows, LABELS), _hand_t2v(rows, LABELS)
    assert math.isclose(out["loss"].item(), lam * v2t + (1 - lam) * t2v, abs_tol=1e-6)
    assert math.isclose(out["v2t"].item(), v2t, abs_tol=1e-6)
    assert math.isclose(out["t2v"].item(), t2v, abs_tol=1e-6)
    out["loss"].backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_permutation_of_batch_leaves_loss_unchanged() -> None:
    logits, labels = _logits(), torch.tensor(LABELS)
    perm = torch.tensor([3, 5, 0, 4, 1, 2])
    loss_fn = InfoNCELoss()
    a = loss_fn(logits, labels)
    b = loss_fn(logits[perm], labels[perm])
    for key in ("loss", "v2t", "t2v"):
        assert math.isclose(a[key].item(), b[key].item(), abs_tol=1e-9)


def test_float32_large_logits_are_finite() -> None:
    logits = (100.0 * torch.randn(8, 5)).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 4, 4])
    out = InfoNCELoss()(logits, labels)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(logits.grad).all()


def test_bad_mode_and_shapes() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        InfoNCELoss("both")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InfoNCELoss()(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
