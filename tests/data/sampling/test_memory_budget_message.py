"""--data.memory_budget_mb messages show sizes a user can act on (were "~0 MiB > --data.memory_budget_mb 0")."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from cardkit import write_card_scene

from mmlgnet.data.sampling import labelled
from mmlgnet.data.sampling.budget import FIT_IN_MEMORY_COST, PREDICT_IN_MEMORY_COST
from mmlgnet.data.sampling.streaming import plan_stream

VALUES = 24 * 32 * (8 + 2)  # the cardkit scene: 24x32 pixels, 8 HSI bands + 2 LiDAR channels, float32 each


def _need(message: str) -> float:
    found = re.search(r"~([0-9.,e+-]+) MiB", message)
    assert found, message
    return float(found.group(1).replace(",", ""))


def test_mib_keeps_three_significant_digits_below_ten() -> None:
    from mmlgnet.data.sampling.budget import mib

    assert [mib(v) for v in (0, 0.0585937, 1.25, 12.5, 6026.4)] == ["0", "0.0586", "1.25", "12", "6,026"]


def test_training_budget_message_shows_the_real_size_and_what_0_means(tmp_path: Path) -> None:
    card, _, _ = write_card_scene(tmp_path / "scene")
    why = labelled.windowed_reason("auto", str(card), ("hsi", "lidar"), None, budget_mb=0)
    assert why is not None
    want = FIT_IN_MEMORY_COST * VALUES * 4 / 2**20  # 0.0586 MiB
    assert _need(why) == pytest.approx(want, rel=1e-2)
    assert f"{VALUES:,} float32 values" in why
    assert "--data.memory_budget_mb 0 (no memory for the scene" in why


def test_streaming_budget_message_shows_the_real_size_and_the_budget(tmp_path: Path) -> None:
    card, _, _ = write_card_scene(tmp_path / "scene")
    dm = SimpleNamespace(stream="auto", scene_name=str(card), lidar_channels=None, modalities=("hsi", "lidar"),
                         memory_budget_mb=0.01, stream_tile=16, patch_size=5)
    plan = plan_stream(dm)
    assert plan is not None
    try:
        assert _need(plan.reason) == pytest.approx(PREDICT_IN_MEMORY_COST * VALUES * 4 / 2**20, rel=1e-2)
        assert plan.reason.endswith("> --data.memory_budget_mb 0.01")
    finally:
        plan.lazy.close()
