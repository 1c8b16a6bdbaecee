"""Georeferenced GeoTIFF outputs (class maps with a colour table, float rasters), written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from mmlgnet.mapping.maps import CORRECT, WRONG, palette_array

__all__ = ["CONFIDENCE_NODATA", "ERROR_CLASSES", "write_class_tif", "write_float_tif"]

class Rows(Protocol):
    """An (H, W) array read by row slices (mmlgnet.mapping.stream_writer.RowReader over a .npy larger than memory)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, rows: slice) -> np.ndarray: ...


ERROR_CLASSES = ("correct", "wrong")  # error_map.tif: 0 = not a test pixel, 1 = correct, 2 = wrong
ERROR_PALETTE = (CORRECT, WRONG)  # the colours of error_map.png
CONFIDENCE_NODATA = 0.0  # confidence.tif's nodata pixels (mmlgnet.mapping.prediction: 0 at nodata): never a softmax maximum


def _profile(shape: tuple[int, int], dtype: str, crs: str, transform: Sequence[float],
             nodata: float | None) -> dict:
    h, w = shape
    return {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": dtype, "crs": crs,
            "transform": Affine(*transform[:6]), "nodata": nodata, "compress": "deflate"}


def _write_atomic(path: Path, profile: dict, array: np.ndarray | Rows, colormap: dict | None,
                  tags: dict[str, str], description: str, rows_per_write: int | None = None) -> Path:
    """Write a one-band GeoTIFF to a temporary name in the same folder, then os.replace it into place:
    a reader (QGIS, a second process) never sees a half-written file.

    `rows_per_write`: write (and cast) that many rows at a time, so a memory-mapped (H, W) map larger than
    memory is converted window by window (the file is then tiled 512×512); None writes it whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if rows_per_write is not None:
            profile = {**profile, "tiled": True, "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"}
        with rasterio.open(tmp, "w", **profile) as dst:
            if rows_per_write is None:
                dst.write(np.asarray(array).astype(profile["dtype"], copy=False), 1)
            else:
                h, w = array.shape
                for r in range(0, h, rows_per_write):
                    rows = np.asarray(array[r:r + rows_per_write]).astype(profile["dtype"], copy=False)
                    dst.write(rows, 1, window=Window(0, r, w, rows.shape[0]))
            if colormap is not None:
                dst.write_colormap(1, colormap)
            dst.update_tags(**tags)
            dst.set_band_description(1, description)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_class_tif(path: str | Path, classes: np.ndarray | Rows, crs: str, transform: Sequence[float],
                    class_names: Sequence[str], palette: Sequence[Sequence[int]], description: str,
                    rows_per_write: int | None = None) -> Path:
    """A class-id map (H, W) 1..K, 0 = nodata/unclassified, as uint8 (K < 256) or uint16.

    The palette (or the PNG maps' default colours) becomes the band's colour table (0 transparent black), and the class names are stored as
    metadata tags (`class_names` as a JSON list, and `class_<k>` = name), so GIS tools show the legend.
    """
    k = len(class_names)
    dtype = "uint8" if k < 256 else "uint16"
    colours = {0: (0, 0, 0, 0)}  # the PNG maps' colours (tab20 when the scene has no palette)
    for i, (r, g, b) in enumerate(palette_array(palette, k).tolist()):
        colours[i + 1] = (int(r), int(g), int(b), 255)
    tags = {"class_names": json.dumps(list(class_names)), **{f"class_{i + 1}": n for i, n in enumerate(class_names)}}
    profile = _profile((int(classes.shape[0]), int(classes.shape[1])), dtype, crs, transform, 0)
    return _write_atomic(Path(path), profile, classes, colours, tags, description, rows_per_write)


def write_float_tif(path: str | Path, values: np.ndarray | Rows, crs: str, transform: Sequence[float],
                    description: str, nodata: float | None = CONFIDENCE_NODATA,
                    rows_per_write: int | None = None) -> Path:
    """A float32 raster (H, W): the per-pixel confidence, whose nodata pixels hold 0 (declared as its nodata).

    0 is a sound nodata value for a confidence: the softmax maximum over K classes is >= 1/K > 0 (no float32
    underflow below K = 2**126), so no classified pixel holds it. GIS tools then show nodata pixels as such.
    """
    profile = _profile((int(values.shape[0]), int(values.shape[1])), "float32", crs, transform, nodata)
    return _write_atomic(Path(path), profile, values, None, {}, description, rows_per_write)
