"""Split protocols: disjointness, counts, determinism, validation carve-out and impossible requests."""

import numpy as np
import pytest

from mmlgnet.data.sampling.splits import (
    SplitError,
    check_val_fraction,
    make_split,
    parse_protocol,
    smallest_val_fraction,
)

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


def _maps_without_class(labels: np.ndarray, missing: int) -> tuple[np.ndarray, np.ndarray]:
    train_map = np.where((np.arange(labels.size).reshape(labels.shape) % 7 == 0) & (labels != missing), labels, 0)
    return train_map, np.where(train_map > 0, 0, labels)


def test_standard_split_missing_a_class_is_an_error_naming_class_and_file(labels):
    train_map, test_map = _maps_without_class(labels, 2)
    with pytest.raises(SplitError) as err:
        make_split(labels, NAMES, "standard", train_map=train_map, test_map=test_map, train_source="/d/TRLabel.mat")
    msg = str(err.value)
    assert "class 2 ('b')" in msg and "/d/TRLabel.mat" in msg and "no training pixel" in msg
    assert "--data.unseen_classes '[b]'" in msg and "--data.allow_empty_train_classes true" in msg


def test_empty_train_class_allowed_explicitly(labels):
    train_map, test_map = _maps_without_class(labels, 2)
    sp = make_split(labels, NAMES, "standard", train_map=train_map, test_map=test_map, allow_empty_train_classes=True)
    counts = sp.counts(labels, 3)
    assert counts["train"][1] == 0 and counts["test"][1] == int((labels == 2).sum())


def test_drawn_split_with_absent_class(labels):
    lab = np.where(labels == 3, 0, labels)  # class 'c' has no labelled pixel at all
    with pytest.raises(SplitError, match=r"class 3 \('c'\) has no training pixel"):
        make_split(lab, NAMES, "per_class:5")
    sp = make_split(lab, NAMES, "per_class:5", allow_empty_train_classes=True)
    assert sp.counts(lab, 3)["train"] == [5, 5, 0]


def test_val_fraction_rounding_to_no_pixel_is_an_error_naming_the_smallest_value(labels):
    with pytest.raises(SplitError) as err:
        make_split(labels, NAMES, "per_class:5", val_fraction=0.01)  # round(0.05) = 0 in every class
    msg = str(err.value)
    assert "--data.val_fraction" in msg and "0.101" in msg
    sp = make_split(labels, NAMES, "per_class:5", val_fraction=0.101)
    assert sp.counts(labels, 3)["val"] == [1, 1, 1]


def test_val_fraction_missing_some_classes_warns():
    lab = np.zeros((10, 10), dtype=np.int64)
    lab[:4, :] = 1  # 40 px
    lab[4:6, :] = 2  # 20 px
    lab[6:, :3] = 3  # 12 px
    with pytest.warns(UserWarning, match=r"no validation pixel to 1 class.*'c' \(2 training px\).*0\.251"):
        sp = make_split(lab, NAMES, "fraction:0.2", val_fraction=0.2)  # train 8, 4, 2 -> val 2, 1, 0
    assert sp.counts(lab, 3)["val"] == [2, 1, 0]


@pytest.mark.parametrize(("counts", "expected"), [([5, 5, 5], 0.101), ([2, 40], 0.251), ([1, 1], None), ([100], 0.006)])
def test_smallest_val_fraction(counts, expected):
    v = smallest_val_fraction(counts)
    assert v == expected
    if v is not None:
        assert all(1 <= int(round(v * n)) < n for n in counts if n >= 2)
        assert any(int(round((v - 0.001) * n)) < 1 for n in counts if n >= 2)  # and it is the smallest


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_check_val_fraction_names_the_option(bad):
    with pytest.raises(SplitError, match="--data.val_fraction"):
        check_val_fraction(bad)


def test_malformed_protocol_names_the_option():
    with pytest.raises(SplitError, match="--data.split 'random'"):
        parse_protocol("random")


# ---- held-out (unseen) classes: --data.unseen_classes ----

@pytest.mark.parametrize("protocol,val_fraction", [("per_class:5", 0.0), ("fraction:0.2", 0.3), ("standard", 0.25)])
def test_unseen_classes_drop_only_their_train_and_val_pixels(labels, protocol, val_fraction):
    """Same protocol and seed: seen classes keep exactly their train/val pixels, every class its test pixels,
    and the held-out class has no train/val pixel (its would-be training pixels are dropped, not tested)."""
    train_map = np.where(np.arange(labels.size).reshape(labels.shape) % 7 == 0, labels, 0)
    maps = {"train_map": train_map, "test_map": np.where(train_map > 0, 0, labels)} if protocol == "standard" else {}
    full = make_split(labels, NAMES, protocol, seed=3, val_fraction=val_fraction, **maps)
    held = make_split(labels, NAMES, protocol, seed=3, val_fraction=val_fraction, unseen=(1,), **maps)
    flat = labels.ravel()
    assert held.unseen == (1,) and full.unseen == ()
    assert (flat[held.train] != 2).all() and (flat[held.val] != 2).all()
    assert np.array_equal(held.train, full.train[flat[full.train] != 2])
    assert np.array_equal(held.val, full.val[flat[full.val] != 2])
    assert np.array_equal(held.test, full.test)
    assert held.counts(labels, 3)["train"][1] == 0 and held.counts(labels, 3)["test"][1] > 0


def test_unseen_class_is_not_an_empty_class_error(labels):
    train_map, test_map = _maps_without_class(labels, 2)
    sp = make_split(labels, NAMES, "standard", train_map=train_map, test_map=test_map, unseen=(1,))
    assert sp.counts(labels, 3)["train"][1] == 0
    with pytest.raises(SplitError, match=r"class 2 \('b'\)"):  # a seen class without training pixels still is
        make_split(labels, NAMES, "standard", train_map=train_map, test_map=test_map, unseen=(0,))


def test_unseen_class_too_small_for_the_protocol_goes_to_test_whole():
    lab = np.zeros((10, 10), dtype=np.int64)
    lab[:4], lab[4:8], lab[8, :3] = 1, 2, 3  # class 3 has 3 pixels: per_class:5 is impossible for it
    with pytest.raises(SplitError, match="impossible for class 3"):
        make_split(lab, NAMES, "per_class:5")
    sp = make_split(lab, NAMES, "per_class:5", unseen=(2,))
    assert sp.counts(lab, 3) == {"train": [5, 5, 0], "val": [0, 0, 0], "test": [35, 35, 3]}
