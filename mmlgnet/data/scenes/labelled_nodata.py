"""The labelled-nodata rule: a labelled pixel must not hold the nodata value in a band it is classified from.

One validation for `python -m mmlgnet.data check` and every command: the in-memory path (band_checks.check_scan:
fit, validate, test and predict) and `check` call `check_labelled_nodata` with the cube's nodata pixels, found
once (`scene_void` then reuses them for the prediction map and `check`'s nodata share); the windowed path
(mmlgnet.data.sampling.labelled) finds the pixels while it gathers their patches, raises `LabelledNodataFound`, and
`labelled_nodata_error` turns that into the same message. (Streaming prediction reads no labels: nothing to
check there.) The message shows the value as the user declared it (NaN, not the finite stand-in the arrays
hold) and a fix for where it was declared (option, card or raster metadata: NodataSource).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.normalization import nodata_pixels
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene

__all__ = ["LabelledNodataFound", "check_labelled_nodata", "check_scene_nodata", "labelled_nodata_error", "scene_void",
           "source_of"]


class LabelledNodataFound(DataError):
    """Found by a reader that lacks the scene's context (the windowed gather): the count and the first pixel.

    The caller that has the scene turns it into the user's message with `labelled_nodata_error`.
    """

    def __init__(self, hits: int, first: tuple[int, int]) -> None:
        super().__init__(f"{hits} labelled pixel(s) hold the nodata value, first at (row, col) {first}")
        self.hits, self.first = hits, first


def source_of(scene: Scene, nodata: float, source: NodataSource | None = None) -> NodataSource:
    """The declaration of `nodata`: `source` when given, else the scene's own when it is that value."""
    if source is not None:
        return source
    own = scene.nodata_source
    if own is not None and own.value == nodata:
        return own
    return NodataSource("scene", float(nodata), float(nodata))


def _label_file(scene: Scene, row: int, col: int) -> str:
    """The label file that labels pixel (row, col): the train or test map holding it, else the ground truth."""
    for role, m in (("train", scene.train_map), ("test", scene.test_map)):
        if m is not None and m[row, col] > 0:
            return scene.source(role)
    return scene.source("labels")


def labelled_nodata_error(scene: Scene, modality: str, hits: int, first: tuple[int, int],
                          source: NodataSource) -> DataError:
    """The one message of the rule: the file, how many pixels, the first, the value as declared and the fixes."""
    row, col = first
    k = int(scene.labels[row, col])
    name = f" ({scene.class_names[k - 1]!r})" if 1 <= k <= scene.num_classes else ""
    total = int(np.count_nonzero(scene.labels))
    every = (f"; that is every labelled pixel: check that {source.shown} is the fill value and that the "
             f"files are the right ones" if hits >= total else "")
    return DataError(
        f"{scene.source(modality)}: {hits} labelled pixel(s) (of {total}) hold the nodata value {source.shown} "
        f"({source.origin()}) in some {modality} band, first at (row, col) ({row}, {col}), class {k}{name}{every}. "
        f"They cannot be classified from missing data: set them to 0 (unlabelled) in {_label_file(scene, row, col)}"
        f"{source.fix()}.")


def check_labelled_nodata(scene: Scene, modality: str, void: np.ndarray | None, nodata: float | None,
                          source: NodataSource | None = None) -> None:
    """Refuse labelled pixels holding `nodata` in some band of the scene's `modality`, from that cube's (H, W)
    nodata pixels `void` (found once: mmlgnet.data.sampling.scan, or normalization.nodata_pixels for `check`)."""
    if nodata is None or void is None:
        return
    hit = void & (scene.labels > 0)  # (H, W)
    hits = int(hit.sum())
    if hits:
        row, col = np.argwhere(hit)[0]  # row-major: the first hit
        raise labelled_nodata_error(scene, modality, hits, (int(row), int(col)), source_of(scene, nodata, source))


def scene_void(scene: Scene, nodata: float | None, known: Mapping[str, np.ndarray | None] | None = None) -> np.ndarray:
    """(H, W) bool: the pixels where some HSI or LiDAR band equals `nodata` (never classified: 0 in the maps).

    The one owner of the rule for `check` (its nodata share) and the prediction map (mmlgnet.mapping.prediction);
    `known`: modality -> its (H, W) nodata pixels already found (fit's scan, mmlgnet.data.sampling.scan), so that
    a served cube is not compared again. The others are read by blocks of rows (no (H, W, C) mask).
    """
    void = np.zeros((scene.height, scene.width), dtype=bool)
    if nodata is None:
        return void
    for name, cube in (("hsi", scene.hsi), ("lidar", scene.lidar)):
        found = (known or {}).get(name)
        if found is not None:
            void |= found
        elif cube is not None:
            void |= nodata_pixels(cube, nodata)
    return void


def check_scene_nodata(scene: Scene, modalities: Sequence[str] = ("hsi", "lidar")) -> np.ndarray:
    """The rule on every present cube of the scene with its own nodata (what `check` runs; fit checks the
    cubes it serves, in the same order). Returns the scene's (H, W) nodata pixels (scene_void), found on the way:
    each cube is compared with the nodata value once."""
    cubes = {"hsi": scene.hsi, "lidar": scene.lidar}
    found: dict[str, np.ndarray | None] = {}
    for name in modalities:
        cube = cubes[name]
        if cube is not None and scene.nodata is not None:
            found[name] = nodata_pixels(cube, scene.nodata)  # (H, W)
            check_labelled_nodata(scene, name, found[name], scene.nodata, scene.nodata_source)
    return scene_void(scene, scene.nodata, found)
