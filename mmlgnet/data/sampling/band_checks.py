"""Checks of a modality's cube before normalisation: labelled nodata pixels (refused) and outlier-ruled bands (warned)."""

from __future__ import annotations

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from mmlgnet.data.sampling.normalization import (
    NAN_FILL,
    BandStats,
    OutlierBand,
    outlier_bands_sampled,
)
from mmlgnet.data.sampling.scan import CubeScan
from mmlgnet.data.scenes.labelled_nodata import check_labelled_nodata
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene


def check_scan(s: Scene, name: str, cube: np.ndarray, scan: CubeScan, nodata: float | None,
               source: NodataSource | None = None) -> None:
    """Refuse labelled pixels holding `nodata` (the rule of mmlgnet.data.scenes.labelled_nodata, as `check` applies
    it; `source`: where the value was declared, for the message); warn (once per modality) about outlier-ruled bands.

    From the cube's scan (mmlgnet.data.sampling.scan): its nodata pixels, statistics and outlier sample, so the
    cube is not compared with the nodata value again.
    """
    check_labelled_nodata(s, name, scan.void, nodata, source)
    flagged = outlier_bands_sampled(scan.stats, scan.sample, nodata, bad=scan.sample_bad)
    report_bands(s.source(name), name, scan.stats, flagged, nodata, cube.shape[0] * cube.shape[1] * cube.shape[2],
                 None if source is None else source.shown_all)


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
