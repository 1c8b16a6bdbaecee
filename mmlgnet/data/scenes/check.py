"""`python -m mmlgnet.data check CARD_OR_SCENE [--root DIR]`: validate a scene and print what training needs."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from mmlgnet.data.scenes.labelled_nodata import check_scene_nodata, scene_void
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.errors import UserError

__all__ = ["PER_CLASS_PROTOCOLS", "FRACTION", "load_for_check", "main", "report"]

PER_CLASS_PROTOCOLS = (20, 40, 60)  # peer protocols: N training pixels per class (+ >= 1 test pixel)
FRACTION = 0.05  # peer protocol (MFT on MUUFL): 5 % of each class's pixels for training


def load_for_check(target: str, root: str | None) -> Scene:
    """A card path, or a catalogue scene name read from `root` (HSI optional: LiDAR-only scenes are valid)."""
    from mmlgnet.data.scenes.card_load import load_card
    from mmlgnet.data.scenes.cards import is_card

    if is_card(target):
        return load_card(target, require_hsi=False)
    from mmlgnet.data.scenes.catalog import SCENE_NAMES
    from mmlgnet.data.scenes.catalog_load import load_scene

    if target not in SCENE_NAMES:
        raise UserError(f"check: {target!r} is neither a scene card (a .yaml file) nor a catalogue scene "
                        f"({', '.join(SCENE_NAMES)}). Give the path of a card, or a scene name with --root DIR.")
    if root is None and target != "synthetic":
        raise UserError(f"check: the catalogue scene {target!r} needs --root DIR (the folder holding its files).")
    return load_scene(target, root or ".", require_hsi=False)


def _crs_text(crs: str | None, transform: tuple[float, ...] | None) -> str:
    if crs is None or transform is None:
        return "none (not georeferenced: prediction.tif will not be written)"
    from rasterio.crs import CRS

    try:
        parsed = CRS.from_user_input(crs)
        name = parsed.to_string() if parsed.to_epsg() is None else f"EPSG:{parsed.to_epsg()}"
        units = parsed.linear_units or "units"
    except Exception:  # noqa: BLE001 -- show the raw text when rasterio cannot parse it
        name, units = crs, "units"
    a, b, _, d, e, _ = transform[:6]
    px, py = math.hypot(a, d), math.hypot(b, e)  # pixel width / height in CRS units
    return f"{name}, pixel {px:g} x {py:g} {units}, upper-left corner ({transform[2]:.2f}, {transform[5]:.2f})"


def _nodata_text(scene: Scene) -> str:
    """The nodata value as declared (NaN, not the finite stand-in) and where, or "none"."""
    source = scene.nodata_source
    if scene.nodata is None:
        return "none"
    return f"{scene.nodata:g}" if source is None else f"{source.shown} ({source.origin()})"


def _counts(labels: np.ndarray | None, k: int) -> np.ndarray:
    """(K,) pixels per class 1..K of a label map (zeros when the map is absent)."""
    if labels is None:
        return np.zeros(k, dtype=np.int64)
    return np.bincount(labels.ravel(), minlength=k + 1)[1:k + 1].astype(np.int64)


def report(scene: Scene, out: TextIO, void: np.ndarray | None = None) -> None:
    """Print size, bands, CRS, class counts, nodata share, split counts and the peer protocols supported.

    `void`: the scene's (H, W) nodata pixels (check_scene_nodata's, as predict masks them); found here when None.
    """
    if void is None:
        void = scene_void(scene, scene.nodata)
    k = scene.num_classes
    total = _counts(scene.labels, k)  # (K,)
    has_maps = scene.train_map is not None and scene.test_map is not None
    train, test = _counts(scene.train_map, k), _counts(scene.test_map, k)
    w = print
    w(f"scene: {scene.name}", file=out)
    w(f"size: {scene.height} x {scene.width} pixels (H x W)", file=out)
    w(f"HSI bands: {scene.hsi_bands if scene.hsi is not None else 'none (no HSI file: LiDAR-only runs only)'}", file=out)
    w(f"LiDAR channels: {scene.lidar_bands}", file=out)
    w(f"CRS: {_crs_text(scene.crs, scene.transform)}", file=out)
    w(f"nodata: {_nodata_text(scene)}, "
      f"fraction {float(void.mean()):.4f} of the pixels", file=out)
    w(f"classes: {k}, labelled pixels: {int(total.sum())}", file=out)
    name_w = max(len(n) for n in scene.class_names)
    head = f"  {'id':>3}  {'class':<{name_w}}  {'pixels':>8}" + (f"  {'train':>7}  {'test':>7}" if has_maps else "")
    w(head, file=out)
    for i, name in enumerate(scene.class_names):
        row = f"  {i + 1:>3}  {name:<{name_w}}  {total[i]:>8}"
        w(row + (f"  {train[i]:>7}  {test[i]:>7}" if has_maps else ""), file=out)
    if has_maps:
        w(f"standard split (train/test maps): {int(train.sum())} train, {int(test.sum())} test pixels; "
          f"classes without a training pixel: {int((train == 0).sum())}", file=out)
    else:
        w("standard split: none (no train/test maps); use per_class:N or fraction:p", file=out)
    for n in PER_CLASS_PROTOCOLS:
        ok = int((total >= n + 1).sum())
        w(f"per_class:{n}: {ok}/{k} classes have >= {n} training + 1 test pixel"
          + ("" if ok == k else " (the split refuses the others: lower N)"), file=out)
    drawn = np.rint(FRACTION * total).astype(np.int64)  # round half to even, as mmlgnet.data.sampling.splits draws
    ok = int(((drawn >= 1) & (drawn < total)).sum())
    w(f"fraction:{FRACTION}: {ok}/{k} classes get >= 1 training and >= 1 test pixel"
      + ("" if ok == k else " (not usable: raise p or use per_class:N)"), file=out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit 0 and print the report when the scene is valid; print `error: ...` and return 2 otherwise."""
    from mmlgnet.console import debug_enabled, error_message, find_user_error

    parser = argparse.ArgumentParser(prog="python -m mmlgnet.data check", description=__doc__)
    parser.add_argument("scene", help="a scene card (.yaml) or a catalogue scene name (then give --root)")
    parser.add_argument("--root", default=None, help="folder of a catalogue scene's files")
    args = parser.parse_args(argv)
    out, err = out or sys.stdout, err or sys.stderr
    try:
        scene = load_for_check(args.scene, args.root)
        void = check_scene_nodata(scene)  # the rule every command applies (mmlgnet.data.scenes.labelled_nodata)
    except Exception as e:
        user = find_user_error(e)
        if user is None or debug_enabled():
            raise
        print(f"error: {' '.join(error_message(user).split())}", file=err)  # one line
        return 2
    report(scene, out, void)
    print("ok", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
