"""Issue 15 item 3: `check` refuses what `fit` refuses (labelled pixels on nodata), with fit's very message, and
the message shows the nodata value as the user declared it (NaN) with a fix for where they declared it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cardkit import NODATA, write_card_scene, write_tif

from mmlgnet.cli import run
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError
from mmlgnet.data.scenes.check import main as check_main

REPO = Path(__file__).resolve().parents[3]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


def _labelled_pixel(folder: Path, value: float, tag: float | None, card_nodata: float | None) -> Path:
    """The small card scene with HSI band 2 of its first labelled pixel set to `value` (raster nodata tag `tag`)."""
    card, scene, _ = write_card_scene(folder, hsi_nodata_meta=False,
                                      extra=None if card_nodata is None else {"nodata": card_nodata})
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    r, c = np.argwhere(scene.labels > 0)[0]
    hsi[r, c, 2] = value
    write_tif(folder / "hsi.tif", hsi, nodata=tag)
    return card


def _card_nodata(folder: Path) -> Path:
    return _labelled_pixel(folder, NODATA, None, NODATA)


def _all_nodata(folder: Path) -> Path:
    card, scene, _ = write_card_scene(folder)
    assert scene.hsi is not None
    write_tif(folder / "hsi.tif", np.full_like(scene.hsi, NODATA), nodata=NODATA)
    return card


def _nan_tag(folder: Path) -> Path:
    return _labelled_pixel(folder, np.nan, float("nan"), None)


CASES: dict[str, Callable[[Path], Path]] = {"card nodata": _card_nodata, "all nodata": _all_nodata,
                                            "NaN tag": _nan_tag}


def _check(card: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = check_main([str(card)], out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_exits_2_with_the_message_fit_gives(tmp_path, capsys, case):
    """On HEAD `check` said "ok" (rc 0) for all three while fit exited 2."""
    card = CASES[case](tmp_path / "s")
    rc, out, err = _check(card)
    assert rc == 2 and "ok" not in out.split(), out
    with pytest.raises(SystemExit) as e:
        run(["fit", *BASE, "--data.scene", str(card), "--data.scene_in_memory", "true",
             "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert e.value.code == 2
    fit_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert fit_line == err.strip() and fit_line.startswith(f"error: {tmp_path / 's' / 'hsi.tif'}: ")
    # the windowed training path (labelled patches read by windows) words it the same way
    with pytest.raises(DataError) as windowed:
        HSILidarDataModule(scene=str(card), scene_in_memory=False, patch_size=5).setup("fit")
    assert f"error: {windowed.value}" == fit_line


def test_nan_nodata_is_shown_as_nan_with_a_fix_for_a_raster_tag(tmp_path):
    """On HEAD fit showed the stand-in -3e+38 and said to drop --data.nodata, which the user never set."""
    rc, _, err = _check(_nan_tag(tmp_path))
    assert rc == 2
    assert "nodata value NaN (the nodata tag of" in err and "fill the NaN entries" in err
    assert "3e+38" not in err and "--data.nodata" not in err


def test_card_nodata_fix_names_the_card_not_the_option(tmp_path):
    card = _card_nodata(tmp_path)
    rc, _, err = _check(card)
    assert rc == 2 and "--data.nodata" not in err
    assert f"`nodata: -9999` in the card {card}" in err and f"remove `nodata:` from the card {card}" in err


def test_all_nodata_message_says_every_labelled_pixel(tmp_path):
    rc, _, err = _check(_all_nodata(tmp_path))
    assert rc == 2 and "that is every labelled pixel" in err and "fix the nodata tag of" in err


def test_option_nodata_fix_names_the_option(tmp_path):
    """--data.nodata set on the command line: the message names the option and says to drop it."""
    card = _labelled_pixel(tmp_path, -5.0, None, None)
    with pytest.raises(DataError) as err:
        HSILidarDataModule(scene=str(card), nodata=-5.0, patch_size=5).setup("fit")
    msg = str(err.value)
    assert "nodata value -5 (--data.nodata)" in msg and "or drop --data.nodata if -5 is a real measurement" in msg


def test_check_report_shows_nan_nodata_as_declared(tmp_path):
    """NaN nodata away from labelled pixels: check passes and reports NaN and the raster, not the stand-in."""
    card, scene, void = write_card_scene(tmp_path, hsi_nodata_meta=False)
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    hsi[void] = np.nan
    write_tif(tmp_path / "hsi.tif", hsi, nodata=float("nan"))
    rc, out, err = _check(card)
    assert rc == 0, err
    assert f"nodata: NaN (the nodata tag of {tmp_path / 'hsi.tif'})" in out and "3e+38" not in out
