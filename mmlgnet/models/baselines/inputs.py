"""The checks every baseline network makes (one owner for each message): its integer constructor arguments
(`check_ints`) and its inputs before the first layer (`check_inputs`).

A wrong shape inside a layer fails with a message about that layer's weights; checked here first, the user is told
which tensor, its shape and the shape the constructor's `hsi_bands`, `lidar_bands` and `patch_size` ask for.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mmlgnet.errors import is_int


def check_ints(owner: str, values: Mapping[str, object],
               minimum: Mapping[str, tuple[int, str]] | None = None) -> None:
    """ValueError `<owner>: <name>=<value>; expected a positive integer` unless every value is an int (not a bool)
    >= 1; `minimum` raises that bound for some names, with the reason (`expected an integer >= 9 (why)`)."""
    for name, value in values.items():
        low, why = (minimum or {}).get(name, (1, ""))
        if not is_int(value) or value < low:
            expected = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise ValueError(f"{owner}: {name}={value!r}; expected {expected}" + (f" ({why})" if why else ""))


def check_inputs(owner: str, hsi: torch.Tensor, lidar: torch.Tensor, hsi_bands: int, lidar_bands: int,
                 patch_size: int) -> None:
    """ValueError naming `owner` unless hsi is (B, hsi_bands, P, P) and lidar (B, lidar_bands, P, P), one B."""
    p = patch_size
    for name, x, bands in (("hsi", hsi, hsi_bands), ("lidar", lidar, lidar_bands)):
        if x.ndim != 4 or tuple(x.shape[1:]) != (bands, p, p) or x.shape[0] != hsi.shape[0]:
            raise ValueError(f"{owner}: {name} has shape {tuple(x.shape)}; expected (B, {bands}, {p}, {p}) with "
                             "the same B as hsi (hsi_bands, lidar_bands and patch_size given to the constructor)")
