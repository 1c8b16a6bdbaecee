"""Per-method training and inference throughput: MMLGNet's network and each established method, one table.

Every network is built as the harness builds it (configs/baselines/<method>.yaml: class_path, init_args and
patch size; the four contract arguments; out_dim = the class's `reference_out_dim`) with a Linear(out_dim, K)
head on top (the `linear` head; the text head's extra cost is one (B, D) × (D, K) product). MMLGNet is its
default network (configs/trento.yaml's widths, embed_dim 512). Scene shapes: Trento's bands and classes by
default (63 HSI bands, 1 LiDAR raster, 6 classes).

Measured on random inputs (speed does not depend on the values): training = forward + cross-entropy (+ the
network's `auxiliary_loss()` where it has one, EndNet) + backward + AdamW step on a batch of B pixels;
inference = forward in eval mode without gradients on batches of the evaluation size. Each figure is the median
over rounds of a fixed number of timed steps after warm-up steps. Rows for the CPU, and for CUDA when present.

    python benchmarks/methods.py [--scene trento|muufl|houston2013] [--patch P] [--device cpu|cuda|all] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from mmlgnet.models.mmlgnet import MMLGNet
from mmlgnet.repro.compare.methods import METHODS

REPO = Path(__file__).resolve().parents[1]
SCENES = {"trento": (63, 1, 6), "muufl": (64, 2, 11), "houston2013": (144, 1, 15)}  # HSI bands, LiDAR, classes


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="trento", choices=list(SCENES))
    p.add_argument("--patch", type=int, default=None, help="every method at this patch size (default: each its own)")
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"], help="all: CPU, and CUDA if present")
    p.add_argument("--methods", nargs="+", default=None, help=f"subset of mmlgnet {' '.join(m.name for m in METHODS)}")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads; the runs' default is 1)")
    p.add_argument("--batch-size", type=int, default=64, help="training pixels per step (the recipes' 64)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per round (default 5 CPU, 20 CUDA)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2 steps, 1 round: a smoke run")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return p.parse_args()


def build(name: str, hsi: int, lidar: int, patch: int | None) -> tuple[nn.Module, int, int]:
    """(network, out_dim, patch size) of a method as the harness builds it."""
    if name == "mmlgnet":
        net = MMLGNet(hsi_channels=hsi, lidar_channels=lidar)  # configs/trento.yaml's network (the defaults)
        return net, net.embed_dim, patch or 11
    cfg = yaml.safe_load((REPO / "configs" / "baselines" / f"{name}.yaml").read_text())
    spec = cfg["model"]["network"]
    module, _, cls_name = spec["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    size = patch or int(cfg["data"]["patch_size"])
    out_dim = int(cls.reference_out_dim)
    net = cls(hsi_bands=hsi, lidar_bands=lidar, patch_size=size, out_dim=out_dim, **(spec.get("init_args") or {}))
    return net, out_dim, size


def timed(step: Callable[[], Any], sync: Callable[[], None], warmup: int, steps: int, rounds: int) -> float:
    """Median seconds per step over `rounds` rounds of `steps` steps, after `warmup` untimed steps."""
    for _ in range(warmup):
        step()
    sync()
    per_round = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        per_round.append((time.perf_counter() - t0) / steps)
    return statistics.median(per_round)


def measure(name: str, a: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    hsi_bands, lidar_bands, classes = SCENES[a.scene]
    torch.manual_seed(0)
    net, out_dim, patch = build(name, hsi_bands, lidar_bands, a.patch)
    model = nn.ModuleDict({"net": net, "head": nn.Linear(out_dim, classes)}).to(device)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    steps = a.steps or (2 if a.quick else (20 if cuda else 5))
    rounds = 1 if a.quick else a.rounds
    b = a.batch_size
    x_h = torch.randn(b, hsi_bands, patch, patch, device=device)  # (B, C_hsi, P, P)
    x_l = torch.randn(b, lidar_bands, patch, patch, device=device)  # (B, C_lidar, P, P)
    y = torch.randint(0, classes, (b,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    aux = getattr(net, "auxiliary_loss", None)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model["head"](model["net"](x_h, x_l)), y)
        if callable(aux):
            loss = loss + aux()
        loss.backward()
        opt.step()

    model.train()
    train_s = timed(train_step, sync, 1 if a.quick else 2, steps, rounds)
    eb = 4096 if cuda else 256
    e_h = torch.randn(eb, hsi_bands, patch, patch, device=device)
    e_l = torch.randn(eb, lidar_bands, patch, patch, device=device)
    model.eval()

    def infer_step() -> None:
        with torch.no_grad():
            model["head"](model["net"](e_h, e_l)).argmax(1)

    infer_s = timed(infer_step, sync, 1, max(1, steps // 2), rounds)
    return {"method": name, "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({a.threads} threads)",
            "patch": patch, "params": params, "train_px_per_s": b / train_s, "infer_px_per_s": eb / infer_s,
            "train_batch": b, "infer_batch": eb}


def main() -> None:
    a = parse()
    torch.set_num_threads(a.threads)
    names = a.methods or ["mmlgnet", *(m.name for m in METHODS)]
    devices = [torch.device("cpu")] if a.device in ("cpu", "all") else []
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    rows = [measure(n, a, d) for d in devices for n in names]
    print(f"# {a.scene} shapes {SCENES[a.scene]}, {platform.machine()}, torch {torch.__version__}, "
          f"{'quick' if a.quick else f'{a.rounds} rounds'}")
    print("| method | device | patch | params | train px/s | inference px/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['device']} | {r['patch']} | {r['params']:,} | {r['train_px_per_s']:,.0f} "
              f"| {r['infer_px_per_s']:,.0f} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
