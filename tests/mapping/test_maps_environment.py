"""maps.json records the compute environment (threads, device, CPU model, instruction set, torch build) as
test_metrics.json does (issue 15 item 6), for an in-memory and for a streaming predict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cardkit import write_card_scene

from mmlgnet.cli import main
from mmlgnet.training import runtime

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small card scene and a checkpoint fitted on it (streaming needs the checkpoint's statistics)."""
    tmp = tmp_path_factory.mktemp("env")
    card, _, _ = write_card_scene(tmp / "scene")
    main(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(tmp / "runs")])
    return card, next((tmp / "runs").rglob("last.ckpt"))


@pytest.mark.parametrize("stream", ["never", "always"])
def test_maps_json_records_the_environment(fitted: tuple[Path, Path], tmp_path: Path, stream: str) -> None:
    """On HEAD maps.json had no `environment` (neither path)."""
    card, ckpt = fitted
    out = tmp_path / "maps"
    main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt), "--threads", "2",
          "--data.stream", stream, "--data.stream_tile", "16",
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--predict_writer.output_dir", str(out)])
    record = json.loads((out / "maps.json").read_text())
    assert ("streamed" in record) == (stream == "always")
    env = record["environment"]
    want = runtime.environment("cpu")  # the function test_metrics.json uses, on this machine
    assert set(env) == set(want)
    assert env["threads"] == 2  # the run's --threads, not the caller's
    for key in ("device", "cpu", "cpu_capability", "torch", "cuda", "cudnn"):
        assert env[key] == want[key], key
    assert env["device"].startswith("cpu: ")
