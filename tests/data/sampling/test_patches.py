"""Patch gathering against a naive per-pixel reference (borders included), normalisation, sampling."""

import numpy as np
import pytest
import torch

from mmlgnet.data.sampling.batches import PatchDataset, PixelBatchSampler, PixelIndexDataset
from mmlgnet.data.sampling.patches import PatchGatherer, check_patch_size, normalize_bands, pad_scene
from mmlgnet.errors import ConfigError


def _naive_patch(cube: np.ndarray, r: int, c: int, p: int) -> np.ndarray:
    """Reflect-indexed patch built pixel by pixel: the obvious, slow definition."""
    h, w, _ = cube.shape
    half = p // 2

    def reflect(i: int, n: int) -> int:
        while i < 0 or i >= n:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i

    out = np.empty((cube.shape[2], p, p), dtype=np.float32)
    for dy in range(p):
        for dx in range(p):
            out[:, dy, dx] = cube[reflect(r + dy - half, h), reflect(c + dx - half, w)]
    return out


@pytest.mark.parametrize("p", [1, 3, 7, 11])
def test_gather_matches_naive_reference_everywhere(p):
    rng = np.random.default_rng(p)
    cube = rng.normal(size=(13, 17, 4)).astype(np.float32)
    g = PatchGatherer(pad_scene(cube, p), width=17, patch_size=p)
    index = torch.arange(13 * 17)  # every pixel: corners and borders included
    got = g(index).numpy()
    assert got.shape == (13 * 17, 4, p, p)
    for flat in range(13 * 17):
        r, c = divmod(flat, 17)
        np.testing.assert_array_equal(got[flat], _naive_patch(cube, r, c, p))


def test_per_sample_dataset_equals_device_gather():
    rng = np.random.default_rng(1)
    cube = rng.normal(size=(9, 11, 3)).astype(np.float32)
    padded = pad_scene(cube, 5)
    index = rng.permutation(99)[:20]
    ds = PatchDataset({"hsi": padded.numpy()}, 11, 5, index, np.zeros(20, dtype=np.int64))
    g = PatchGatherer(padded, 11, 5)
    ref = torch.stack([ds[i]["hsi"] for i in range(20)])
    assert torch.equal(ref, g(torch.as_tensor(index)))


@pytest.mark.parametrize("bad", [0, 2, 8, -3])
def test_even_or_nonpositive_patch_size_rejected(bad):
    with pytest.raises(ValueError, match="odd"):
        check_patch_size(bad, 100, 100)


def test_patch_larger_than_scene_rejected():
    with pytest.raises(ValueError, match="too large"):
        check_patch_size(21, 8, 100)


def test_normalize_standard_and_minmax():
    rng = np.random.default_rng(0)
    cube = rng.normal(5, 3, size=(20, 30, 4)).astype(np.float32)
    cube[..., 3] = 7.0  # constant band -> 0, not NaN
    z = normalize_bands(cube, "standard")
    np.testing.assert_allclose(z[..., :3].mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(z[..., :3].std(axis=(0, 1)), 1, atol=1e-4)
    assert np.all(z[..., 3] == 0)
    m = normalize_bands(cube, "minmax")
    assert m[..., :3].min() == 0 and np.isclose(m[..., :3].max(), 1)


def test_batch_sampler_covers_and_shards():
    n, b = 103, 10
    single = list(PixelBatchSampler(n, b, shuffle=False))
    assert torch.equal(torch.cat(single), torch.arange(n))
    shards = [torch.cat(list(PixelBatchSampler(n, 5, shuffle=False, num_replicas=2, rank=r))) for r in (0, 1)]
    assert sorted(torch.cat(shards).tolist()) == list(range(n))  # eval: every pixel once, none twice


def test_train_sampler_ddp_union_equals_single_process_batches():
    n, world, b = 96, 2, 8
    one = list(PixelBatchSampler(n, world * b, shuffle=True, seed=3))
    ranks = [list(PixelBatchSampler(n, b, shuffle=True, seed=3, num_replicas=world, rank=r)) for r in range(world)]
    assert len(ranks[0]) == len(ranks[1]) == len(one)
    for k, batch in enumerate(one):
        union = torch.cat([ranks[r][k] for r in range(world)])
        assert sorted(union.tolist()) == sorted(batch.tolist())


def test_train_sampler_reshuffles_per_epoch_and_len_matches():
    s = PixelBatchSampler(49, 7, shuffle=True, seed=0)
    e0 = torch.cat(list(s))
    s.set_epoch(1)
    e1 = torch.cat(list(s))
    assert not torch.equal(e0, e1) and sorted(e0.tolist()) == sorted(e1.tolist())
    for n, bs in [(50, 7), (49, 8), (8, 8), (1, 4), (57, 8)]:
        for shuffle in (True, False):
            smp = PixelBatchSampler(n, bs, shuffle=shuffle)
            assert len(list(smp)) == len(smp)


def test_index_dataset_returns_indices_and_targets():
    ds = PixelIndexDataset(np.array([5, 9, 12]), np.array([0, 2, 1]))
    idx, tgt = ds[torch.tensor([2, 0])]
    assert idx.tolist() == [12, 5] and tgt.tolist() == [1, 0]


@pytest.mark.parametrize(("bad", "hint"), [(4, "--data.patch_size 5"), (-1, "--data.patch_size 11"), (2.0, "--data.patch_size 11")])
def test_patch_size_error_is_a_config_error_naming_the_option(bad, hint):
    with pytest.raises(ConfigError, match=hint):
        check_patch_size(bad)
    with pytest.raises(ConfigError, match="at most 15"):
        check_patch_size(17, 8, 100)
