"""GeoTIFF outputs: colour table, class-name tags, CRS/transform, dtype by class count, atomic replacement."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from cardkit import CRS, TRANSFORM

from mmlgnet.mapping.georef import write_class_tif, write_float_tif

TF = tuple(TRANSFORM)[:6]


def test_class_tif_has_crs_transform_colour_table_and_names(tmp_path):
    classes = np.array([[0, 1, 2], [3, 2, 1]], dtype=np.int16)  # (H, W), 0 = nodata
    names, palette = ["Trees", "Grass", "Road"], [(0, 100, 0), (124, 252, 0), (90, 90, 90)]
    path = write_class_tif(tmp_path / "prediction.tif", classes, CRS, TF, names, palette, "predicted class")
    with rasterio.open(path) as src:
        assert src.crs.to_string() == CRS and src.transform == TRANSFORM and src.shape == (2, 3)
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        np.testing.assert_array_equal(src.read(1), classes)
        cmap = src.colormap(1)
        assert cmap[0] == (0, 0, 0, 0) and cmap[1] == (0, 100, 0, 255) and cmap[3] == (90, 90, 90, 255)
        tags = src.tags()
        assert json.loads(tags["class_names"]) == names and tags["class_2"] == "Grass"
        assert src.descriptions[0] == "predicted class"
    assert [p.name for p in tmp_path.iterdir()] == ["prediction.tif"]  # no temporary file left


def test_many_classes_use_uint16(tmp_path):
    names = [f"c{i}" for i in range(300)]
    classes = np.arange(1, 301, dtype=np.int64).reshape(15, 20)
    path = write_class_tif(tmp_path / "p.tif", classes, CRS, TF, names, [], "x")
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint16"
        np.testing.assert_array_equal(src.read(1), classes)


def test_float_tif_and_failed_write_keeps_the_old_file(tmp_path):
    conf = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = write_float_tif(tmp_path / "confidence.tif", conf, CRS, TF, "softmax maximum")
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "float32" and src.crs.to_string() == CRS
        np.testing.assert_array_equal(src.read(1), conf)
    with pytest.raises(Exception):  # noqa: B017 -- a 3-D array cannot be written as one band
        write_float_tif(path, np.zeros((3, 4, 2), np.float32), CRS, TF, "bad")
    with rasterio.open(path) as src:  # the previous file is intact, the temporary one is gone
        np.testing.assert_array_equal(src.read(1), conf)
    assert [p.name for p in tmp_path.iterdir()] == ["confidence.tif"]


def test_confidence_tif_declares_zero_as_its_nodata(tmp_path):
    """Issue 15 item 9: confidence.tif's nodata pixels are 0 but the file declared no nodata value.

    0 is sound: a softmax maximum over K classes is >= 1/K > 0 in float32, whatever the logits.
    """
    conf = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)  # 0 = a nodata pixel
    path = write_float_tif(tmp_path / "confidence.tif", conf, CRS, TF, "softmax maximum")
    with rasterio.open(path) as src:
        declared = src.nodata
        np.testing.assert_array_equal(src.read(1, masked=True).mask, conf == 0)
    assert declared == 0.0
    import torch

    for k in (2, 15, 1000):
        for logits in (torch.zeros(1, k), torch.full((1, k), -1e30), torch.linspace(-1e4, 1e4, k)[None]):
            top = torch.softmax(logits.float(), dim=1).max(dim=1).values
            assert float(top.min()) >= (1 / k) * (1 - 1e-6) > declared
