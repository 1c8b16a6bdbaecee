"""The synthetic scene: seeded, spatially coherent, every class present, and needing both modalities."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mmlgnet.data.synthetic import default_split, make_synthetic_scene


def lda_accuracy(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Test accuracy of a shrinkage linear discriminant on standardised per-pixel features (cheap, exact)."""
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-9)  # (N, F)
    ks = np.unique(y[train])
    means = np.stack([x[train][y[train] == k].mean(0) for k in ks])  # (K, F)
    resid = x[train] - means[np.searchsorted(ks, y[train])]
    cov = resid.T @ resid / len(resid)
    cov = 0.9 * cov + 0.1 * np.eye(len(cov)) * np.trace(cov) / len(cov)
    w = np.linalg.solve(cov, means.T)  # (F, K)
    scores = x[test] @ w - 0.5 * (means * w.T).sum(1)
    return float((ks[scores.argmax(1)] == y[test]).mean())


def modality_accuracies(seed: int, per_class: int = 25, **kwargs: int) -> dict[str, float]:
    """Per-pixel accuracy from HSI only, LiDAR only and both, `per_class` training pixels per class."""
    scene = make_synthetic_scene(seed=seed, **kwargs)
    y = scene.labels.ravel()
    labelled = np.flatnonzero(y > 0)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(labelled[y[labelled] == k], per_class, replace=False)
                            for k in range(1, scene.num_classes + 1)])
    test = np.setdiff1d(labelled, train)
    hsi = scene.hsi.reshape(len(y), -1)
    lidar = scene.lidar.reshape(len(y), -1)
    feats = {"hsi": hsi, "lidar": lidar, "both": np.hstack([hsi, lidar])}
    return {m: lda_accuracy(x, y, train, test) for m, x in feats.items()}


def test_shapes_and_types() -> None:
    s = make_synthetic_scene(height=30, width=40, num_classes=5, hsi_bands=12, lidar_bands=2)
    assert s.hsi.shape == (30, 40, 12) and s.hsi.dtype == np.float32
    assert s.lidar.shape == (30, 40, 2) and s.lidar.dtype == np.float32
    assert s.labels.shape == (30, 40) and s.labels.dtype == np.int64
    assert s.num_classes == 5 and len(s.palette) == 5 and s.wavelengths_nm.shape == (12,)
    assert s.train_map is None and s.test_map is None and s.name == "synthetic"
    assert "grass" in s.class_names and np.isfinite(s.hsi).all() and np.isfinite(s.lidar).all()


def test_deterministic_per_seed() -> None:
    a, b, c = make_synthetic_scene(seed=5), make_synthetic_scene(seed=5), make_synthetic_scene(seed=6)
    for field in ("hsi", "lidar", "labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert not np.array_equal(getattr(a, field), getattr(c, field))


@pytest.mark.parametrize(("seed", "num_classes"), [(0, 6), (1, 6), (2, 8), (3, 4), (4, 12)])
def test_every_class_present_and_partly_unlabelled(seed: int, num_classes: int) -> None:
    labels = make_synthetic_scene(seed=seed, num_classes=num_classes).labels
    counts = np.bincount(labels.ravel(), minlength=num_classes + 1)
    assert (counts[1:] >= 30).all(), counts  # enough for 25 training pixels per class
    assert 0.1 < counts[0] / labels.size < 0.6  # like real ground truth, not everything is labelled


def test_regions_are_spatially_coherent() -> None:
    labels = make_synthetic_scene(seed=0).labels
    same = total = 0
    for a, b in ((labels[1:], labels[:-1]), (labels[:, 1:], labels[:, :-1])):
        both = (a > 0) & (b > 0)
        same += int((a[both] == b[both]).sum())
        total += int(both.sum())
    assert same / total > 0.97


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_needs_both_modalities(seed: int) -> None:
    acc = modality_accuracies(seed)
    assert acc["both"] > acc["hsi"] + 0.25 and acc["both"] > acc["lidar"] + 0.25, acc
    assert max(acc["hsi"], acc["lidar"]) < 0.75, acc  # neither modality alone is enough
    assert 0.8 < acc["both"] < 0.99, acc  # separable with both, but not trivially


def test_fast() -> None:
    # CPU seconds of this process (all its threads), not wall-clock seconds: the generator's own cost,
    # which other processes cannot inflate. A Trento-sized scene takes ~0.4 s of CPU; on a loaded 2-core
    # machine its wall time reached 5.9 s (a flaky failure) while its CPU time stayed under 0.7 s.
    start = time.process_time()
    make_synthetic_scene(height=166, width=600, hsi_bands=63)
    assert time.process_time() - start < 5.0


def test_default_split_is_deterministic_and_disjoint() -> None:
    labels = make_synthetic_scene(seed=0).labels
    train, test = default_split(labels)
    train2, _ = default_split(labels)
    np.testing.assert_array_equal(train, train2)
    assert not ((train > 0) & (test > 0)).any()
    np.testing.assert_array_equal(train + test, labels)
    assert (np.bincount(train.ravel())[1:] == 10).all()
