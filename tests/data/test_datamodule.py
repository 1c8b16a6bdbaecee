"""HSILidarDataModule options: checked before any data is read; nodata, outlier warning, empty classes, val_fraction."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling.splits import SplitError
from mmlgnet.data.scenes.synthetic import default_split, make_synthetic_scene, write_scene_files
from mmlgnet.data.serving import choose as dm_module  # where the scene is opened
from mmlgnet.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[2]
FILL = 1e30


@pytest.mark.parametrize(("option", "value", "error"), [
    ("batch_size", 0, ConfigError), ("eval_batch_size", 0, ConfigError), ("eval_batch_size", -5, ConfigError),
    ("num_workers", -1, ConfigError), ("patch_size", 4, ConfigError), ("patch_size", 0, ConfigError),
    ("val_fraction", 1.0, SplitError), ("val_fraction", -0.2, SplitError), ("split", "per_class:x", SplitError),
    ("split", "fraction:2", SplitError), ("lidar_channels", 0, ConfigError), ("pipeline", "gpu", ConfigError),
    ("normalization", "robust", ConfigError), ("nodata", float("nan"), ConfigError),
    ("synthetic_classes", 1, ConfigError), ("synthetic_classes", 99, ConfigError),
])
def test_bad_option_refused_at_init_before_any_data_is_read(monkeypatch, option, value, error):
    def no_reading(*args, **kwargs):
        raise AssertionError("data read before the options were checked")

    monkeypatch.setattr(dm_module, "load_scene", no_reading)
    monkeypatch.setattr(dm_module, "make_synthetic_scene", no_reading)
    with pytest.raises(error) as err:
        HSILidarDataModule(**{option: value})
    assert f"--data.{option}" in str(err.value), str(err.value)


def test_cli_eval_batch_size_zero_fails_before_fit(tmp_path, capsys):
    args = ["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml"),
            "--trainer.logger.init_args.save_dir", str(tmp_path), "--data.eval_batch_size", "0"]
    with pytest.raises((UserError, SystemExit)) as err:
        main(args)
    shown = str(err.value) + capsys.readouterr().err
    assert "--data.eval_batch_size" in shown
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.csv"))  # no epoch was run


def _write_trento(tmp_path: Path, fill_at: tuple[int, int] | None, labelled: bool = False, **maps) -> Path:
    """A tiny scene in Trento's split layout; `fill_at` puts the fill value in every HSI band of one pixel."""
    scene = make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=5, seed=0)
    if fill_at is not None:
        r, c = fill_at
        assert (scene.labels[r, c] > 0) == labelled
        scene.hsi[r, c, :] = FILL
    write_scene_files(scene, tmp_path, "split", **maps)
    return tmp_path


def _unlabelled_pixel() -> tuple[int, int]:
    labels = make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=5, seed=0).labels
    r, c = np.argwhere(labels == 0)[0]
    return int(r), int(c)


def _dm(root: Path, **kw) -> HSILidarDataModule:
    dm = HSILidarDataModule(scene="trento", root=str(root), verify=False, patch_size=3, **kw)
    dm.setup("fit")
    return dm


def test_fill_value_warns_and_nodata_restores_the_band(tmp_path):
    r, c = _unlabelled_pixel()
    root = _write_trento(tmp_path, (r, c))
    with pytest.warns(UserWarning, match=r"HSI\.mat.*5 of 5 hsi band.*--data\.nodata 1e\+30"):
        squashed = _dm(root)
    hsi = squashed.serving.padded["hsi"][1:-1, 1:-1].numpy()  # (H, W, C): the padding (P = 3) removed
    keep = np.ones(hsi.shape[:2], bool)
    keep[r, c] = False
    assert hsi[keep].std(0).max() < 1e-3  # the old behaviour: every ordinary pixel ~ one value

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no outlier warning once the fill value is declared
        fixed = _dm(root, nodata=FILL)
    got = fixed.serving.padded["hsi"][1:-1, 1:-1].numpy()
    clean = make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=5, seed=0).hsi.astype(np.float64)
    rest = clean[keep]  # (N - 1, C): statistics without the bad pixel
    np.testing.assert_allclose(got[keep], ((clean - rest.mean(0)) / rest.std(0))[keep], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[r, c], 0.0, atol=1e-6)  # filled with the band mean
    np.testing.assert_array_equal(fixed.serving.padded["lidar"].numpy(), squashed.serving.padded["lidar"].numpy())


def test_labelled_nodata_pixel_is_an_error_naming_the_file(tmp_path):
    labels = make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=5, seed=0).labels
    r, c = (int(i) for i in np.argwhere(labels > 0)[0])
    root = _write_trento(tmp_path, (r, c), labelled=True)
    with pytest.raises(DataError, match=rf"1 labelled pixel.*\({r}, {c}\)") as err:
        _dm(root, nodata=FILL)
    assert str(root / "HSI.mat") in str(err.value) and "--data.nodata" in str(err.value)
    dm = HSILidarDataModule(scene="trento", root=str(root), verify=False, patch_size=3, nodata=FILL,
                            modalities=("lidar",))
    dm.setup("fit")  # a LiDAR-only run does not serve the HSI band: its nodata does not matter


def test_standard_split_missing_a_class_names_class_and_file(tmp_path):
    labels = make_synthetic_scene(height=20, width=28, num_classes=6, hsi_bands=5, seed=0).labels
    train, test = default_split(labels)
    test = np.where(train == 4, 4, test)  # class 4 moves entirely to the test map
    train = np.where(train == 4, 0, train)
    root = _write_trento(tmp_path, None, train_map=train, test_map=test)
    with pytest.raises(SplitError) as err:
        _dm(root)
    msg = str(err.value)
    assert "class 4 ('Woods')" in msg and str(root / "TRLabel.mat") in msg and "--data.unseen_classes" in msg
    dm = _dm(root, allow_empty_train_classes=True)
    summary = dm.split_summary()
    assert summary["counts"]["train"][3] == 0 and summary["empty_train_classes"] == ["Woods"]
    assert summary["allow_empty_train_classes"] is True and summary["nodata"] is None
    with pytest.warns(UserWarning, match=r"no training pixel for \['Woods'\]"):
        dm._report_split(None)


def test_val_fraction_rounding_to_nothing_is_an_error(tmp_path):
    dm = HSILidarDataModule(scene="synthetic", synthetic_height=24, synthetic_width=32, synthetic_classes=4,
                            split="per_class:5", val_fraction=0.01, patch_size=3)
    with pytest.raises(SplitError, match=r"--data.val_fraction 0.01 rounds to 0 validation pixels.*0\.101"):
        dm.setup("fit")
