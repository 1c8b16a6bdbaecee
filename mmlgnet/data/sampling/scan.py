"""One pass over a modality's cube: its band statistics, its nodata mask and the outlier check's sample together.

Issue 16 item 5 (each byte read once): fit used to compare the cube with the nodata value three times (band
statistics, the labelled-pixel check, the normalisation) and the prediction map a fourth. `scan_cube` builds
each row block's nodata mask ONCE and hands it on:

- the band statistics (normalization.Moments, the same row blocks as band_stats: the same bits);
- the (H, W) nodata pixels (`void`: some band equals nodata), from which the labelled-pixel rule
  (mmlgnet.data.scenes.labelled_nodata) and the prediction map's nodata pixels are read;
- the outlier check's fixed-stride pixel sample with its mask (normalization.outlier_bands_sampled);
- the masks of the row blocks that hold nodata, bit-packed (at most 1/32 of a float32 cube's bytes), which the
  normalisation (normalization.normalize_into) uses instead of comparing the cube again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmlgnet.data.sampling.normalization import BandStats, Moments, nodata_mask, row_blocks, sample_stride

__all__ = ["CubeScan", "scan_cube"]


@dataclass
class CubeScan:
    """What one pass over an (H, W, C) cube found (nodata compared in float32, as the normalisation does)."""

    stats: BandStats
    void: np.ndarray | None  # (H, W) bool: some band equals nodata; None without a nodata value
    sample: np.ndarray  # (N_sample, C) float32: the pixels outlier_bands samples (a fixed stride)
    sample_bad: np.ndarray | None  # (N_sample, C) bool: their nodata entries; None without a nodata value
    packed: list[np.ndarray | None] = field(default_factory=list)  # per row block: np.packbits(mask) or None

    def masks(self, shape: tuple[int, ...]) -> list[np.ndarray | None]:
        """The row blocks' (h, W, C) nodata masks (None: no nodata in the block) for a cube of `shape`."""
        out: list[np.ndarray | None] = []
        for rows, bits in zip(row_blocks(shape), self.packed, strict=True):
            if bits is None:
                out.append(None)
                continue
            h = rows.stop - rows.start
            n = h * shape[1] * shape[2]
            out.append(np.unpackbits(bits, count=n).view(bool).reshape(h, shape[1], shape[2]))
        return out

    def release_masks(self) -> None:
        """Drop the packed masks once the cube is normalised (the (H, W) void stays: the prediction map's)."""
        self.packed = []


def scan_cube(cube: np.ndarray, nodata: float | None) -> CubeScan:
    """Band statistics (count, mean, std, min, max of the entries that are not nodata), nodata pixels, packed
    nodata masks and the outlier sample of an (H, W, C) cube, in ONE pass over float32 row blocks.

    The statistics equal band_stats(np.asarray(cube, np.float32), nodata) bit for bit (same blocks, same order);
    the sample equals outlier_bands' (every sample_stride(H * W)-th pixel). Memory: one block's temporaries,
    plus (H, W) bools and the packed masks of the blocks holding nodata.
    """
    h, w, c = cube.shape
    stride = sample_stride(h * w)
    moments = Moments(c)
    void = np.zeros((h, w), dtype=bool) if nodata is not None else None
    picked: list[np.ndarray] = []
    picked_bad: list[np.ndarray] = []
    packed: list[np.ndarray | None] = []
    for rows in row_blocks(cube.shape):
        block = np.asarray(cube[rows], dtype=np.float32)  # (h_b, W, C): a view for float32 cubes
        flat = block.reshape(-1, c)  # (h_b * W, C)
        first = -(rows.start * w) % stride  # the first sampled pixel of this block (global index multiple of stride)
        picked.append(flat[first::stride])
        if nodata is None:
            moments.add(flat, None)
            packed.append(None)
            continue
        mask = nodata_mask(block, nodata)  # (h_b, W, C): built once, used four ways
        bad = mask.reshape(-1, c)
        moments.add(flat, bad)
        assert void is not None
        void[rows] = mask.any(axis=2)
        picked_bad.append(bad[first::stride])
        packed.append(np.packbits(mask.reshape(-1)) if void[rows].any() else None)
    sample = np.concatenate(picked) if picked else np.zeros((0, c), dtype=np.float32)
    bad_sample = np.concatenate(picked_bad) if nodata is not None and picked_bad else None
    return CubeScan(moments.result(), void, sample, bad_sample, packed)
