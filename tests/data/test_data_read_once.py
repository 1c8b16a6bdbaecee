"""Each byte read once (issue 16 item 5): in one `fit` (with its test and its prediction map) every served cube is
scanned ONCE for its statistics and its nodata mask, and normalised ONCE, also when Lightning restores the
checkpoint's (same) statistics after setup.

Counted by wrapping the functions that scan a cube: before the change the band checks and the normalisation
each compared the cube with the nodata value (plus the labelled-pixel check and the prediction map: the nodata
mask built three or four times per modality), and a checkpoint loaded after setup normalised the scene again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cardkit import write_card_scene

from mmlgnet.cli import main
from mmlgnet.data import datamodule as dm_module
from mmlgnet.data.sampling import normalization, patches, scan
from mmlgnet.data.serving import in_memory

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


def _count(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counters: scans and normalisations by cube shape, nodata-mask entries compared, band_stats calls."""
    seen: Counter = Counter()
    mask, scan_cube, padded = normalization.nodata_mask, scan.scan_cube, patches.normalized_padded

    def counted_mask(cube: np.ndarray, nodata: float | None) -> np.ndarray:
        if nodata is not None:
            seen["mask entries"] += cube.size
        return mask(cube, nodata)

    def counted_scan(cube: np.ndarray, nodata: float | None) -> Any:
        seen["scan", cube.shape] += 1
        return scan_cube(cube, nodata)

    def counted_padded(cube: np.ndarray, *args: Any, **kw: Any) -> Any:
        seen["normalised", cube.shape] += 1
        return padded(cube, *args, **kw)

    def no_band_stats(*args: Any, **kw: Any) -> Any:
        raise AssertionError("band_stats: a second statistics pass over a cube")

    for module in (normalization, scan):
        monkeypatch.setattr(module, "nodata_mask", counted_mask)
    monkeypatch.setattr(in_memory, "scan_cube", counted_scan)
    monkeypatch.setattr(in_memory, "normalized_padded", counted_padded)
    monkeypatch.setattr(normalization, "band_stats", no_band_stats)
    return seen


@pytest.mark.parametrize("kind", ["synthetic", "card"])
def test_fit_test_and_map_scan_each_cube_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    if kind == "card":  # a 24x32 card with nodata pixels declared in the HSI file's metadata
        card, scene, void = write_card_scene(tmp_path / "scene")
        scene_args = ["--data.scene", str(card)]
        assert void.any()
        shapes = [scene.hsi.shape, scene.lidar.shape]  # type: ignore[union-attr]
    else:  # the demo's synthetic scene with a nodata value in force
        scene_args = ["--data.nodata", "-9999"]
        shapes = [(64, 96, 32), (64, 96, 1)]
    seen = _count(monkeypatch)
    restored: list[bool] = []
    load = dm_module.HSILidarDataModule.load_state_dict

    def spy(self: Any, state: dict[str, Any]) -> None:
        restored.append(self.serving is not None)  # Lightning's restore of the checkpoint, after setup()
        load(self, state)

    monkeypatch.setattr(dm_module.HSILidarDataModule, "load_state_dict", spy)
    main(["fit", *BASE, *scene_args, "--predict_after_fit", "true",
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert any(restored), "test_after_fit restores the checkpoint after setup(): the case counted here"
    maps = list((tmp_path / "runs").rglob("prediction.npy"))
    assert maps, "predict_after_fit wrote the map (its nodata pixels are counted too)"
    if kind == "card":
        assert (np.load(maps[0])[void] == 0).all()  # the map's nodata pixels: from the fit's scan
    for shape in shapes:
        assert seen["scan", tuple(shape)] == 1, seen  # statistics + nodata mask + band checks: one pass
        assert seen["normalised", tuple(shape)] == 1, seen  # not again after load_state_dict, nor for test/predict
    assert seen["mask entries"] == sum(int(np.prod(s)) for s in shapes), seen  # each entry compared once
