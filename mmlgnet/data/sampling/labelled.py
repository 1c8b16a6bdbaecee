"""Memory-bounded training data (issue 10 item 2): a scene card's labelled pixels' P×P patches, read by windows.

fit/validate/test only ever look at the labelled pixels' neighbourhoods and the per-band statistics, so a scene
larger than memory can still be trained on when its labelled patches fit:

1. `open_labelled_card`: the card opened lazily (mmlgnet.data.scenes.lazy_scene: rasters as windowed sources, no pixel
   read) plus its label maps read in full ((H, W) int64, 8 bytes a pixel), as a `Scene` whose cubes are
   zero-stride stubs (shape only) and whose labels are real, so splits, counts and messages work unchanged.
2. `windowed_stats`: per-band count / mean / std / min / max in ONE pass over windows of rows (Chan et al.'s
   merge of per-window float64 moments, normalization.Moments), nodata excluded, NaN/inf refused, plus the
   outlier check's pixel sample (the pixels `outlier_bands` samples in memory). The windows are band_stats'
   row blocks, so the statistics equal the in-memory ones bit for bit (and the patches then too).
3. `gather_patches`: the windows holding labelled pixels' neighbourhoods are read with the P // 2 halo
   (reflected at the scene border exactly as patches.pad_scene: tiles.read_padded) and normalised
   (normalize_into: the in-memory float32 arithmetic); each padded-scene pixel some patch covers is kept once
   in a table, and each patch is a row of P² table positions (overlapping patches share pixels).
4. `LabelledGatherer`: serves those patches by flat pixel index, like PatchGatherer (same (B, C, P, P) layout,
   the same values bit for bit).

Peak memory: the table (at most the padded scene: U · C · 4 bytes, U = distinct covered pixels) + N · P² int32
positions + the label maps + a few windows of WINDOW_BYTES.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.band_checks import report_bands
from mmlgnet.data.sampling.budget import (
    FIT_IN_MEMORY_COST,
    default_budget_mb,
    in_memory_mb,
    over_budget,
    under_budget,
)
from mmlgnet.data.sampling.normalization import (
    BandStats,
    Moments,
    Normalization,
    NormStats,
    block_rows,
    nodata_mask,
    norm_stats_from,
    normalize_into,
    outlier_bands_sampled,
    sample_stride,
)
from mmlgnet.data.sampling.tiles import Tile, read_padded
from mmlgnet.data.scenes.card_checks import Grid
from mmlgnet.data.scenes.card_load import read_card_labels
from mmlgnet.data.scenes.cards import CardErrors, is_card
from mmlgnet.data.scenes.catalog_load import check_scene
from mmlgnet.data.scenes.labelled_nodata import LabelledNodataFound, labelled_nodata_error, source_of
from mmlgnet.data.scenes.lazy_scene import LazyScene, StackSource, open_card_lazily
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.errors import ConfigError

__all__ = ["WINDOW_BYTES", "LabelledGatherer", "check_option", "gather_patches",
           "open_labelled_card", "serve_labelled", "windowed_reason", "windowed_stats"]

WINDOW_BYTES = 16 * 2**20  # float32 bytes of one window of rows (full width, all bands)


def window_rows(width: int, channels: int, window_bytes: int = WINDOW_BYTES) -> int:
    """Rows per window so that one (rows, W, C) float32 window holds about `window_bytes`."""
    return max(1, window_bytes // max(1, width * channels * 4))


def open_labelled_card(path: str, lidar_channels: int | None, require_hsi: bool) -> tuple[LazyScene, Scene]:
    """The card's rasters opened lazily and a Scene with its real label maps and shape-only cube stubs.

    The label files are read by card_load.read_card_labels, the one reader of a card's labels (one grid and CRS
    with the rasters, class names from the card or the ROI files, display names mapped), and get check_scene's
    checks as in read_card (class range, disjoint train/test maps); the cubes are checked while they are read.
    """
    lazy = open_card_lazily(path, lidar_channels=lidar_channels, require_hsi=require_hsi)
    card, stub = lazy.card, lazy.stub
    grid = Grid(CardErrors(card.card))
    grid.add("lidar", card.lidar[0].path, (stub.height, stub.width), stub.crs, stub.transform)
    read = read_card_labels(grid, card)
    sources: dict[str, Path] = {**stub.sources, **read.sources}
    scene = dataclasses.replace(stub, labels=read.labels, train_map=read.train, test_map=read.test,
                                class_names=read.class_names, sources=sources)
    one = np.broadcast_to(np.zeros(1, dtype=np.float32), (stub.height, stub.width, 1))  # no (H, W, C) temporaries
    check_scene(dataclasses.replace(scene, hsi=None, lidar=one), sources, None, None)
    return lazy, scene


def windowed_stats(source: StackSource, nodata: float | None, where: str) -> tuple[BandStats, np.ndarray]:
    """(BandStats, outlier sample (N_sample, C)) of a windowed (H, W, C) source in ONE pass over row windows.

    The windows are band_stats' row blocks and feed the same Moments, so the statistics equal the in-memory
    ones bit for bit. The sample holds pixels 0, s, 2s, ... (s = normalization.sample_stride(H·W)), as
    outlier_bands and the scan (mmlgnet.data.sampling.scan) take them in memory. A NaN/inf entry is a DataError naming the file (check_scene's rule for cubes in memory).
    """
    h, w, c = source.shape
    step = block_rows(w, c)
    stride = sample_stride(h * w)
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
                   rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The normalised neighbourhoods of the sorted flat pixels `index` (row * W + col), without repeats.

    Returns (table (U, C) float32, patch (N, P * P) int32): `table` holds every position of the padded scene
    (H + 2r, W + 2r) that some patch covers, once (overlapping patches share their pixels, so U <= the padded
    scene's pixels and U << N * P² when labels cluster), and patch n's entries are table[patch[n]] in raster
    order. Only the row windows holding such positions are read, each with its halo reflected at the scene
    border as pad_scene does, and normalised with normalize_into: the values are the in-memory ones bit for
    bit. With `labels` (H, W), a pixel whose own entries hold `nodata` raises LabelledNodataFound.
    """
    h, w, c = source.shape
    r, p = patch_size // 2, patch_size
    wp = w + 2 * r
    index = np.asarray(index, dtype=np.int64)
    if index.size and np.any(np.diff(index) <= 0):
        raise ValueError("gather_patches: the pixel index must be sorted and without repeats")
    d = np.arange(p, dtype=np.int64)
    offsets = (d[:, None] * wp + d[None, :]).reshape(-1)  # (P * P,) in the padded grid
    keys = ((index // w) * wp + index % w)[:, None] + offsets[None, :]  # (N, P * P) padded-grid positions
    uniq, inverse = np.unique(keys, return_inverse=True)  # (U,) sorted = row-major
    del keys
    table = np.empty((len(uniq), c), dtype=np.float32)  # (U, C)
    bad = np.zeros(len(uniq), dtype=bool)  # raw entry == nodata in some band
    at_row = uniq // wp  # padded-grid row of each position
    step = rows or window_rows(wp, c)
    for a in range(0, h, step):
        b = min(h, a + step)
        top = b if b < h else h + 2 * r  # padded rows [a, top) come from this window (the last one takes the rest)
        lo, hi = int(np.searchsorted(at_row, a)), int(np.searchsorted(at_row, top))
        if lo == hi:
            continue
        raw = read_padded(source, Tile(0, a, b, 0, w), r)  # (b - a + 2r, W + 2r, C): padded rows a .. b + 2r
        at = (at_row[lo:hi] - a, uniq[lo:hi] % wp)  # (n,), (n,) positions in the window
        if nodata is not None and labels is not None:
            bad[lo:hi] = nodata_mask(raw[at], nodata).any(axis=1)
        normed = np.empty_like(raw)
        normalize_into(raw, stats, nodata, normed)
        del raw
        table[lo:hi] = normed[at]  # (n, C)
    patch = inverse.reshape(len(index), p * p).astype(np.int32)  # (N, P * P)
    if labels is not None and len(index):
        hit = bad[patch[:, (p * p) // 2]]  # (N,) the pixels' own entries (patch centres)
        if hit.any():
            first = int(np.argmax(hit))
            row, col = divmod(int(index[first]), w)
            raise LabelledNodataFound(int(hit.sum()), (row, col))  # worded by the caller (labelled_nodata)
    return table, patch


class LabelledGatherer:
    """Serves the gathered neighbourhoods by flat pixel index, as PatchGatherer does from the padded scene.

    `table` (U, C) and `patch` (N, P * P) from gather_patches; `index` (N,) their sorted flat pixels. Asking
    for a pixel that was not gathered is a ValueError (a bug: every pixel the loaders serve is in the split).
    """

    def __init__(self, table: torch.Tensor, patch: torch.Tensor, index: torch.Tensor, patch_size: int) -> None:
        self.table, self.patch, self.index = table, patch, index  # (U, C) float32, (N, P²) int32, (N,) int64
        self.patch_size, self.channels = patch_size, int(table.shape[1])

    def to(self, device: torch.device | str) -> LabelledGatherer:
        return LabelledGatherer(self.table.to(device), self.patch.to(device), self.index.to(device), self.patch_size)

    @property
    def device(self) -> torch.device:
        return self.table.device

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.table, self.patch, self.index))

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """index: (B,) int64 flat pixel indices -> (B, C, P, P) float32 (a channels-last view, as PatchGatherer)."""
        pos = torch.searchsorted(self.index, index).clamp_(max=max(0, len(self.index) - 1))  # (B,)
        if len(self.index) == 0 or not torch.equal(self.index[pos], index):
            raise ValueError("LabelledGatherer: asked for pixels outside the gathered (labelled) ones")
        lin = self.patch.index_select(0, pos).reshape(-1)  # (B * P * P,)
        p = self.patch_size
        return self.table.index_select(0, lin).view(-1, p, p, self.channels).permute(0, 3, 1, 2)


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

    `auto`: when FIT_IN_MEMORY_COST (mmlgnet.data.sampling.budget) x the served cubes' float32 bytes exceed the
    budget (default: a quarter of the RAM, as streaming prediction); only scene cards can be read by window.
    """
    if mode is True:
        rank_zero_info(f"Scene {scene}: loaded in memory (--data.scene_in_memory true).")
        return None
    if not is_card(scene):
        return None
    if mode is False:
        return "--data.scene_in_memory false"
    budget = default_budget_mb() if budget_mb is None else budget_mb
    lazy = open_card_lazily(scene, lidar_channels=lidar_channels, require_hsi="hsi" in modalities)
    try:
        cubes = [lazy.cube(m) for m in modalities]
        values = sum(int(np.prod(c.shape)) for c in cubes if c is not None)
    finally:
        lazy.close()
    need = in_memory_mb(FIT_IN_MEMORY_COST, values)
    if need <= budget:
        rank_zero_info(f"Scene {scene}: loaded in memory ({under_budget(need, budget, budget_mb is not None)}).")
        return None
    return over_budget(need, budget, budget_mb is not None, FIT_IN_MEMORY_COST, values)


def serve_labelled(lazy: LazyScene, scene: Scene, modalities: tuple[str, ...], index: np.ndarray, patch_size: int,
                   nodata: float | None, mode: Normalization, training: dict[str, NormStats] | None,
                   check: bool, declared: NodataSource | None = None,
                   ) -> tuple[dict[str, LabelledGatherer], dict[str, NormStats]]:
    """Gatherers and normalisation statistics of the served modalities from windows of the card's rasters.

    `index`: the sorted flat pixels to serve (train, val and test); `training`: the checkpoint's statistics
    (used instead of the scene's own; one pass fewer); `check`: the band checks of the in-memory path (NaN/inf
    refused, labelled nodata refused, nodata count logged, outlier bands warned); `declared`: where the nodata value
    was declared (mmlgnet.data.scenes.labelled_nodata's message).
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
                             int(np.prod(source.shape)), None if declared is None else declared.shown_all)
        stats[name] = training[name] if training is not None else norm_stats_from(band, mode)
        try:
            table, patch = gather_patches(source, index, patch_size, stats[name], nodata, where,
                                          labels=scene.labels if check else None)  # (U, C), (N, P²)
        except LabelledNodataFound as e:  # the message `check` and the in-memory path give
            raise labelled_nodata_error(scene, name, e.hits, e.first, source_of(scene, nodata or 0.0, declared)) from None
        gatherers[name] = g = LabelledGatherer(torch.from_numpy(table), torch.from_numpy(patch),
                                               torch.from_numpy(index), patch_size)
        rank_zero_info(f"{where}: the {len(index):,} labelled pixels' {name} patches gathered by windows: "
                       f"{len(table):,} distinct pixels, {g.nbytes / 2**20:,.0f} MiB (the {name} cube would take "
                       f"{np.prod(source.shape) * 4 / 2**20:,.0f} MiB).")
    return gatherers, stats
