"""`python -m mmlgnet.data.scenes.check`: a good card prints the right facts and exits 0; a bad one prints one error line, exit 2."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from cardkit import write_card_scene
from conftest import SHARED_DATA

from mmlgnet.data.scenes.check import main


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(args, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_good_card_prints_size_bands_crs_counts_and_protocols(tmp_path):
    card, scene, void = write_card_scene(tmp_path / "s")  # train:/test: maps, 5 nodata pixels, EPSG:32615 2.5 m
    rc, out, err = _run([str(card)])
    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    assert "size: 24 x 32 pixels (H x W)" in lines
    assert "HSI bands: 8" in lines
    assert "LiDAR channels: 2" in lines
    crs = next(line for line in lines if line.startswith("CRS: "))
    assert "EPSG:32615" in crs and "pixel 2.5 x 2.5 metre" in crs and "(271460.00, 3290891.00)" in crs
    assert f"fraction {void.mean():.4f} of the pixels" in out and f"nodata: -9999 (the nodata tag of {tmp_path / 's' / 'hsi.tif'})" in out
    train = yaml.safe_load(card.read_text())["train"]
    assert train == "train.tif"
    import rasterio

    with rasterio.open(card.parent / "train.tif") as t, rasterio.open(card.parent / "test.tif") as s:
        tr, ts = t.read(1).astype(np.int64), s.read(1).astype(np.int64)
    total = tr + ts
    for k, name in enumerate(scene.class_names, start=1):
        row = f"{k:>3}  {name:<12}  {int((total == k).sum()):>8}  {int((tr == k).sum()):>7}  {int((ts == k).sum()):>7}"
        assert any(line.strip() == row.strip() for line in lines), (row, out)
    assert f"standard split (train/test maps): {int((tr > 0).sum())} train, {int((ts > 0).sum())} test" in out
    counts = [int((total == k).sum()) for k in (1, 2, 3)]
    for n in (20, 40, 60):
        ok = sum(c >= n + 1 for c in counts)
        assert f"per_class:{n}: {ok}/3 classes" in out
    assert "fraction:0.05: 3/3 classes" in out
    assert lines[-1] == "ok"


def test_small_classes_are_counted_against_the_protocols(tmp_path):
    """A class with 30 labelled pixels passes per_class:20 only; one with 9 pixels fails fraction:0.05 too."""
    card, scene, _ = write_card_scene(tmp_path / "s", split_maps=False)
    from cardkit import write_tif

    gt = scene.labels.copy()  # (H, W)
    for k, keep in ((1, 30), (2, 9)):
        rows, cols = np.nonzero(gt == k)
        gt[rows[keep:], cols[keep:]] = 0
    write_tif(card.parent / "gt.tif", gt.astype(np.uint8))
    rc, out, err = _run([str(card)])
    assert rc == 0, err
    n3 = int((gt == 3).sum())
    assert n3 >= 61
    assert "per_class:20: 2/3 classes" in out  # 30 and n3 pixels
    assert "per_class:40: 1/3 classes" in out and "per_class:60: 1/3 classes" in out
    assert "fraction:0.05: 2/3 classes" in out  # round(0.05 * 9) = 0 training pixels for class 2
    assert "standard split: none" in out


def test_bad_card_exits_2_with_one_error_line(tmp_path):
    card, _, _ = write_card_scene(tmp_path / "s", extra={"class_nmes": ["a"]})
    rc, out, err = _run([str(card)])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "class_nmes" in err and str(card) in err
    assert "Traceback" not in err
    (tmp_path / "s" / "dsm.tif").unlink()
    raw = yaml.safe_load(card.read_text())
    del raw["class_nmes"]  # the typo fixed (renaming it would give class_names twice: refused since issue 18)
    card.write_text(yaml.safe_dump(raw))
    rc, _, err = _run([str(card)])
    assert rc == 2 and "dsm.tif" in err and err.count("\n") == 1


def test_module_entry_point_exit_code(tmp_path):
    """`python -m mmlgnet.data check` itself: rc 2, one `error:` line on stderr, no traceback."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMLGNET_DEBUG": ""}
    p = subprocess.run([sys.executable, "-m", "mmlgnet.data", "check", str(tmp_path / "missing.yaml")],
                       capture_output=True, text=True, env=env, timeout=600)  # hang guard (imports are slow under load)
    assert p.returncode == 2
    assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1 and "missing.yaml" in p.stderr
    rc, _, err = _run(["trento"])
    assert rc == 2 and "--root" in err


@pytest.mark.skipif(not (SHARED_DATA / "muufl" / "muufl_gt.mat").is_file(), reason="no shared MUUFL data")
def test_catalogue_scene_with_root(capsys):
    """A catalogue name + --root: MUUFL's real ground truth (DATASETS.md counts), no published split."""
    assert main(["muufl", "--root", str(SHARED_DATA)]) == 0
    out = capsys.readouterr().out
    assert "size: 325 x 220 pixels (H x W)" in out and "LiDAR channels: 2" in out
    assert "classes: 11, labelled pixels: 53687" in out
    assert re.search(r"^ +10 +Yellow curb +183$", out, re.MULTILINE)
    assert "standard split: none" in out and "fraction:0.05: 11/11 classes" in out
