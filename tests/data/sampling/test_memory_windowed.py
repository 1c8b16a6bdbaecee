"""Memory-bounded training data (issue 10 item 2): statistics and labelled patches read by windows equal the
in-memory ones bit for bit, and fit/test give the same results on both paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cardkit import NODATA, write_card_scene, write_tif

from mmlgnet.cli import main
from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.io.download import DataError
from mmlgnet.data.sampling import labelled, normalization
from mmlgnet.data.sampling.normalization import band_stats, norm_stats, outlier_bands, outlier_bands_sampled
from mmlgnet.data.sampling.patches import PatchGatherer, normalized_padded
from mmlgnet.data.sampling.scan import scan_cube
from mmlgnet.data.scenes.card_load import load_card
from mmlgnet.data.scenes.lazy_scene import open_card_lazily
from mmlgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks/windows of a few rows, so a 24x32 scene is read in many windows."""
    monkeypatch.setattr(normalization, "_BLOCK", 700)
    monkeypatch.setattr(normalization, "SAMPLE_PIXELS", 100)


def test_windowed_stats_equal_in_memory_stats(tmp_path, small_blocks):
    card, _, void = write_card_scene(tmp_path)
    scene = load_card(str(card))
    lazy = open_card_lazily(str(card))
    assert scene.hsi is not None and lazy.hsi is not None
    got, sample = labelled.windowed_stats(lazy.hsi, NODATA, "hsi.tif")
    want = band_stats(scene.hsi, NODATA)
    for field in ("count", "mean", "std", "min", "max"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field  # same blocks: bit for bit
    ref = np.where(scene.hsi == np.float32(NODATA), np.nan, scene.hsi.astype(np.float64)).reshape(-1, 8)
    np.testing.assert_allclose(got.mean, np.nanmean(ref, 0), rtol=1e-12)  # and right, to float tolerance
    np.testing.assert_allclose(got.std, np.nanstd(ref, 0), rtol=1e-10)
    assert got.count.sum() == ref.size - 8 * void.sum()
    assert outlier_bands_sampled(got, sample, NODATA) == outlier_bands(scene.hsi, NODATA)


def test_windowed_stats_sample_the_pixels_the_scan_samples(tmp_path, small_blocks):
    """One sample size (normalization.SAMPLE_PIXELS, read at call time): the windowed statistics sample the pixels
    the in-memory scan samples. Before, labelled imported the private _SAMPLE by value, so its stride ignored the
    shrunk size (every pixel here) while the scan's did not (every 7th)."""
    card, _, _ = write_card_scene(tmp_path)
    scene = load_card(str(card))
    lazy = open_card_lazily(str(card))
    assert scene.hsi is not None and lazy.hsi is not None
    _, sample = labelled.windowed_stats(lazy.hsi, NODATA, "hsi.tif")  # (N_sample, 8)
    scanned = scan_cube(scene.hsi, NODATA).sample  # (N_sample, 8)
    assert len(scanned) == -(-24 * 32 // normalization.sample_stride(24 * 32)) < 24 * 32
    np.testing.assert_array_equal(sample, scanned)


@pytest.mark.parametrize(("patch", "rows"), [(7, 3), (5, 1), (3, 100)])
def test_gathered_patches_equal_the_in_memory_patches(tmp_path, patch, rows):
    card, _, _ = write_card_scene(tmp_path)
    scene = load_card(str(card))
    lazy = open_card_lazily(str(card))
    assert scene.hsi is not None and lazy.hsi is not None
    stats = norm_stats(scene.hsi, "standard", NODATA)
    index = np.flatnonzero(scene.labels.reshape(-1) > 0)  # (N,) sorted, borders included
    want = PatchGatherer(normalized_padded(scene.hsi, stats, NODATA, patch), 32, patch)(torch.from_numpy(index))
    table, pos = labelled.gather_patches(lazy.hsi, index, patch, stats, NODATA, "hsi.tif", scene.labels, rows=rows)
    assert len(table) < len(index) * patch**2  # overlapping patches share their pixels
    g = labelled.LabelledGatherer(torch.from_numpy(table), torch.from_numpy(pos), torch.from_numpy(index), patch)
    order = torch.from_numpy(np.random.default_rng(0).permutation(index))
    assert torch.equal(g(order), PatchGatherer(normalized_padded(scene.hsi, stats, NODATA, patch), 32, patch)(order))
    assert torch.equal(g(torch.from_numpy(index)), want)
    with pytest.raises(ValueError, match="outside the gathered"):
        g(torch.tensor([int(np.setdiff1d(np.arange(24 * 32), index)[0])]))


def _dm(card: Path, in_memory: bool | str, **kw) -> HSILidarDataModule:
    return HSILidarDataModule(scene=str(card), split="per_class:4", val_fraction=0.25, patch_size=5,
                              scene_in_memory=in_memory, stream="never", **kw)  # type: ignore[arg-type]


def test_both_paths_serve_identical_patches(tmp_path, small_blocks):
    card, _, _ = write_card_scene(tmp_path)
    full, windowed = _dm(card, True), _dm(card, False)
    for dm in (full, windowed):
        dm.setup("fit")
    assert full._windowed is None and windowed._windowed is not None
    assert windowed.scene.hsi is not None and windowed.scene.hsi.strides == (0, 0, 0)  # never read in full
    for k in ("hsi", "lidar"):
        assert full.norm_stats[k].same_as(windowed.norm_stats[k])
    sp = full.split
    assert all(np.array_equal(getattr(sp, s), getattr(windowed.split, s)) for s in ("train", "val", "test"))
    for subset in (sp.train, sp.val, sp.test):
        idx = torch.from_numpy(subset)
        a, b = full.gather(idx), windowed.gather(idx)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert windowed.state_dict() == full.state_dict()  # the checkpointed statistics too
    with pytest.raises(ConfigError, match="--data.stream always"):
        _dm(card, False).setup("predict")
    per_sample = _dm(card, False, pipeline="per_sample")
    per_sample.setup("fit")
    with pytest.raises(ConfigError, match="per_sample"):
        per_sample.train_dataloader()


def test_auto_takes_the_windowed_path_past_the_budget(tmp_path):
    card, _, _ = write_card_scene(tmp_path)
    mods = ("hsi", "lidar")
    assert labelled.windowed_reason("auto", str(card), mods, None, budget_mb=1e6) is None
    why = labelled.windowed_reason("auto", str(card), mods, None, budget_mb=0.01)
    assert why is not None and "--data.memory_budget_mb" in why
    assert _dm(card, "auto", memory_budget_mb=0.01).scene.hsi.strides == (0, 0, 0)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="scene_in_memory"):
        _dm(card, "sometimes")
    with pytest.raises(ConfigError, match="catalogue scene"):
        HSILidarDataModule(scene="synthetic", scene_in_memory=False)


def test_windowed_path_refuses_labelled_nodata_and_nan(tmp_path):
    card, scene, _ = write_card_scene(tmp_path / "a")
    assert scene.hsi is not None
    row, col = (int(v) for v in np.argwhere(scene.labels > 0)[0])
    bad = scene.hsi.copy()
    bad[row, col, 3] = NODATA
    write_tif(tmp_path / "a" / "hsi.tif", bad, nodata=NODATA)
    with pytest.raises(DataError, match=rf"hsi.tif.*\({row}, {col}\)"):
        _dm(card, False).setup("fit")
    card_b, scene_b, _ = write_card_scene(tmp_path / "b", hsi_nodata_meta=False)
    nan = scene_b.hsi.copy()  # type: ignore[union-attr]
    nan[5, 6, 1] = np.nan
    write_tif(tmp_path / "b" / "hsi.tif", nan)
    with pytest.raises(DataError, match=r"NaN/inf.*\(5, 6, 1\)"):
        _dm(card_b, False).setup("fit")


def test_fit_and_test_give_the_same_metrics_on_both_paths(tmp_path):
    card, _, _ = write_card_scene(tmp_path / "scene")
    results = {}
    for flag in ("true", "false"):
        main(["fit", *BASE, "--data.scene", str(card), "--data.scene_in_memory", flag, "--data.stream", "never",
              "--trainer.logger.init_args.save_dir", str(tmp_path / flag)])
        metrics = json.loads(next((tmp_path / flag).rglob("test_metrics.json")).read_text())
        results[flag] = {k: metrics[k] for k in ("OA", "AA", "kappa", "confusion_matrix")}
    assert results["true"] == results["false"]
