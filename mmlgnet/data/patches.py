"""Reflect padding and vectorised P×P patch gathering from a padded scene tensor (normalisation: normalization.py)."""

from __future__ import annotations

import numpy as np
import torch

from mmlgnet.data.normalization import Normalization, normalize_bands
from mmlgnet.errors import ConfigError

__all__ = ["Normalization", "PatchGatherer", "check_patch_size", "normalize_bands", "pad_scene"]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_patch_size(patch_size: int, height: int | None = None, width: int | None = None) -> int:
    """Validate P: odd and ≥ 1; with a scene size, also half-width < min(H, W) (reflect padding needs that)."""
    if not _is_int(patch_size) or patch_size < 1 or patch_size % 2 == 0:
        hint = patch_size + 1 if _is_int(patch_size) and patch_size > 0 else 11
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
    """(H, W, C) -> channel-last padded (H + 2r, W + 2r, C) float32 tensor, r = P // 2, reflect mode."""
    r = patch_size // 2
    padded = np.pad(cube, ((r, r), (r, r), (0, 0)), mode="reflect")
    return torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32))


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
