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


@pytest.fixture(autouse=True)
def _signal_handlers_restored(request: pytest.FixtureRequest):
    """Each test starts with the SIGINT/SIGTERM handlers the session started with and leaves them so.

    Lightning sets SIGINT to "ignore" when it handles a KeyboardInterrupt in fit and never restores it; a test
    that leaves it (or SIGTERM) changed would make a later signal test of the same process lose its signal
    (it then ran to `max_time` and failed now and then in full-suite runs). Restored here, and reported when
    MMLGNET_SIGNAL_AUDIT names a file, so that the test that changed them can be found.
    """
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in before.items():
        if signal.getsignal(s) != handler:
            audit = os.environ.get("MMLGNET_SIGNAL_AUDIT")
            if audit:
                with open(audit, "a") as f:
                    f.write(f"{request.node.nodeid}: {signal.Signals(s).name} left as {signal.getsignal(s)!r}\n")
            signal.signal(s, handler)
