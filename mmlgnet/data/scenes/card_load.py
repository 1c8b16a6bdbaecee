"""Reading a parsed scene card's rasters (mmlgnet.data.io.readers) into a checked `Scene`: grid, CRS and class checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.normalization import NAN_FILL
from mmlgnet.data.scenes.cards import RasterRef, SceneCard, _Card, parse_card, verify_sha256
from mmlgnet.data.scenes.catalog_load import check_scene
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene

__all__ = ["NAN_FILL", "card_palette", "load_card", "nodata_source", "read_card"]


def _same_crs(a: str, b: str) -> bool:
    if a == b:
        return True
    from rasterio.crs import CRS

    try:
        return bool(CRS.from_user_input(a) == CRS.from_user_input(b))
    except Exception:  # noqa: BLE001 -- an unparsable CRS string is simply "not the same"
        return False


def _can_georeference(path: Path) -> bool:
    """Whether the file's format carries a CRS and geotransform (GDAL rasters, ENVI); .mat, .npy and ROI text do not."""
    from mmlgnet.data.io.readers import GDAL_EXTENSIONS

    return path.suffix.lower() in (*GDAL_EXTENSIONS, ".hdr")


class _Grid:
    """The pixel grid (size, CRS, transform) of the first file; every later file must match it.

    A file whose format can carry georeferencing but carries none, beside a georeferenced one, is refused as a
    differing CRS is: the outputs would be georeferenced from files the others may not line up with.
    """

    def __init__(self, c: _Card) -> None:
        self.c = c
        self.first: tuple[str, Path] | None = None
        self.shape: tuple[int, int] | None = None
        self.crs: str | None = None
        self.transform: tuple[float, ...] | None = None
        self.crs_from: tuple[str, Path] | None = None
        self.plain: tuple[str, Path] | None = None  # the first file that could be georeferenced but is not

    def add(self, key: str, path: Path, shape: tuple[int, ...], crs: str | None,
            transform: tuple[float, ...] | None) -> None:
        hw = (int(shape[0]), int(shape[1]))
        if self.shape is None or self.first is None:
            self.first, self.shape = (key, path), hw
        elif hw != self.shape:
            raise self.c.error(key, f"{path} is {hw[0]}x{hw[1]} pixels but {self.first[1]} (key "
                               f"{self.first[0]!r}) is {self.shape[0]}x{self.shape[1]}",
                               "All rasters of a scene must share one pixel grid: resample or crop them to match.")
        if crs is None or transform is None:
            if self.plain is None and _can_georeference(Path(path)):
                self.plain = (key, Path(path))
            self._check_mixed()
            return
        if self.crs is None or self.crs_from is None:
            self.crs, self.transform, self.crs_from = crs, tuple(transform[:6]), (key, path)
            self._check_mixed()
            return
        if not _same_crs(crs, self.crs):
            raise self.c.error(key, f"{path} has CRS {crs} but {self.crs_from[1]} (key {self.crs_from[0]!r}) "
                               f"has {self.crs}", "Reproject the files onto one CRS (e.g. gdalwarp -t_srs).")
        if not np.allclose(transform[:6], self.transform or (), rtol=0, atol=1e-6):
            raise self.c.error(key, f"{path} has geotransform {tuple(transform[:6])} but {self.crs_from[1]} "
                               f"(key {self.crs_from[0]!r}) has {self.transform}",
                               "The rasters are not co-registered: resample them onto one grid (gdalwarp -tr/-te).")

    def _check_mixed(self) -> None:
        """Refuse a georeferenced file beside one whose format could be but is not (named by its key)."""
        if self.plain is None or self.crs_from is None or self.transform is None or self.shape is None:
            return
        (plain_key, plain), (geo_key, geo) = self.plain, self.crs_from
        a, b, c0, d, e, f0 = self.transform
        h, w = self.shape
        corners = f"{c0:g} {f0:g} {c0 + a * w + b * h:g} {f0 + d * w + e * h:g}"  # -a_ullr ulx uly lrx lry
        raise self.c.error(plain_key, f"{plain} has no georeferencing (CRS and geotransform) but {geo} (key "
                           f"{geo_key!r}) is georeferenced ({self.crs})",
                           f"All rasters of a scene must share one grid: give {plain.name} the same georeferencing "
                           f"(e.g. `gdal_edit.py -a_srs {self.crs} -a_ullr {corners} {plain}` when it covers the "
                           f"same area), or use files without georeferencing throughout.")


def _named(c: _Card, key: str, e: DataError) -> DataError:
    """A reader's DataError (it names the file) prefixed with the card and key that point at the file."""
    return DataError(f"Scene card {c.path}, key {key!r}: {e}")


def _read(grid: _Grid, key: str, ref: RasterRef) -> Any:
    from mmlgnet.data.io.readers import read_raster

    try:
        r = read_raster(ref.path, key=ref.key, bands=list(ref.bands) if ref.bands else None)
    except DataError as e:
        raise _named(grid.c, key, e) from None
    grid.add(key, ref.path, r.array.shape, r.crs, r.transform)
    return r


def _labels(grid: _Grid, key: str, ref: RasterRef) -> tuple[np.ndarray, tuple[str, ...] | None]:
    from mmlgnet.data.io.readers import read_labels

    try:
        labels, names, raster = read_labels(ref.path, key=ref.key, shape=grid.shape)
    except DataError as e:
        raise _named(grid.c, key, e) from None
    grid.add(key, ref.path, labels.shape, raster.crs if raster else None, raster.transform if raster else None)
    return labels, (tuple(names) if names else None)


def _class_names(c: _Card, card: SceneCard, from_files: dict[str, tuple[str, ...]], top: int) -> tuple[str, ...]:
    """The card's class names, or those of the ROI files (which must agree with each other and the card)."""
    for key, roi in from_files.items():
        if card.class_names is not None and tuple(card.class_names[:len(roi)]) != roi:
            raise c.error("class_names", f"the card lists {list(card.class_names)} but the ROI names in the "
                          f"{key!r} file are {list(roi)}", "Make the card's class_names follow the ROI order and "
                          "names, or drop class_names from the card to use the ROI names.")
    distinct = set(from_files.values())
    if card.class_names is None and len(distinct) > 1:
        raise c.error("class_names", f"the ROI files name different classes: {from_files}",
                      "Export the ROI files with the same ROIs in the same order, or list class_names in the card.")
    chosen = card.class_names or (max(distinct, key=len) if distinct else None)
    if chosen is None:
        raise c.error("class_names", "missing (the label files carry no class names)",
                      f"List the {top} class names in label order: `class_names: [...]`.")
    names: tuple[str, ...] = chosen
    if top > len(names):
        raise c.error("class_names", f"{len(names)} names but the labels go up to {top}",
                      f"List one name per label value 1..{top} (label k is class_names[k-1]), or fix the label file.")
    return tuple(names)


def card_palette(c: _Card, card: SceneCard, classes: int) -> tuple[tuple[int, int, int], ...]:
    """The maps' colours: the card's `palette` (one per class), else the ENVI ROI label files' colours.

    ROI colours are used when a ROI file (labels, train, test: the first such) gives one for every class; else
    () (the maps' default colours).
    """
    if card.palette:
        if len(card.palette) != classes:
            raise c.error("palette", f"{len(card.palette)} colours for {classes} classes", "Give one [R, G, B] per class.")
        return card.palette
    from mmlgnet.data.io.envi_roi import read_roi_colours

    for key in ("labels", "train", "test"):
        ref = getattr(card, key)
        if ref is not None and ref.path.suffix.lower() == ".txt":
            try:
                colours = read_roi_colours(ref.path)
            except DataError as e:
                raise _named(c, key, e) from None
            if len(colours) == classes and all(rgb is not None for rgb in colours):
                return tuple(rgb for rgb in colours if rgb is not None)
    return ()


def nodata_source(c: _Card, card: SceneCard, rasters: dict[str, Any]) -> NodataSource | None:
    """The card's `nodata`, else the one of the rasters' metadata (which must then agree), and where it was declared.

    A raster declaring NaN as nodata (common for float GeoTIFFs) gets its NaN entries replaced by the finite
    stand-in NAN_FILL (`_fill_nan`: the pipeline needs finite arrays), which every nodata mask counts as nodata
    whatever value is in force (this one or --data.nodata: normalization.nodata_mask). NAN_FILL is the value in
    force only when nothing else is declared. The record keeps the user's value (NaN) for messages.
    """
    found = {k: float(r.nodata) for k, r in rasters.items() if r.nodata is not None and np.isfinite(r.nodata)}
    if card.nodata is None and len(set(found.values())) > 1:
        raise c.error("nodata", f"the rasters declare different nodata values {found}",
                      "Set one `nodata:` in the card (the fill value used by all files) or rewrite the files.")
    nan = tuple(dict.fromkeys(Path(r.path) for r in rasters.values() if _nan_nodata(r)))  # in order, no repeats
    if card.nodata is not None:
        return NodataSource("card", card.nodata, card.nodata, (card.card,), nan)
    if found:
        value = next(iter(found.values()))
        files = tuple(dict.fromkeys(Path(r.path) for k, r in rasters.items() if k in found))
        return NodataSource("raster", value, value, files, nan)
    if nan:
        return NodataSource("raster", NAN_FILL, float("nan"), nan)
    return None


def _nan_nodata(raster: Any) -> bool:
    return raster.nodata is not None and bool(np.isnan(raster.nodata))


def _fill_nan(raster: Any) -> np.ndarray:
    """The raster's (H, W, C) array with NaN replaced by NAN_FILL (always nodata) when the file declares NaN as
    its nodata. NaN in other files stays: check_scene refuses it (not declared missing, so not silently so)."""
    a = raster.array
    if not _nan_nodata(raster) or not np.isnan(a).any():
        return a
    return np.where(np.isnan(a), np.float32(NAN_FILL), a).astype(np.float32, copy=False)


def read_card(card: SceneCard, require_hsi: bool = True) -> Scene:
    """Read every file of `card` and return the checked Scene (raises DataError naming the card and key)."""
    c = _Card(card.card)
    verify_sha256(card)
    grid = _Grid(c)
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
    maps: dict[str, np.ndarray] = {}
    roi_names: dict[str, tuple[str, ...]] = {}
    for key in ("labels", "train", "test"):
        ref = getattr(card, key)
        if ref is not None:
            maps[key], names = _labels(grid, key, ref)
            sources[key] = ref.path
            if names:
                roi_names[key] = names
    train, test = maps.get("train"), maps.get("test")
    if "labels" in maps:
        labels = maps["labels"]  # (H, W) int64
    else:  # parse_card asked for both maps when labels: is absent
        assert train is not None and test is not None
        labels = np.where(train > 0, train, test)  # == TR + TS once check_scene has found them disjoint
        sources["labels"] = sources["train"]
    top = int(max(int(m.max()) for m in maps.values())) if maps else 0
    names = _class_names(c, card, roi_names, top)
    palette = card_palette(c, card, len(names))
    if card.class_descriptions:
        unknown = sorted(set(card.class_descriptions) - set(names))
        if unknown:
            raise c.error("class_descriptions", f"unknown class(es) {unknown}", f"Use names from {list(names)}.")
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
