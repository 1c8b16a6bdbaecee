"""Checks of a modality's cube before normalisation: labelled nodata pixels (refused) and outlier-ruled bands (warned)."""

from __future__ import annotations

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.data.download import DataError
from mmlgnet.data.normalization import BandStats, OutlierBand, band_stats, nodata_mask, outlier_bands
from mmlgnet.data.scene import Scene

_BLOCK_PIXELS = 1_000_000  # labelled-pixel check by blocks of rows: a block's mask, not a whole-cube one


def labelled_nodata(cube: np.ndarray, labels: np.ndarray, nodata: float) -> tuple[int, tuple[int, int] | None]:
    """How many labelled pixels (labels > 0) hold `nodata` in some band of the (H, W, C) cube, and the first one.

    Read by blocks of rows (row-major order, so the first hit is np.argwhere's first): no (H, W, C) mask.
    """
    h, w = labels.shape
    step = max(1, _BLOCK_PIXELS // max(1, w))
    hits, first = 0, None
    for r0 in range(0, h, step):
        rows = slice(r0, min(h, r0 + step))
        labelled = labels[rows] > 0  # (h_block, W)
        if not labelled.any():
            continue
        hit = np.zeros(labelled.shape, dtype=bool)
        hit[labelled] = nodata_mask(cube[rows][labelled], nodata).any(axis=1)  # (N_labelled, C) -> (N_labelled,)
        n = int(hit.sum())
        if n and first is None:
            row, col = np.argwhere(hit)[0]
            first = (int(row) + r0, int(col))
        hits += n
    return hits, first


def check_bands(s: Scene, name: str, cube: np.ndarray, nodata: float | None,
                band: BandStats | None = None) -> BandStats:
    """Refuse labelled pixels holding `nodata`; warn (once per modality) about outlier-ruled bands.

    Returns the cube's band_stats (computed here unless given as `band`): the normalisation statistics
    use them, so the scene is read once for both.
    """
    where = s.source(name)
    st = band if band is not None else band_stats(cube, nodata)
    if nodata is not None:
        hits, first = labelled_nodata(cube, s.labels, nodata)
        if first is not None:
            row, col = first
            raise DataError(
                f"{where}: {hits} labelled pixel(s) hold the nodata value {nodata:g} "
                f"(--data.nodata or the scene's nodata) in some {name} band, first at (row, col) ({row}, {col}), class "
                f"{s.labels[row, col]}; they cannot be classified from missing data. Set them to 0 "
                f"(unlabelled) in the label map, fill the values, or drop --data.nodata if "
                f"{nodata:g} is a real measurement."
            )
    report_bands(where, name, st, outlier_bands(cube, nodata, band=st), nodata, cube.shape[0] * cube.shape[1] * cube.shape[2])
    return st


def report_bands(where: str, name: str, st: BandStats, flagged: list[OutlierBand], nodata: float | None,
                 entries: int) -> None:
    """Log how many entries are nodata and warn about outlier-ruled bands (`entries`: H * W * C)."""
    missing = int(entries - st.count.sum())
    if nodata is not None and missing:
        rank_zero_info(f"{where}: {missing} {name} entries equal the nodata value {nodata:g}: "
                       f"left out of the band statistics and filled with the band mean.")
    if flagged:
        shown = "; ".join(b.describe() for b in flagged[:5]) + (f"; and {len(flagged) - 5} more" if len(flagged) > 5 else "")
        rank_zero_warn(
            f"{where}: {len(flagged)} of {len(st.count)} {name} band(s) have statistics ruled by outliers "
            f"({shown}). Normalising such a band squeezes all its other pixels into a sliver around one value. "
            f"If {flagged[0].value:.6g} is a fill value, pass --data.nodata {flagged[0].value:.6g}."
        )
