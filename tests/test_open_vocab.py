"""Open-vocabulary evaluation: --data.unseen_classes resolution, seen/unseen/H metrics, seen-only training logits."""

from __future__ import annotations

import pytest

from mmlgnet.data.splits import SplitError
from mmlgnet.data.unseen import check_unseen_option, resolve_unseen

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
