"""The input check every baseline network makes before its first layer (one owner for the message).

A wrong shape inside a layer fails with a message about that layer's weights; checked here first, the user is told
which tensor, its shape and the shape the constructor's `hsi_bands`, `lidar_bands` and `patch_size` ask for.
"""

from __future__ import annotations

import torch


def check_inputs(owner: str, hsi: torch.Tensor, lidar: torch.Tensor, hsi_bands: int, lidar_bands: int,
                 patch_size: int) -> None:
    """ValueError naming `owner` unless hsi is (B, hsi_bands, P, P) and lidar (B, lidar_bands, P, P), one B."""
    p = patch_size
    for name, x, bands in (("hsi", hsi, hsi_bands), ("lidar", lidar, lidar_bands)):
        if x.ndim != 4 or tuple(x.shape[1:]) != (bands, p, p) or x.shape[0] != hsi.shape[0]:
            raise ValueError(f"{owner}: {name} has shape {tuple(x.shape)}; expected (B, {bands}, {p}, {p}) with "
                             "the same B as hsi (hsi_bands, lidar_bands and patch_size given to the constructor)")
