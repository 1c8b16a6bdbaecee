"""Streaming prediction under DDP (issue 10 item 3): 2 gloo processes share the tiles; the maps equal 1 process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch.distributed as dist
from cardkit import write_card_scene

from mmlgnet.cli import main

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # DDP: two fresh processes: `make test-all` only
BASE = ["--config", "configs/demo.yaml", "--config", "configs/overlays/debug.yaml"]
RUN_TIMEOUT_S = 900  # a hang guard sized for a loaded 2-core machine (as tests/training/test_ddp.py), not a speed check


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
def test_two_processes_write_the_one_process_maps(tmp_path: Path) -> None:
    card, _, _ = write_card_scene(tmp_path / "scene")
    main(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    common = ["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt), "--data.stream", "always",
              "--data.stream_tile", "7", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    main([*common, "--predict_writer.output_dir", str(tmp_path / "one")])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "MASTER_ADDR": "127.0.0.1"}
    # Lightning re-executes sys.argv for the other rank: DDP runs in a subprocess, never in-process
    out = subprocess.run([sys.executable, "-m", "mmlgnet", *common, "--predict_writer.output_dir", str(tmp_path / "two"),
                          "--trainer.devices", "2", "--trainer.strategy", "ddp"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    one, two = tmp_path / "one", tmp_path / "two"
    # bit for bit, confidences included: every pixel meets the same batch-mates (whole tiles, chunked alike by
    # each rank) and the same CPU thread count (--threads, exported to the ranks): the same float32 additions
    for name in ("prediction.npy", "confidence.npy"):
        np.testing.assert_array_equal(np.load(two / name), np.load(one / name), err_msg=name)
    for name in ("prediction.tif", "confidence.tif"):
        with rasterio.open(one / name) as a, rasterio.open(two / name) as b:
            assert (a.crs, a.transform) == (b.crs, b.transform)
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)
    summary = json.loads((two / "maps.json").read_text())
    assert summary["streamed"]["tiles"] == 20 and sum(summary["predicted_class_counts"]) == 24 * 32 - 5
    assert not list(two.glob("*.partial")) and not list(two.glob("stream_progress*"))
