"""`trainer.deterministic: true` + a fixed seed: two CPU runs give identical weights and test metrics."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mmlgnet.cli import main

REPO = Path(__file__).resolve().parents[2]


def _run(save_dir: Path) -> tuple[dict, dict]:
    main(["fit", "--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml"),
          "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.deterministic", "true",
          "--seed_everything", "7", "--trainer.max_epochs", "2", "--trainer.limit_test_batches", "1.0",
          "--test_after_fit", "true"])
    rec = json.loads(next(save_dir.rglob("test_metrics.json")).read_text())
    state = torch.load(next(save_dir.rglob("last.ckpt")), map_location="cpu", weights_only=False)["state_dict"]
    return rec, state


def test_two_deterministic_cpu_runs_are_identical(tmp_path):
    (a, wa), (b, wb) = _run(tmp_path / "a"), _run(tmp_path / "b")
    for key in ("OA", "AA", "kappa", "confusion_matrix", "per_class_accuracy", "seed"):
        assert a[key] == b[key], key
    assert a["seed"] == 7 and wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
