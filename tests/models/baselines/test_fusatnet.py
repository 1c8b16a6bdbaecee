"""FusAtNet's specifics (the contract's shared checks, with its reference count, are in test_contract.py)."""

from __future__ import annotations

import pytest

from mmlgnet.models.baselines.fusatnet import FusAtNet


@pytest.mark.parametrize("patch", [9, 7, 1])
def test_patch_smaller_than_the_reference_is_refused(patch: int) -> None:
    with pytest.raises(ValueError, match=r"FusAtNet: patch_size=\d+; expected an integer >= 11"):
        FusAtNet(hsi_bands=10, lidar_bands=2, patch_size=patch, out_dim=4)
