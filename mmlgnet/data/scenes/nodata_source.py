"""Where the nodata value in force was declared (card, option or raster metadata), and as what: for messages.

The pipeline compares finite values only, so a raster whose metadata declares NaN as nodata gets its NaN entries
replaced by a finite stand-in (mmlgnet.data.sampling.normalization.NAN_FILL), nodata whatever value is in force (the
card's, another raster's tag, --data.nodata); it is the value in force only when nothing else is declared.
Messages must show what the user declared (NaN, never the stand-in) and a fix that applies to where they
declared it: this record carries both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["NodataSource", "option_source", "recorded"]

Kind = Literal["option", "card", "raster", "scene"]  # "scene": a Scene built with a nodata but no record


@dataclass(frozen=True)
class NodataSource:
    """The nodata value in force, how the user declared it and where.

    `value`: the finite value the arrays are compared with (the stand-in for NaN); `declared`: the user's own
    value (NaN kept); `files`: the card (kind "card") or the rasters whose metadata declares it (kind "raster"),
    none for the option; `nan_files`: other rasters whose metadata declares NaN, whose NaN entries are nodata too.
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

    @property
    def shown_all(self) -> str:
        """Every value that marks nodata, as the user would write them: e.g. "-9999 or NaN"."""
        return f"{self.shown} or NaN" if self.nan_files and not math.isnan(self.declared) else self.shown

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


def option_source(value: float, scene: NodataSource | None = None) -> NodataSource:
    """--data.nodata VALUE (finite: the option is checked at construction) in force over the scene's own
    declaration `scene`: the NaN-tagged rasters of the scene stay nodata too, so they are listed."""
    nan: tuple[Path, ...] = ()
    if scene is not None:
        nan = (*(scene.files if math.isnan(scene.declared) else ()), *scene.nan_files)
    return NodataSource("option", float(value), float(value), (), tuple(dict.fromkeys(nan)))


def recorded(value: float | None, source: NodataSource | None) -> float | str | None:
    """The nodata value in force for a JSON record (split.json, test_metrics.json): as the user declared it, the
    number or "NaN" (strict JSON has no NaN), never the stand-in; None when there is none."""
    if source is None:
        return value
    return "NaN" if math.isnan(source.declared) else float(source.declared)
