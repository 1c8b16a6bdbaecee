"""Checked cubes and label maps: wrong shapes, booleans and non-integer labels are DataErrors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.rasters import as_cube, as_label_map


@pytest.mark.parametrize(("role", "shape"), [("hsi", (6, 5)), ("hsi", (6, 5, 4, 2)), ("hsi", (30,)),
                                             ("lidar", (6, 5, 2, 2)), ("lidar", (6,)), ("hsi", (0, 5, 4))])
def test_cube_of_wrong_rank_is_refused(role: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(DataError, match=r"expected a .* of shape \(H, W") as err:
        as_cube(np.zeros(shape, np.float32), "/d/HSI.mat", "HSI", role)  # type: ignore[arg-type]
    assert "/d/HSI.mat (variable 'HSI')" in str(err.value) and str(shape) in str(err.value)


def test_cube_types() -> None:
    lidar = as_cube(np.arange(6, dtype=np.uint16).reshape(2, 3), "L.mat", "LiDAR", "lidar")
    assert lidar.shape == (2, 3, 1) and lidar.dtype == np.float32
    with pytest.raises(DataError, match="true/false"):
        as_cube(np.ones((2, 3, 4), bool), "H.mat", "HSI", "hsi")


@pytest.mark.parametrize(("labels", "why"), [
    (np.array([[0, 1.5], [2, 3]]), "fractional"),
    (np.array([[0, np.nan], [2, 3]]), "NaN"),
    (np.array([[0, np.inf], [2, 3]], np.float32), "inf"),
    (np.array([[0, 1e20], [2, 3]]), "2\\^31"),
    (np.array([[True, False], [True, True]]), "logical"),
    (np.zeros((2, 2, 1), np.uint8), "shape"),
    (np.zeros((2, 2), np.complex64), "dtype"),
])
def test_bad_label_maps_are_refused_naming_the_file(labels: np.ndarray, why: str) -> None:
    with pytest.raises(DataError, match=why) as err:
        as_label_map(labels, "/d/gt.mat", "gt")
    assert "/d/gt.mat (variable 'gt')" in str(err.value) and "integer" in str(err.value)


def test_fractional_label_is_located() -> None:
    labels = np.zeros((4, 5))
    labels[2, 3] = 1.5
    with pytest.raises(DataError, match=r"1 non-integer value.*1\.5.*\(2, 3\)"):
        as_label_map(labels, "gt.mat", "gt")


def test_whole_number_floats_and_integers_are_accepted() -> None:
    as_double = np.array([[0.0, 1.0], [11.0, 2.0]])  # MATLAB `double` label maps
    got = as_label_map(as_double, "gt.mat", "gt")
    assert got.dtype == np.int64 and got.tolist() == [[0, 1], [11, 2]]
    assert as_label_map(np.array([[0, 3]], np.uint8), "gt.mat", "gt").dtype == np.int64


def test_one_shape_and_dtype_rule_for_whole_and_windowed_reads(tmp_path) -> None:
    """rasters.as_hwc / check_real are the one rank + dtype check of as_cube, read_raster and the windowed
    sources (were three near-copies: as_cube, readers._as_hwc, and matfiles' own kind words)."""
    from mmlgnet.data.io.readers import read_raster
    from mmlgnet.data.io.windows import open_raster

    np.save(tmp_path / "c.npy", np.ones((3, 3), dtype=np.complex64))
    messages = []
    for read in (read_raster, open_raster, lambda p: as_cube(np.load(p), p, None, "lidar")):
        with pytest.raises(DataError, match=r"c\.npy: expected .*real.* got dtype complex64 \(complex numbers\)") as e:
            read(tmp_path / "c.npy")
        messages.append(str(e.value))
    assert messages[0] == messages[1]  # whole and windowed reads word it the same
    np.save(tmp_path / "b.npy", np.ones((2, 3, 4, 5), dtype=np.float32))
    with pytest.raises(DataError) as whole:
        read_raster(tmp_path / "b.npy")
    with pytest.raises(DataError) as windowed:
        open_raster(tmp_path / "b.npy")
    assert str(whole.value) == str(windowed.value) and "got shape (2, 3, 4, 5)" in str(whole.value)
