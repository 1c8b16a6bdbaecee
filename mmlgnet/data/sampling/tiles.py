"""Tiles of a scene for streaming prediction: the grid, the tile size from a memory budget, and halo reads.

A tile's P×P patches need its pixels plus a halo of r = P // 2 on every side. `read_padded` reads the window
the halo needs (clipped to the scene) and builds the outside rows/columns by numpy's `reflect` rule, index
-i -> i and H - 1 + i -> H - 1 - i: exactly what `patches.pad_scene` does to the whole scene, so a tile's
patches equal the in-memory path's patches, borders included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["Tile", "TileGrid", "read_padded", "reflect_index", "tile_side"]

MIN_TILE, MAX_TILE = 32, 4096
_COPIES = 4  # float32 copies of a padded tile alive at once: raw read, normalised, torch tensor, gathered batch


class Windowed(Protocol):
    shape: tuple[int, int, int]

    def read(self, rows: slice, cols: slice) -> np.ndarray: ...


@dataclass(frozen=True)
class Tile:
    """Tile `id`: scene rows r0:r1, columns c0:c1."""

    id: int
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def height(self) -> int:
        return self.r1 - self.r0

    @property
    def width(self) -> int:
        return self.c1 - self.c0

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def flat_index(self, width: int) -> np.ndarray:
        """(h * w,) int64 flat scene indices (row * width + col) of the tile's pixels, in raster order."""
        rows = np.arange(self.r0, self.r1, dtype=np.int64)
        cols = np.arange(self.c0, self.c1, dtype=np.int64)
        return (rows[:, None] * width + cols[None, :]).reshape(-1)


class TileGrid:
    """Row-major grid of `side`×`side` tiles over an H×W scene (the last row/column of tiles may be smaller)."""

    def __init__(self, height: int, width: int, side: int) -> None:
        if side < 1:
            raise ValueError(f"tile side {side} must be >= 1")
        self.height, self.width, self.side = height, width, side
        self.rows, self.cols = math.ceil(height / side), math.ceil(width / side)

    def __len__(self) -> int:
        return self.rows * self.cols

    def __getitem__(self, i: int) -> Tile:
        if not 0 <= i < len(self):
            raise IndexError(i)
        tr, tc = divmod(i, self.cols)
        r0, c0 = tr * self.side, tc * self.side
        return Tile(i, r0, min(self.height, r0 + self.side), c0, min(self.width, c0 + self.side))


def tile_side(budget_bytes: float, channels: int, patch_size: int, height: int, width: int) -> int:
    """The side of square tiles whose padded float32 copies (_COPIES of them, all modalities) fit the budget.

    Clamped to [MIN_TILE, MAX_TILE] and to the scene (a scene smaller than one tile is one tile).
    """
    per_pixel = max(1, channels) * 4 * _COPIES
    side = int(math.isqrt(max(1, int(budget_bytes // per_pixel)))) - 2 * (patch_size // 2)
    return max(1, min(max(MIN_TILE, min(side, MAX_TILE)), max(height, width)))


def reflect_index(lo: int, hi: int, n: int) -> np.ndarray:
    """Source indices of positions lo..hi-1 of an axis of length n extended by reflection (numpy 'reflect').

    Valid for -n < lo and hi < 2n - 1, which P // 2 < min(H, W) (patches.check_patch_size) guarantees.
    """
    i = np.arange(lo, hi)
    i = np.where(i < 0, -i, i)
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


def read_padded(source: Windowed, tile: Tile, r: int) -> np.ndarray:
    """The tile's window with an r-pixel reflected halo: (h + 2r, w + 2r, C) float32, read by one window."""
    h, w, _ = source.shape
    rows = reflect_index(tile.r0 - r, tile.r1 + r, h)
    cols = reflect_index(tile.c0 - r, tile.c1 + r, w)
    r_lo, r_hi, c_lo, c_hi = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    window = source.read(slice(r_lo, r_hi), slice(c_lo, c_hi))  # (rows, cols, C)
    if rows[0] == r_lo and rows[-1] == r_hi - 1 and cols[0] == c_lo and cols[-1] == c_hi - 1:
        return window  # interior tile: no reflection needed
    return np.ascontiguousarray(window[np.ix_(rows - r_lo, cols - c_lo)])
