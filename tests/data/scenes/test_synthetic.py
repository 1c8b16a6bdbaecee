"""The synthetic scene: seeded, spatially coherent, every class present, and needing both modalities."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mmlgnet.data.scenes.synthetic import default_split, make_synthetic_scene


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


# ---- difficulty knobs (the quick mode's scene) ----

def patch_mean_accuracies(patch: int = 9, per_class: int = 20, seed: int = 0, **kwargs: float) -> dict[str, float]:
    """Like modality_accuracies, on 9×9 patch means: what a patch model at least sees (pixel noise averaged)."""
    from scipy import ndimage

    scene = make_synthetic_scene(seed=seed, **kwargs)  # type: ignore[arg-type]
    y = scene.labels.ravel()
    labelled = np.flatnonzero(y > 0)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(labelled[y[labelled] == k], per_class, replace=False)
                            for k in range(1, scene.num_classes + 1)])
    test = np.setdiff1d(labelled, train)
    hsi, lidar = (ndimage.uniform_filter(a, (patch, patch, 1)).reshape(len(y), -1) for a in (scene.hsi, scene.lidar))
    return {m: lda_accuracy(x, y, train, test) for m, x in (("hsi", hsi), ("lidar", lidar),
                                                            ("both", np.hstack([hsi, lidar])))}


def quick_options() -> dict[str, float]:
    import yaml

    from mmlgnet.data.scenes.synthetic import synthetic_options

    path = Path(__file__).resolve().parents[3] / "configs" / "overlays" / "quick.yaml"
    return synthetic_options(yaml.safe_load(path.read_text())["data"]["synthetic_options"])  # type: ignore[return-value]


def test_knobs_off_are_the_default_scene_and_each_knob_changes_its_part_only() -> None:
    base = make_synthetic_scene(seed=2)
    off = make_synthetic_scene(seed=2, region_spectral_sd=0.0, texture=0.0, height_scale=1.0, label_noise=0.0)
    for f in ("hsi", "lidar", "labels"):
        np.testing.assert_array_equal(getattr(base, f), getattr(off, f))
    textured = make_synthetic_scene(seed=2, texture=0.05, region_spectral_sd=0.1)
    assert not np.array_equal(textured.hsi, base.hsi)
    np.testing.assert_array_equal(textured.lidar, base.lidar)
    np.testing.assert_array_equal(textured.labels, base.labels)
    flat = make_synthetic_scene(seed=2, height_scale=0.0)
    np.testing.assert_array_equal(flat.hsi, base.hsi)
    assert not np.array_equal(flat.lidar, base.lidar)
    noisy = make_synthetic_scene(seed=2, label_noise=0.2)
    labelled = base.labels > 0
    np.testing.assert_array_equal(noisy.labels > 0, labelled)  # same pixels labelled, some with another class
    assert 0.15 < (noisy.labels[labelled] != base.labels[labelled]).mean() < 0.25


def test_height_scale_zero_leaves_lidar_without_class_information() -> None:
    acc = patch_mean_accuracies(height_scale=0.0)
    assert acc["lidar"] < 0.3 and abs(acc["both"] - acc["hsi"]) < 0.1, acc  # 6 classes: chance is 1/6


def test_quick_scene_is_hard_but_needs_both_modalities() -> None:
    """The quick overlay's knobs: the default scene is near 99 % for a patch model, the quick one well below."""
    assert patch_mean_accuracies()["both"] > 0.98
    acc = patch_mean_accuracies(**quick_options())
    assert 0.75 < acc["both"] < 0.93, acc
    assert acc["both"] > acc["hsi"] + 0.1 and acc["both"] > acc["lidar"] + 0.3, acc


@pytest.mark.parametrize(("options", "message"), [
    ({"colour": 1.0}, "unknown key 'colour'"),
    ({"label_noise": 1.0}, "label_noise must be in [0, 1)"),
    ({"texture": -0.1}, "texture must be >= 0"),
    ({"texture_scale": 0}, "texture_scale must be > 0"),
    ({"noise": float("nan")}, "noise must be a finite number"),
    ({"hsi_bands": 0}, "hsi_bands must be >= 1"),
])
def test_bad_synthetic_options_are_config_errors_naming_the_option(options: dict, message: str) -> None:
    from mmlgnet.data.datamodule import HSILidarDataModule
    from mmlgnet.errors import ConfigError

    with pytest.raises(ConfigError, match="--data.synthetic_options") as e:
        HSILidarDataModule(synthetic_options=options)
    assert message in str(e.value)


def test_datamodule_builds_the_scene_with_the_options() -> None:
    from mmlgnet.data.datamodule import HSILidarDataModule

    dm = HSILidarDataModule(synthetic_height=30, synthetic_width=40, synthetic_options={"hsi_bands": 7, "label_noise": 0.1})
    assert dm.scene.hsi is not None and dm.scene.hsi.shape == (30, 40, 7)
    ref = make_synthetic_scene(height=30, width=40, hsi_bands=7, label_noise=0.1)
    np.testing.assert_array_equal(dm.scene.labels, ref.labels)
