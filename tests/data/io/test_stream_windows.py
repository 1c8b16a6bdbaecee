"""mmlgnet.data.io.windows: every format read by window equals the same window of the full read (readers.read_raster)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.matfiles import write_mat
from mmlgnet.data.io.readers import read_raster
from mmlgnet.data.io.windows import open_raster
from tests.cardkit import CRS, TRANSFORM

WINDOWS = [(slice(0, 13), slice(0, 11)), (slice(3, 7), slice(2, 9)), (slice(12, 13), slice(10, 11)),
           (slice(None), slice(5, None))]


def _cube(h: int = 13, w: int = 11, c: int = 5) -> np.ndarray:
    return ((np.arange(h * w * c).reshape(h, w, c) * 7) % 1009).astype(np.uint16)  # (H, W, C), no symmetry


def _gdal(path: Path, cube: np.ndarray, driver: str, **extra: object) -> Path:
    h, w, c = cube.shape
    with rasterio.open(path, "w", driver=driver, height=h, width=w, count=c, dtype=cube.dtype.name, crs=CRS,
                       transform=TRANSFORM, nodata=1000, **extra) as ds:
        ds.write(cube.transpose(2, 0, 1))
    return path


def _files(tmp_path: Path) -> list[tuple[Path, str | None]]:
    cube = _cube()
    np.save(tmp_path / "cube.npy", cube)
    np.save(tmp_path / "dsm.npy", cube[:, :, 0].astype(np.float32))  # 2-D
    write_mat(tmp_path / "v5.mat", {"HSI": cube}, version="5")
    write_mat(tmp_path / "v73.mat", {"HSI": cube, "DSM": cube[:, :, 1].astype(np.float64)}, version="7.3")
    return [(_gdal(tmp_path / "strip.tif", cube, "GTiff"), None),
            (_gdal(tmp_path / "tiled.tif", cube, "GTiff", tiled=True, blockxsize=16, blockysize=16,
                   compress="deflate"), None),
            (_gdal(tmp_path / "scene.img", cube, "ENVI"), None), (tmp_path / "scene.hdr", None),
            (tmp_path / "cube.npy", None), (tmp_path / "dsm.npy", None),
            (tmp_path / "v5.mat", "HSI"), (tmp_path / "v73.mat", "HSI"), (tmp_path / "v73.mat", "DSM")]


@pytest.mark.parametrize("bands", [None, [5, 2], [3]])
def test_every_format_window_equals_the_full_read(tmp_path: Path, bands: list[int] | None) -> None:
    for path, key in _files(tmp_path):
        full = read_raster(path, key=key, bands=bands if path.name != "dsm.npy" and key != "DSM" else None)
        with open_raster(path, key=key, bands=bands if path.name != "dsm.npy" and key != "DSM" else None) as src:
            assert src.shape == full.array.shape, path
            assert (src.crs, src.transform, src.nodata) == (full.crs, full.transform, full.nodata), path
            assert src.whole_file == (path.name == "v5.mat")
            for rows, cols in WINDOWS:
                got = src.read(rows, cols)
                assert got.dtype == np.float32
                np.testing.assert_array_equal(got, full.array[rows, cols], err_msg=f"{path} {key} {rows} {cols}")
            if src.shape[2] > 1:  # a subset of the source's own bands, in any order
                np.testing.assert_array_equal(src.read(slice(1, 4), slice(2, 5), bands=[1, 0]),
                                              full.array[1:4, 2:5][:, :, [1, 0]])
            assert src.read(slice(0, 2), slice(0, 2), dtype=None).dtype == src.dtype


def test_open_reads_no_pixels_and_windows_are_checked(tmp_path: Path) -> None:
    path = _gdal(tmp_path / "a.tif", _cube(), "GTiff")
    src = open_raster(path)
    assert src.shape == (13, 11, 5) and src.dtype == np.uint16 and src.nbytes == 13 * 11 * 5 * 4
    for rows, cols in [(slice(0, 14), slice(0, 2)), (slice(3, 3), slice(0, 2)), (slice(0, 2), slice(-1, None)),
                       (slice(0, 4, 2), slice(0, 2))]:
        with pytest.raises(ValueError, match="window"):
            src.read(rows, cols)
    with pytest.raises(ValueError, match="band positions"):
        src.read(slice(0, 2), slice(0, 2), bands=[5])
    src.close()
    np.testing.assert_array_equal(src.read(slice(0, 1), slice(0, 1)), _cube()[:1, :1].astype(np.float32))


def test_bad_files_are_data_errors_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    write_mat(tmp_path / "v73.mat", {"HSI": _cube()}, version="7.3")
    for path, key, bands in [(tmp_path / "empty.tif", None, None), (tmp_path / "junk.npy", None, None),
                             (tmp_path / "v73.mat", None, None), (tmp_path / "v73.mat", "NOPE", None),
                             (tmp_path / "v73.mat", "HSI", [9]), (tmp_path / "missing.tif", None, None)]:
        with pytest.raises(DataError, match=path.name):
            open_raster(path, key=key, bands=bands)


def test_lazy_card_reads_what_load_card_reads(tmp_path: Path) -> None:
    """A card with a NaN-nodata HSI and two LiDAR rasters: lazy windows == load_card's arrays (NaN -> fill)."""
    import yaml

    from mmlgnet.data.scenes.card_load import load_card
    from mmlgnet.data.scenes.lazy_scene import open_card_lazily
    from tests.cardkit import small_scene, write_tif

    scene, void = small_scene()
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    hsi[void] = np.nan
    write_tif(tmp_path / "hsi.tif", hsi, nodata=float("nan"))
    write_tif(tmp_path / "dsm.tif", scene.lidar[:, :, 0])
    write_tif(tmp_path / "int.tif", scene.lidar[:, :, 1])
    write_tif(tmp_path / "gt.tif", scene.labels.astype(np.uint8))
    card = tmp_path / "scene.yaml"
    card.write_text(yaml.safe_dump({"name": "nan", "hsi": "hsi.tif", "lidar": ["dsm.tif", "int.tif"],
                                    "labels": "gt.tif", "class_names": list(scene.class_names)}))
    for channels in (None, 1):
        full = load_card(card, lidar_channels=channels)
        lazy = open_card_lazily(str(card), lidar_channels=channels)
        assert lazy.hsi is not None and full.hsi is not None
        assert lazy.stub.hsi is not None and lazy.stub.hsi.shape == full.hsi.shape
        assert lazy.stub.lidar.shape == full.lidar.shape and lazy.stub.nodata == full.nodata
        assert (lazy.stub.crs, lazy.stub.transform, lazy.stub.class_names) == (full.crs, full.transform,
                                                                               full.class_names)
        np.testing.assert_array_equal(lazy.hsi.read(slice(None), slice(None)), full.hsi)  # NaN -> the fill value
        np.testing.assert_array_equal(lazy.lidar.read(slice(3, 9), slice(0, 5)), full.lidar[3:9, 0:5])
        assert lazy.stub.hsi.strides == (0, 0, 0)  # the stub holds no pixels
        lazy.close()
