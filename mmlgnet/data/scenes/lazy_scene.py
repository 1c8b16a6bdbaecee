"""A scene card opened lazily: its HSI and stacked LiDAR rasters as windowed sources, no pixel read.

The same card checks as `card_load.read_card` (mmlgnet.data.scenes.card_checks) for what a prediction needs (one pixel grid, one CRS and
transform, the nodata value in force, `lidar_channels`, the HSI required by the modalities), the same NaN
handling (a raster declaring NaN as nodata gets its NaN entries replaced by normalization.NAN_FILL, always nodata;
NaN/inf anywhere else is refused, as check_scene refuses it in memory), and a shape-only
`Scene` stub whose arrays are zero-stride views (no memory), so code that only asks for sizes, band counts, class
names or georeferencing works unchanged. Labels are not read (except ROI text files, for class names and their
range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.io.rasters import where
from mmlgnet.data.io.windows import GdalSource, WindowSource, open_raster
from mmlgnet.data.sampling.normalization import NAN_FILL
from mmlgnet.data.scenes.card_checks import (
    CardErrors,
    Grid,
    card_palette,
    class_names,
    named,
    nan_tagged,
    nodata_source,
    roi_labels,
)
from mmlgnet.data.scenes.cards import SceneCard, parse_card
from mmlgnet.data.scenes.scene import Scene

__all__ = ["LazyScene", "StackSource", "open_card_lazily"]


class StackSource:
    """Several windowed rasters stacked as channels (a card's LiDAR list), the first `channels` kept.

    `read(rows, cols)` -> (h, w, C) float32 with the NaN entries of NaN-tagged files replaced by NAN_FILL (nodata
    whatever value is in force: normalization.nodata_mask); any other NaN/inf entry is a DataError naming the file,
    so no window (statistics, labelled patches, streamed tiles) ever feeds one on as data.
    """

    def __init__(self, parts: Sequence[WindowSource], channels: int | None = None) -> None:
        self.parts = list(parts)
        total = sum(p.shape[2] for p in self.parts)
        self.channels = total if channels is None else channels
        h, w, _ = self.parts[0].shape
        self.shape = (h, w, self.channels)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        out, left = [], self.channels
        for part in self.parts:
            if left <= 0:
                break
            take = min(left, part.shape[2])
            a = part.read(rows, cols, bands=list(range(take)))  # (h, w, take) float32
            nan_tag = nan_tagged(part)
            if nan_tag:
                a = np.where(np.isnan(a), np.float32(NAN_FILL), a).astype(np.float32, copy=False)
            _check_finite(part, a, rows, cols, nan_tag)
            out.append(a)
            left -= take
        return out[0] if len(out) == 1 else np.concatenate(out, axis=2)  # (h, w, C)

    def close(self) -> None:
        for p in self.parts:
            p.close()


def _check_finite(part: WindowSource, a: np.ndarray, rows: slice, cols: slice, nan_tag: bool) -> None:
    """Refuse NaN/inf entries of a (h, w, C) window of `part` (a NaN-tagged file's NaN entries are filled before)."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    r, c, b = (int(v) for v in np.argwhere(bad)[0])
    r0, c0 = rows.start or 0, cols.start or 0
    declare = "" if nan_tag or not isinstance(part, GdalSource) else (
        " If NaN marks missing measurements, declare NaN as the file's nodata (GeoTIFF: `gdal_edit.py -a_nodata "
        "nan FILE`; ENVI: `data ignore value = nan` in the header): a NaN-tagged file's NaN entries are nodata.")
    raise DataError(f"{where(part.path, part.key)}: finite values: expected no NaN/inf, got {int(bad.sum())} NaN/inf "
                    f"entries in rows {r0}..{r0 + a.shape[0] - 1}, columns {c0}..{c0 + a.shape[1] - 1}, first at "
                    f"(row, col, band) {(r0 + r, c0 + c, b)}. They are not declared missing, so they would be used as "
                    f"data: fill the gaps (e.g. interpolate), or write a fill value there (e.g. -9999) and declare "
                    f"it (`nodata: -9999` in the card).{declare}")


@dataclass
class LazyScene:
    """A card's sources and metadata; `stub` is the shape-only Scene (zero-stride arrays: never read them)."""

    card: SceneCard
    hsi: StackSource | None
    lidar: StackSource
    stub: Scene

    @property
    def height(self) -> int:
        return self.stub.height

    @property
    def width(self) -> int:
        return self.stub.width

    def cube(self, name: str) -> StackSource | None:
        return self.hsi if name == "hsi" else self.lidar

    def close(self) -> None:
        for s in (self.hsi, self.lidar):
            if s is not None:
                s.close()


def _open(grid: Grid, key: str, path: object, ref_key: str | None, bands: tuple[int, ...] | None) -> WindowSource:
    try:
        src = open_raster(path, key=ref_key, bands=list(bands) if bands else None)  # type: ignore[arg-type]
    except DataError as e:
        raise named(grid.c, key, e) from None
    grid.add(key, src.path, src.shape, src.crs, src.transform)
    return src


def open_card_lazily(path: str, lidar_channels: int | None = None, require_hsi: bool = True) -> LazyScene:
    """Open a card's rasters for windowed reads (headers only) and check them as read_card does."""
    card = parse_card(path)
    c = CardErrors(card.card)
    grid = Grid(c)
    sources: dict[str, WindowSource] = {}
    if card.hsi is not None:
        sources["hsi"] = _open(grid, "hsi", card.hsi.path, card.hsi.key, card.hsi.bands)
    elif require_hsi:
        raise c.error("hsi", "missing, but the run uses the HSI modality",
                      "Add `hsi: <file>` to the card, or run LiDAR-only with --model.modalities [lidar].")
    for i, ref in enumerate(card.lidar):
        sources[f"lidar[{i}]"] = _open(grid, "lidar", ref.path, ref.key, ref.bands)
    declared = nodata_source(c, card, sources)
    nodata = None if declared is None else declared.value
    parts = [sources[f"lidar[{i}]"] for i in range(len(card.lidar))]
    total = sum(p.shape[2] for p in parts)
    if lidar_channels is not None and not 1 <= lidar_channels <= total:
        raise DataError(f"lidar_channels={lidar_channels} but the card {path} stacks {total} LiDAR raster band(s): "
                        f"set --data.lidar_channels to 1..{total} (or null for all).")
    lidar = StackSource(parts, lidar_channels)
    hsi = StackSource([sources["hsi"]]) if "hsi" in sources else None
    assert grid.shape is not None
    h, w = grid.shape
    roi, top = roi_labels(c, card)  # ROI text only: the label rasters stay unread
    names = class_names(c, card, roi, top, "needed to map the scene by tiles without reading its label rasters")
    palette = card_palette(c, card, len(names))  # the card's, else the ROI files' colours
    zeros = np.zeros(1, dtype=np.float32)
    stub = Scene(
        name=card.name,
        hsi=None if hsi is None else np.broadcast_to(zeros, hsi.shape),  # zero-stride (H, W, C): no memory
        lidar=np.broadcast_to(zeros, lidar.shape), labels=np.broadcast_to(np.zeros(1, dtype=np.int64), (h, w)),
        class_names=names, palette=palette, crs=grid.crs, transform=grid.transform, nodata=nodata,
        nodata_source=declared,
        sources={**({"hsi": card.hsi.path} if card.hsi else {}), "lidar": card.lidar[0].path},
        wavelengths_nm=None if card.wavelengths_nm is None else np.asarray(card.wavelengths_nm, dtype=np.float64),
        class_descriptions=dict(card.class_descriptions or {}),
    )
    return LazyScene(card=card, hsi=hsi, lidar=lidar, stub=stub)
