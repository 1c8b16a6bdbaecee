"""Band normalisation with a nodata value, and the warning for bands whose statistics are ruled by outliers."""

from __future__ import annotations

import numpy as np
import pytest

from mmlgnet.data.sampling.normalization import normalize_bands, outlier_bands
from mmlgnet.data.scenes.synthetic import make_synthetic_scene

FILL = 1e30


def _cube_with_fill() -> tuple[np.ndarray, np.ndarray]:
    """(H, W, C) float32 cube, and a copy in which pixel (2, 3) holds the fill value in every band."""
    cube = np.random.default_rng(0).normal(5, 3, size=(12, 15, 4)).astype(np.float32)
    bad = cube.copy()
    bad[2, 3, :] = FILL
    return cube, bad


def _without_pixel(cube: np.ndarray, mode: str) -> np.ndarray:
    """The reference: each band normalised by the statistics of every pixel except (2, 3), in float64."""
    keep = np.ones(cube.shape[:2], bool)
    keep[2, 3] = False
    x = cube.astype(np.float64)
    rest = x[keep]  # (N - 1, C)
    if mode == "standard":
        return (x - rest.mean(0)) / rest.std(0)
    return (x - rest.min(0)) / np.ptp(rest, 0)


def test_one_fill_value_squashes_its_band_without_nodata() -> None:
    _, bad = _cube_with_fill()
    z = normalize_bands(bad, "standard")
    ordinary = np.delete(z.reshape(-1, 4), 2 * 15 + 3, axis=0)
    assert ordinary.std(0).max() < 1e-3  # every other pixel lies in a sliver around one value: the band is lost


@pytest.mark.parametrize("mode", ["standard", "minmax"])
def test_nodata_is_left_out_of_the_statistics_and_filled_with_the_mean(mode: str) -> None:
    cube, bad = _cube_with_fill()
    got = normalize_bands(bad, mode, nodata=FILL)  # type: ignore[arg-type]
    want = _without_pixel(cube, mode)
    mask = np.ones(cube.shape[:2], bool)
    mask[2, 3] = False
    np.testing.assert_allclose(got[mask], want[mask], rtol=1e-5, atol=1e-5)
    keep = cube[mask].astype(np.float64)
    filled = (keep.mean(0) - (keep.mean(0) if mode == "standard" else keep.min(0))) / (
        keep.std(0) if mode == "standard" else np.ptp(keep, 0))
    np.testing.assert_allclose(got[2, 3], filled, atol=1e-5)  # the band mean: 0 after z-scoring
    if mode == "standard":
        np.testing.assert_allclose(got[2, 3], 0.0, atol=1e-6)


def test_nodata_compared_in_float32_and_per_band() -> None:
    cube = np.random.default_rng(1).normal(size=(6, 7, 3)).astype(np.float32)
    cube[0, 0, 1] = -9999.0  # one band only: the other bands keep their value at (0, 0)
    cube[4, 4, 2] = np.float32(1e30)
    got = normalize_bands(cube, "none", nodata=-9999)
    assert got[0, 0, 1] == pytest.approx(np.delete(cube[:, :, 1].ravel(), 0).mean(), abs=1e-6)
    assert got[0, 0, 0] == cube[0, 0, 0] and got[0, 0, 2] == cube[0, 0, 2]
    assert normalize_bands(cube, "standard", nodata=1e30)[4, 4, 2] == pytest.approx(0.0, abs=1e-6)


def test_band_of_nothing_but_nodata_maps_to_zero() -> None:
    cube = np.ones((3, 4, 2), np.float32)
    cube[:, :, 1] = -1
    assert np.all(normalize_bands(cube, "standard", nodata=-1)[:, :, 1] == 0)


def test_outlier_band_found_and_nodata_silences_it() -> None:
    cube, bad = _cube_with_fill()
    assert outlier_bands(cube) == []
    found = outlier_bands(bad)
    assert [b.band for b in found] == [0, 1, 2, 3]
    assert found[0].value == pytest.approx(FILL, rel=1e-6) and found[0].spreads > 1e20
    assert "band 0" in found[0].describe()
    assert outlier_bands(bad, nodata=FILL) == []


def test_no_false_alarm_on_ordinary_scenes() -> None:
    for seed in range(3):
        s = make_synthetic_scene(height=40, width=50, lidar_bands=2, seed=seed)
        assert outlier_bands(s.hsi) == [] and outlier_bands(s.lidar) == []
    rng = np.random.default_rng(0)
    heavy = rng.standard_t(3, size=(100, 100, 1)) * 2 + 10  # heavy tails: extremes tens of spreads out, not 1e3
    sparse = (rng.uniform(size=(100, 100, 1)) < 0.01).astype(np.float32)  # a rare-event mask: MAD = IQR = 0
    assert outlier_bands(heavy) == [] and outlier_bands(sparse) == []
