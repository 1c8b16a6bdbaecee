"""The checks a scene card's files get, however they are read: whole (card_load.read_card), by windows
(lazy_scene.open_card_lazily) or labels only (mmlgnet.data.sampling.labelled). One owner for each rule:

- `CardErrors`: every message names the card, the key and the fix; `named` prefixes a reader's DataError so;
- `Grid`: one pixel grid, CRS and geotransform for every file of the card;
- `class_names`: the card's names or the ROI files' (which must agree), or the ROI names mapped to the card's
  display names (`display_names`), one per label value 1..top; `check_descriptions`: class_descriptions keys;
- `card_palette`: the card's colours, else the ROI files';
- `nodata_source`: the nodata value in force and where it was declared; `nan_tagged`: a file declaring NaN missing.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.normalization import NAN_FILL
from mmlgnet.data.scenes.cards import CardErrors, RasterRef, SceneCard
from mmlgnet.data.scenes.nodata_source import NodataSource

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CardErrors", "Grid", "card_palette", "check_descriptions", "class_names", "display_names", "named",
           "nan_tagged", "nodata_source", "roi_labels"]


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


class Grid:
    """The pixel grid (size, CRS, transform) of the first file; every later file must match it.

    A file whose format can carry georeferencing but carries none, beside a georeferenced one, is refused as a
    differing CRS is: the outputs would be georeferenced from files the others may not line up with.
    """

    def __init__(self, c: CardErrors) -> None:
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


def named(c: CardErrors, key: str, e: DataError) -> DataError:
    """A reader's DataError (it names the file) prefixed with the card and key that point at the file."""
    return DataError(f"Scene card {c.path}, key {key!r}: {e}")


def class_names(c: CardErrors, card: SceneCard, from_files: dict[str, tuple[str, ...]], top: int,
                missing: str = "the label files carry no class names") -> tuple[str, ...]:
    """The scene's class names, one per label value 1..top: the card's list, the ROI files' names (which must
    agree with each other and the card's list), or the ROI names mapped to the card's display names
    (`class_names:` as a mapping, one to one: display_names). The card's class_descriptions must be keyed by
    the names returned (check_descriptions): every way of reading a card calls this, so they all get it.

    `from_files`: label key -> the ROI names of that file; `top`: the highest label value read (0: none read,
    as for a lazily opened card whose label rasters stay unread). `missing` says why names are needed.
    """
    if card.display_names is not None:
        names = display_names(c, card.display_names, from_files)
    else:
        names = _listed_names(c, card, from_files, missing, top)
    if top > len(names):
        raise c.error("class_names", f"{len(names)} names but the labels go up to {top}",
                      f"List one name per label value 1..{top} (label k is class_names[k-1]), or fix the label file.")
    check_descriptions(c, card, names)
    return names


def _listed_names(c: CardErrors, card: SceneCard, from_files: dict[str, tuple[str, ...]], missing: str,
                  top: int) -> tuple[str, ...]:
    """The card's class_names list (which the ROI files' names must start with), else the ROI files' names."""
    for key, roi in from_files.items():
        if card.class_names is not None and tuple(card.class_names[:len(roi)]) != roi:
            raise c.error("class_names", f"the card lists {list(card.class_names)} but the ROI names in the "
                          f"{key!r} file are {list(roi)}", "Make the card's class_names follow the ROI order and "
                          "names, map the ROI names to yours (`class_names: {ROI name: your name, ...}`), or drop "
                          "class_names from the card to use the ROI names.")
    distinct = set(from_files.values())
    if card.class_names is None and len(distinct) > 1:
        raise c.error("class_names", f"the ROI files name different classes: {from_files}",
                      "Export the ROI files with the same ROIs in the same order, or list class_names in the card.")
    chosen = card.class_names or (max(distinct, key=len) if distinct else None)
    if chosen is None:
        raise c.error("class_names", f"missing ({missing})",
                      f"List the {f'{top} ' if top else ''}class names in label order: `class_names: [...]`.")
    return tuple(chosen)


def display_names(c: CardErrors, mapping: dict[str, str], from_files: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The display names of the ROIs in ROI (= label) order, from the card's mapping ROI name -> display name.

    One to one: every ROI file names the same ROIs in the same order (ROI k is label k in each), the ROI names
    are distinct, every ROI name is mapped and every mapped name is a ROI name (cards.parse_card has checked that
    no two ROI names share a display name and that no ROI name is mapped twice).
    """
    if not from_files:
        raise c.error("class_names", "a mapping ROI name -> display name, but the ENVI ROI label files name no ROI",
                      "Export the ROIs again from ENVI, or give class_names as a list in label order.")
    if len(set(from_files.values())) > 1:
        listed = "; ".join(f"{key!r}: {list(roi)}" for key, roi in from_files.items())
        raise c.error("class_names", f"the ROI files name different ROIs or the same in another order ({listed})",
                      "Export the ROI files with the same ROIs in the same order (ROI k is label k in each file).")
    key, roi = next(iter(from_files.items()))
    files = " and ".join(repr(k) for k in from_files)
    twice = sorted({n for n in roi if roi.count(n) > 1})
    if twice:
        raise c.error("class_names", f"the ROI file(s) {files} name the ROI(s) {twice} more than once, so a mapping "
                      "by ROI name cannot tell them apart", "Rename the ROIs in ENVI so each name is unique, or give "
                      "class_names as a list in label order.")
    unmapped = [n for n in roi if n not in mapping]
    unknown = [n for n in mapping if n not in roi]
    if unmapped or unknown:
        problems = ([f"the ROI name(s) {unmapped} of the {files} file(s) are not mapped"] if unmapped else []) + (
            [f"{unknown} {'is' if len(unknown) == 1 else 'are'} not ROI name(s) of the {files} file(s)"]
            if unknown else [])
        near = [f"{u!r} -> {m[0]!r}" for u in unknown if (m := difflib.get_close_matches(u, unmapped, n=1))]
        hint = f" (misspelt? {', '.join(near)})" if near else ""
        raise c.error("class_names", " and ".join(problems) + hint,
                      f"Map every ROI name exactly once, spelt as in the files: {list(roi)}.")
    return tuple(mapping[n] for n in roi)


def check_descriptions(c: CardErrors, card: SceneCard, names: tuple[str, ...]) -> None:
    """Refuse class_descriptions keyed by a name that is not a class of the scene (e.g. a ROI name where the card
    maps ROI names to display names: the descriptions are keyed by the display names)."""
    unknown = sorted(set(card.class_descriptions or {}) - set(names))
    if not unknown:
        return
    renamed = {n: card.display_names[n] for n in unknown if card.display_names and n in card.display_names}
    hint = (f" Key them by the display names class_names maps the ROI names to: "
            f"{', '.join(f'{k} -> {v}' for k, v in renamed.items())}.") if renamed else ""
    raise c.error("class_descriptions", f"unknown class(es) {unknown}", f"Use names from {list(names)}.{hint}")


def roi_labels(c: CardErrors, card: SceneCard) -> tuple[dict[str, tuple[str, ...]], int]:
    """(label key -> ROI names, highest ROI label) of the card's ENVI ROI text label files; raster label files are
    not read (a lazily opened card reads no label raster). ROI text is small: reading it whole is cheap."""
    from mmlgnet.data.io.readers import read_labels

    names: dict[str, tuple[str, ...]] = {}
    top = 0
    for key, ref in _roi_files(card):
        try:
            labels, roi, _ = read_labels(ref.path, key=ref.key)
        except DataError as e:
            raise named(c, key, e) from None
        top = max(top, int(labels.max()))
        if roi:
            names[key] = tuple(roi)
    return names, top


def _roi_files(card: SceneCard) -> Iterator[tuple[str, RasterRef]]:
    """(key, file entry) of the card's ENVI ROI text label files, in the order labels, train, test."""
    for key in ("labels", "train", "test"):
        ref = getattr(card, key)
        if ref is not None and ref.path.suffix.lower() == ".txt":
            yield key, ref


def card_palette(c: CardErrors, card: SceneCard, classes: int) -> tuple[tuple[int, int, int], ...]:
    """The maps' colours: the card's `palette` (one per class), else the ENVI ROI label files' colours.

    ROI colours are used when a ROI file (labels, train, test: the first such) gives one for every class; else
    () (the maps' default colours).
    """
    if card.palette:
        if len(card.palette) != classes:
            raise c.error("palette", f"{len(card.palette)} colours for {classes} classes", "Give one [R, G, B] per class.")
        return card.palette
    from mmlgnet.data.io.envi_roi import read_roi_colours

    for key, ref in _roi_files(card):
        try:
            colours = read_roi_colours(ref.path)
        except DataError as e:
            raise named(c, key, e) from None
        if len(colours) == classes and all(rgb is not None for rgb in colours):
            return tuple(rgb for rgb in colours if rgb is not None)
    return ()


def nodata_source(c: CardErrors, card: SceneCard, rasters: dict[str, Any]) -> NodataSource | None:
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
    nan = tuple(dict.fromkeys(Path(r.path) for r in rasters.values() if nan_tagged(r)))  # in order, no repeats
    if card.nodata is not None:
        return NodataSource("card", card.nodata, card.nodata, (card.card,), nan)
    if found:
        value = next(iter(found.values()))
        files = tuple(dict.fromkeys(Path(r.path) for k, r in rasters.items() if k in found))
        return NodataSource("raster", value, value, files, nan)
    if nan:
        return NodataSource("raster", NAN_FILL, float("nan"), nan)
    return None


def nan_tagged(raster: Any) -> bool:
    """Whether a raster (or windowed source) declares NaN as its nodata: its NaN entries are then missing data."""
    return raster.nodata is not None and bool(np.isnan(raster.nodata))
