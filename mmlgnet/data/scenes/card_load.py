"""Reading a parsed scene card's rasters (mmlgnet.data.io.readers) into a checked `Scene` (the card checks: card_checks)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.normalization import NAN_FILL
from mmlgnet.data.scenes.card_checks import (
    CardErrors,
    Grid,
    card_palette,
    class_names,
    named,
    nan_tagged,
    nodata_source,
)
from mmlgnet.data.scenes.cards import RasterRef, SceneCard, parse_card, verify_sha256
from mmlgnet.data.scenes.catalog_load import check_scene
from mmlgnet.data.scenes.scene import Scene

__all__ = ["NAN_FILL", "CardLabels", "load_card", "read_card", "read_card_labels"]


def _read(grid: Grid, key: str, ref: RasterRef) -> Any:
    from mmlgnet.data.io.readers import read_raster

    try:
        r = read_raster(ref.path, key=ref.key, bands=list(ref.bands) if ref.bands else None)
    except DataError as e:
        raise named(grid.c, key, e) from None
    grid.add(key, ref.path, r.array.shape, r.crs, r.transform)
    return r


@dataclass(frozen=True)
class CardLabels:
    """A card's label maps as read and checked: the ground truth, the split maps, their files and the class names."""

    labels: np.ndarray  # (H, W) int64: `labels:`, else TR + TS (parse_card asked for both maps then)
    train: np.ndarray | None  # (H, W) int64
    test: np.ndarray | None  # (H, W) int64
    sources: dict[str, Path]  # labels / train / test -> the file each came from
    class_names: tuple[str, ...]


def read_card_labels(grid: Grid, card: SceneCard) -> CardLabels:
    """Read the card's label files (labels, train, test) on the grid of its rasters, and its class names
    (card_checks.class_names: the card's list, the ROI files' names, or those mapped to the card's display names;
    one per label value). The one reader of a card's labels: read_card and the windowed path
    (mmlgnet.data.sampling.labelled.open_labelled_card) both call it."""
    from mmlgnet.data.io.readers import read_labels

    maps: dict[str, np.ndarray] = {}
    sources: dict[str, Path] = {}
    roi_names: dict[str, tuple[str, ...]] = {}
    for key in ("labels", "train", "test"):
        ref = getattr(card, key)
        if ref is None:
            continue
        try:
            labels, names, raster = read_labels(ref.path, key=ref.key, shape=grid.shape)
        except DataError as e:
            raise named(grid.c, key, e) from None
        grid.add(key, ref.path, labels.shape, raster.crs if raster else None, raster.transform if raster else None)
        maps[key], sources[key] = labels, ref.path
        if names:
            roi_names[key] = tuple(names)
    train, test = maps.get("train"), maps.get("test")
    if "labels" in maps:
        labels = maps["labels"]  # (H, W) int64
    else:  # parse_card asked for both maps when labels: is absent
        assert train is not None and test is not None
        labels = np.where(train > 0, train, test)  # == TR + TS once check_scene has found them disjoint
        sources["labels"] = sources["train"]
    top = int(max(int(m.max()) for m in maps.values())) if maps else 0
    return CardLabels(labels, train, test, sources, class_names(grid.c, card, roi_names, top))


def _fill_nan(raster: Any) -> np.ndarray:
    """The raster's (H, W, C) array with NaN replaced by NAN_FILL (always nodata) when the file declares NaN as
    its nodata. NaN in other files stays: check_scene refuses it (not declared missing, so not silently so)."""
    a = raster.array
    if not nan_tagged(raster) or not np.isnan(a).any():
        return a
    return np.where(np.isnan(a), np.float32(NAN_FILL), a).astype(np.float32, copy=False)


def read_card(card: SceneCard, require_hsi: bool = True) -> Scene:
    """Read every file of `card` and return the checked Scene (raises DataError naming the card and key)."""
    c = CardErrors(card.card)
    verify_sha256(card)
    grid = Grid(c)
    sources: dict[str, Path] = {}
    rasters: dict[str, Any] = {}
    hsi = None
    if card.hsi is not None:
        rasters["hsi"] = _read(grid, "hsi", card.hsi)
        sources["hsi"] = card.hsi.path
    elif require_hsi:
        raise c.error("hsi", "missing, but the run uses the HSI modality",
                      "Add `hsi: <file>` to the card, or run LiDAR-only with --model.modalities [lidar].")
    for i, ref in enumerate(card.lidar):
        rasters[f"lidar[{i}]"] = _read(grid, "lidar", ref)
    declared = nodata_source(c, card, rasters)
    nodata = None if declared is None else declared.value
    if "hsi" in rasters:
        hsi = _fill_nan(rasters["hsi"])  # (H, W, C) float32
    parts = [_fill_nan(rasters[f"lidar[{i}]"]) for i in range(len(card.lidar))]
    lidar = np.ascontiguousarray(np.concatenate(parts, axis=2), dtype=np.float32)  # (H, W, L)
    sources["lidar"] = card.lidar[0].path
    read = read_card_labels(grid, card)
    labels, train, test, names = read.labels, read.train, read.test, read.class_names
    sources.update(read.sources)
    palette = card_palette(c, card, len(names))
    wl = None
    if card.wavelengths_nm is not None:
        if hsi is not None and len(card.wavelengths_nm) != hsi.shape[2]:
            raise c.error("wavelengths_nm", f"{len(card.wavelengths_nm)} values for {hsi.shape[2]} HSI bands",
                          "Give one centre wavelength per (selected) HSI band.")
        wl = np.asarray(card.wavelengths_nm, dtype=np.float64)
    scene = Scene(name=card.name, hsi=hsi, lidar=lidar, labels=labels, class_names=names, train_map=train,
                  test_map=test, wavelengths_nm=wl, palette=palette, sources=sources, crs=grid.crs,
                  transform=grid.transform, nodata=nodata, nodata_source=declared,
                  class_descriptions=dict(card.class_descriptions or {}))
    check_scene(scene, sources, None, None)
    return scene


def load_card(path: str | Path, lidar_channels: int | None = None, require_hsi: bool = True) -> Scene:
    """Parse, verify and read a card into a checked `Scene` (`read_card` does the reading)."""
    scene = read_card(parse_card(path), require_hsi)
    if lidar_channels is not None:
        if not 1 <= lidar_channels <= scene.lidar_bands:
            raise DataError(f"lidar_channels={lidar_channels} but the card {path} stacks {scene.lidar_bands} LiDAR "
                            f"raster band(s): set --data.lidar_channels to 1..{scene.lidar_bands} (or null for all).")
        scene = replace(scene, lidar=np.ascontiguousarray(scene.lidar[:, :, :lidar_channels]))
    return scene
