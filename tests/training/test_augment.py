"""Training-time augmentation (mmlgnet.training.augment, MMLGNetModule.training_step): one flip/rotation per sample,
the same for HSI and LiDAR, each kind the distribution of its reference's procedure, training batches only, and
reproducible for a run seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlgnet.training import augment
from mmlgnet.training.module import MMLGNetModule

P = 5


def _corner_batch(b: int) -> dict[str, torch.Tensor]:
    """hsi (B, 3, P, P) and lidar (B, 1, P, P), zero but for a marker in the top-left corner and a weaker one
    beside it (so that every symmetry moves them differently)."""
    hsi, lidar = torch.zeros(b, 3, P, P), torch.zeros(b, 1, P, P)
    for x in (hsi, lidar):
        x[:, :, 0, 0], x[:, :, 0, 1] = 2.0, 1.0
    return {"hsi": hsi, "lidar": lidar, "target": torch.arange(b), "index": torch.arange(b)}


def _symmetry_of(x: torch.Tensor) -> int:
    """Which symmetry turned the corner marker of one patch (C, P, P) into x."""
    ref = _corner_batch(1)["lidar"][0, :1]
    hits = [s for s in range(8) if torch.equal(augment.transform(ref, s), x[:1])]
    assert len(hits) == 1
    return hits[0]


def test_same_transform_on_both_modalities_per_sample():
    batch = _corner_batch(256)
    out = augment.augment_batch(batch, ("hsi", "lidar"), "dihedral", augment.step_generator(0, 0, 0))
    seen = []
    for i in range(256):
        s = _symmetry_of(out["lidar"][i])
        assert all(_symmetry_of(out["hsi"][i, c:c + 1]) == s for c in range(3))  # every band, same as LiDAR
        seen.append(s)
    assert set(seen) == set(range(8))  # per sample, all 8 symmetries in a batch of 256
    assert torch.equal(out["target"], batch["target"]) and torch.equal(out["index"], batch["index"])
    assert torch.equal(batch["hsi"], _corner_batch(256)["hsi"])  # the input batch is not changed in place


def test_orientations_are_numpys():
    x = torch.arange(2 * P * P, dtype=torch.float32).reshape(2, P, P)  # (C, H, W)
    a = x.permute(1, 2, 0).numpy()  # (H, W, C), as the references hold patches
    expected = {augment.HFLIP: np.fliplr(a), augment.VFLIP: np.flipud(a), augment.ROT90: np.rot90(a, 1),
                augment.ROT180: np.rot90(a, 2), augment.ROT270: np.rot90(a, 3)}
    for s, want in expected.items():
        assert np.array_equal(augment.transform(x, s).permute(1, 2, 0).numpy(), want), s


def _frequencies(kind: str, n: int = 40000) -> np.ndarray:
    which = augment.draw(kind, n, augment.step_generator(5, 1, 2))
    return np.bincount(which.numpy(), minlength=8) / n


def _reference_frequencies(procedure, n: int = 40000) -> np.ndarray:
    """Run a reference's own numpy procedure on a marker patch n times; the frequency of each resulting symmetry."""
    rng = np.random.default_rng(0)
    marker = _corner_batch(1)["lidar"][0].permute(1, 2, 0).numpy()  # (H, W, 1)
    images = [augment.transform(torch.from_numpy(marker).permute(2, 0, 1), s).permute(1, 2, 0).numpy()
              for s in range(8)]
    counts = np.zeros(8)
    for _ in range(n):
        out = procedure(marker, rng)
        counts[next(s for s in range(8) if np.array_equal(images[s], out))] += 1
    return counts / n


def _toolkit_flip_augmentation(a, rng):  # likyoo toolkit datasets.py MultiModalX.__getitem__ (flip_augmentation)
    if rng.random() > 0.5:
        if rng.random() > 0.5:
            a = np.fliplr(a)
        if rng.random() > 0.5:
            a = np.flipud(a)
        return a
    if rng.random() > 0.5:
        a = np.rot90(a, k=rng.choice([1, 2, 3]))
    return a


def _two_branch_copies(a, rng):  # data_util.py creat_train: one of its four stored copies
    copies = [a, np.flip(a, axis=0), np.flip(a, axis=1), np.rot90(a, k=rng.integers(4))]
    return copies[rng.integers(4)]


def _fusatnet_copies(a, rng):  # data_prepare.py: the patch and its 90/180/270° rotations
    return np.rot90(a, k=rng.integers(4))


@pytest.mark.parametrize(("kind", "procedure"), [("flip_or_rot90", _toolkit_flip_augmentation),
                                                 ("two_branch", _two_branch_copies), ("rot90", _fusatnet_copies)])
def test_kinds_have_their_references_distribution(kind, procedure):
    mine, theirs = _frequencies(kind), _reference_frequencies(procedure)
    assert np.allclose(mine, augment.KINDS[kind], atol=0.012)  # the draw follows the table
    assert np.allclose(theirs, augment.KINDS[kind], atol=0.012)  # the table is the reference's procedure


def test_every_kind_is_a_distribution():
    for kind, probs in augment.KINDS.items():
        assert len(probs) == 8 and sum(probs) == pytest.approx(1.0), kind
    assert np.allclose(_frequencies("flip"), [0.25, 0, 0.25, 0, 0.25, 0.25, 0, 0], atol=0.012)


def test_two_branch_noise_only_on_horizontal_flips():
    batch = _corner_batch(512)
    g = augment.step_generator(3, 0, 0)
    which = augment.draw("two_branch", 512, augment.step_generator(3, 0, 0))
    out = augment.augment_batch(batch, ("hsi", "lidar"), "two_branch", g)
    h = which == augment.HFLIP
    assert 0 < int(h.sum()) < 512
    for m, sigma in (("hsi", 0.01), ("lidar", 0.03)):
        clean = torch.stack([augment.transform(batch[m][i], int(s)) for i, s in enumerate(which)])
        assert torch.equal(out[m][~h], clean[~h])  # no noise on the other copies
        residual = out[m][h] - clean[h]
        assert float(residual.std()) == pytest.approx(sigma, rel=0.1) and float(residual.abs().min()) > 0


def test_none_and_patch_size_one_change_nothing():
    batch = _corner_batch(8)
    assert augment.augment_batch(batch, ("hsi", "lidar"), "none", augment.step_generator(0)) == batch
    pixel = {"hsi": torch.randn(8, 3, 1, 1), "lidar": torch.randn(8, 1, 1, 1)}
    out = augment.augment_batch(pixel, ("hsi", "lidar"), "dihedral", augment.step_generator(0))
    assert torch.equal(out["hsi"], pixel["hsi"]) and torch.equal(out["lidar"], pixel["lidar"])
    only_hsi = augment.augment_batch({"hsi": batch["hsi"]}, ("hsi", "lidar"), "dihedral", augment.step_generator(0))
    assert only_hsi["hsi"].shape == batch["hsi"].shape and "lidar" not in only_hsi  # single-modality runs


def test_reproducible_for_a_seed_and_different_between_seeds():
    def run(*parts: int) -> torch.Tensor:
        return augment.augment_batch(_corner_batch(64), ("hsi", "lidar"), "dihedral",
                                     augment.step_generator(*parts))["lidar"]

    assert torch.equal(run(7, 0, 3, 0), run(7, 0, 3, 0))
    assert not torch.equal(run(7, 0, 3, 0), run(8, 0, 3, 0))  # another seed
    assert not torch.equal(run(7, 0, 3, 0), run(7, 0, 4, 0))  # another batch of the same run
    assert not torch.equal(run(7, 0, 3, 0), run(7, 0, 3, 1))  # another DDP rank


def _module(kind: augment.AugmentName) -> MMLGNetModule:
    torch.manual_seed(0)
    return MMLGNetModule(num_classes=3, hsi_channels=3, lidar_channels=1, patch_size=P, head="linear",
                         hsi_widths=(4,), lidar_widths=(4,), fusion_dim=8, embed_dim=8, augment=kind)


def _seen_by_forward(module: MMLGNetModule, call) -> list[dict[str, torch.Tensor]]:
    seen: list[dict[str, torch.Tensor]] = []
    forward = module.forward

    def spy(batch):
        seen.append({k: v.clone() for k, v in batch.items()})
        return forward(batch)

    module.forward = spy  # type: ignore[method-assign]
    call()
    return seen


def test_module_augments_training_batches_only(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    batch = _corner_batch(32)
    batch["target"] = batch["target"] % 3
    on, off = _module("dihedral"), _module("none")
    off.load_state_dict(on.state_dict())
    on.eval(), off.eval()
    for step in ("validation_step", "test_step", "predict_step"):  # identical batches and results
        got_on = _seen_by_forward(on, lambda s=step: getattr(on, s)(batch, 0))
        got_off = _seen_by_forward(off, lambda s=step: getattr(off, s)(batch, 0))
        assert torch.equal(got_on[0]["hsi"], batch["hsi"]) and torch.equal(got_off[0]["lidar"], batch["lidar"])
    assert torch.equal(on.predict_step(batch, 0)["pred"], off.predict_step(batch, 0)["pred"])
    on.train()
    first = _seen_by_forward(on, lambda: on.training_step(batch, 0))[0]
    again = _seen_by_forward(on, lambda: on.training_step(batch, 0))[0]
    assert not torch.equal(first["hsi"], batch["hsi"])  # training: flipped/rotated
    assert torch.equal(first["hsi"], again["hsi"])  # same seed, epoch, batch: same draws
    syms = [_symmetry_of(first["lidar"][i]) for i in range(32)]
    assert syms == [_symmetry_of(first["hsi"][i, :1]) for i in range(32)]
    monkeypatch.setenv("PL_GLOBAL_SEED", "12")
    other = _seen_by_forward(on, lambda: on.training_step(batch, 0))[0]
    assert not torch.equal(first["hsi"], other["hsi"])  # another run seed: other draws
    off.train()
    assert torch.equal(_seen_by_forward(off, lambda: off.training_step(batch, 0))[0]["hsi"], batch["hsi"])
