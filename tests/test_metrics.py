"""OA / AA / kappa from the confusion matrix agree with torchmetrics' own implementations."""

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_cohen_kappa,
    multiclass_confusion_matrix,
)

from mmlgnet.metrics import metric_key, scores_from_confusion


def test_scores_match_torchmetrics():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (400,), generator=g)
    pred = torch.where(torch.rand(400, generator=g) < 0.7, target, torch.randint(0, 5, (400,), generator=g))
    s = scores_from_confusion(multiclass_confusion_matrix(pred, target, 5))
    assert torch.isclose(s["OA"].float(), 100 * multiclass_accuracy(pred, target, 5, average="micro"), atol=1e-4)
    assert torch.isclose(s["AA"].float(), 100 * multiclass_accuracy(pred, target, 5, average="macro"), atol=1e-4)
    assert torch.isclose(s["kappa"].float(), 100 * multiclass_cohen_kappa(pred, target, 5), atol=1e-4)
    assert torch.allclose(s["per_class"].float(), 100 * multiclass_accuracy(pred, target, 5, average=None), atol=1e-4)


def test_hand_example():
    cm = torch.tensor([[8, 2], [1, 9]])
    s = scores_from_confusion(cm)
    assert abs(float(s["OA"]) - 85.0) < 1e-9
    assert abs(float(s["AA"]) - 85.0) < 1e-9  # (80 + 90) / 2
    p_e = (10 * 9 + 10 * 11) / 400
    assert abs(float(s["kappa"]) - 100 * (0.85 - p_e) / (1 - p_e)) < 1e-9


def test_metric_key():
    assert metric_key("Apple trees") == "apple_trees"
    assert metric_key("Parking Lot 1") == "parking_lot_1"
