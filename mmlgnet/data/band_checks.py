"""Checks of a modality's cube before normalisation: labelled nodata pixels (refused) and outlier-ruled bands (warned)."""

from __future__ import annotations

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.data.download import DataError
from mmlgnet.data.normalization import nodata_mask, outlier_bands
from mmlgnet.data.scene import Scene


def check_bands(s: Scene, name: str, cube: np.ndarray, nodata: float | None) -> None:
    """Refuse labelled pixels holding `nodata`; warn (once per modality) about outlier-ruled bands."""
    where = s.source(name)
    if nodata is not None:
        missing = nodata_mask(cube, nodata)  # (H, W, C)
        hit = missing.any(axis=2) & (s.labels > 0)  # (H, W)
        if hit.any():
            row, col = (int(i) for i in np.argwhere(hit)[0])
            raise DataError(
                f"{where}: {int(hit.sum())} labelled pixel(s) hold the nodata value {nodata:g} "
                f"(--data.nodata or the scene's nodata) in some {name} band, first at (row, col) ({row}, {col}), class "
                f"{s.labels[row, col]}; they cannot be classified from missing data. Set them to 0 "
                f"(unlabelled) in the label map, fill the values, or drop --data.nodata if "
                f"{nodata:g} is a real measurement."
            )
        if missing.any():
            rank_zero_info(f"{where}: {int(missing.sum())} {name} entries equal the nodata value {nodata:g}: "
                           f"left out of the band statistics and filled with the band mean.")
    flagged = outlier_bands(cube, nodata)
    if flagged:
        shown = "; ".join(b.describe() for b in flagged[:5]) + (f"; and {len(flagged) - 5} more" if len(flagged) > 5 else "")
        rank_zero_warn(
            f"{where}: {len(flagged)} of {cube.shape[2]} {name} band(s) have statistics ruled by outliers "
            f"({shown}). Normalising such a band squeezes all its other pixels into a sliver around one value. "
            f"If {flagged[0].value:.6g} is a fill value, pass --data.nodata {flagged[0].value:.6g}."
        )
