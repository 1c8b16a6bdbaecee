"""Open-vocabulary evaluation: --data.unseen_classes resolution, seen/unseen/H metrics, seen-only training logits."""

from __future__ import annotations

import pytest
import torch

from mmlgnet.data.sampling.splits import SplitError
from mmlgnet.data.sampling.unseen import check_unseen_option, resolve_unseen
from mmlgnet.errors import ConfigError
from mmlgnet.training.open_vocab import OpenVocabulary

NAMES = ["Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"]


@pytest.mark.parametrize("given,expected", [
    (None, ()), ([], ()), (["Vineyard"], (4,)), ([5], (4,)), (["5"], (4,)), (["Roads", 1], (0, 5)),
])
def test_resolve_names_and_ids(given, expected):
    assert resolve_unseen(given, NAMES) == expected


@pytest.mark.parametrize("given,match", [
    (["Vinyard"], r"'Vinyard' is not a class of this scene.*5='Vineyard'"),
    (["vineyard"], r"did you mean 'Vineyard'"),
    ([7], r"class id 7 is out of range.*1\.\.6"),
    ([0], r"class id 0 is out of range"),
    (["Vineyard", 5], r"'Vineyard' and 5 both name class 5"),
    (["Roads", "Roads"], r"'Roads' is given twice"),
    ([1, 2, 3, 4, 5, 6], r"holds out all 6 classes"),
    ("Vineyard", r"expected a list"),
    ([1.5], r"neither a class name nor a 1-based"),
])
def test_bad_unseen_option_is_a_split_error_naming_the_option(given, match):
    with pytest.raises(SplitError, match=match) as err:
        resolve_unseen(given, NAMES)
    assert "--data.unseen_classes" in str(err.value)


def test_construction_time_check_needs_no_scene():
    assert check_unseen_option(["a", 2]) == ("a", 2)
    with pytest.raises(SplitError, match="given twice"):
        check_unseen_option([2, 2])


# ---- the module: seen-only training logits, GZSL record, linear head refused ----

def _module(**kw):
    from mmlgnet.training.module import MMLGNetModule

    args = dict(num_classes=4, class_names=["grass", "trees", "road", "building"], hsi_channels=5, lidar_channels=1,
                hsi_widths=[4], lidar_widths=[4], fusion_dim=8, dropout=0.0, text_model="mmlgnet-tiny",
                text_pretrained=None)
    return MMLGNetModule(**{**args, **kw})


def _batch(n=12):
    g = torch.Generator().manual_seed(0)
    return {"hsi": torch.randn(n, 5, 3, 3, generator=g), "lidar": torch.randn(n, 1, 3, 3, generator=g),
            "target": torch.tensor([0, 1, 3] * (n // 3))}


def test_training_never_sees_the_unseen_prompt():
    """The loss (both InfoNCE directions) does not change when the unseen class's text embedding does;
    without held-out classes they do (that embedding is a negative)."""
    torch.manual_seed(0)
    for unseen, should_change in ((["road"], False), (None, True)):
        m = _module(unseen_classes=unseen)
        m.train()
        batch = _batch()
        loss = m.training_step(batch, 0)
        with torch.no_grad():
            m.head.class_embeddings[2] = -m.head.class_embeddings[2]  # (D,) the held-out class 'road'
        changed = not torch.allclose(loss, m.training_step(batch, 0))
        assert changed == should_change


def test_seen_only_logits_and_validation_predictions():
    ov = OpenVocabulary(["a", "b", "c", "d"], ["c"], "text")
    logits = torch.tensor([[0.0, 1.0, 9.0, 2.0], [5.0, 0.0, 9.0, 1.0]])  # 'c' would win both rows
    sub, y = ov.training_logits(logits, torch.tensor([3, 0]))
    assert torch.equal(sub, logits[:, [0, 1, 3]]) and y.tolist() == [2, 0]
    assert ov.seen_predictions(logits).tolist() == [3, 0]  # ids in 0..K-1, never the unseen one
    plain = OpenVocabulary(["a", "b"], None, "linear")
    assert plain.training_logits(logits, y)[0] is logits and plain.test_record(torch.eye(2)) == {}


def test_linear_head_with_unseen_classes_is_a_config_error():
    with pytest.raises(ConfigError, match=r"--model.head linear cannot score classes held out.*--data.unseen_classes"):
        _module(head="linear", unseen_classes=["road"])


def test_predict_class_names_checks():
    with pytest.raises(ConfigError, match="needs --model.head text"):
        OpenVocabulary(["a", "b"], None, "linear", ["x"])
    with pytest.raises(ConfigError, match=r"\['x'\] given twice"):
        OpenVocabulary(["a", "b"], None, "text", ["x", "x"])
    with pytest.raises(ConfigError, match="non-empty list"):
        OpenVocabulary(["a", "b"], None, "text", [])
    with pytest.raises(ConfigError, match="predict only"):
        OpenVocabulary(["a", "b"], None, "text", ["x", "y", "z"]).training_logits(torch.zeros(1, 3), torch.zeros(1))


@pytest.mark.parametrize("saved,given,fitting,result", [
    ({"unseen_classes": ["c"]}, None, False, ["c"]),  # test/predict adopt the checkpoint's held-out classes
    ({"unseen_classes": ["c"]}, ["c"], True, ["c"]),
    ({"unseen_classes": ["c"]}, None, True, "error"),  # resuming a fit with other training data
    ({"unseen_classes": ["c"]}, ["b"], False, "error"),
    ({"unseen_classes": []}, ["c"], False, "error"),  # the model trained on 'c': it is not unseen
    ({}, ["c"], False, "error"),  # an older checkpoint (no key) trained on every class
    ({}, None, False, []),
])
def test_checkpoint_unseen_classes(saved, given, fitting, result):
    from mmlgnet.errors import CheckpointError

    ov = OpenVocabulary(["a", "b", "c"], given, "text")
    if result == "error":
        with pytest.raises(CheckpointError, match="--data.unseen_classes"):
            ov.adopt_checkpoint(saved, fitting, "x.ckpt")
    else:
        assert ov.adopt_checkpoint(saved, fitting, "x.ckpt").test_record(torch.eye(3)).get("unseen_classes", []) == result
