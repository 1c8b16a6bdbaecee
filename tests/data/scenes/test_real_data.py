"""The real partial data in ../shared/data (LiDAR, ground truth, split maps): counts, hashes, loading."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmlgnet.data.io.download import DataError, MissingDataError, sha256sum
from mmlgnet.data.io.matfiles import read_mat, write_mat
from mmlgnet.data.scenes.catalog_load import SPECS, load_scene

SHARED = Path(os.environ.get("MMLGNET_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))

TRENTO_TRAIN = (129, 125, 105, 154, 184, 122)
TRENTO_TEST = (3905, 2778, 374, 8969, 10317, 3052)
MUUFL_COUNTS = (23246, 4270, 6882, 1826, 6687, 466, 2233, 6240, 1385, 183, 269)
HOUSTON_TRAIN = (198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181, 192, 184, 181, 187)
HOUSTON_TEST = (1053, 1064, 505, 1056, 1056, 143, 1072, 1053, 1059, 1036, 1054, 1041, 285, 247, 473)


def _folder(name: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} absent (set MMLGNET_SHARED_DATA to use another copy)")
    return folder


def _counts(labels: np.ndarray, k: int) -> tuple[int, ...]:
    return tuple(int(c) for c in np.bincount(labels.ravel().astype(np.int64), minlength=k + 1)[1:])


@pytest.mark.parametrize("name", ["trento", "muufl", "houston2013"])
def test_sha256sums_and_pinned_hashes(name: str) -> None:
    folder = _folder(name)
    listed = dict(reversed(line.split()) for line in (folder / "SHA256SUMS").read_text().splitlines() if line)
    for fname, digest in listed.items():
        assert sha256sum(folder / fname) == digest, fname
    pinned = {f.name: f.sha256 for files in SPECS[name].layouts.values() for f in files if f.sha256}
    # Only where the copy comes from the pinned source (the Houston label files here come from another
    # mirror than the pinned houston2013-mmr.zip, so their hashes legitimately differ).
    same_source = {"trento": set(pinned), "muufl": set(pinned), "houston2013": set()}[name]
    for fname in same_source & set(listed):
        assert listed[fname] == pinned[fname], fname


def test_trento_counts_and_split() -> None:
    folder = _folder("trento")
    train = read_mat(folder / "TRLabel.mat", "TRLabel")
    test = read_mat(folder / "TSLabel.mat", "TSLabel")
    full = read_mat(folder / "allgrd.mat", "mask_test")
    assert (int((train > 0).sum()), int((test > 0).sum())) == (819, 29395)
    assert _counts(train, 6) == TRENTO_TRAIN and _counts(test, 6) == TRENTO_TEST
    np.testing.assert_array_equal(train.astype(np.int64) + test, full)
    italy = read_mat(folder / "Italy_lidar.mat", "data")
    assert italy.shape == (166, 600, 2)
    np.testing.assert_array_equal(italy[:, :, 0], read_mat(folder / "LiDAR.mat", "LiDAR"))


def test_trento_loads_without_hsi() -> None:
    scene = load_scene("trento", _folder("trento"), require_hsi=False)
    assert scene.hsi is None and scene.lidar.shape == (166, 600, 1)
    assert _counts(scene.train_map, 6) == TRENTO_TRAIN and _counts(scene.test_map, 6) == TRENTO_TEST
    assert _counts(scene.labels, 6) == SPECS["trento"].class_counts


def test_muufl_counts_and_load() -> None:
    folder = _folder("muufl")
    gt = read_mat(folder / "muufl_gt.mat", "gt")
    assert gt.shape == (325, 220) and int((gt > 0).sum()) == 53687 and _counts(gt, 11) == MUUFL_COUNTS
    scene = load_scene("muufl", folder, require_hsi=False)
    assert scene.hsi is None and scene.lidar.shape == (325, 220, 2) and scene.train_map is None
    assert _counts(scene.labels, 11) == MUUFL_COUNTS
    assert load_scene("muufl", folder, require_hsi=False, lidar_channels=1).lidar_bands == 1


def test_houston_counts_and_missing_lidar() -> None:
    folder = _folder("houston2013")
    train = read_mat(folder / "TRLabel.mat", "TRLabel")
    test = read_mat(folder / "TSLabel.mat", "TSLabel")
    assert train.shape == (349, 1905)
    assert _counts(train, 15) == HOUSTON_TRAIN and _counts(test, 15) == HOUSTON_TEST
    assert (int((train > 0).sum()), int((test > 0).sum())) == (2832, 12197)
    np.testing.assert_array_equal(train.astype(np.int64) + test, read_mat(folder / "gt.mat", "gt"))
    if (folder / "LiDAR.mat").exists():
        pytest.skip("this copy has a LiDAR.mat: the missing-LiDAR error cannot be shown here")
    with pytest.raises(MissingDataError, match="LiDAR.mat"):
        load_scene("houston2013", folder, require_hsi=False)


@pytest.mark.parametrize("corruption", ["truncated", "fractional", "boolean"])
def test_corrupt_unpinned_muufl_gt_is_named_with_verify_on(tmp_path: Path, corruption: str) -> None:
    """muufl_gt.mat has no pinned sha256, so verification (on by default) cannot catch a broken copy: the
    reader must, beside the real (pinned, verified) LiDAR.mat."""
    folder = _folder("muufl")
    shutil.copyfile(folder / "LiDAR.mat", tmp_path / "LiDAR.mat")
    gt_path = tmp_path / "muufl_gt.mat"
    raw = (folder / "muufl_gt.mat").read_bytes()
    if corruption == "truncated":
        gt_path.write_bytes(raw[: len(raw) // 2])
    else:
        gt = read_mat(folder / "muufl_gt.mat", "gt")
        bad = gt > 0 if corruption == "boolean" else np.where(gt == 3, 2.5, gt)
        write_mat(gt_path, {"gt": bad})
    with pytest.raises(DataError) as err:
        load_scene("muufl", tmp_path, require_hsi=False)
    assert str(gt_path) in str(err.value) and "--data.download true" in str(err.value)
