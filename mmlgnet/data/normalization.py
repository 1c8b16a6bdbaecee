"""Per-band normalisation with an optional nodata value, and the check for bands whose statistics are outlier-ruled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mmlgnet.errors import ConfigError

Normalization = Literal["standard", "minmax", "none"]
NORMALIZATIONS: tuple[str, ...] = ("standard", "minmax", "none")

OUTLIER_SPREADS = 1e3  # a value this many robust spreads from the band's median rules its mean and std
_SAMPLE = 50_000  # pixels per band the median and the spread are estimated from (a fixed stride: deterministic)
_BLOCK = 4_000_000  # entries per block of rows in the float64 statistics


def nodata_mask(cube: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W, C) bool: the entries equal to `nodata`, compared in the cube's dtype (float32 1e30 != 1e30)."""
    if nodata is None:
        return np.zeros(cube.shape, dtype=bool)
    return cube == np.asarray(nodata, dtype=cube.dtype)


@dataclass(frozen=True)
class BandStats:
    """Per-band statistics of the entries that are not nodata, each (C,) float64."""

    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray


def _row_blocks(cube: np.ndarray) -> list[slice]:
    """Row ranges of ~4 M entries: float64 temporaries of one block, not of the whole cube (Houston: 96 M)."""
    h, w, c = cube.shape
    step = max(1, _BLOCK // max(1, w * c))
    return [slice(r, min(h, r + step)) for r in range(0, h, step)]


def band_stats(cube: np.ndarray, nodata: float | None = None, with_std: bool = True) -> BandStats:
    """Count, mean, std, min and max of each band of a (H, W, C) cube over the entries that are not `nodata`.

    Accumulated in float64 by blocks of rows (a float32 variance of a 1e30 value overflows to inf); the
    std is two-pass (sum of squared deviations from the mean), as stable as numpy's, and skipped (zeros)
    without `with_std`. A band with no valid entry gets count 0 and zeros elsewhere.
    """
    x = np.asarray(cube)
    c = x.shape[2]
    blocks = [(x[rows].reshape(-1, c), nodata_mask(x[rows], nodata).reshape(-1, c) if nodata is not None else None)
              for rows in _row_blocks(x)]  # views (N_block, C) and their nodata masks
    count, total = np.zeros(c), np.zeros(c)
    lo, hi = np.full(c, np.inf), np.full(c, -np.inf)
    for block, bad in blocks:
        if bad is None:
            count += block.shape[0]
            total += block.sum(0, dtype=np.float64)
            lo, hi = np.minimum(lo, block.min(0)), np.maximum(hi, block.max(0))
        else:
            count += block.shape[0] - bad.sum(0)
            total += np.where(bad, 0.0, block).sum(0, dtype=np.float64)
            lo = np.minimum(lo, np.where(bad, np.inf, block).min(0))
            hi = np.maximum(hi, np.where(bad, -np.inf, block).max(0))
    mean = total / np.maximum(count, 1)
    squares = np.zeros(c)
    for block, bad in blocks if with_std else []:
        dev = block.astype(np.float64) - mean  # (N_block, C)
        if bad is not None:
            dev[bad] = 0.0
        squares += np.einsum("nc,nc->c", dev, dev)
    empty = count == 0
    return BandStats(count, mean, np.sqrt(squares / np.maximum(count, 1)),
                     np.where(empty, 0.0, lo), np.where(empty, 0.0, hi))


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


def norm_stats(cube: np.ndarray, mode: Normalization = "standard", nodata: float | None = None) -> NormStats:
    """Per-band normalisation statistics of a (H, W, C) cube over ALL its pixels that are not `nodata`.

    `standard`: centre mean, spread std; `minmax`: centre min, spread max - min (the community's usual
    choice); `none`: 0 and 1. The statistics use every pixel, labelled or not, and never the labels: the
    transductive convention of HSI papers, stated in the README. A zero spread (constant band) becomes 1.
    """
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
    st = band_stats(np.asarray(cube, dtype=np.float32), nodata)
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
    mask = nodata_mask(x, nodata)
    if stats is None:
        if mode not in NORMALIZATIONS:
            raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
        if mode == "none" and not mask.any():
            return x
        stats = norm_stats(x, mode, nodata)
    out = ((x - stats.centre.astype(np.float32)) / stats.spread.astype(np.float32)).astype(np.float32)  # (H, W, C)
    if mask.any():
        out[mask] = np.broadcast_to(stats.fill.astype(np.float32), x.shape)[mask]
    return out


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


def outlier_bands(cube: np.ndarray, nodata: float | None = None, ratio: float = OUTLIER_SPREADS) -> list[OutlierBand]:
    """Bands of a (H, W, C) cube whose mean and std would be ruled by a few extreme values.

    A band is flagged when its minimum or maximum lies more than `ratio` robust spreads from its median
    (spread = 1.4826 * MAD, or IQR / 1.349 when the MAD is 0; bands with neither, e.g. mostly one value, are
    not judged). Z-scoring such a band squeezes every ordinary pixel into a sliver around one value; the
    usual cause is a fill value (1e30, -9999) that `--data.nodata` should name. Entries equal to `nodata`
    are ignored. The median and spread come from a fixed-stride sample of the pixels, the extremes from all.
    """
    x = np.asarray(cube)
    h, w, c = x.shape
    st = band_stats(x, nodata, with_std=False)
    flat = x.reshape(-1, c)  # (H * W, C)
    picked = flat[:: max(1, (h * w) // _SAMPLE)]  # (N_sample, C)
    sample = np.ascontiguousarray(np.where(nodata_mask(picked, nodata), np.nan, picked).T, dtype=np.float64)  # (C, N)
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
