"""S2ENet's specifics (the contract's shared checks, with its reference count, are in test_contract.py): the
reference count's arithmetic."""

from __future__ import annotations

import pytest

from tests.models.baselines.test_contract import S2ENET_PATCH, S2ENET_TOTALS, S2ENET_UNUSED, SCENES


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_reference_count_equals_the_arithmetic(scene: str) -> None:
    """The instantiated reference's count without its never-used modules (what test_contract checks ours
    against) agrees with the arithmetic 1152·C1 + 72·C2 + P² + 104,296 + 33·K."""
    hsi, lidar, classes = SCENES[scene]
    assert S2ENET_TOTALS[scene] - S2ENET_UNUSED == 1152 * hsi + 72 * lidar + S2ENET_PATCH**2 + 104_296 + 33 * classes
