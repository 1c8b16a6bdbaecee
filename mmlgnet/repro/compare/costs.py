"""What a finished run cost: parameters, fit time, test throughput, from the files the run left in its folder.

Nothing here changes a run (no callback, no config option: the fingerprint is untouched). The numbers are read
off the run folder when the run is recorded (run.json `costs`), so later copies of the folder keep them:

- `params`: the tensors of the run's checkpoint (`checkpoints/last.ckpt`, else any `*.ckpt`) that training
  updates: the network and its head, without BatchNorm running statistics and without the frozen class-prompt
  embeddings of the text head (the text encoder is never in the checkpoint).
- `fit_s`: from the run's start (its fingerprint.json, written first) to the last checkpoint's write: data
  loading, set-up and every training epoch.
- `test_s`: from the last checkpoint's write to test_metrics.json's: the test phase, including its set-up
  (test patches, text embeddings from the cache); `test_px_per_s` = num_test_pixels / test_s, a lower bound on
  the inference throughput (benchmarks/methods.py measures the forward pass alone).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOT_TRAINED = ("running_mean", "running_var", "num_batches_tracked")
FROZEN = ("class_embeddings",)  # the text head's class-prompt embeddings: computed once by the text encoder


def checkpoint_of(run_dir: Path) -> Path | None:
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    found = sorted((run_dir / "checkpoints").glob("*.ckpt")) if (run_dir / "checkpoints").is_dir() else []
    return found[-1] if found else None


def count_params(ckpt: Path) -> int | None:
    """Trained tensors' elements in a Lightning checkpoint (None when it cannot be read)."""
    import torch

    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True).get("state_dict") or {}
    except Exception:  # noqa: BLE001  # an unreadable checkpoint just leaves the cell empty
        return None
    return sum(int(t.numel()) for name, t in state.items()
               if hasattr(t, "numel") and not name.endswith(NOT_TRAINED) and name.split(".")[-1] not in FROZEN)


def _patch_size(fingerprint: Path) -> int | None:
    """data.patch_size of the run's resolved config (fingerprint.json holds it)."""
    try:
        return int(json.loads(fingerprint.read_text())["config"]["data"]["patch_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_costs(run_dir: Path) -> dict[str, Any]:
    """{params, fit_s, test_s, test_px_per_s, patch_size} of a finished run folder; a value is None when unknown."""
    ckpt = checkpoint_of(run_dir)
    start, metrics = run_dir / "fingerprint.json", run_dir / "test_metrics.json"
    out: dict[str, Any] = {"params": count_params(ckpt) if ckpt else None, "fit_s": None, "test_s": None,
                           "test_px_per_s": None, "patch_size": _patch_size(start)}
    if ckpt is None or not start.is_file() or not metrics.is_file():
        return out
    t_start, t_ckpt, t_test = start.stat().st_mtime, ckpt.stat().st_mtime, metrics.stat().st_mtime
    if t_ckpt >= t_start:
        out["fit_s"] = round(t_ckpt - t_start, 2)
    if t_test > t_ckpt:
        out["test_s"] = round(t_test - t_ckpt, 3)
        try:
            pixels = int(json.loads(metrics.read_text())["num_test_pixels"])
            out["test_px_per_s"] = round(pixels / (t_test - t_ckpt), 1)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return out
