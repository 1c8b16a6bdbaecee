"""Multi-node DDP (issue 11.4): 2 "nodes" × 1 process on localhost (two `torchrun --nnodes 2` agents, gloo) give the
losses and test metrics of 1 process with the same global batch, as 2 processes on one node do (test_ddp.py)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from tests.training.test_ddp import LOSS_TOL, METRIC_TOL, RUN_TIMEOUT_S, _fit

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # two torchrun agents, fresh processes: `make test-all` only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _two_nodes(save_dir: Path, batch_size: int) -> tuple[dict, list[float]]:
    """`torchrun --nnodes 2 --nproc_per_node 1 --node_rank k` twice, as two SLURM nodes would each start it."""
    port = _free_port()
    fit = ["-m", "mmlgnet", "fit", "--config", "configs/demo.yaml", "--config", "configs/overlays/debug.yaml",
           "--model.dropout", "0", "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "6",
           "--trainer.limit_test_batches", "1.0", "--trainer.sync_batchnorm", "true", "--test_after_fit", "true",
           "--trainer.logger.init_args.save_dir", str(save_dir), "--data.batch_size", str(batch_size),
           "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.num_nodes", "2",
           "--trainer.strategy", "ddp"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    for k in [k for k in env if k.startswith("SLURM_")]:  # torchrun's environment, not a SLURM one
        del env[k]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                               "--node_rank", str(rank), "--master_addr", "127.0.0.1", "--master_port", str(port),
                               *fit], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outs = []
    try:
        for node in nodes:
            outs.append(node.communicate(timeout=RUN_TIMEOUT_S)[0])
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(o[-4000:] for o in outs)
    (metrics,) = save_dir.rglob("test_metrics.json")  # written once, by global rank 0
    with open(next(save_dir.rglob("metrics.csv"))) as f:
        losses = [float(r["train/loss_step"]) for r in csv.DictReader(f) if r.get("train/loss_step")]
    return json.loads(metrics.read_text()), losses


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
def test_two_nodes_match_one_process(tmp_path):
    one, loss_one = _fit(tmp_path / "one", batch_size=16, devices=1)
    two, loss_two = _two_nodes(tmp_path / "two", batch_size=8)
    assert one["num_test_pixels"] == two["num_test_pixels"] > 0
    for key in ("OA", "AA", "kappa"):
        assert abs(one[key] - two[key]) <= METRIC_TOL, (key, one[key], two[key])
    assert len(loss_one) == len(loss_two) == 12
    print("max |Δ loss| =", max(abs(a - b) for a, b in zip(loss_one, loss_two, strict=True)),
          {k: one[k] - two[k] for k in ("OA", "AA", "kappa")})
    for a, b in zip(loss_one, loss_two, strict=True):
        assert abs(a - b) <= LOSS_TOL * max(1.0, abs(a)), (loss_one, loss_two)
    assert len(list((tmp_path / "two").rglob("split.json"))) == 1  # one rank of all nodes writes files
