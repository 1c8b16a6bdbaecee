"""The labelled-nodata rule: a labelled pixel must not hold the nodata value in a band it is classified from.

One validation for `python -m mmlgnet.data check` and every command: the in-memory path (band_checks.check_bands:
fit, validate, test and predict) and `check` call `check_labelled_nodata`; the windowed path
(mmlgnet.data.sampling.labelled) finds the pixels while it gathers their patches, raises `LabelledNodataFound`, and
`labelled_nodata_error` turns that into the same message. (Streaming prediction reads no labels: nothing to
check there.) The message shows the value as the user declared it (NaN, not the finite stand-in the arrays
hold) and a fix for where it was declared (option, card or raster metadata: NodataSource).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.normalization import nodata_mask
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.scenes.scene import Scene

__all__ = ["LabelledNodataFound", "check_labelled_nodata", "check_scene_nodata", "find_labelled_nodata",
           "labelled_nodata_error", "source_of"]

_BLOCK_PIXELS = 1_000_000  # labelled-pixel check by blocks of rows: a block's mask, not a whole-cube one


class LabelledNodataFound(DataError):
    """Found by a reader that lacks the scene's context (the windowed gather): the count and the first pixel.

    The caller that has the scene turns it into the user's message with `labelled_nodata_error`.
    """

    def __init__(self, hits: int, first: tuple[int, int]) -> None:
        super().__init__(f"{hits} labelled pixel(s) hold the nodata value, first at (row, col) {first}")
        self.hits, self.first = hits, first


def find_labelled_nodata(cube: np.ndarray, labels: np.ndarray,
                         nodata: float) -> tuple[int, tuple[int, int] | None]:
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


def check_labelled_nodata(scene: Scene, modality: str, cube: np.ndarray, nodata: float | None,
                          source: NodataSource | None = None) -> None:
    """Refuse labelled pixels holding `nodata` in some band of `cube`, the scene's `modality` (H, W, C)."""
    if nodata is None:
        return
    hits, first = find_labelled_nodata(cube, scene.labels, nodata)
    if first is not None:
        raise labelled_nodata_error(scene, modality, hits, first, source_of(scene, nodata, source))


def check_scene_nodata(scene: Scene, modalities: Sequence[str] = ("hsi", "lidar")) -> None:
    """The rule on every present cube of the scene with its own nodata (what `check` runs; fit checks the
    cubes it serves, in the same order)."""
    cubes = {"hsi": scene.hsi, "lidar": scene.lidar}
    for name in modalities:
        cube = cubes[name]
        if cube is not None:
            check_labelled_nodata(scene, name, cube, scene.nodata, scene.nodata_source)
