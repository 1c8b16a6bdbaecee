"""MATLAB v5 / v7.3 reading and writing, and the GatorSense struct file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mmlgnet.matfiles import MatKeyError, read_gatorsense, read_mat, write_gatorsense, write_mat


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_round_trip_keeps_matlab_axis_order(tmp_path: Path, version: str) -> None:
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(5, 7, 3)).astype(np.float32)  # (H, W, C)
    mask = rng.integers(0, 4, size=(5, 7)).astype(np.uint8)
    path = write_mat(tmp_path / "x.mat", {"data": cube, "mask": mask}, version)
    got = read_mat(path, "data")
    assert got.shape == (5, 7, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, cube)
    np.testing.assert_array_equal(read_mat(path, "mask"), mask)


def test_v73_is_a_real_matlab_73_file(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "x.mat", {"a": np.ones((2, 3), np.float64)}, "7.3")
    head = path.read_bytes()[:128]
    assert head.startswith(b"MATLAB 7.3 MAT-file") and head[-2:] == b"IM"
    with pytest.raises(NotImplementedError):  # scipy recognises the v7.3 header and refuses it
        scipy.io.loadmat(path)


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_missing_key_lists_present_keys(tmp_path: Path, version: str) -> None:
    path = write_mat(tmp_path / "x.mat", {"HSI": np.zeros((2, 2), np.float32), "extra": np.zeros(1)}, version)
    with pytest.raises(MatKeyError) as err:
        read_mat(path, "LiDAR")
    msg = str(err.value)
    assert "'LiDAR'" in msg and "HSI" in msg and "extra" in msg and str(path) in msg


def test_gatorsense_round_trip_maps_minus_one_to_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hsi = rng.normal(size=(6, 4, 5)).astype(np.float32)
    z = rng.normal(size=(6, 4, 2)).astype(np.float32)
    labels = rng.integers(0, 4, size=(6, 4))
    path = write_gatorsense(tmp_path / "g.mat", hsi, z, labels, ("Trees", "Road", "Water"), np.arange(5.0))
    raw = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["hsi"]
    assert (raw.sceneLabels.labels == -1).sum() == (labels == 0).sum()  # real files mark unlabelled by −1
    g = read_gatorsense(path)
    np.testing.assert_array_equal(g.hsi, hsi)
    np.testing.assert_array_equal(g.lidar, z)
    np.testing.assert_array_equal(g.labels, labels)
    assert g.class_names == ("Trees", "Road", "Water")
    np.testing.assert_array_equal(g.wavelengths_nm, np.arange(5.0))


def test_gatorsense_rejects_other_files(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "x.mat", {"gt": np.zeros((2, 2), np.uint8)}, "5")
    with pytest.raises(MatKeyError, match="'hsi'"):
        read_gatorsense(path)
