"""MATLAB v5 / v7.3 reading and writing, the GatorSense struct file, and a DataError naming the file for every broken one."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.matfiles import MatKeyError, read_gatorsense, read_mat, write_gatorsense, write_mat


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


# ---- every read failure is a DataError that names the file and the variable ----

def _good_bytes(tmp_path: Path, version: str) -> bytes:
    gt = np.random.default_rng(0).integers(0, 5, size=(20, 28)).astype(np.uint8)
    return write_mat(tmp_path / f"good{version}.mat", {"gt": gt}, version).read_bytes()


CORRUPTIONS = {  # name -> the bytes of a broken copy of a good file
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "header_only": lambda raw: raw[:100],
    "random_bytes": lambda raw: np.random.default_rng(1).integers(0, 256, len(raw), dtype=np.uint8).tobytes(),
    "zeros": lambda raw: bytes(len(raw)),
    "garbled_body": lambda raw: raw[:200] + np.random.default_rng(2).integers(0, 256, len(raw), dtype=np.uint8).tobytes(),
}


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_broken_file_is_a_data_error_naming_it(tmp_path: Path, version: str, corruption: str) -> None:
    path = tmp_path / "gt.mat"
    path.write_bytes(CORRUPTIONS[corruption](_good_bytes(tmp_path, version)))
    with pytest.raises(DataError) as err:
        read_mat(path, "gt")
    msg = str(err.value)
    assert str(path) in msg and "--data.download true" in msg, msg


def test_hdf5_file_not_written_by_matlab_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gt.mat"
    with h5py.File(path, "w") as f:  # plain h5py: no MATLAB header, no MATLAB_class: the axis order is unknown
        f["gt"] = np.zeros((20, 28), np.uint8)
    with pytest.raises(DataError, match="not a MATLAB v7.3 file") as err:
        read_mat(path, "gt")
    assert str(path) in str(err.value) and "'gt'" in str(err.value)


def test_v73_struct_group_is_refused_not_reported_missing(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "x.mat", {"a": np.zeros((2, 2))}, "7.3")
    with h5py.File(path, "a") as f:
        f.create_group("gt").attrs["MATLAB_class"] = np.bytes_("struct")
    with pytest.raises(DataError, match=r"'gt' is a struct") as err:
        read_mat(path, "gt")
    assert str(path) in str(err.value)


def test_v73_complex_and_char_are_refused(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "x.mat", {"a": np.zeros((2, 2))}, "7.3")
    with h5py.File(path, "a") as f:  # how MATLAB stores complex double and char arrays in v7.3 files
        cplx = np.zeros((3, 2), dtype=[("real", "<f8"), ("imag", "<f8")])
        f.create_dataset("z", data=cplx).attrs["MATLAB_class"] = np.bytes_("double")
        f.create_dataset("s", data=np.array([[104], [105]], np.uint16)).attrs["MATLAB_class"] = np.bytes_("char")
    with pytest.raises(DataError, match="complex") as err:
        read_mat(path, "z")
    assert str(path) in str(err.value) and "'z'" in str(err.value)
    with pytest.raises(DataError, match="text"):
        read_mat(path, "s")


@pytest.mark.parametrize(("value", "what"), [
    (np.ones((4, 5)) * (1 + 2j), "complex"),
    (np.array([[1, "a"]], dtype=object), "cell"),
    ({"field": np.ones(3)}, "struct"),
    ("hello", "text"),
])
def test_v5_non_numeric_variables_are_refused(tmp_path: Path, value: object, what: str) -> None:
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"gt": value})
    with pytest.raises(DataError, match=what) as err:
        read_mat(path, "gt")
    assert str(path) in str(err.value) and "'gt'" in str(err.value)


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_logical_arrays_come_back_as_bool(tmp_path: Path, version: str) -> None:
    mask = np.random.default_rng(0).integers(0, 2, size=(4, 6)).astype(bool)
    path = write_mat(tmp_path / "x.mat", {"m": mask}, version)
    got = read_mat(path, "m")
    assert got.dtype == bool and np.array_equal(got, mask)


def test_missing_key_and_missing_file_are_data_errors(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "x.mat", {"HSI": np.zeros((2, 2), np.float32)}, "5")
    with pytest.raises(DataError):
        read_mat(path, "LiDAR")
    with pytest.raises(DataError, match="no such file"):
        read_mat(tmp_path / "absent.mat", "LiDAR")


@pytest.mark.parametrize("corruption", ["empty", "truncated", "random_bytes"])
def test_gatorsense_broken_file_names_it(tmp_path: Path, corruption: str) -> None:
    good = write_gatorsense(tmp_path / "good.mat", np.ones((6, 4, 5), np.float32), np.ones((6, 4, 2), np.float32),
                            np.ones((6, 4), np.int64), ("Trees",))
    path = tmp_path / "muufl_gulfport_campus_1_hsi_220_label.mat"
    path.write_bytes(CORRUPTIONS[corruption](good.read_bytes()))
    with pytest.raises(DataError) as err:
        read_gatorsense(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("field", "labels", "cube"), [
    ("hsi.sceneLabels.labels", np.full((6, 4), 1.5), np.ones((6, 4, 5))),
    ("hsi.sceneLabels.labels", np.ones((6, 4), bool), np.ones((6, 4, 5))),
    ("hsi.Data", np.ones((6, 4)), np.ones((6, 4))),
])
def test_gatorsense_bad_arrays_name_the_field(tmp_path: Path, field: str, labels: np.ndarray, cube: np.ndarray) -> None:
    path = tmp_path / "g.mat"
    lidar_struct = np.empty((1, 1), dtype=[("z", object)])
    lidar_struct[0, 0]["z"] = np.ones((6, 4, 2))
    scipy.io.savemat(path, {"hsi": {"Data": cube, "Lidar": lidar_struct,
                                    "sceneLabels": {"labels": labels, "Materials_Type": np.array(["Trees"], object)}}})
    with pytest.raises(DataError, match=re.escape(field)) as err:
        read_gatorsense(path)
    assert str(path) in str(err.value)


def test_unreadable_file_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_mat(tmp_path / "x.mat", {"gt": np.zeros((2, 2), np.uint8)}, "5")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("builtins.open", denied)  # as for a mode-000 file (root would read it anyway)
    with pytest.raises(DataError, match="permissions") as err:
        read_mat(path, "gt")
    assert str(path) in str(err.value)
