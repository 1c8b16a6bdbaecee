"""MFT's specifics (the contract's shared checks, with its reference count, are in test_contract.py): the
reference count's arithmetic, the spectral kernel's minimum band count."""

from __future__ import annotations

import pytest

from mmlgnet.models.baselines.mft import MFT
from tests.models.baselines.test_contract import MFT_PATCH, MFT_TOTALS, SCENES


def arithmetic_total(hsi: int, lidar: int, classes: int) -> int:
    """With S = 8·(C1 − 8) and g = 16 if S % 16 == 0 else 8:
    672 (Conv3d + BN3d) + [64·(S/g)·9 + 64] + [64·S + 64] + 128 (HetConv + BN) + [9·64·C2 + 64 + 128] (LiDAR)
    + 2·100,736 (blocks) + 128 (final LN) + 8,832 + 65·K"""
    s = 8 * (hsi - 8)
    g = 16 if s % 16 == 0 else 8
    hetconv = 64 * (s // g) * 9 + 64 + 64 * s + 64 + 128
    return 672 + hetconv + 9 * 64 * lidar + 64 + 128 + 2 * 100_736 + 128 + 8_832 + 65 * classes


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_reference_count_equals_the_arithmetic(scene: str) -> None:
    """The instantiated reference's count (test_contract checks ours against it) agrees with the arithmetic."""
    assert MFT_TOTALS[scene] == arithmetic_total(*SCENES[scene])


def test_too_few_hsi_bands_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^MFT: hsi_bands=8; expected an integer >= 9 \(the 3-D convolution's spectral kernel spans 9 bands\)$"):
        MFT(hsi_bands=8, lidar_bands=1, patch_size=MFT_PATCH, out_dim=MFT.reference_out_dim)
