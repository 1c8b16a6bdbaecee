"""Tests of mmlgnet.data.io.readers: GeoTIFF, ENVI, .npy and .mat rasters and label maps read back with their metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from mmlgnet.data.io.download import DataError, MissingDataError
from mmlgnet.data.io.matfiles import write_mat
from mmlgnet.data.io.readers import Raster, read_labels, read_raster
from mmlgnet.errors import UserError
from tests.conftest import SHARED_DATA

TRANSFORM = Affine(2.5, 0.0, 271_460.0, 0.0, -2.5, 3_290_891.0)  # Houston-like UTM 15N origin, 2.5 m pixels


def _cube(h: int = 6, w: int = 7, c: int = 4, dtype: str = "uint16") -> np.ndarray:
    return (np.arange(h * w * c).reshape(h, w, c) % 997).astype(dtype)  # (H, W, C)


def _write_gdal(path: Path, cube: np.ndarray, driver: str = "GTiff", crs: str | None = "EPSG:32615",
                nodata: float | None = 0.0, georeferenced: bool = True) -> Path:
    h, w, c = cube.shape
    extra = {"crs": crs, "transform": TRANSFORM} if georeferenced else {}
    with rasterio.open(path, "w", driver=driver, height=h, width=w, count=c, dtype=cube.dtype.name,
                       nodata=nodata, **extra) as ds:
        ds.write(cube.transpose(2, 0, 1))  # (C, H, W)
    return path


def test_geotiff_round_trip_keeps_crs_transform_nodata(tmp_path: Path) -> None:
    cube = _cube()
    raster = read_raster(_write_gdal(tmp_path / "hsi.tif", cube, nodata=65535))
    assert isinstance(raster, Raster)
    assert raster.array.shape == (6, 7, 4) and raster.array.dtype == np.float32
    np.testing.assert_array_equal(raster.array, cube.astype(np.float32))
    assert raster.crs == "EPSG:32615"
    assert raster.transform == tuple(TRANSFORM)[:6]
    assert raster.nodata == 65535.0
    assert raster.path == tmp_path / "hsi.tif"


def test_geotiff_single_band_becomes_hwc_and_band_subset_keeps_order(tmp_path: Path) -> None:
    dsm = _cube(c=1, dtype="float32")
    raster = read_raster(_write_gdal(tmp_path / "dsm.tiff", dsm, nodata=-9999.0))
    assert raster.array.shape == (6, 7, 1) and raster.nodata == -9999.0
    cube = _cube(c=5)
    sub = read_raster(_write_gdal(tmp_path / "hsi.tif", cube), bands=[5, 2])
    np.testing.assert_array_equal(sub.array, cube[:, :, [4, 1]].astype(np.float32))


def test_reading_in_windows_gives_the_whole_raster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmlgnet.data.io.readers as readers

    monkeypatch.setattr(readers, "_CHUNK_BYTES", 7 * 4 * 4 * 2)  # two rows of 7 x 4 float32 per window, 3 windows
    cube = _cube(h=5)
    np.testing.assert_array_equal(read_raster(_write_gdal(tmp_path / "a.tif", cube)).array, cube)
    tiled = _cube(h=40, w=37, c=3)  # 16 x 16 tiles: windows of one tile, partial at the right and bottom edges
    path = tmp_path / "tiled.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=37, count=3, dtype="uint16", crs="EPSG:32615",
                       transform=TRANSFORM, tiled=True, blockxsize=16, blockysize=16) as ds:
        ds.write(tiled.transpose(2, 0, 1))
        assert ds.block_shapes[0] == (16, 16)
    monkeypatch.setattr(readers, "_CHUNK_BYTES", 16 * 16 * 3 * 4)
    np.testing.assert_array_equal(read_raster(path).array, tiled)
    np.testing.assert_array_equal(read_raster(path, bands=[3]).array, tiled[:, :, 2:])


def test_envi_header_and_data_file_read_back(tmp_path: Path) -> None:
    cube = _cube(dtype="float32")
    _write_gdal(tmp_path / "scene.img", cube, driver="ENVI", nodata=None)
    assert (tmp_path / "scene.hdr").is_file()
    for source in ("scene.hdr", "scene.img"):
        raster = read_raster(tmp_path / source, bands=[1, 3])
        np.testing.assert_array_equal(raster.array, cube[:, :, [0, 2]])
        assert raster.crs == "EPSG:32615" and raster.transform == tuple(TRANSFORM)[:6] and raster.nodata is None


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_ungeoreferenced_raster_has_no_crs_or_transform(tmp_path: Path) -> None:
    raster = read_raster(_write_gdal(tmp_path / "plain.tif", _cube(), nodata=None, georeferenced=False))
    assert raster.crs is None and raster.transform is None and raster.nodata is None


def test_npy_and_mat_rasters(tmp_path: Path) -> None:
    cube = _cube(dtype="float32")
    np.save(tmp_path / "hsi.npy", cube)
    npy = read_raster(tmp_path / "hsi.npy")
    np.testing.assert_array_equal(npy.array, cube)
    assert npy.crs is None and npy.transform is None and npy.nodata is None
    np.save(tmp_path / "dsm.npy", cube[:, :, 0].astype(np.int16))
    assert read_raster(tmp_path / "dsm.npy").array.shape == (6, 7, 1)
    np.testing.assert_array_equal(read_raster(tmp_path / "hsi.npy", bands=[4]).array, cube[:, :, 3:])
    for version in ("5", "7.3"):
        path = write_mat(tmp_path / f"hsi{version}.mat", {"HSI": cube}, version=version)
        np.testing.assert_array_equal(read_raster(path, key="HSI", bands=[2, 1]).array, cube[:, :, [1, 0]])


def _raises(match: str, *args: object, **kwargs: object) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        read_raster(*args, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, UserError)
    return info.value


def test_missing_file_and_directory(tmp_path: Path) -> None:
    err = _raises("no such file", tmp_path / "nope.tif")
    assert isinstance(err, MissingDataError) and str(tmp_path / "nope.tif") in str(err)
    (tmp_path / "dir.tif").mkdir()
    _raises("a directory", tmp_path / "dir.tif")


@pytest.mark.parametrize("name", ["bad.tif", "bad.npy", "bad.img", "empty.tif"])
def test_corrupt_bytes_name_the_file_and_the_fix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"II*\x00 not really a raster \x00\x01\x02" * 10)
    if name == "bad.img":  # an ENVI data file whose header is garbage
        (tmp_path / "bad.hdr").write_text("ENVI\nsamples = oops\n")
    err = _raises("cannot read", path)
    assert str(path) in str(err) and ("replace it" in str(err) or "save the array again" in str(err))


def test_truncated_geotiff(tmp_path: Path) -> None:
    path = _write_gdal(tmp_path / "cut.tif", _cube(h=64, w=64, c=3))
    path.write_bytes(path.read_bytes()[:2000])
    _raises("cut.tif: cannot read", path)


def test_unknown_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "scene.xyz").write_bytes(b"1 2 3")
    err = _raises(r"unknown raster extension '\.xyz'", tmp_path / "scene.xyz")
    assert ".tif" in str(err) and ".hdr" in str(err) and ".mat" in str(err) and ".npy" in str(err)
    (tmp_path / "rois.txt").write_text("; ENVI Output of ROIs\n")
    _raises("ENVI ROI text only as a label source", tmp_path / "rois.txt")


def test_envi_header_without_data_file(tmp_path: Path) -> None:
    (tmp_path / "lonely.hdr").write_text("ENVI\n")
    err = _raises("ENVI header without its data file", tmp_path / "lonely.hdr")
    assert isinstance(err, MissingDataError) and "lonely.img" in str(err)


@pytest.mark.parametrize("bands", [[0], [5], [1, 9], [], [True]])
def test_bad_band_numbers_name_the_valid_range(tmp_path: Path, bands: list[int]) -> None:
    tif = _write_gdal(tmp_path / "a.tif", _cube())
    _raises(r"a\.tif: `bands` must list 1-based band numbers in 1\.\.4", tif, bands=bands)
    np.save(tmp_path / "a.npy", _cube())
    _raises(r"1\.\.4 \(the file has 4 band", tmp_path / "a.npy", bands=bands)


def test_mat_without_key_and_with_a_wrong_key(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "hsi.mat", {"HSI": _cube(dtype="float32")})
    _raises(r"hsi\.mat: a \.mat file holds named variables; give the one to read as `key`", path)
    _raises(r"no variable 'X'", path, key="X")


@pytest.mark.parametrize("array", [np.zeros(5), np.zeros((2, 3, 4, 5)), np.zeros((0, 3))])
def test_wrong_rank(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", array)
    _raises(r"expected a raster of shape \(H, W\) or \(H, W, C\)", tmp_path / "a.npy")


def test_non_numeric_dtypes(tmp_path: Path) -> None:
    np.save(tmp_path / "mask.npy", np.ones((3, 3), dtype=bool))
    _raises(r"mask\.npy: expected real numbers .* got dtype bool \(true/false values\)", tmp_path / "mask.npy")
    np.save(tmp_path / "c.npy", np.ones((3, 3), dtype=np.complex64))
    _raises("got dtype complex64", tmp_path / "c.npy")
    _write_gdal(tmp_path / "c.tif", np.ones((3, 3, 1), dtype=np.complex64), nodata=None)
    _raises(r"c\.tif: expected real numbers", tmp_path / "c.tif")


def test_read_labels_from_a_geotiff_maps_nodata_to_unlabelled(tmp_path: Path) -> None:
    gt = np.array([[1, 2, 255], [0, 3, 3]], dtype=np.uint8)
    path = _write_gdal(tmp_path / "gt.tif", gt[:, :, None], nodata=255)
    labels, names, raster = read_labels(path, shape=(2, 3))
    assert labels.dtype == np.int64 and names is None
    np.testing.assert_array_equal(labels, [[1, 2, 0], [0, 3, 3]])
    assert raster is not None and raster.crs == "EPSG:32615" and raster.transform == tuple(TRANSFORM)[:6]
    assert raster.nodata == 255.0 and raster.array.shape == (2, 3, 1)


def test_read_labels_npy_mat_and_roi_text(tmp_path: Path) -> None:
    gt = np.array([[1, 0], [2, 2]], dtype=np.float64)
    np.save(tmp_path / "gt.npy", gt)
    labels, names, raster = read_labels(tmp_path / "gt.npy")
    np.testing.assert_array_equal(labels, gt)
    assert names is None and raster is not None and raster.crs is None
    write_mat(tmp_path / "TR.mat", {"TRLabel": gt.astype(np.uint8)})
    np.testing.assert_array_equal(read_labels(tmp_path / "TR.mat", key="TRLabel")[0], gt)
    (tmp_path / "rois.txt").write_text(
        "; ENVI Output of ROIs (4.8)\n; Number of ROIs: 1\n; File Dimension: 2 x 2\n;\n; ROI name: Trees\n"
        "; ROI rgb value: {0, 139, 0}\n; ROI npts: 1\n;    ID     X    Y\n      1   2   1\n"
    )
    labels, names, raster = read_labels(tmp_path / "rois.txt", shape=(2, 2))
    np.testing.assert_array_equal(labels, [[0, 1], [0, 0]])
    assert names == ("Trees",) and raster is None


def test_read_labels_errors(tmp_path: Path) -> None:
    _write_gdal(tmp_path / "two.tif", np.ones((3, 3, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=r"two\.tif: expected a label map with one band, got 2 bands"):
        read_labels(tmp_path / "two.tif")
    np.save(tmp_path / "two.npy", np.ones((3, 3, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=r"two\.npy: expected a label map with one band, got 2 bands"):
        read_labels(tmp_path / "two.npy")
    np.save(tmp_path / "frac.npy", np.array([[1.5, 0.0]]))
    with pytest.raises(DataError, match=r"frac\.npy: expected integer class ids"):
        read_labels(tmp_path / "frac.npy")
    np.save(tmp_path / "mask.npy", np.ones((2, 2), dtype=bool))
    with pytest.raises(DataError, match=r"mask\.npy: expected real numbers"):
        read_labels(tmp_path / "mask.npy")
    np.save(tmp_path / "gt.npy", np.ones((2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=r"gt\.npy: label map of shape \(2, 2\), expected \(3, 2\)"):
        read_labels(tmp_path / "gt.npy", shape=(3, 2))
    with pytest.raises(DataError, match=r"unknown raster extension '\.csv'"):
        (tmp_path / "gt.csv").write_text("1,2")
        read_labels(tmp_path / "gt.csv")


MUUFL = SHARED_DATA / "muufl"


@pytest.mark.skipif(not (MUUFL / "LiDAR.mat").is_file() or not (MUUFL / "muufl_gt.mat").is_file(),
                    reason="no shared MUUFL data")
def test_real_muufl_lidar_and_labels_as_geotiffs(tmp_path: Path) -> None:
    """The real MUUFL LiDAR (2 rasters) and ground truth, written as UTM 16N GeoTIFFs, read back unchanged."""
    lidar = read_raster(MUUFL / "LiDAR.mat", key="LiDAR").array  # (325, 220, 2)
    gt, _, _ = read_labels(MUUFL / "muufl_gt.mat", key="gt")
    assert lidar.shape == (325, 220, 2) and gt.shape == (325, 220)
    assert int((gt > 0).sum()) == 53_687 and int(gt.max()) == 11  # DATASETS.md
    tif = _write_gdal(tmp_path / "dsm.tif", lidar, crs="EPSG:32616", nodata=-9999.0)
    back = read_raster(tif, bands=[2])
    np.testing.assert_array_equal(back.array, lidar[:, :, 1:])
    assert back.crs == "EPSG:32616" and back.nodata == -9999.0
    gt_tif = _write_gdal(tmp_path / "gt.tif", gt.astype(np.uint8)[:, :, None], crs="EPSG:32616", nodata=None)
    labels, names, raster = read_labels(gt_tif, shape=(325, 220))
    np.testing.assert_array_equal(labels, gt)
    assert names is None and raster is not None and raster.transform == tuple(TRANSFORM)[:6]
