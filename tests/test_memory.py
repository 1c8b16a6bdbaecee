"""Memory of the scene path (issue 8 item 8): served patches unchanged, and no avoidable full-scene copies."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.sampling import normalization
from mmlgnet.data.sampling.normalization import NormStats, band_stats, nodata_mask, norm_stats, outlier_bands
from mmlgnet.data.sampling.patches import normalized_padded, pad_scene
from mmlgnet.data.scenes.synthetic import make_synthetic_scene

FILL = -9999.0


def _old_served(cube: np.ndarray, stats: NormStats, nodata: float | None, p: int) -> np.ndarray:
    """The pre-issue-8 arithmetic, whole-cube: ((x - c) / s) in float32, nodata -> fill, np.pad reflect."""
    x = np.asarray(cube, dtype=np.float32)
    out = ((x - stats.centre.astype(np.float32)) / stats.spread.astype(np.float32)).astype(np.float32)
    mask = nodata_mask(x, nodata)
    out[mask] = np.broadcast_to(stats.fill.astype(np.float32), x.shape)[mask]
    r = p // 2
    return np.pad(out, ((r, r), (r, r), (0, 0)), mode="reflect")


@pytest.mark.parametrize(("h", "w", "p"), [(7, 9, 3), (6, 5, 11), (2, 3, 3), (40, 33, 13), (5, 17, 9)])
def test_pad_scene_equals_numpy_reflect(h, w, p):
    cube = np.random.default_rng(h * w).standard_normal((h, w, 3)).astype(np.float32)
    r = p // 2
    assert np.array_equal(pad_scene(cube, p).numpy(), np.pad(cube, ((r, r), (r, r), (0, 0)), mode="reflect"))


@pytest.mark.parametrize("mode", ["standard", "minmax", "none"])
def test_normalized_padded_is_bit_identical_to_the_whole_cube_arithmetic(mode, monkeypatch):
    monkeypatch.setattr(normalization, "_BLOCK", 500)  # many row blocks on a small cube
    rng = np.random.default_rng(0)
    cube = (rng.standard_normal((31, 23, 7)) * 50 + 300).astype(np.float32)
    cube[3, 4, :] = FILL
    cube[10:12, 0, 2] = FILL
    stats = norm_stats(cube, mode, FILL)  # type: ignore[arg-type]
    got = normalized_padded(cube, stats, FILL, 7).numpy()
    want = _old_served(cube, stats, FILL, 7)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert np.array_equal(normalization.normalize_bands(cube, mode, FILL),  # type: ignore[arg-type]
                          _old_served(cube, stats, FILL, 1))


def test_band_stats_by_blocks_equals_numpy(monkeypatch):
    monkeypatch.setattr(normalization, "_BLOCK", 300)
    cube = np.random.default_rng(1).standard_normal((20, 30, 4)).astype(np.float32)
    cube[::3, ::5, 1] = FILL
    st = band_stats(cube, FILL)
    ref = np.where(cube == np.float32(FILL), np.nan, cube.astype(np.float64)).reshape(-1, 4)
    np.testing.assert_allclose(st.mean, np.nanmean(ref, 0), rtol=1e-12)
    np.testing.assert_allclose(st.std, np.nanstd(ref, 0), rtol=1e-12)
    assert np.array_equal(st.count, (~np.isnan(ref)).sum(0))
    assert outlier_bands(cube, FILL, band=st) == outlier_bands(cube, FILL)


def _datamodule(tmp_path, **kw) -> HSILidarDataModule:
    dm = HSILidarDataModule(scene="synthetic", root=str(tmp_path), split="per_class:5", patch_size=11, nodata=FILL, **kw)
    scene = make_synthetic_scene(height=160, width=128, num_classes=3, hsi_bands=48, seed=3)
    assert scene.hsi is not None
    scene.hsi[0, :6] = FILL  # a few nodata entries (unlabelled: row 0 of the synthetic scene is background)
    scene.labels[0, :6] = 0
    dm._scene = scene
    return dm


def test_setup_holds_one_padded_copy_beyond_the_scene(tmp_path, monkeypatch):
    """Normalising and padding the scene allocates the padded buffer and block-sized temporaries only.

    tracemalloc sees numpy's buffers; before issue 8 the peak was ~3x the cube (normalised copy, its float32
    cast, a whole-cube nodata mask, then np.pad), now padded + blocks.
    """
    monkeypatch.setattr(normalization, "_BLOCK", 20_000)  # temporaries of a few 100 kB against a 3.9 MB cube
    monkeypatch.setattr(normalization, "SAMPLE_PIXELS", 2_000)  # the outlier check's pixel sample (50,000 by default)
    dm = _datamodule(tmp_path)
    scene = dm.scene
    assert scene.hsi is not None
    dm.split  # noqa: B018 -- drawn outside the measurement
    tracemalloc.start()
    try:
        dm.setup("fit")  # one scan of each cube (statistics, nodata mask, checks)
        dm.serving.served()  # the normalised, padded scene: written at the first batch
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    padded = sum(t.numel() * 4 for t in dm.serving.padded.values())
    cubes = scene.hsi.nbytes + scene.lidar.nbytes
    assert peak <= padded + 0.25 * cubes, (peak / cubes, padded / cubes)
    ref = _old_served(scene.hsi, dm.norm_stats["hsi"], FILL, 11)
    assert np.array_equal(dm.serving.padded["hsi"].numpy(), ref)  # the served scene did not change


def test_training_statistics_are_applied_once(tmp_path):
    """load_state_dict before setup (the CLI's order): the scene is normalised once, with the loaded stats."""
    a = _datamodule(tmp_path)
    a.setup("fit")
    b = _datamodule(tmp_path)
    b.load_state_dict(a.state_dict())
    b.setup("predict")
    assert torch.equal(a.serving.padded["hsi"], b.serving.padded["hsi"])
    padded = b.serving.padded["hsi"]
    b.load_state_dict(a.state_dict())  # Lightning's restore after setup: same stats, nothing recomputed
    assert b.serving.padded["hsi"] is padded


def test_nodata_pixels_by_blocks(monkeypatch):
    monkeypatch.setattr(normalization, "_BLOCK", 50)
    cube = np.random.default_rng(2).standard_normal((13, 7, 4)).astype(np.float32)
    cube[2, 3, 1] = cube[12, 6, 3] = cube[5, 0, 0] = FILL
    want = nodata_mask(cube, FILL).any(axis=2)
    assert want.sum() == 3 and np.array_equal(normalization.nodata_pixels(cube, FILL), want)
    assert not normalization.nodata_pixels(cube, None).any()


def test_moving_the_scene_to_the_device_frees_the_host_copy(tmp_path):
    """After the padded scene moved to the batches' device, the host copy is released (not kept twice)."""
    dm = _datamodule(tmp_path)
    dm.setup("fit")
    index = torch.from_numpy(dm.split.train[:4])
    host = dm.gather(index)["hsi"]  # same device: nothing moves
    assert "hsi" in dm.serving.padded
    moved = dm.gather(index.to("meta"))  # another device (meta: shapes only, no memory)
    assert moved["hsi"].device.type == "meta" and moved["hsi"].shape == host.shape
    assert dm.serving.padded == {} and all(g.device.type == "meta" for g in dm.serving.gatherers.values())
