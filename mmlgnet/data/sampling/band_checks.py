"""Checks of a modality's cube before normalisation: labelled nodata pixels (refused) and outlier-ruled bands (warned)."""

from __future__ import annotations

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.data.sampling.normalization import NAN_FILL, BandStats, OutlierBand, band_stats, outlier_bands
from mmlgnet.data.scenes.labelled_nodata import check_labelled_nodata
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene


def check_bands(s: Scene, name: str, cube: np.ndarray, nodata: float | None,
                band: BandStats | None = None, source: NodataSource | None = None) -> BandStats:
    """Refuse labelled pixels holding `nodata` (the rule of mmlgnet.data.scenes.labelled_nodata, as `check` applies
    it; `source`: where the value was declared, for the message); warn (once per modality) about outlier-ruled
    bands.

    Returns the cube's band_stats (computed here unless given as `band`): the normalisation statistics
    use them, so the scene is read once for both.
    """
    where = s.source(name)
    st = band if band is not None else band_stats(cube, nodata)
    check_labelled_nodata(s, name, cube, nodata, source)
    report_bands(where, name, st, outlier_bands(cube, nodata, band=st), nodata,
                 cube.shape[0] * cube.shape[1] * cube.shape[2], None if source is None else source.shown_all)
    return st


def report_bands(where: str, name: str, st: BandStats, flagged: list[OutlierBand], nodata: float | None,
                 entries: int, shown: str | None = None) -> None:
    """Log how many entries are nodata and warn about outlier-ruled bands (`entries`: H * W * C; `shown`: the
    nodata values as the user declared them, e.g. "NaN" or "-9999 or NaN": never the finite stand-in of NaN)."""
    missing = int(entries - st.count.sum())
    if nodata is not None and missing:
        shown = shown or ("NaN" if nodata == NAN_FILL else f"{nodata:g}")
        rank_zero_info(f"{where}: {missing} {name} entries equal the nodata value {shown}: "
                       f"left out of the band statistics and filled with the band mean.")
    if flagged:
        shown = "; ".join(b.describe() for b in flagged[:5]) + (f"; and {len(flagged) - 5} more" if len(flagged) > 5 else "")
        rank_zero_warn(
            f"{where}: {len(flagged)} of {len(st.count)} {name} band(s) have statistics ruled by outliers "
            f"({shown}). Normalising such a band squeezes all its other pixels into a sliver around one value. "
            f"If {flagged[0].value:.6g} is a fill value, pass --data.nodata {flagged[0].value:.6g}."
        )
