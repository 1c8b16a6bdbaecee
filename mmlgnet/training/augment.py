"""Training-time patch augmentation: the same random flip/rotation of a sample's HSI and LiDAR patches (pure torch).

MMLGNetModule.training_step calls `augment_batch` on the batch tensors (B, C, P, P) of every served modality;
validation, test and predict never see it. Each sample gets one of the 8 symmetries of the square (the dihedral
group D4: identity, 3 rotations, 4 reflections) drawn per sample from the kind's distribution, applied IDENTICALLY
to all its modalities; P is odd, so the centre pixel (whose class is the target) stays in place. The draws come
from a torch.Generator seeded from (run seed, epoch, batch index, rank) (`step_generator`): a run is reproducible
for its seed, a resumed run draws what the uninterrupted one would, and DDP ranks draw differently.

Kinds (flip, rot90, flip_or_rot90 and two_branch are the distributions of the references' own augmentations):
    none: no change.
    flip: a horizontal flip with p = 1/2 and, independently, a vertical flip with p = 1/2 (the likyoo toolkit's
        datasets.py MultiModalX.flip): identity, h, v, rot180 with 1/4 each.
    rot90: a rotation by k·90°, k uniform in {0, 1, 2, 3} (FusAtNet's data_prepare.py, which instead stores the
        0/90/180/270° copies of every training patch: 4x the set per epoch).
    dihedral: each of the 8 symmetries with 1/8.
    flip_or_rot90: with p = 1/2 `flip`, else with p = 1/2 a rotation by 90°, 180° or 270° (uniform), else none
        (the toolkit's --flip_augmentation, S²ENet's README command): identity 3/8, h 1/8, v 1/8, rot180 5/24,
        rot90 1/12, rot270 1/12.
    two_branch: one of Two-Branch CNN's four stored copies (data_util.py creat_train), 1/4 each: as is, flipped
        vertically, flipped horizontally + Gaussian noise (σ 0.01 on HSI, 0.03 on LiDAR, per element), rotated by
        k·90° with k uniform in {0..3}: identity 5/16, v 1/4, h (+ noise) 1/4, rot90/180/270 1/16 each.
Horizontal = the width axis (numpy fliplr on (H, W, C)), vertical = the height axis (flipud); rotations turn as
numpy's rot90 (counter-clockwise in the (H, W) plane), torch.rot90(dims=(-2, -1)) on (B, C, H, W).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

AugmentName = Literal["none", "flip", "rot90", "dihedral", "flip_or_rot90", "two_branch"]

# The 8 symmetries, each as (k, flip): first a horizontal flip when `flip`, then a rotation by k·90°.
# Names: id, rot90, rot180, rot270, h (= flip), v (= rot180 after h), t1 = transpose (rot90 after h), t2 = anti-transpose.
SYMMETRIES: tuple[tuple[int, bool], ...] = ((0, False), (1, False), (2, False), (3, False),
                                            (0, True), (2, True), (1, True), (3, True))
ID, ROT90, ROT180, ROT270, HFLIP, VFLIP, T1, T2 = range(8)

# kind -> probability of each symmetry (indexed as SYMMETRIES)
_R = 1.0 / 12
KINDS: dict[str, tuple[float, ...]] = {
    "none": (1, 0, 0, 0, 0, 0, 0, 0),
    "flip": (0.25, 0, 0.25, 0, 0.25, 0.25, 0, 0),
    "rot90": (0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0),
    "dihedral": (0.125,) * 8,
    "flip_or_rot90": (0.375, _R, 0.125 + _R, _R, 0.125, 0.125, 0, 0),
    "two_branch": (0.3125, 0.0625, 0.0625, 0.0625, 0.25, 0.25, 0, 0),
}
# kind -> Gaussian noise σ per modality, added to the samples drawn with symmetry HFLIP only (Two-Branch CNN's
# creat_train: np.random.normal(0, 0.01) on the HSI patch, (0, 0.03) on the LiDAR patch of its h-flipped copy)
NOISE: dict[str, dict[str, float]] = {"two_branch": {"hsi": 0.01, "lidar": 0.03}}
_MASK = (1 << 64) - 1


def step_generator(seed: int, *parts: int) -> torch.Generator:
    """A CPU generator for one training batch, its seed a SplitMix64 mix of the run seed and `parts` (the module
    gives epoch, batch index, rank: unique per batch, the same again when a fit is resumed)."""
    x = 0
    for part in (seed, *parts):
        x = _splitmix64((x ^ (part & _MASK)) & _MASK)
    return torch.Generator().manual_seed(x & ((1 << 63) - 1))


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def transform(x: torch.Tensor, symmetry: int) -> torch.Tensor:
    """One symmetry (an index into SYMMETRIES) of patches x (..., P, P) -> (..., P, P)."""
    k, flip = SYMMETRIES[symmetry]
    if flip:
        x = x.flip(-1)  # horizontal: the width axis
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def draw(kind: str, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Symmetry indices (B,) int64 on the CPU, drawn per sample from `kind`'s distribution."""
    if kind not in KINDS:
        raise ValueError(f"augment {kind!r}: expected one of {list(KINDS)}")
    probs = torch.tensor(KINDS[kind], dtype=torch.float64)  # (8,)
    return torch.multinomial(probs, batch_size, replacement=True, generator=generator)  # (B,)


def augment_batch(batch: Mapping[str, torch.Tensor], modalities: tuple[str, ...], kind: str,
                  generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A copy of `batch` whose `modalities` patches (B, C, P, P) are transformed per sample, the same symmetry for
    every modality of a sample; other entries (target, index) pass through. `none` returns the batch unchanged."""
    out = dict(batch)
    present = [m for m in modalities if batch.get(m) is not None]
    if kind == "none" or not present:
        return out
    b = int(batch[present[0]].shape[0])
    which = draw(kind, b, generator)  # (B,)
    sigma = NOISE.get(kind, {})
    noise = {m: torch.randn(batch[m][which == HFLIP].shape, generator=generator, dtype=batch[m].dtype)
             for m in present if sigma.get(m, 0.0) > 0}  # (n_h, C, P, P) each, drawn after `which`
    for m in present:
        x = batch[m]  # (B, C, P, P)
        y = x.clone()
        if m in noise:
            rows = (which == HFLIP).nonzero().flatten().to(x.device)
            y[rows] = x[rows] + sigma[m] * noise[m].to(x.device)
        for s in which.unique().tolist():
            if s == ID:
                continue
            rows = (which == s).nonzero().flatten().to(x.device)  # the samples drawn with symmetry s
            y[rows] = transform(y[rows], s)
        out[m] = y
    return out
