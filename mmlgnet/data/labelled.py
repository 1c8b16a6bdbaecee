"""Memory-bounded training data (issue 10 item 2): a scene card's labelled pixels' P×P patches, read by windows.

fit/validate/test only ever look at the labelled pixels' neighbourhoods and the per-band statistics, so a scene
larger than memory can still be trained on when its labelled patches fit:

1. `open_labelled_card`: the card opened lazily (mmlgnet.data.lazy_scene: rasters as windowed sources, no pixel
   read) plus its label maps read in full ((H, W) int64, 8 bytes a pixel), as a `Scene` whose cubes are
   zero-stride stubs (shape only) and whose labels are real, so splits, counts and messages work unchanged.
2. `windowed_stats`: per-band count / mean / std / min / max in ONE pass over windows of rows (Chan et al.'s
   merge of per-window float64 moments, normalization.Moments), nodata excluded, NaN/inf refused, plus the
   outlier check's pixel sample (the pixels `outlier_bands` samples in memory). The windows are band_stats'
   row blocks, so the statistics equal the in-memory ones bit for bit (and the patches then too).
3. `gather_patches`: the windows holding labelled pixels are read with the P // 2 halo (reflected at the scene
   border exactly as patches.pad_scene: tiles.read_padded), normalised (normalize_into: the in-memory float32
   arithmetic) and cut with PatchGatherer, so each patch is bit-identical to the in-memory path's.
4. `LabelledGatherer`: serves those patches by flat pixel index, like PatchGatherer (same (B, C, P, P) layout).

Peak memory: the patches (N · P² · C · 4 bytes) + the label maps + a few windows of WINDOW_BYTES.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info

from mmlgnet.data.band_checks import report_bands
from mmlgnet.data.card_load import _class_names, _Grid, _named
from mmlgnet.data.cards import _Card, is_card
from mmlgnet.data.download import DataError
from mmlgnet.data.lazy_scene import LazyScene, StackSource, open_card_lazily
from mmlgnet.data.normalization import (
    _SAMPLE,
    BandStats,
    Moments,
    Normalization,
    NormStats,
    block_rows,
    nodata_mask,
    norm_stats_from,
    normalize_into,
    outlier_bands_sampled,
)
from mmlgnet.data.patches import PatchGatherer
from mmlgnet.data.scene import Scene
from mmlgnet.data.scenes import check_scene
from mmlgnet.data.tiles import Tile, read_padded
from mmlgnet.errors import ConfigError

__all__ = ["IN_MEMORY_COST", "WINDOW_BYTES", "LabelledGatherer", "check_option", "gather_patches",
           "open_labelled_card", "serve_labelled", "windowed_reason", "windowed_stats"]

WINDOW_BYTES = 64 * 2**20  # float32 bytes of one window of rows (full width, all bands)
IN_MEMORY_COST = 2.0  # peak RSS of fit/test in memory, beyond the process, / the served cubes' bytes (benchmarks/memory.py)


def window_rows(width: int, channels: int, window_bytes: int = WINDOW_BYTES) -> int:
    """Rows per window so that one (rows, W, C) float32 window holds about `window_bytes`."""
    return max(1, window_bytes // max(1, width * channels * 4))


def open_labelled_card(path: str, lidar_channels: int | None, require_hsi: bool) -> tuple[LazyScene, Scene]:
    """The card's rasters opened lazily and a Scene with its real label maps and shape-only cube stubs.

    Label files get read_card's checks (one grid and CRS with the rasters, class range, disjoint train/test
    maps, class names from the card or the ROI files); the cubes are checked while they are read.
    """
    lazy = open_card_lazily(path, lidar_channels=lidar_channels, require_hsi=require_hsi)
    from mmlgnet.data.readers import read_labels

    card, stub = lazy.card, lazy.stub
    c = _Card(card.card)
    grid = _Grid(c)
    grid.add("lidar", card.lidar[0].path, (stub.height, stub.width), stub.crs, stub.transform)
    maps: dict[str, np.ndarray] = {}
    roi: dict[str, tuple[str, ...]] = {}
    sources: dict[str, Path] = dict(stub.sources)
    for key in ("labels", "train", "test"):
        ref = getattr(card, key)
        if ref is None:
            continue
        try:
            labels, names, raster = read_labels(ref.path, key=ref.key, shape=(stub.height, stub.width))
        except DataError as e:
            raise _named(c, key, e) from None
        grid.add(key, ref.path, labels.shape, raster.crs if raster else None, raster.transform if raster else None)
        maps[key], sources[key] = labels, ref.path
        if names:
            roi[key] = tuple(names)
    train, test = maps.get("train"), maps.get("test")
    if "labels" in maps:
        labels = maps["labels"]  # (H, W) int64
    else:  # parse_card asked for both maps when labels: is absent
        assert train is not None and test is not None
        labels = np.where(train > 0, train, test)
        sources["labels"] = sources["train"]
    top = int(max(int(m.max()) for m in maps.values())) if maps else 0
    names = _class_names(c, card, roi, top)
    scene = dataclasses.replace(stub, labels=labels, train_map=train, test_map=test, class_names=names,
                                sources=sources)
    one = np.broadcast_to(np.zeros(1, dtype=np.float32), (stub.height, stub.width, 1))  # no (H, W, C) temporaries
    check_scene(dataclasses.replace(scene, hsi=None, lidar=one), sources, None, None)
    return lazy, scene


def windowed_stats(source: StackSource, nodata: float | None, where: str) -> tuple[BandStats, np.ndarray]:
    """(BandStats, outlier sample (N_sample, C)) of a windowed (H, W, C) source in ONE pass over row windows.

    The windows are band_stats' row blocks and feed the same Moments, so the statistics equal the in-memory
    ones bit for bit. The sample holds pixels 0, s, 2s, ... (s = H·W // _SAMPLE), as outlier_bands takes them
    in memory. A NaN/inf entry is a DataError naming the file (check_scene's rule for cubes in memory).
    """
    h, w, c = source.shape
    step = block_rows(w, c)
    stride = max(1, (h * w) // _SAMPLE)
    moments, sample = Moments(c), []
    for r0 in range(0, h, step):
        x = source.read(slice(r0, min(h, r0 + step)), slice(0, w)).reshape(-1, c)  # (h_win * W, C) float32
        finite = np.isfinite(x)
        if not finite.all():
            i, b = (int(v) for v in np.argwhere(~finite)[0])
            raise DataError(f"{where}: finite values: expected no NaN/inf, got {int((~finite).sum())} NaN/inf "
                            f"entries in rows {r0}..{min(h, r0 + step) - 1}, first at (row, col, band) "
                            f"{(r0 + i // w, i % w, b)}. Fill the gaps (e.g. interpolate) or declare them nodata.")
        sample.append(x[(-r0 * w) % stride::stride])
        moments.add(x, nodata_mask(x, nodata) if nodata is not None else None)
    return moments.result(), np.concatenate(sample)


def gather_patches(source: StackSource, index: np.ndarray, patch_size: int, stats: NormStats,
                   nodata: float | None, where: str, labels: np.ndarray | None = None,
                   rows: int | None = None) -> np.ndarray:
    """(N, P, P, C) float32 normalised patches around the sorted flat pixel `index` (row * W + col).

    Only the row windows holding some of these pixels are read. With `labels` (H, W), a pixel whose own
    entries hold `nodata` in some band is a DataError naming the file (as band_checks does in memory).
    """
    h, w, c = source.shape
    r, p = patch_size // 2, patch_size
    index = np.asarray(index, dtype=np.int64)
    if index.size and np.any(np.diff(index) <= 0):
        raise ValueError("gather_patches: the pixel index must be sorted and without repeats")
    out = np.empty((len(index), p, p, c), dtype=np.float32)  # (N, P, P, C)
    at_row = index // w
    step = rows or window_rows(w + 2 * r, c)
    r0 = 0
    while r0 < h:
        lo = int(np.searchsorted(at_row, r0))
        if lo == len(index):
            break
        a = int(at_row[lo])  # the first row from r0 on with a pixel to serve
        b = min(h, a + step)
        hi = int(np.searchsorted(at_row, b))
        raw = read_padded(source, Tile(0, a, b, 0, w), r)  # (b - a + 2r, W + 2r, C), reflected at the borders
        local = index[lo:hi] - a * w  # (n,) flat indices in the window's unpadded grid
        if nodata is not None and labels is not None:
            centre = raw[r + local // w, r + local % w]  # (n, C) the pixels' own entries
            hit = nodata_mask(centre, nodata).any(axis=1)
            if hit.any():
                row, col = divmod(int(index[lo + int(np.argmax(hit))]), w)
                raise DataError(
                    f"{where}: labelled pixel(s) hold the nodata value {nodata:g} (--data.nodata or the scene's "
                    f"nodata), first at (row, col) ({row}, {col}), class {labels[row, col]}; they cannot be "
                    f"classified from missing data. Set them to 0 (unlabelled) in the label map, fill the values, "
                    f"or drop --data.nodata if {nodata:g} is a real measurement.")
        normed = np.empty_like(raw)
        normalize_into(raw, stats, nodata, normed)
        del raw
        g = PatchGatherer(torch.from_numpy(normed), w, p)
        out[lo:hi] = g(torch.from_numpy(local)).permute(0, 2, 3, 1).numpy()  # (n, P, P, C)
        r0 = b
    return out


class LabelledGatherer:
    """Serves precomputed patches (N, P, P, C) by flat pixel index, as PatchGatherer does from the padded scene.

    `index` (N,) sorted flat indices of the patches. Asking for a pixel that was not gathered is a ValueError
    (a bug: every pixel the loaders serve is in the split).
    """

    def __init__(self, patches: torch.Tensor, index: torch.Tensor) -> None:
        self.patches, self.index = patches, index  # (N, P, P, C) float32, (N,) int64 sorted
        self.channels = int(patches.shape[3])

    def to(self, device: torch.device | str) -> LabelledGatherer:
        return LabelledGatherer(self.patches.to(device), self.index.to(device))

    @property
    def device(self) -> torch.device:
        return self.patches.device

    @property
    def nbytes(self) -> int:
        return self.patches.numel() * self.patches.element_size()

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """index: (B,) int64 flat pixel indices -> (B, C, P, P) float32 (a channels-last view, as PatchGatherer)."""
        pos = torch.searchsorted(self.index, index).clamp_(max=max(0, len(self.index) - 1))  # (B,)
        if len(self.index) == 0 or not torch.equal(self.index[pos], index):
            raise ValueError("LabelledGatherer: asked for pixels outside the gathered (labelled) ones")
        return self.patches.index_select(0, pos).permute(0, 3, 1, 2)


def check_option(value: object, scene: str) -> bool | str:
    """--data.scene_in_memory: True, False or "auto" (ConfigError naming the option otherwise); False needs a card."""
    if value is False and not is_card(scene):
        raise ConfigError(f"--data.scene_in_memory false reads a scene card's rasters by window; {scene!r} is a "
                          f"catalogue scene (small: it fits in memory). Drop the option, or describe the files in a card.")
    if isinstance(value, bool) or value == "auto":
        return value
    raise ConfigError(f"--data.scene_in_memory {value!r}: use auto (in memory when the scene fits "
                      f"--data.memory_budget_mb), true (always load the scene) or false (labelled patches by window).")


def windowed_reason(mode: bool | str, scene: str, modalities: tuple[str, ...], lidar_channels: int | None,
                    budget_mb: float | None) -> str | None:
    """Why fit/test should use the labelled patches by window instead of the scene in memory (None: in memory).

    `auto`: when IN_MEMORY_COST x the served cubes' float32 bytes exceed the budget (default: a quarter of
    the RAM, as streaming prediction); only scene cards can be read by window.
    """
    if mode is True:
        return None
    if not is_card(scene):
        return None
    if mode is False:
        return "--data.scene_in_memory false"
    from mmlgnet.data.streaming import default_budget_mb

    budget = default_budget_mb() if budget_mb is None else budget_mb
    lazy = open_card_lazily(scene, lidar_channels=lidar_channels, require_hsi="hsi" in modalities)
    try:
        cubes = [lazy.cube(m) for m in modalities]
        need = IN_MEMORY_COST * sum(int(np.prod(c.shape)) * 4 for c in cubes if c is not None) / 2**20
    finally:
        lazy.close()
    if need <= budget:
        rank_zero_info(f"Scene {scene}: loaded in memory (~{need:,.0f} MiB <= --data.memory_budget_mb {budget:,.0f}).")
        return None
    return f"in memory it would take ~{need:,.0f} MiB > --data.memory_budget_mb {budget:,.0f}"


def serve_labelled(lazy: LazyScene, scene: Scene, modalities: tuple[str, ...], index: np.ndarray, patch_size: int,
                   nodata: float | None, mode: Normalization, training: dict[str, NormStats] | None,
                   check: bool) -> tuple[dict[str, LabelledGatherer], dict[str, NormStats]]:
    """Gatherers and normalisation statistics of the served modalities from windows of the card's rasters.

    `index`: the sorted flat pixels to serve (train, val and test); `training`: the checkpoint's statistics
    (used instead of the scene's own; one pass fewer); `check`: the band checks of the in-memory path (NaN/inf
    refused, labelled nodata refused, nodata count logged, outlier bands warned).
    """
    gatherers: dict[str, LabelledGatherer] = {}
    stats: dict[str, NormStats] = {}
    for name in modalities:
        source = lazy.cube(name)
        if source is None:
            raise ConfigError(f"--model.modalities asks for {name!r} but the scene {scene.name!r} has no "
                              f"{name} data: add its file, or drop {name!r} from --model.modalities.")
        where = scene.source(name)
        if training is None or check:
            band, sample = windowed_stats(source, nodata, where)
            if check:
                report_bands(where, name, band, outlier_bands_sampled(band, sample, nodata), nodata,
                             int(np.prod(source.shape)))
        stats[name] = training[name] if training is not None else norm_stats_from(band, mode)
        patches = gather_patches(source, index, patch_size, stats[name], nodata, where,
                                 labels=scene.labels if check else None)  # (N, P, P, C)
        gatherers[name] = LabelledGatherer(torch.from_numpy(patches), torch.from_numpy(index))
        rank_zero_info(f"{where}: {len(index):,} labelled {name} patches gathered by windows "
                       f"({patches.nbytes / 2**20:,.0f} MiB; the {name} cube would take "
                       f"{np.prod(source.shape) * 4 / 2**20:,.0f} MiB).")
    return gatherers, stats
