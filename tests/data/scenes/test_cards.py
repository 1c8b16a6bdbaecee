"""Scene cards: a folder of GeoTIFFs + a YAML card through the real CLI, and every kind of bad card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from cardkit import CRS, NODATA, TRANSFORM, write_card_scene, write_tif

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError, sha256sum
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.cards import is_card, parse_card
from mmlgnet.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[3]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


def test_card_fit_test_predict_through_cli(tmp_path):
    """A card of GeoTIFFs (train/test maps, nodata from the HSI's metadata) fits, tests and writes .tif maps."""
    palette = [[10, 20, 30], [40, 50, 60], [70, 80, 90]]
    card, scene, void = write_card_scene(tmp_path / "data", extra={"palette": palette})
    main(["fit", *BASE, "--data.scene", str(card), "--data.split", "standard",
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
          "--test_after_fit", "true", "--predict_after_fit", "true"])
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    split = json.loads(next((tmp_path / "runs").rglob("split.json")).read_text())
    assert split["class_names"] == list(scene.class_names) and split["nodata"] == NODATA
    assert rec["num_test_pixels"] == int(split["totals"]["test"]) > 0
    maps = next((tmp_path / "runs").rglob("maps.json")).parent
    pred = np.load(maps / "prediction.npy")
    assert pred.shape == scene.labels.shape and (pred[void] == 0).all() and (pred[~void] > 0).all()
    with rasterio.open(maps / "prediction.tif") as src:
        assert src.crs.to_string() == CRS and src.transform == TRANSFORM and src.shape == pred.shape
        np.testing.assert_array_equal(src.read(1), pred)
        assert src.colormap(1)[3] == (70, 80, 90, 255) and json.loads(src.tags()["class_names"]) == list(scene.class_names)
    with rasterio.open(maps / "confidence.tif") as src:
        assert src.crs.to_string() == CRS and src.transform == TRANSFORM
        np.testing.assert_array_equal(src.read(1), np.load(maps / "confidence.npy"))
        # issue 15 item 9: the nodata pixels hold 0 and the file says so (a softmax maximum is >= 1/K > 0)
        assert src.nodata == 0 and (src.read(1)[void] == 0).all() and (src.read(1)[~void] >= 1 / 3 - 1e-6).all()
    with rasterio.open(maps / "ground_truth.tif") as src:
        np.testing.assert_array_equal(src.read(1), scene.labels)
    with rasterio.open(maps / "error_map.tif") as src:
        errors = src.read(1)  # 1 right, 2 wrong, on the test pixels only
        assert int((errors > 0).sum()) == rec["num_test_pixels"] and set(np.unique(errors)) <= {0, 1, 2}
    info = json.loads((maps / "maps.json").read_text())
    assert info["nodata_pixels"] == int(void.sum()) and "prediction.tif" in info["files"]
    # The predict subcommand from the checkpoint maps the card's scene again, to the same GeoTIFF.
    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt),
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs2"), "--predict_writer.output_dir",
          str(tmp_path / "pred")])
    with rasterio.open(tmp_path / "pred" / "prediction.tif") as src:
        assert src.crs.to_string() == CRS and src.transform == TRANSFORM
        np.testing.assert_array_equal(src.read(1), np.load(tmp_path / "pred" / "prediction.npy"))
        np.testing.assert_array_equal(src.read(1), pred)  # same weights, same map


def test_card_scene_fields(tmp_path):
    card, scene, _ = write_card_scene(tmp_path, split_maps=False, extra={
        "palette": [[0, 128, 0], [124, 252, 0], [90, 90, 90]], "citation": "me, 2026",
        "class_descriptions": {scene_name: ["a sentence"] for scene_name in ("grass",)}})
    s = load_card(card, require_hsi=True)
    assert s.name == "my_scene" and s.crs == CRS and s.transform == tuple(TRANSFORM)[:6]
    assert s.nodata == NODATA and s.lidar.shape == (24, 32, 2) and s.hsi is not None and s.hsi.shape[2] == 8
    np.testing.assert_array_equal(s.labels, scene.labels)
    np.testing.assert_allclose(s.lidar, scene.lidar)
    assert s.palette[0] == (0, 128, 0) and s.class_descriptions == {"grass": ("a sentence",)}
    assert load_card(card, lidar_channels=1).lidar.shape == (24, 32, 1)


def test_card_nodata_overrides_metadata_and_option_overrides_card(tmp_path):
    card, _, _ = write_card_scene(tmp_path, hsi_nodata_meta=False, extra={"nodata": -9999})
    assert load_card(card).nodata == NODATA
    dm = HSILidarDataModule(scene=str(card), nodata=-1.0)
    assert dm.fill_value == -1.0
    assert HSILidarDataModule(scene=str(card)).fill_value == NODATA


def test_lidar_only_card_without_hsi(tmp_path):
    card, _, _ = write_card_scene(tmp_path, extra={"hsi": None})
    raw = yaml.safe_load(card.read_text())
    del raw["hsi"]
    card.write_text(yaml.safe_dump(raw))
    assert load_card(card, require_hsi=False).hsi is None
    with pytest.raises(DataError, match="'hsi'.*modalities"):
        load_card(card, require_hsi=True)


def test_sha256_verified(tmp_path):
    card, _, _ = write_card_scene(tmp_path)
    good = sha256sum(tmp_path / "dsm.tif")
    raw = yaml.safe_load(card.read_text())
    card.write_text(yaml.safe_dump({**raw, "sha256": {"dsm.tif": good}}))
    load_card(card)
    card.write_text(yaml.safe_dump({**raw, "sha256": {"dsm.tif": "0" * 64}}))
    with pytest.raises(DataError, match=r"key 'sha256'.*dsm.tif has sha256"):
        load_card(card)


def test_is_card_and_option_check(tmp_path):
    assert is_card("x.yaml") and is_card("a/b.YML") and not is_card("trento")
    with pytest.raises(ConfigError, match="--data.scene 'tento'"):
        HSILidarDataModule(scene="tento")


def _edit(card: Path, **changes: object) -> Path:
    raw = yaml.safe_load(card.read_text())
    raw.update(changes)
    card.write_text(yaml.safe_dump(raw))
    return card


BAD = {  # case -> (card changes, extra files to write, expected message pattern)
    "unknown key": ({"clas_names": ["a"]}, r"key 'clas_names'.*unknown key.*Did you mean 'class_names'"),
    "missing file": ({"hsi": "nope.tif"}, r"key 'hsi'.*nope.tif does not exist.*relative to the card"),
    "too few class names": ({"class_names": ["a", "b"]}, r"key 'class_names'.*2 names but the labels go up to 3"),
    "bad palette": ({"palette": [[0, 0, 0]]}, r"key 'palette'.*1 colours for 3 classes"),
    # issue 15 item 9: YAML `true` is a Python bool, an int subclass; it was accepted as the value 1
    "boolean palette": ({"palette": [[True, 0, 0], [0, 0, 0], [0, 0, 0]]}, r"key 'palette'.*whole numbers 0\.\.255"),
    "float palette": ({"palette": [[0.5, 0, 0], [0, 0, 0], [0, 0, 0]]}, r"key 'palette'.*whole numbers 0\.\.255"),
    "bad nodata": ({"nodata": "none"}, r"key 'nodata'.*finite number"),
    "no labels": ({"train": None, "test": None}, r"key 'labels'.*no ground truth"),
    "bad bands": ({"hsi": {"path": "hsi.tif", "bands": [0]}}, r"key 'hsi'.*1-based"),
    "unknown description class": ({"class_descriptions": {"Lava": ["hot"]}}, r"key 'class_descriptions'.*Lava"),
    "wavelengths count": ({"wavelengths_nm": [400, 500]}, r"key 'wavelengths_nm'.*2 values for 8 HSI bands"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_card(tmp_path, case):
    changes, pattern = BAD[case]
    card, _, _ = write_card_scene(tmp_path)
    raw = {k: v for k, v in {**yaml.safe_load(card.read_text()), **changes}.items() if v is not None}
    card.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=pattern) as err:
        load_card(card)
    assert str(card) in str(err.value) and isinstance(err.value, UserError)


def test_bad_grids(tmp_path):
    """Mismatched size, CRS and transform each name the card, the key and the offending file."""
    card, scene, _ = write_card_scene(tmp_path)
    write_tif(tmp_path / "small.tif", scene.lidar[:20, :, 0])
    with pytest.raises(DataError, match=r"key 'lidar'.*small.tif is 20x32 pixels.*hsi.tif"):
        load_card(_edit(card, lidar=["dsm.tif", "small.tif"]))
    write_tif(tmp_path / "other_crs.tif", scene.lidar[:, :, 0], crs="EPSG:32616")
    with pytest.raises(DataError, match=r"key 'lidar'.*other_crs.tif has CRS EPSG:32616.*Reproject"):
        load_card(_edit(card, lidar=["other_crs.tif"]))
    from rasterio.transform import Affine

    shifted = Affine(2.5, 0.0, 271470.0, 0.0, -2.5, 3290891.0)  # 10 m east of TRANSFORM
    write_tif(tmp_path / "shifted.tif", scene.lidar[:, :, 0], transform=shifted)
    with pytest.raises(DataError, match=r"key 'lidar'.*shifted.tif has geotransform.*co-registered"):
        load_card(_edit(card, lidar=["shifted.tif"]))
    write_tif(tmp_path / "gt_small.tif", scene.labels[:20].astype(np.uint8))
    with pytest.raises(DataError, match=r"key 'train'.*gt_small.tif"):
        load_card(_edit(card, lidar=["dsm.tif"], train="gt_small.tif"))


def test_georeferenced_and_plain_rasters_are_not_mixed(tmp_path):
    """Issue 15 item 9: a GeoTIFF without CRS beside georeferenced ones was accepted; refused as a differing CRS is,
    in memory and when the card is opened for windowed reads. Files that cannot carry a CRS (.npy) stay accepted."""
    from mmlgnet.data.scenes.lazy_scene import open_card_lazily

    card, scene, _ = write_card_scene(tmp_path)
    write_tif(tmp_path / "plain.tif", scene.lidar[:, :, 0], crs=None)
    for lidar in (["dsm.tif", "plain.tif"], ["plain.tif", "dsm.tif"]):  # either order: the plain file is named
        edited = _edit(card, lidar=lidar)
        with pytest.raises(DataError, match=r"key 'lidar'.*plain.tif has no georeferencing.*hsi.tif.*EPSG:32615"):
            load_card(edited)
        with pytest.raises(DataError, match=r"key 'lidar'.*plain.tif has no georeferencing"):
            open_card_lazily(str(edited))
    np.save(tmp_path / "dsm.npy", scene.lidar[:, :, 0])
    assert load_card(_edit(card, lidar=["dsm.npy"])).crs == CRS
    for name in ("hsi.tif", "dsm.tif", "intensity.tif", "train.tif", "test.tif"):  # none georeferenced: accepted
        with rasterio.open(tmp_path / name) as src:
            write_tif(tmp_path / name, np.moveaxis(src.read(), 0, 2), crs=None, nodata=src.nodata)
    assert load_card(card).crs is None


def test_roi_class_names_must_match_card(tmp_path, monkeypatch):
    """Class names from ROI label files must agree with the card's (and are used when the card has none)."""
    import mmlgnet.data.io.readers as readers

    card, scene, _ = write_card_scene(tmp_path)
    real = readers.read_labels

    def fake(path, key=None, shape=None):  # the ROI reader's contract: names come with the map
        labels, _, raster = real(path, key, shape)
        return labels, ("grass", "trees", "asphalt road"), raster

    monkeypatch.setattr(readers, "read_labels", fake)
    raw = yaml.safe_load(card.read_text())
    del raw["class_names"]
    card.write_text(yaml.safe_dump(raw))
    assert load_card(card).class_names == ("grass", "trees", "asphalt road")
    with pytest.raises(DataError, match=r"key 'class_names'.*ROI names in the 'train' file"):
        load_card(_edit(card, class_names=["Trees", "Grass", "Road"]))


def test_parse_card_not_a_mapping(tmp_path):
    (tmp_path / "c.yaml").write_text("- a\n- b\n")
    with pytest.raises(DataError, match="expected a YAML mapping"):
        parse_card(tmp_path / "c.yaml")
    with pytest.raises(DataError, match="does not exist"):
        parse_card(tmp_path / "missing.yaml")


def test_nan_nodata_in_metadata_becomes_a_finite_fill(tmp_path):
    """A float GeoTIFF declaring NaN nodata: its NaNs become NAN_FILL, the scene's nodata (check_scene passes)."""
    from mmlgnet.data.scenes.card_load import NAN_FILL

    card, scene, void = write_card_scene(tmp_path, hsi_nodata_meta=False)
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    hsi[void] = np.nan
    write_tif(tmp_path / "hsi.tif", hsi, nodata=float("nan"))
    s = load_card(card)
    assert s.nodata == NAN_FILL and s.hsi is not None and np.isfinite(s.hsi).all()
    assert (s.hsi[void] == np.float32(NAN_FILL)).all() and (s.hsi[~void] != np.float32(NAN_FILL)).all()


def test_import_cycle_gone():
    """synthetic.py does not import catalog_load.py (Scene lives in mmlgnet.data.scenes.scene); the re-export still works."""
    import subprocess
    import sys

    code = "import sys, mmlgnet.data.scenes.synthetic; print('mmlgnet.data.scenes.catalog_load' in sys.modules); from mmlgnet.data.scenes.catalog_load import Scene"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_lidar_only_card_with_full_labels_through_cli(tmp_path):
    """A card without HSI and with one `labels:` map fits and tests LiDAR-only with a drawn split."""
    card, _, _ = write_card_scene(tmp_path / "data", split_maps=False)
    raw = yaml.safe_load(card.read_text())
    del raw["hsi"]
    card.write_text(yaml.safe_dump(raw))
    main(["fit", *BASE, "--data.scene", str(card), "--data.split", "per_class:5", "--model.modalities", "[lidar]",
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--test_after_fit", "true"])
    rec = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert rec["variant"]["modalities"] == ["lidar"] and rec["num_test_pixels"] > 0
