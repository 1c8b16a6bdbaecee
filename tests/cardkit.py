"""Test helpers: a small synthetic scene written as georeferenced GeoTIFFs plus a scene card describing it."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import yaml
from rasterio.transform import Affine

from mmlgnet.data.scenes import catalog_load
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.data.scenes.synthetic import default_split, make_synthetic_scene, write_scene_files

CRS = "EPSG:32615"  # UTM zone 15N (Houston)
TRANSFORM = Affine(2.5, 0.0, 271460.0, 0.0, -2.5, 3290891.0)  # 2.5 m pixels, north up
NODATA = -9999.0


def write_tif(path: Path, array: np.ndarray, crs: str | None = CRS, transform: Any = TRANSFORM,
              nodata: float | None = None) -> Path:
    """(H, W) or (H, W, C) array -> a GeoTIFF with `crs` and `transform`."""
    a = array[:, :, None] if array.ndim == 2 else array
    h, w, c = a.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=a.dtype.name,
                       crs=crs, transform=transform if crs else None, nodata=nodata) as dst:
        dst.write(np.moveaxis(a, 2, 0))
    return path


def small_scene(seed: int = 1) -> tuple[Scene, np.ndarray]:
    """A 24x32 three-class scene with two LiDAR rasters and a few nodata pixels (all unlabelled)."""
    scene = make_synthetic_scene(height=24, width=32, num_classes=3, hsi_bands=8, lidar_bands=2, seed=seed)
    void = np.zeros(scene.labels.shape, dtype=bool)  # (H, W)
    rows, cols = np.nonzero(scene.labels == 0)
    void[rows[:5], cols[:5]] = True
    scene.hsi[void] = NODATA  # type: ignore[index]
    return scene, void


def write_card_scene(folder: Path, extra: dict[str, Any] | None = None, split_maps: bool = True,
                     hsi_nodata_meta: bool = True) -> tuple[Path, Scene, np.ndarray]:
    """GeoTIFFs of `small_scene` in `folder` and a card `scene.yaml`; returns (card, scene, nodata mask).

    The HSI file declares its nodata in the metadata (hsi_nodata_meta) and the card has no `nodata`, so the
    raster's value is the one used. With split_maps the card gives train:/test: maps instead of labels:.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scene, void = small_scene()
    assert scene.hsi is not None
    write_tif(folder / "hsi.tif", scene.hsi, nodata=NODATA if hsi_nodata_meta else None)
    write_tif(folder / "dsm.tif", scene.lidar[:, :, 0])
    write_tif(folder / "intensity.tif", scene.lidar[:, :, 1])
    card: dict[str, Any] = {"name": "my_scene", "hsi": "hsi.tif", "lidar": ["dsm.tif", "intensity.tif"],
                            "class_names": list(scene.class_names)}
    if split_maps:
        train, test = default_split(scene.labels, per_class=6)
        write_tif(folder / "train.tif", train.astype(np.uint8))
        write_tif(folder / "test.tif", test.astype(np.uint8))
        card.update(train="train.tif", test="test.tif")
    else:
        write_tif(folder / "gt.tif", scene.labels.astype(np.uint8))
        card["labels"] = "gt.tif"
    card.update(extra or {})
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path, scene, void


def pinned_trento(root: Path, monkeypatch: Any) -> list[Path]:
    """A tiny Trento in root/trento (20 x 28 px, the catalogue's bands and classes) whose catalogue entry is
    patched (pytest `monkeypatch`) to pin these files' sha256, so the data check (load_scene with verify) passes."""
    spec = catalog_load.SPECS["trento"]
    fake = make_synthetic_scene(height=20, width=28, num_classes=len(spec.class_names), hsi_bands=spec.hsi_bands,
                                lidar_bands=spec.lidar_bands, seed=1)
    files = write_scene_files(fake, root / "trento", "split")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    layouts = {k: tuple(dataclasses.replace(f, sha256=digest.get(f.name, f.sha256)) for f in v)
               for k, v in spec.layouts.items()}
    monkeypatch.setitem(catalog_load.SPECS, "trento", dataclasses.replace(spec, height=20, width=28, layouts=layouts))
    return files
