"""Cost per training step of CoOp learned prompts against the frozen-prompt (template) model, same batch, CPU.

For each text tower architecture (random init is fine: cost does not depend on the weights) the same vision
side (configs/trento.yaml defaults: HSI 64-128-256, LiDAR 32-64-128, concat, P = 11, 63 HSI bands, Trento's
6 classes) takes full training steps (forward, InfoNCE loss, backward, AdamW step, logit-scale clamp) on one
fixed batch:
  * template: frozen class embeddings in the TextHead buffer (the tower was used once, before training),
  * coop: N learned context vectors + class-name tokens through the frozen tower every step, sequences cut
    after the last end-of-text token (exact under the causal mask; the default),
  * coop, full length: the same over the whole context length (77 tokens), as a plain CoOp implementation does.
Variants are timed in interleaved rounds (median per-step wall and CPU time over all rounds), so a noisy
shared machine affects them alike; on a loaded machine the CPU time of the (single-threaded) process is the
steadier measure. Writes its section of benchmarks/RESULTS.md (unless --no-write).

    python benchmarks/coop_cost.py [--models mmlgnet-tiny ViT-B-32] [--context 16] [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from mmlgnet.atomic import write_bytes
from mmlgnet.data.scenes.catalog_load import SPECS
from mmlgnet.text import coop, openclip_encoder
from mmlgnet.training.module import MMLGNetModule

VARIANTS = ("template", "coop", "coop, full length")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["mmlgnet-tiny", "ViT-B-32"], help="open_clip architectures")
    p.add_argument("--context", type=int, default=16, help="CoOp context vectors N")
    p.add_argument("--batch", type=int, default=64, help="training batch (pixels)")
    p.add_argument("--patch", type=int, default=11)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: CPU time is comparable under load)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args()


def build(model: str, variant: str, context: int, cache: str) -> MMLGNetModule:
    torch.manual_seed(0)  # same vision weights for every variant
    names = list(SPECS["trento"].class_names)
    module = MMLGNetModule(num_classes=len(names), class_names=names, hsi_channels=63, lidar_channels=1,
                           text_model=model, text_pretrained=None, text_cache_dir=cache,
                           prompt_learning="none" if variant == "template" else "coop", prompt_context=context)
    if variant == "coop, full length":
        assert module.coop is not None
        clip = openclip_encoder.create_model(model, None, "cpu", Path(cache))
        module.coop.__dict__["_encoder"] = coop.CoopEncoder(clip, model, names, context, crop=False)
    elif module.coop is not None:
        module.coop.attach("cpu")
    return module.train()


def stepper(module: MMLGNetModule, batch: dict[str, torch.Tensor]):
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    assert module.criterion is not None

    def step() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = module.criterion(module(batch), batch["target"])["loss"]  # type: ignore[misc]
        loss.backward()
        opt.step()
        module.head.clamp_()  # type: ignore[operator]
        return time.perf_counter() - t0, time.process_time() - c0  # wall s, CPU s of this process

    return step


def main() -> None:
    a = parse()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="text_pretrained=None")
    g = torch.Generator().manual_seed(0)
    batch = {"hsi": torch.randn(a.batch, 63, a.patch, a.patch, generator=g),
             "lidar": torch.randn(a.batch, 1, a.patch, a.patch, generator=g),
             "target": torch.randint(0, 6, (a.batch,), generator=g)}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for model in a.models:
            modules = {v: build(model, v, a.context, cache) for v in VARIANTS}
            steps = {v: stepper(m, batch) for v, m in modules.items()}
            for v in VARIANTS:  # warm-up
                steps[v](), steps[v]()
            times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
            for _ in range(a.rounds):
                for v in VARIANTS:
                    times[v] += [steps[v]() for _ in range(a.steps)]
            wall0 = 1000 * statistics.median(t[0] for t in times["template"])
            cpu0 = 1000 * statistics.median(t[1] for t in times["template"])
            for v in VARIANTS:
                prompts = modules[v].coop
                length = int(prompts.encoder.tokens.shape[1]) if prompts is not None and prompts.encoder else 0
                wall = 1000 * statistics.median(t[0] for t in times[v])
                cpu = 1000 * statistics.median(t[1] for t in times[v])
                rows.append((model, v, length, wall, wall / wall0, cpu, cpu / cpu0))
                print(f"{model:14s} {v:18s} L={length:3d} wall {wall:9.1f} ms ({wall / wall0:5.2f}x)  "
                      f"CPU {cpu:9.1f} ms ({cpu / cpu0:5.2f}x)", flush=True)
            del modules, steps
    text = report(a, rows)
    print(text)
    if not a.no_write:
        write_section(a.out, "coop_cost:cpu", text)


def report(a: argparse.Namespace, rows: list[tuple[str, str, int, float, float, float, float]]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "### CoOp learned prompts: cost per training step (CPU)", "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs ({a.threads} torch threads, load average {load}); "
        f"python {platform.python_version()}, torch {torch.__version__}",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- one fixed batch of {a.batch} pixels, P = {a.patch}, trento.yaml vision side, K = 6 classes, "
        f"N = {a.context} shared context vectors; randomly initialised towers; median of {a.rounds} interleaved "
        f"rounds × {a.steps} steps (forward, loss, backward, AdamW step)",
        "", "| text tower | prompts | tokens per prompt | wall ms / step | × template | CPU ms / step | × template |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {m} | {v} | {n or '—'} | {w:.1f} | {wx:.2f}× | {c:.1f} | {cx:.2f}× |" for m, v, n, w, wx, c, cx in rows]
    return "\n".join(lines) + "\n"


def write_section(path: Path, key: str, text: str) -> None:
    """Replace (or append) the section between this key's markers, atomically."""
    begin, end = f"<!-- results:{key} -->", f"<!-- /results:{key} -->"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    write_bytes(path, new.encode())


if __name__ == "__main__":
    main()
