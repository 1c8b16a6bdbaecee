"""Per-band normalisation with an optional nodata value, and the check for bands whose statistics are outlier-ruled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mmlgnet.errors import ConfigError

Normalization = Literal["standard", "minmax", "none"]
NORMALIZATIONS: tuple[str, ...] = ("standard", "minmax", "none")

OUTLIER_SPREADS = 1e3  # a value this many robust spreads from the band's median rules its mean and std
_SAMPLE = 200_000  # pixels per band the median and the spread are estimated from (a fixed stride: deterministic)


def nodata_mask(cube: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W, C) bool: the entries equal to `nodata`, compared in the cube's dtype (float32 1e30 != 1e30)."""
    if nodata is None:
        return np.zeros(cube.shape, dtype=bool)
    return cube == np.asarray(nodata, dtype=cube.dtype)


def normalize_bands(cube: np.ndarray, mode: Normalization = "standard", nodata: float | None = None) -> np.ndarray:
    """Normalise each band of a (H, W, C) cube with statistics over ALL pixels of the scene.

    `standard`: (x - mean_c) / std_c; `minmax`: (x - min_c) / (max_c - min_c) (the community's usual
    choice); `none`: unchanged. The statistics use every pixel, labelled or not, and never the labels:
    this is the transductive convention of HSI papers, stated in the README. Constant bands map to 0.
    Statistics are accumulated in float64 (a float32 variance of a 1e30 value overflows to inf).

    `nodata`: entries equal to it are left out of their band's statistics and replaced by the band's mean
    (0 after z-scoring) before patches are cut, so a fill value neither skews the band nor feeds the
    network; a band with nothing but nodata maps to 0.
    """
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"--data.normalization {mode!r}: use one of {NORMALIZATIONS}.")
    x = np.asarray(cube, dtype=np.float32)
    mask = nodata_mask(x, nodata)
    if mode == "none" and not mask.any():
        return x
    out = np.empty(x.shape, dtype=np.float32)
    for c in range(x.shape[2]):  # one band at a time: float64 temporaries of one band, not of the cube
        band = x[:, :, c].astype(np.float64)  # (H, W)
        valid = band[~mask[:, :, c]]  # (N_valid,)
        if valid.size == 0:
            out[:, :, c] = 0.0
            continue
        mean = valid.mean()
        if mode == "standard":
            centre, spread = mean, valid.std()
        elif mode == "minmax":
            centre, spread = valid.min(), np.ptp(valid)
        else:
            centre, spread = 0.0, 1.0
        spread = spread if spread > 0 else 1.0
        band[mask[:, :, c]] = mean
        out[:, :, c] = (band - centre) / spread
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
    mask = nodata_mask(x, nodata)
    found = []
    for c in range(x.shape[2]):
        valid = x[:, :, c][~mask[:, :, c]].astype(np.float64)  # (N_valid,)
        if valid.size < 3:
            continue
        sample = valid[:: max(1, valid.size // _SAMPLE)]
        median = float(np.median(sample))
        spread = 1.4826 * float(np.median(np.abs(sample - median)))
        if spread == 0:
            q1, q3 = np.percentile(sample, [25, 75])
            spread = float(q3 - q1) / 1.349
        if spread == 0:
            continue
        lo, hi = float(valid.min()), float(valid.max())
        value = hi if hi - median >= median - lo else lo
        spreads = abs(value - median) / spread
        if spreads > ratio:
            found.append(OutlierBand(c, value, median, spreads))
    return found
