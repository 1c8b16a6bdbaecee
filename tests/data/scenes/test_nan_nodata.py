"""A raster's NaN entries are nodata when its nodata tag is NaN, whatever other value is declared (--data.nodata,
a card's `nodata:`): never data in the band statistics or patches, in memory, by windows or streamed by tiles;
NaN in a file that does not declare it missing is refused by every path. Messages never show the stand-in.

On HEAD, with --data.nodata set, the NaN entries of a NaN-tagged raster became the internal stand-in -3e+38 and
counted as data: the band means were ~-2e36, every band was warned about as outlier-ruled ("pass --data.nodata
-3e+38"), streamed maps classified those pixels, and a NaN in a raster tagged otherwise was fed to the network
by the streaming path.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cardkit import NODATA, write_card_scene, write_tif

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError

REPO = Path(__file__).resolve().parents[3]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]
OPTION = -5.0  # a --data.nodata value no entry holds
STAND_IN = ("3e+38", "3e38", "3.0e+38")


def _nan_scene(folder: Path, card_nodata: float | None = None,
               tag: float | None = float("nan")) -> tuple[Path, np.ndarray, np.ndarray]:
    """The small card scene with NaN in the HSI of its 5 (unlabelled) void pixels, the HSI file's nodata tag `tag`.

    Returns (card, the HSI cube as written, the (H, W) void mask)."""
    card, scene, void = write_card_scene(folder, hsi_nodata_meta=False,
                                         extra=None if card_nodata is None else {"nodata": card_nodata})
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    hsi[void] = np.nan
    write_tif(folder / "hsi.tif", hsi, nodata=tag)
    return card, hsi, void


def _setup(card: Path, in_memory: bool, nodata: float | None) -> tuple[HSILidarDataModule, list[str]]:
    """setup("fit") of the card; the warnings it gave."""
    dm = HSILidarDataModule(scene=str(card), nodata=nodata, patch_size=5, scene_in_memory=in_memory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    return dm, [str(w.message) for w in caught]


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "windowed"])
@pytest.mark.parametrize("card_nodata", [None, NODATA], ids=["option", "card+option"])
def test_nan_entries_stay_out_of_the_band_statistics_under_the_option(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, in_memory: bool, card_nodata: float | None) -> None:
    card, hsi, void = _nan_scene(tmp_path / "s", card_nodata)
    caplog.set_level(logging.INFO)
    dm, warned = _setup(card, in_memory, OPTION)
    good = hsi[~void].astype(np.float64)  # (N, C): the entries that are data
    st = dm.norm_stats["hsi"]
    np.testing.assert_allclose(st.centre, good.mean(0), rtol=1e-6)
    np.testing.assert_allclose(st.spread, good.std(0), rtol=1e-5)
    assert not [w for w in warned if "outliers" in w], warned  # no band ruled by a NaN stand-in
    logged = caplog.text + " ".join(warned)
    assert not any(s in logged for s in STAND_IN), logged
    n = int(void.sum()) * hsi.shape[2]
    assert f"{n} hsi entries equal the nodata value -5 or NaN" in caplog.text


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "windowed"])
def test_statistics_equal_those_of_the_same_pixels_declared_by_value(tmp_path: Path, in_memory: bool) -> None:
    """NaN (tag NaN) under --data.nodata: the same statistics and patches, bit for bit, as when those pixels hold
    the option's value."""
    card, hsi, void = _nan_scene(tmp_path / "nan")
    filled, _, _ = _nan_scene(tmp_path / "value", tag=None)
    write_tif(tmp_path / "value" / "hsi.tif", np.where(np.isnan(hsi), np.float32(OPTION), hsi))
    a, _ = _setup(card, in_memory, OPTION)
    b, _ = _setup(filled, in_memory, OPTION)
    assert a.norm_stats["hsi"].same_as(b.norm_stats["hsi"])
    index = torch.from_numpy(np.sort(np.concatenate([a.split.train, a.split.test])).astype(np.int64))
    served = a.gather(index)["hsi"]  # (N, C, P, P): patches reach over the NaN pixels
    assert torch.isfinite(served).all() and served.abs().max() < 100
    torch.testing.assert_close(served, b.gather(index)["hsi"], rtol=0, atol=0)


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "windowed"])
def test_a_labelled_nan_pixel_is_refused_under_the_option_naming_nan_not_the_stand_in(
        tmp_path: Path, in_memory: bool) -> None:
    """On HEAD the labelled NaN pixel was trained on as the value -3e+38 (no error)."""
    card, scene, _ = write_card_scene(tmp_path / "s", hsi_nodata_meta=False)
    assert scene.hsi is not None
    hsi = scene.hsi.copy()
    r, c = np.argwhere(scene.labels > 0)[0]
    hsi[r, c, 2] = np.nan
    write_tif(tmp_path / "s" / "hsi.tif", hsi, nodata=float("nan"))
    with pytest.raises(DataError) as err:
        _setup(card, in_memory, OPTION)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 's' / 'hsi.tif'}: 1 labelled pixel(s)"), msg
    assert f"first at (row, col) ({r}, {c})" in msg
    assert f"also the NaN entries of {tmp_path / 's' / 'hsi.tif'} (nodata tag NaN)" in msg
    assert not any(s in msg for s in STAND_IN), msg


def test_split_record_shows_nan_not_the_stand_in(tmp_path: Path) -> None:
    """split.json / test_metrics.json "nodata" of a scene whose only nodata is a NaN tag (HEAD: -3e+38)."""
    card, _, _ = _nan_scene(tmp_path / "s")
    dm, _ = _setup(card, True, None)
    assert dm.split_summary()["nodata"] == "NaN"
    dm, _ = _setup(card, True, OPTION)
    assert dm.split_summary()["nodata"] == OPTION


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """The NaN scene (HSI tag NaN) and a checkpoint fitted on it with --data.nodata."""
    tmp = tmp_path_factory.mktemp("nan_stream")
    card, _, void = _nan_scene(tmp / "scene")
    main(["fit", *BASE, "--data.scene", str(card), "--data.nodata", str(OPTION),
          "--trainer.logger.init_args.save_dir", str(tmp / "runs")])
    return card, next((tmp / "runs").rglob("last.ckpt")), void


def _predict(card: Path, ckpt: Path, out: Path, *extra: str) -> dict:
    main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt), "--data.nodata", str(OPTION),
          "--trainer.logger.init_args.save_dir", str(out.parent / "runs"), "--predict_writer.output_dir", str(out),
          *extra])
    return json.loads((out / "maps.json").read_text())


def test_streamed_and_in_memory_maps_leave_the_nan_pixels_out(fitted: tuple[Path, Path, np.ndarray],
                                                              tmp_path: Path) -> None:
    """On HEAD the streamed map classified the 5 NaN pixels (nodata_pixels 0) while in memory they were counted
    as the option's value: neither left them out."""
    card, ckpt, void = fitted
    memory = _predict(card, ckpt, tmp_path / "memory", "--data.stream", "never")
    streamed = _predict(card, ckpt, tmp_path / "streamed", "--data.stream", "always", "--data.stream_tile", "10")
    assert memory["nodata_pixels"] == streamed["nodata_pixels"] == int(void.sum()) == 5
    a, b = np.load(tmp_path / "memory" / "prediction.npy"), np.load(tmp_path / "streamed" / "prediction.npy")
    np.testing.assert_array_equal(a, b)
    assert (a[void] == 0).all() and (a[~void] > 0).all()


def test_streaming_refuses_nan_a_file_does_not_declare_missing(fitted: tuple[Path, Path, np.ndarray],
                                                               tmp_path: Path) -> None:
    """HSI tagged -9999 holding NaN: in memory refused at load; on HEAD streaming fed the NaN to the network."""
    _, ckpt, _ = fitted
    card, _, _ = _nan_scene(tmp_path / "s", tag=NODATA)
    hsi = tmp_path / "s" / "hsi.tif"
    for stream in ("never", "always"):
        with pytest.raises(DataError) as err:
            _predict(card, ckpt, tmp_path / f"out_{stream}", "--data.stream", stream, "--data.stream_tile", "10")
        msg = str(err.value)
        assert str(hsi) in msg and "expected no NaN/inf" in msg and "fill the gaps" in msg, msg
    assert "gdal_edit.py -a_nodata nan" in msg  # streaming: how to declare NaN missing in the file itself
    with pytest.raises(DataError, match="expected no NaN/inf"):  # windowed training reads likewise
        _setup(card, False, None)
