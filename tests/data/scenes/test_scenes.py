"""Scene specs and load_scene on fixture files written in every real layout."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from mmlgnet.data.io.download import ChecksumError, DataError, MissingDataError
from mmlgnet.data.io.matfiles import read_mat, write_mat
from mmlgnet.data.scenes import catalog_load
from mmlgnet.data.scenes.catalog_load import SCENE_NAMES, SPECS, Scene, load_scene
from mmlgnet.data.scenes.synthetic import default_split, make_synthetic_scene, write_scene_files

# (scene, writer layout, LiDAR rasters the real layout has)
LAYOUTS = [
    ("trento", "trento_original", 2),
    ("trento", "split", 1),
    ("muufl", "muufl_original", 2),
    ("muufl", "muufl_split", 2),
    ("houston2013", "houston_split", 1),
]


def _tiny(lidar_bands: int = 1, seed: int = 0) -> Scene:
    return make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=7, lidar_bands=lidar_bands, seed=seed)


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize(("name", "layout", "lidar_bands"), LAYOUTS)
def test_round_trip_every_layout(tmp_path: Path, name: str, layout: str, lidar_bands: int, version: str) -> None:
    scene = _tiny(lidar_bands)
    if layout == "muufl_original" and version == "7.3":
        with pytest.raises(ValueError, match="v5"):
            write_scene_files(scene, tmp_path, layout, version)
        return
    write_scene_files(scene, tmp_path, layout, version)
    got = load_scene(name, tmp_path, verify=False)
    np.testing.assert_array_equal(got.hsi, scene.hsi)
    np.testing.assert_array_equal(got.lidar, scene.lidar)
    np.testing.assert_array_equal(got.labels, scene.labels)
    assert got.hsi.dtype == np.float32 and got.lidar.dtype == np.float32 and got.labels.dtype == np.int64
    assert got.class_names == SPECS[name].class_names and got.name == name
    has_split = layout in ("split", "houston_split")
    assert (got.train_map is not None) == has_split and (got.test_map is not None) == has_split
    if has_split:
        np.testing.assert_array_equal(got.train_map + got.test_map, scene.labels)
        totals = np.bincount(scene.labels.ravel(), minlength=7)[1:]
        expected = np.minimum(10, np.maximum(1, totals // 2)) * (totals > 0)  # default: 10 px per class
        np.testing.assert_array_equal(np.bincount(got.train_map.ravel(), minlength=7)[1:], expected)


def test_trento_original_uses_published_maps_when_present(tmp_path: Path) -> None:
    scene = _tiny(2)
    train = np.where(scene.labels == 1, 1, 0)
    write_scene_files(scene, tmp_path, "trento_original", train_map=train, test_map=scene.labels - train)
    got = load_scene("trento", tmp_path, verify=False)
    np.testing.assert_array_equal(got.train_map, train)
    assert got.lidar_bands == 2  # HSI + LiDAR of the original files, maps of the split files


def test_scene_subfolder_of_root_is_found(tmp_path: Path) -> None:
    write_scene_files(_tiny(), tmp_path / "houston2013", "houston_split")
    assert load_scene("houston2013", tmp_path, verify=False).height == 20


def test_missing_files_listed_with_urls_and_alternative(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError) as err:
        load_scene("trento", tmp_path)
    msg = str(err.value)
    for f in SPECS["trento"].layouts["split"]:
        assert str(tmp_path / f.name) in msg and str(f.url) in msg
    assert "original" in msg and "Italy_hsi.mat" in msg and "--data.download true" in msg


def test_require_hsi_false(tmp_path: Path) -> None:
    scene = _tiny()
    write_scene_files(scene, tmp_path, "split")
    (tmp_path / "HSI.mat").unlink()
    with pytest.raises(MissingDataError, match="HSI.mat"):
        load_scene("trento", tmp_path, verify=False)
    got = load_scene("trento", tmp_path, verify=False, require_hsi=False)
    assert got.hsi is None and got.hsi_bands is None
    np.testing.assert_array_equal(got.lidar, scene.lidar)
    (tmp_path / "LiDAR.mat").unlink()
    with pytest.raises(MissingDataError, match="LiDAR.mat") as err:
        load_scene("trento", tmp_path, verify=False, require_hsi=False)
    assert "HSI.mat" not in str(err.value).split("Alternatively")[0]


def test_verify_true_rejects_fixture_checksums(tmp_path: Path) -> None:
    write_scene_files(_tiny(), tmp_path, "split")
    with pytest.raises(ChecksumError) as err:
        load_scene("trento", tmp_path)
    assert SPECS["trento"].layouts["split"][0].sha256 in str(err.value)


def test_shape_checked_against_spec_when_verifying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SPECS["trento"]
    unpinned = {k: tuple(dataclasses.replace(f, sha256=None) for f in v) for k, v in spec.layouts.items()}
    monkeypatch.setitem(catalog_load.SPECS, "trento", dataclasses.replace(spec, layouts=unpinned))
    write_scene_files(_tiny(), tmp_path, "split")
    with pytest.raises(DataError, match=re.escape("expected (166, 600), got (20, 28)")):
        load_scene("trento", tmp_path)


def test_nan_in_hsi(tmp_path: Path) -> None:
    scene = _tiny()
    scene.hsi[3, 4, 2] = np.nan
    write_scene_files(scene, tmp_path, "split")
    with pytest.raises(DataError, match=r"NaN/inf.*\(3, 4, 2\)") as err:
        load_scene("trento", tmp_path, verify=False)
    assert "HSI.mat" in str(err.value)


def test_label_out_of_range(tmp_path: Path) -> None:
    scene = _tiny(2)
    write_scene_files(scene, tmp_path, "trento_original")
    write_mat(tmp_path / "allgrd.mat", {"mask_test": np.full(scene.labels.shape, 9, np.uint8)})
    with pytest.raises(DataError, match=r"allgrd.mat.*0\.\.6"):
        load_scene("trento", tmp_path, verify=False)


def test_lidar_channels(tmp_path: Path) -> None:
    write_scene_files(_tiny(2), tmp_path, "muufl_split")
    assert load_scene("muufl", tmp_path, verify=False, lidar_channels=1).lidar.shape == (20, 28, 1)
    with pytest.raises(DataError, match=r"lidar_channels=3.*1\.\.2"):
        load_scene("muufl", tmp_path, verify=False, lidar_channels=3)


def test_overlapping_train_test(tmp_path: Path) -> None:
    scene = _tiny()
    write_scene_files(scene, tmp_path, "split", train_map=scene.labels, test_map=scene.labels)
    with pytest.raises(DataError, match="pixels in both"):
        load_scene("trento", tmp_path, verify=False)


def test_spatial_size_mismatch(tmp_path: Path) -> None:
    write_scene_files(_tiny(), tmp_path, "split")
    write_mat(tmp_path / "LiDAR.mat", {"LiDAR": np.zeros((20, 27), np.float32)})
    with pytest.raises(DataError, match=r"LiDAR.mat: \(20, 27\)"):
        load_scene("trento", tmp_path, verify=False)


def test_unknown_and_synthetic_scene(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="houston2013"):
        load_scene("pavia", tmp_path)
    assert load_scene("synthetic", tmp_path).name == "synthetic"


@pytest.mark.parametrize("name", list(SPECS))
def test_specs_are_consistent(name: str) -> None:
    spec = SPECS[name]
    k = len(spec.class_names)
    assert name in SCENE_NAMES and len(spec.class_counts) == k and len(spec.palette) == k
    if spec.standard_split is not None:
        train, test = spec.standard_split
        assert len(train) == len(test) == k
        assert tuple(a + b for a, b in zip(train, test, strict=True)) == spec.class_counts
    for files in spec.layouts.values():
        assert {f.role for f in files} & {"lidar", "struct"}
        for f in files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.url or f.archive_url or f.name == "muufl_gt.mat"


def test_standard_split_totals() -> None:
    assert [sum(p) for p in SPECS["trento"].standard_split] == [819, 29395]
    assert [sum(p) for p in SPECS["houston2013"].standard_split] == [2832, 12197]
    assert sum(SPECS["muufl"].class_counts) == 53687 and SPECS["muufl"].standard_split is None


# ---- unpinned files (no sha256 catches them): every broken copy is a DataError naming it ----
UNPINNED = [  # (scene, writer layout, file written by the writer, name it is loaded under, .mat key)
    ("muufl", "muufl_split", "gt.mat", "gt.mat", "gt"),
    ("muufl", "muufl_split", "gt.mat", "muufl_gt.mat", "gt"),
    ("houston2013", "houston_split", "TRLabel.mat", "TRLabel.mat", "TRLabel"),
    ("houston2013", "houston_split", "TSLabel.mat", "TSLabel.mat", "TSLabel"),
]


def _fractional(m: np.ndarray) -> np.ndarray:
    out = m.astype(np.float64)
    out.flat[np.flatnonzero(m)[0]] += 0.5  # 1.5 would be truncated to 1 by astype(int64)
    return out


def _nan(m: np.ndarray) -> np.ndarray:
    out = m.astype(np.float64)
    out.flat[0] = np.nan
    return out


BYTE_CORRUPTIONS = {
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "header_only": lambda raw: raw[:100],
    "random_bytes": lambda raw: np.random.default_rng(0).integers(0, 256, len(raw), dtype=np.uint8).tobytes(),
}
CONTENT_CORRUPTIONS = {
    "fractional": _fractional,
    "nan": _nan,
    "boolean": lambda m: m > 0,
    "3-D": lambda m: np.stack([m, m], axis=-1),
    "4-D": lambda m: m[:, :, None, None],
}


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize("corruption", [*BYTE_CORRUPTIONS, *CONTENT_CORRUPTIONS, "hdf5_not_matlab"])
@pytest.mark.parametrize(("name", "layout", "written", "loaded", "key"), UNPINNED)
def test_broken_unpinned_file_names_it(
    tmp_path: Path, name: str, layout: str, written: str, loaded: str, key: str, corruption: str, version: str
) -> None:
    write_scene_files(_tiny(2 if name == "muufl" else 1), tmp_path, layout, version)
    path = tmp_path / loaded
    (tmp_path / written).rename(path)
    if corruption in BYTE_CORRUPTIONS:
        path.write_bytes(BYTE_CORRUPTIONS[corruption](path.read_bytes()))
    elif corruption in CONTENT_CORRUPTIONS:
        good = read_mat(path, key)
        write_mat(path, {key: CONTENT_CORRUPTIONS[corruption](good)}, version)  # type: ignore[arg-type]
    else:
        good = read_mat(path, key)
        path.unlink()
        with h5py.File(path, "w") as f:  # HDF5, but not written by MATLAB: no header, no MATLAB_class
            f[key] = good
    with pytest.raises(DataError) as err:
        load_scene(name, tmp_path, verify=False, require_hsi=False)
    msg = str(err.value)
    assert str(path) in msg and "--data.download true" in msg, msg


def test_bad_value_in_test_map_names_the_test_map(tmp_path: Path) -> None:
    scene = _tiny()
    train, test = default_split(scene.labels)
    test = test.copy()
    test.flat[np.flatnonzero((train == 0) & (test == 0))[0]] = 9  # an unlabelled pixel gets class 9 of 6
    write_scene_files(scene, tmp_path, "split", train_map=train, test_map=test)
    with pytest.raises(DataError, match=r"0\.\.6") as err:
        load_scene("trento", tmp_path, verify=False)
    msg = str(err.value)
    assert "TSLabel.mat" in msg and "TRLabel.mat" not in msg, msg


@pytest.mark.parametrize("version", ["5", "7.3"])
@pytest.mark.parametrize("shape", [(20 * 28, 7), (20, 28, 7, 1)])
def test_hsi_of_wrong_rank_names_file(tmp_path: Path, shape: tuple[int, ...], version: str) -> None:
    write_scene_files(_tiny(), tmp_path, "split", version)
    write_mat(tmp_path / "HSI.mat", {"HSI": np.zeros(shape, np.float32)}, version)
    with pytest.raises(DataError, match=r"\(H, W, C\)") as err:
        load_scene("trento", tmp_path, verify=False)
    assert str(tmp_path / "HSI.mat") in str(err.value) and str(shape) in str(err.value)


def test_whole_number_double_labels_load(tmp_path: Path) -> None:
    scene = _tiny(2)
    write_scene_files(scene, tmp_path, "muufl_split")
    write_mat(tmp_path / "gt.mat", {"gt": scene.labels.astype(np.float64)})  # MATLAB `double` maps
    np.testing.assert_array_equal(load_scene("muufl", tmp_path, verify=False).labels, scene.labels)


def test_scene_records_its_sources(tmp_path: Path) -> None:
    write_scene_files(_tiny(), tmp_path, "split")
    got = load_scene("trento", tmp_path, verify=False)
    assert got.source("hsi") == str(tmp_path / "HSI.mat") and got.source("test") == str(tmp_path / "TSLabel.mat")
    assert "synthetic" in make_synthetic_scene(height=8, width=8, num_classes=2).source("hsi")
