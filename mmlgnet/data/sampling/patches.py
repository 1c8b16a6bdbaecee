"""Reflect padding and vectorised P×P patch gathering from a padded scene tensor (normalisation: normalization.py)."""

from __future__ import annotations

import numpy as np
import torch

from mmlgnet.data.sampling.normalization import Normalization, NormStats, normalize_bands, normalize_into
from mmlgnet.errors import ConfigError, is_int

__all__ = ["Normalization", "PatchGatherer", "check_patch_size", "normalize_bands", "normalized_padded", "pad_scene",
           "reflect_borders"]


def check_patch_size(patch_size: int, height: int | None = None, width: int | None = None) -> int:
    """Validate P: odd and ≥ 1; with a scene size, also half-width < min(H, W) (reflect padding needs that)."""
    if not is_int(patch_size) or patch_size < 1 or patch_size % 2 == 0:
        hint = patch_size + 1 if is_int(patch_size) and patch_size > 0 else 11
        raise ConfigError(
            f"--data.patch_size {patch_size}: expected a positive odd integer so the patch is centred on its pixel "
            f"(e.g. --data.patch_size {hint})."
        )
    if height is not None and width is not None and patch_size // 2 >= min(height, width):
        largest = 2 * (min(height, width) - 1) + 1
        raise ConfigError(f"--data.patch_size {patch_size} is too large for a {height}×{width} scene: use an odd "
                          f"value of at most {largest}.")
    return patch_size


def pad_scene(cube: np.ndarray, patch_size: int) -> torch.Tensor:
    """(H, W, C) -> channel-last padded (H + 2r, W + 2r, C) float32 tensor, r = P // 2, reflect mode.

    Equal to np.pad(mode="reflect"), written into one preallocated buffer (np.pad plus a float32 cast could
    hold two padded copies at once).
    """
    x = np.asarray(cube)
    r = patch_size // 2
    h, w, c = x.shape
    padded = np.empty((h + 2 * r, w + 2 * r, c), dtype=np.float32)  # (H + 2r, W + 2r, C)
    padded[r:r + h, r:r + w] = x
    reflect_borders(padded, r)
    return torch.from_numpy(padded)


def normalized_padded(cube: np.ndarray, stats: NormStats, nodata: float | None, patch_size: int,
                      masks: list[np.ndarray | None] | None = None) -> torch.Tensor:
    """The normalised (normalize_into), reflect-padded scene as ONE new (H + 2r, W + 2r, C) float32 tensor.

    Bit-identical to pad_scene(normalize_bands(cube, stats=stats)), without the normalised intermediate: the
    peak is the raw cube plus this buffer (issue 8: ~2x the scene's bytes, not 4x). `masks`: the row blocks'
    nodata masks of a scan (mmlgnet.data.sampling.scan), not rebuilt.
    """
    r = patch_size // 2
    h, w, c = cube.shape
    padded = np.empty((h + 2 * r, w + 2 * r, c), dtype=np.float32)  # (H + 2r, W + 2r, C)
    normalize_into(cube, stats, nodata, padded[r:r + h, r:r + w], masks)
    reflect_borders(padded, r)
    return torch.from_numpy(padded)


def reflect_borders(padded: np.ndarray, r: int) -> None:
    """Fill the r-pixel border of a (H + 2r, W + 2r, C) array, in place, by reflecting its interior.

    numpy's "reflect" (the edge not repeated: row -k is row k), rows first, then columns over every row
    (corners are reflections of reflections), exactly as np.pad does it; needs r < H and r < W.
    """
    hp, wp = padded.shape[:2]
    h, w = hp - 2 * r, wp - 2 * r
    for k in range(1, r + 1):
        padded[r - k, r:r + w] = padded[r + k, r:r + w]
        padded[r + h - 1 + k, r:r + w] = padded[r + h - 1 - k, r:r + w]
    for k in range(1, r + 1):
        padded[:, r - k] = padded[:, r + k]
        padded[:, r + w - 1 + k] = padded[:, r + w - 1 - k]


class PatchGatherer:
    """Cuts P×P patches around flat pixel indices with ONE index_select on the padded scene.

    The padded scene is stored flat as (Hp * Wp, C). For the pixel (r, c) its patch's top-left in padded
    coordinates is (r, c), so the patch's flat indices are r * Wp + c + offsets, offsets = dy * Wp + dx.
    Works on any device: move it with `.to(device)` and feed indices on the same device.
    """

    def __init__(self, padded: torch.Tensor, width: int, patch_size: int) -> None:
        hp, wp, c = padded.shape
        self.flat = padded.reshape(hp * wp, c)  # (Hp * Wp, C)
        self.width, self.padded_width, self.patch_size, self.channels = width, wp, patch_size, c
        d = torch.arange(patch_size)
        self.offsets = (d[:, None] * wp + d[None, :]).reshape(-1)  # (P * P,)

    def to(self, device: torch.device | str) -> PatchGatherer:
        out = PatchGatherer.__new__(PatchGatherer)
        out.__dict__.update(self.__dict__)
        out.flat, out.offsets = self.flat.to(device), self.offsets.to(device)
        return out

    @property
    def device(self) -> torch.device:
        return self.flat.device

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """index: (B,) int64 flat pixel indices (row * W + col) -> (B, C, P, P) float32."""
        rows, cols = index // self.width, index % self.width
        top_left = rows * self.padded_width + cols  # (B,)
        lin = (top_left[:, None] + self.offsets[None, :]).reshape(-1)  # (B * P * P,)
        p = self.patch_size
        patches = self.flat.index_select(0, lin).view(-1, p, p, self.channels)  # (B, P, P, C)
        return patches.permute(0, 3, 1, 2)  # (B, C, P, P), channels-last in memory
