"""Shared test set-up: offline everything, a tiny registered CLIP config, synthetic scenes made in the tests."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MMLGNET_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_text_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test shares one session-wide text-embedding cache, never the user's ~/.cache."""
    monkeypatch.setenv("MMLGNET_CACHE", str(tmp_path_factory.getbasetemp() / "mmlgnet-cache"))


@pytest.fixture(scope="session")
def small_scene():
    """A small synthetic scene (32×48, 4 classes) shared by the data-path tests."""
    from mmlgnet.data.scenes.synthetic import make_synthetic_scene

    return make_synthetic_scene(height=32, width=48, num_classes=4, seed=3)
