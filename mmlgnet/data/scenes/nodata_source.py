"""Where the nodata value in force was declared (card, option or raster metadata), and as what: for messages.

The pipeline compares finite values only, so a raster whose metadata declares NaN as nodata gets its NaN entries
replaced by a finite stand-in (mmlgnet.data.scenes.card_load.NAN_FILL) when nothing else is declared. Messages must
show what the user declared (NaN, not the stand-in) and a fix that applies to where they declared it: this
record carries both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["NodataSource", "option_source"]

Kind = Literal["option", "card", "raster", "scene"]  # "scene": a Scene built with a nodata but no record


@dataclass(frozen=True)
class NodataSource:
    """The nodata value in force, how the user declared it and where.

    `value`: the finite value the arrays are compared with (the stand-in for NaN); `declared`: the user's own
    value (NaN kept); `files`: the card (kind "card") or the rasters whose metadata declares it (kind "raster"),
    none for the option; `nan_files`: other rasters whose metadata declares NaN, whose NaN entries were replaced
    by `value` too.
    """

    kind: Kind
    value: float
    declared: float
    files: tuple[Path, ...] = ()
    nan_files: tuple[Path, ...] = ()

    @property
    def shown(self) -> str:
        """The user's value as they would write it: "NaN" for NaN, else the number (`:g`)."""
        return "NaN" if math.isnan(self.declared) else f"{self.declared:g}"

    def _files(self) -> str:
        return ", ".join(str(p) for p in self.files)

    def origin(self) -> str:
        """Where the value comes from, e.g. "--data.nodata" or "`nodata: -9999` in the card /x/scene.yaml"."""
        if self.kind == "option":
            text = "--data.nodata"
        elif self.kind == "card":
            text = f"`nodata: {self.shown}` in the card {self._files()}"
        elif self.kind == "raster":
            text = f"the nodata tag of {self._files()}"
        else:
            text = "the scene's nodata"
        if self.nan_files:
            text += f"; also the NaN entries of {', '.join(str(p) for p in self.nan_files)} (nodata tag NaN)"
        return text

    def fix(self) -> str:
        """The rest of a "relabel the pixels" sentence: how else to fix it, for where the value was declared."""
        if math.isnan(self.declared):
            return " or fill the NaN entries (e.g. interpolate): NaN is not a measurement"
        real = f"if {self.shown} is a real measurement"
        if self.kind == "option":
            return f", fill the values, or drop --data.nodata {real}"
        if self.kind == "card":
            return f", fill the values, or remove `nodata:` from the card {self._files()} {real}"
        if self.kind == "scene":
            return f", fill the values, or declare no nodata for the scene {real}"
        return (f", fill the values, or fix the nodata tag of {self._files()} {real} (GDAL: "
                f"`gdal_edit.py -unsetnodata FILE`; ENVI: the header's `data ignore value`)")


def option_source(value: float) -> NodataSource:
    """--data.nodata VALUE (finite: the option is checked at construction). NaN entries of NaN-tagged rasters
    are not replaced by it (card_load uses the card's or the rasters' value), so none are listed."""
    return NodataSource("option", float(value), float(value))
