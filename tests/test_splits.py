"""Split protocols: disjointness, counts, determinism, validation carve-out and impossible requests."""

import numpy as np
import pytest

from mmlgnet.splits import SplitError, make_split, parse_protocol

NAMES = ("a", "b", "c")


@pytest.fixture()
def labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 4, size=(30, 40))  # 0 = unlabelled
    return lab


def _disjoint(*sets: np.ndarray) -> bool:
    allidx = np.concatenate(sets)
    return len(np.unique(allidx)) == len(allidx)


@pytest.mark.parametrize("protocol,per_class", [("per_class:5", 5), ("per_class:12", 12)])
def test_per_class_counts_and_disjoint(labels, protocol, per_class):
    sp = make_split(labels, NAMES, protocol, seed=1)
    counts = sp.counts(labels, 3)
    assert counts["train"] == [per_class] * 3
    assert [a + b for a, b in zip(counts["train"], counts["test"], strict=True)] == np.bincount(labels.ravel(), minlength=4)[1:].tolist()
    assert _disjoint(sp.train, sp.test)
    assert (labels.ravel()[sp.train] > 0).all() and (labels.ravel()[sp.test] > 0).all()


def test_fraction_is_stratified(labels):
    sp = make_split(labels, NAMES, "fraction:0.1", seed=0)
    totals = np.bincount(labels.ravel(), minlength=4)[1:]
    assert sp.counts(labels, 3)["train"] == [int(round(0.1 * n)) for n in totals]


def test_deterministic_and_seed_dependent(labels):
    a, b = make_split(labels, NAMES, "per_class:7", seed=4), make_split(labels, NAMES, "per_class:7", seed=4)
    c = make_split(labels, NAMES, "per_class:7", seed=5)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.train, c.train)


def test_standard_uses_published_maps(labels):
    train_map = np.where(np.arange(labels.size).reshape(labels.shape) % 7 == 0, labels, 0)
    test_map = np.where(train_map > 0, 0, labels)
    sp = make_split(labels, NAMES, "standard", train_map=train_map, test_map=test_map)
    assert np.array_equal(sp.train, np.flatnonzero(train_map.ravel()))
    assert np.array_equal(sp.test, np.flatnonzero(test_map.ravel()))


def test_standard_without_maps_names_alternatives(labels):
    with pytest.raises(SplitError, match="per_class:N"):
        make_split(labels, NAMES, "standard")


def test_validation_carved_from_train_only(labels):
    plain = make_split(labels, NAMES, "per_class:20", seed=2)
    sp = make_split(labels, NAMES, "per_class:20", seed=2, val_fraction=0.25)
    assert _disjoint(sp.train, sp.val, sp.test)
    assert np.array_equal(sp.test, plain.test)  # the test set is untouched by the carve-out
    assert np.array_equal(np.sort(np.concatenate([sp.train, sp.val])), plain.train)
    assert sp.counts(labels, 3)["val"] == [5, 5, 5]


def test_too_small_class_is_an_error():
    lab = np.zeros((10, 10), dtype=np.int64)
    lab[0, :8] = 1
    lab[1, :] = 2
    lab[2, :3] = 3
    with pytest.raises(SplitError, match=r"class 3 \('c'\): it has 3 labelled pixels"):
        make_split(lab, NAMES, "per_class:5")


@pytest.mark.parametrize("bad", ["per_class:0", "per_class:2.5", "fraction:1.5", "fraction:0", "random", "per_class:"])
def test_malformed_protocols(bad):
    with pytest.raises(SplitError):
        parse_protocol(bad)


def test_bad_val_fraction(labels):
    with pytest.raises(SplitError, match="val_fraction"):
        make_split(labels, NAMES, "per_class:5", val_fraction=1.0)
