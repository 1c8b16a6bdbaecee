"""OA / AA / kappa from the confusion matrix agree with torchmetrics' own implementations."""

import math

import pytest
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_cohen_kappa,
    multiclass_confusion_matrix,
)

from mmlgnet.training.metrics import metric_key, open_vocab_scores, scores_from_confusion


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


def test_class_without_test_pixels_is_nan_and_left_out_of_aa():
    cm = torch.tensor([[8, 2, 0], [0, 0, 0], [1, 0, 9]])  # class 2 (index 1) has no test pixel
    s = scores_from_confusion(cm)
    assert torch.isnan(s["per_class"][1])
    assert torch.allclose(s["per_class"][[0, 2]], torch.tensor([80.0, 90.0], dtype=torch.float64))
    assert abs(float(s["AA"]) - 85.0) < 1e-9  # mean over the 2 classes with test pixels, not (80 + 0 + 90) / 3
    assert abs(float(s["OA"]) - 85.0) < 1e-9
    assert torch.isnan(scores_from_confusion(torch.zeros(3, 3, dtype=torch.long))["AA"])


def test_undefined_scores_are_written_as_null(tmp_path):
    """What module.py and prediction.py write (floats of the scores, via write_json) is strict JSON."""
    import json

    from mmlgnet.atomic import write_json

    s = scores_from_confusion(torch.tensor([[8, 2, 0], [0, 0, 0], [1, 0, 9]]))
    names = ["Apple trees", "Buildings", "Ground"]
    record = {"OA": float(s["OA"]), "AA": float(s["AA"]), "kappa": float(s["kappa"]),
              "per_class_accuracy": {n: float(s["per_class"][i]) for i, n in enumerate(names)},
              "empty_AA": float(scores_from_confusion(torch.zeros(2, 2))["AA"])}
    text = write_json(tmp_path / "test_metrics.json", record).read_text()
    parsed = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert parsed["per_class_accuracy"] == {"Apple trees": 80.0, "Buildings": None, "Ground": 90.0}
    assert parsed["AA"] == pytest.approx(85.0) and parsed["empty_AA"] is None


# ---- open-vocabulary (GZSL) scores: by hand ----

def test_open_vocab_scores_by_hand():
    # rows = true class, columns = predicted; classes 0, 1 seen, class 2 unseen
    cm = torch.tensor([[9, 1, 0],    # seen 0: 90 %
                       [2, 6, 2],    # seen 1: 60 %
                       [3, 2, 15]])  # unseen 2: 75 %  (20 pixels: OA over its pixels would weigh it more)
    out = open_vocab_scores(cm, [2])
    assert out["seen_accuracy"] == pytest.approx(75.0)  # (90 + 60) / 2, mean per class, not OA (15/20)
    assert out["unseen_accuracy"] == pytest.approx(75.0)
    assert out["harmonic_mean"] == pytest.approx(75.0)
    out = open_vocab_scores(cm, [0, 2])  # seen {1}: 60; unseen {0, 2}: (90 + 75) / 2 = 82.5
    assert out["seen_accuracy"] == pytest.approx(60.0) and out["unseen_accuracy"] == pytest.approx(82.5)
    assert out["harmonic_mean"] == pytest.approx(2 * 60 * 82.5 / (60 + 82.5))


def test_open_vocab_scores_undefined_and_zero():
    no_unseen_pixels = torch.tensor([[5, 0, 0], [0, 5, 0], [0, 0, 0]])
    out = open_vocab_scores(no_unseen_pixels, [2])
    assert out["seen_accuracy"] == 100.0 and math.isnan(out["unseen_accuracy"]) and math.isnan(out["harmonic_mean"])
    never_right = torch.tensor([[0, 5], [5, 0]])
    out = open_vocab_scores(never_right, [1])
    assert out == {"seen_accuracy": 0.0, "unseen_accuracy": 0.0, "harmonic_mean": 0.0}
    unseen_never_right = torch.tensor([[5, 0], [5, 0]])
    assert open_vocab_scores(unseen_never_right, [1])["harmonic_mean"] == 0.0
    with pytest.raises(ValueError, match="out of range"):
        open_vocab_scores(never_right, [2])
