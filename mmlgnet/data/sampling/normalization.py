"""Per-band normalisation with an optional nodata value, and the check for bands whose statistics are outlier-ruled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mmlgnet.errors import ConfigError

Normalization = Literal["standard", "minmax", "none"]
NORMALIZATIONS: tuple[str, ...] = ("standard", "minmax", "none")

OUTLIER_SPREADS = 1e3  # a value this many robust spreads from the band's median rules its mean and std
# Pixels per band the outlier check's median and spread are estimated from: every sample_stride(H * W)-th pixel
# (a fixed stride: deterministic). Shared by the in-memory check (outlier_bands), the one-pass scan
# (mmlgnet.data.sampling.scan) and the windowed statistics (mmlgnet.data.sampling.labelled), so all three sample
# the same pixels; read at call time (tests shrink it).
SAMPLE_PIXELS = 50_000
_BLOCK = 4_000_000  # entries per block of rows in the float64 statistics


# What the NaN entries of a raster whose nodata tag is NaN become when it is read (card_load, lazy_scene): the
# pipeline compares finite values only. Such entries are nodata whatever value is in force (the card's, the
# rasters', --data.nodata): nodata_mask always counts NAN_FILL as nodata, so a NaN never enters band statistics
# or patches as data. Internal: messages show NaN (mmlgnet.data.scenes.nodata_source), never this number.
NAN_FILL = -3.0e38


def nodata_mask(cube: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W, C) bool: the entries equal to `nodata` or to NAN_FILL (NaN read from a NaN-tagged raster), compared
    in the cube's dtype (float32 1e30 != 1e30). None: no nodata in force (then no NaN-tagged raster was read)."""
    if nodata is None:
        return np.zeros(cube.shape, dtype=bool)
    mask = cube == np.asarray(nodata, dtype=cube.dtype)
    if cube.dtype.kind == "f" and nodata != NAN_FILL:
        mask |= cube == np.asarray(np.float32(NAN_FILL), dtype=cube.dtype)
    return mask


def nodata_pixels(cube: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W) bool: pixels where some band of the (H, W, C) cube equals `nodata`, found by blocks of rows
    (no (H, W, C) mask: a quarter of a float32 cube's bytes)."""
    h, w, c = cube.shape
    void = np.zeros((h, w), dtype=bool)
    if nodata is not None:
        step = block_rows(w, c)
        for r in range(0, h, step):
            void[r:r + step] = nodata_mask(cube[r:r + step], nodata).any(axis=2)
    return void


@dataclass(frozen=True)
class BandStats:
    """Per-band statistics of the entries that are not nodata, each (C,) float64."""

    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray


def block_rows(width: int, channels: int) -> int:
    """Rows per block of ~_BLOCK entries: the statistics' unit of work, in memory and by windows alike."""
    return max(1, _BLOCK // max(1, width * channels))


def sample_stride(pixels: int) -> int:
    """The outlier sample's stride for a cube of `pixels` = H * W pixels: pixels 0, s, 2s, ... (flat, row-major)."""
    return max(1, pixels // SAMPLE_PIXELS)


def row_blocks(shape: tuple[int, ...]) -> list[slice]:
    """The row ranges of ~_BLOCK entries an (H, W, C) cube of `shape` is processed by: float64 temporaries of one
    block, not of the whole cube (Houston: 96 M entries). The statistics' unit of work in memory (band_stats,
    normalize_into), in one scan (mmlgnet.data.sampling.scan) and by windows alike: the same blocks give the
    same bits."""
    h, w, c = shape[0], shape[1], shape[2]
    step = block_rows(w, c)
    return [slice(r, min(h, r + step)) for r in range(0, h, step)]


def _blocks(x: np.ndarray, nodata: float | None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(N_block, C) views of a (H, W, C) cube by row blocks, with their nodata masks (None without nodata).

    A generator: one block's mask at a time (a list of them all would hold a whole-cube mask, 1/4 of a
    float32 cube's bytes, for the whole pass).
    """
    c = x.shape[2]
    for rows in row_blocks(x.shape):
        block = x[rows]
        yield block.reshape(-1, c), nodata_mask(block, nodata).reshape(-1, c) if nodata is not None else None


class Moments:
    """Per-band count, mean, sum of squared deviations (M2), min and max, accumulated block by block.

    One pass: each block's float64 mean and M2 (two-pass within the block) are merged into the running ones
    with Chan et al.'s pairwise update, as stable as a two-pass std over the whole cube (a float32 variance
    of a 1e30 value would overflow). The in-memory cube (band_stats) and windows read from disk
    (mmlgnet.data.sampling.labelled) feed the same row blocks, so both give the same statistics bit for bit.
    """

    def __init__(self, channels: int, with_std: bool = True) -> None:
        self.count, self.mean, self.m2 = np.zeros(channels), np.zeros(channels), np.zeros(channels)
        self.lo, self.hi = np.full(channels, np.inf), np.full(channels, -np.inf)
        self.with_std = with_std

    def add(self, block: np.ndarray, bad: np.ndarray | None) -> None:
        """block: (N, C) values; bad: (N, C) True where nodata (left out), or None.

        Sums run over axis 0 of C-ordered arrays (row after row: an order independent of memory alignment)
        so that the same block gives the same bits however it was read (a band-interleaved window is not C-ordered).
        """
        block = np.ascontiguousarray(block)
        if bad is None:
            n_b = np.full(block.shape[1], float(block.shape[0]))
            mean_b = block.sum(0, dtype=np.float64) / max(1, block.shape[0])
            self.lo, self.hi = np.minimum(self.lo, block.min(0)), np.maximum(self.hi, block.max(0))
        else:
            n_b = block.shape[0] - bad.sum(0)
            mean_b = np.where(bad, 0.0, block).sum(0, dtype=np.float64) / np.maximum(n_b, 1)
            self.lo = np.minimum(self.lo, np.where(bad, np.inf, block).min(0))
            self.hi = np.maximum(self.hi, np.where(bad, -np.inf, block).max(0))
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / np.maximum(total, 1)
        if self.with_std:
            dev = block.astype(np.float64) - mean_b  # (N, C)
            if bad is not None:
                dev[bad] = 0.0
            np.square(dev, out=dev)  # a sum over axis 0, not einsum: einsum's order depends on memory alignment
            self.m2 = self.m2 + dev.sum(0) + delta**2 * self.count * n_b / np.maximum(total, 1)
        self.count = total

    def result(self) -> BandStats:
        empty = self.count == 0
        return BandStats(self.count, np.where(empty, 0.0, self.mean), np.sqrt(self.m2 / np.maximum(self.count, 1)),
                         np.where(empty, 0.0, self.lo), np.where(empty, 0.0, self.hi))


def band_stats(cube: np.ndarray, nodata: float | None = None, with_std: bool = True) -> BandStats:
    """Count, mean, std, min and max of each band of a (H, W, C) cube over the entries that are not `nodata`.

    One pass by blocks of rows (Moments), float64; the std is skipped (zeros) without `with_std`. A band
    with no valid entry gets count 0 and zeros elsewhere. Memory: the cube plus one block's float64
    temporaries (no copy of the cube, no whole-cube mask).
    """
    x = np.asarray(cube)
    moments = Moments(x.shape[2], with_std)
    for block, bad in _blocks(x, nodata):
        moments.add(block, bad)
    return moments.result()


@dataclass(frozen=True)
class NormStats:
    """What normalising one modality needs, each (C,) float64: out = (x - centre) / spread, nodata -> fill.

    Computed on the training scene and stored in the checkpoint (the datamodule's state_dict), so that a
    model applied to another scene sees that scene in the units it was trained on.
    """

    mode: str
    centre: np.ndarray
    spread: np.ndarray  # > 0 (a constant band gets 1)
    fill: np.ndarray  # the band mean, normalised: what nodata entries become

    @property
    def bands(self) -> int:
        return int(self.centre.shape[0])

    def to_state(self) -> dict[str, Any]:
        """Plain lists (exact float64 round trip; loadable by torch.load(weights_only=True))."""
        return {"mode": self.mode, "centre": self.centre.tolist(), "spread": self.spread.tolist(),
                "fill": self.fill.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NormStats:
        return cls(str(state["mode"]), *(np.asarray(state[k], dtype=np.float64) for k in ("centre", "spread", "fill")))

    def same_as(self, other: NormStats) -> bool:
        return self.mode == other.mode and all(
            np.array_equal(a, b) for a, b in zip((self.centre, self.spread, self.fill),
                                                 (other.centre, other.spread, other.fill), strict=True))


def norm_stats(cube: np.ndarray, mode: Normalization = "standard", nodata: float | None = None,
               band: BandStats | None = None) -> NormStats:
    """Per-band normalisation statistics of a (H, W, C) cube over ALL its pixels that are not `nodata`.

    `standard`: centre mean, spread std; `minmax`: centre min, spread max - min (the community's usual
    choice); `none`: 0 and 1. The statistics use every pixel, labelled or not, and never the labels: the
    transductive convention of HSI papers, stated in the README. A zero spread (constant band) becomes 1.
    `band`: the cube's band_stats when already computed (one pass over the scene, not two).
    """
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
    st = band if band is not None else band_stats(np.asarray(cube, dtype=np.float32), nodata)
    return norm_stats_from(st, mode)


def norm_stats_from(st: BandStats, mode: Normalization = "standard") -> NormStats:
    """norm_stats from a cube's band_stats (e.g. gathered by windows: mmlgnet.data.sampling.labelled)."""
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
    if mode == "standard":
        centre, spread = st.mean, st.std
    elif mode == "minmax":
        centre, spread = st.min, st.max - st.min
    else:
        centre, spread = np.zeros_like(st.mean), np.ones_like(st.mean)
    spread = np.where(spread > 0, spread, 1.0)
    return NormStats(mode, centre, spread, (st.mean - centre) / spread)


def normalize_bands(cube: np.ndarray, mode: Normalization = "standard", nodata: float | None = None,
                    stats: NormStats | None = None) -> np.ndarray:
    """Normalise each band of a (H, W, C) cube: with `stats` (e.g. a training scene's) or its own (norm_stats).

    `nodata`: entries equal to it are left out of the statistics and replaced by the band's mean (0 after
    z-scoring; with `stats`, the training scene's mean) before patches are cut, so a fill value neither
    skews the band nor feeds the network; a band with nothing but nodata maps to 0.
    """
    x = np.asarray(cube, dtype=np.float32)
    if stats is None:
        if mode not in NORMALIZATIONS:
            raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
        if mode == "none" and not any(bad is not None and bad.any() for _, bad in _blocks(x, nodata)):
            return x
        stats = norm_stats(x, mode, nodata)
    out = np.empty(x.shape, dtype=np.float32)  # (H, W, C)
    normalize_into(x, stats, nodata, out)
    return out


def normalize_into(cube: np.ndarray, stats: NormStats, nodata: float | None, out: np.ndarray,
                   masks: list[np.ndarray | None] | None = None) -> None:
    """Write the normalised (H, W, C) `cube` into `out` (a float32 (H, W, C) array or view), by blocks of rows.

    (x - centre) / spread in float32, nodata entries -> stats.fill: the same float32 operations as one
    whole-cube expression (bit-identical), but the only full-size array is `out` (e.g. the interior of the
    preallocated padded scene, patches.normalized_padded): no whole-cube temporaries or masks. `masks`: the row
    blocks' nodata masks when a scan already built them (mmlgnet.data.sampling.scan.CubeScan.masks): not rebuilt.
    """
    centre, spread = stats.centre.astype(np.float32), stats.spread.astype(np.float32)  # (C,)
    fill = stats.fill.astype(np.float32)
    for i, rows in enumerate(row_blocks(out.shape)):
        x = np.asarray(cube[rows], dtype=np.float32)  # (h, W, C): a view for float32 cubes
        o = out[rows]
        if masks is not None:
            bad = masks[i] if nodata is not None else None  # (h, W, C) or None: the scan found no nodata here
        else:
            bad = nodata_mask(x, nodata) if nodata is not None else None  # (h, W, C)
        if bad is not None and not bad.any():
            bad = None
        np.subtract(x, centre, out=o)
        if bad is not None:
            o[bad] = 0.0  # NAN_FILL / spread would overflow (a RuntimeWarning): these entries are replaced anyway
        np.divide(o, spread, out=o)
        if bad is not None:
            o[bad] = np.broadcast_to(fill, o.shape)[bad]


@dataclass(frozen=True)
class OutlierBand:
    """A band whose extreme value lies `spreads` robust spreads from its median."""

    band: int  # 0-based
    value: float  # the extreme value
    median: float
    spreads: float

    def describe(self) -> str:
        return (f"band {self.band} (0-based): value {self.value:.4g} lies {self.spreads:.3g} robust spreads "
                f"from the median {self.median:.4g}")


def outlier_bands(cube: np.ndarray, nodata: float | None = None, ratio: float = OUTLIER_SPREADS,
                  band: BandStats | None = None) -> list[OutlierBand]:
    """Bands of a (H, W, C) cube whose mean and std would be ruled by a few extreme values.

    A band is flagged when its minimum or maximum lies more than `ratio` robust spreads from its median
    (spread = 1.4826 * MAD, or IQR / 1.349 when the MAD is 0; bands with neither, e.g. mostly one value, are
    not judged). Z-scoring such a band squeezes every ordinary pixel into a sliver around one value; the
    usual cause is a fill value (1e30, -9999) that `--data.nodata` should name. Entries equal to `nodata`
    are ignored. The median and spread come from a fixed-stride sample of the pixels, the extremes from all
    (`band`: the cube's band_stats when already computed, so the scene is not read twice).
    """
    x = np.asarray(cube)
    h, w, c = x.shape
    st = band if band is not None else band_stats(x, nodata, with_std=False)
    flat = x.reshape(-1, c)  # (H * W, C)
    return outlier_bands_sampled(st, flat[:: sample_stride(h * w)], nodata, ratio)


def outlier_bands_sampled(st: BandStats, picked: np.ndarray, nodata: float | None = None,
                          ratio: float = OUTLIER_SPREADS, bad: np.ndarray | None = None) -> list[OutlierBand]:
    """outlier_bands from the cube's band_stats and its fixed-stride pixel sample (N_sample, C): the rule
    without the cube, for statistics gathered by windows (mmlgnet.data.sampling.labelled) or in one scan
    (mmlgnet.data.sampling.scan; `bad`: the sample's nodata mask, already built there)."""
    c = picked.shape[1]
    if bad is None:
        bad = nodata_mask(picked, nodata)  # (N, C)
    sample = np.ascontiguousarray(np.where(bad, np.nan, picked).T, dtype=np.float64)  # (C, N)
    found = []
    for b in range(c):
        values = sample[b][~np.isnan(sample[b])]
        if st.count[b] < 3 or values.size == 0:
            continue
        median = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - median)))
        if spread == 0:
            q1, q3 = np.percentile(values, [25, 75])
            spread = float(q3 - q1) / 1.349
        if spread == 0:
            continue
        lo, hi = float(st.min[b]), float(st.max[b])
        value = hi if hi - median >= median - lo else lo
        spreads = abs(value - median) / spread
        if spreads > ratio:
            found.append(OutlierBand(b, value, median, spreads))
    return found
