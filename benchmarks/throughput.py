"""Throughput, memory and scaling of the device-resident patch pipeline against the per-sample DataLoader path.

One run measures, side by side on the same model (defaults of configs/trento.yaml, text head) and a
synthetic scene of Trento's size (166×600, 63 HSI bands, 1 LiDAR raster):
  (a) training throughput (px/s) of the device path and the per-sample path with 0 and 2 workers,
  (b) the compute floor: the same training step on pre-gathered batches already on the device,
  (c) full-scene inference time for all 99,600 pixels (measured, or clearly labelled as extrapolated),
  (d) peak memory, and scaling with scene size (Trento, Houston 349×1905×144, 4× Houston).
Training sources are timed for a fixed number of steps, interleaved over rounds (median reported), so a
noisy shared machine affects all paths alike. Writes its section of benchmarks/RESULTS.md.

    python benchmarks/throughput.py [--device cpu|cuda] [--precision 32|bf16-mixed] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from mmlgnet.data.datamodule import HSILidarDataModule
from mmlgnet.data.scenes.synthetic import make_synthetic_scene
from mmlgnet.training.module import MMLGNetModule

SCENES = {"trento": (166, 600, 63), "houston2013": (349, 1905, 144), "4x_houston": (698, 3810, 144)}
Batch = dict[str, torch.Tensor]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    p.add_argument("--quick", action="store_true", help="fewer steps and pixels, no 4× scene (a smoke run)")
    p.add_argument("--batch-size", type=int, help="training pixels per step (default 64 on CPU, 1024 on GPU)")
    p.add_argument("--eval-batch-size", type=int, help="inference pixels per step (default 1024 CPU, 8192 GPU)")
    p.add_argument("--steps", type=int, help="timed training steps per source and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--infer-pixels", type=int, help="pixels actually inferred (default: all on GPU, 4096 on CPU)")
    p.add_argument("--scenes", default=None, help="comma list of scaling scenes (default: all; quick: trento,houston2013)")
    p.add_argument("--text-model", default="ViT-B-32")
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    return p.parse_args()


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if a.device == "auto" else a.device))
        gpu = self.device.type == "cuda"
        self.batch = a.batch_size or (1024 if gpu else 64)
        self.eval_batch = a.eval_batch_size or (8192 if gpu else 1024)
        self.steps = a.steps or ((20 if a.quick else 50) if gpu else (3 if a.quick else 8))
        self.rounds = 1 if a.quick else a.rounds
        self.bf16 = a.precision == "bf16-mixed"

    # ---- helpers ----
    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS so far

    def datamodule(self, scene, pipeline: str = "device", workers: int = 0) -> HSILidarDataModule:
        dm = HSILidarDataModule(scene="synthetic", split="fraction:0.5", patch_size=11, batch_size=self.batch,
                                eval_batch_size=self.eval_batch, pipeline=pipeline, num_workers=workers)
        dm._scene = scene  # share one generated scene between the paths
        dm.setup("fit")
        return dm

    def model(self, dm: HSILidarDataModule) -> tuple[MMLGNetModule, torch.optim.Optimizer]:
        torch.manual_seed(0)
        m = MMLGNetModule(num_classes=dm.num_classes, class_names=dm.class_names, hsi_channels=dm.hsi_channels,
                          lidar_channels=dm.lidar_channels_out, text_model=self.a.text_model,
                          text_pretrained=None).to(self.device)
        return m, torch.optim.AdamW(m.parameters(), lr=1e-3)

    def to_device(self, dm: HSILidarDataModule, batch) -> Batch:
        if isinstance(batch, dict):  # per-sample path: patches cut on the host
            return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        index, target = batch  # device path: only indices travel, patches are gathered there
        return dm.on_after_batch_transfer((index.to(self.device), target.to(self.device)), 0)

    def train_step(self, model: MMLGNetModule, opt: torch.optim.Optimizer, batch: Batch) -> None:
        with self.autocast():
            loss = model.criterion(model(batch), batch["target"])["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed_steps(self, model, opt, batches: Iterator[Batch], n: int) -> float:
        self.train_step(model, opt, next(batches))  # warm-up (and first prefetch), untimed
        self.sync()
        t0 = time.perf_counter()
        for _ in range(n):
            self.train_step(model, opt, next(batches))
        self.sync()
        return n * self.batch / (time.perf_counter() - t0)

    # ---- (a), (b), (d): training throughput of each path, interleaved ----
    def training(self, scene) -> dict:
        dms = {"device": self.datamodule(scene), "per_sample_w0": self.datamodule(scene, "per_sample", 0),
               "per_sample_w2": self.datamodule(scene, "per_sample", 2)}
        loaders = {k: dm.train_dataloader() for k, dm in dms.items()}
        model, opt = self.model(dms["device"])
        fixed = [self.to_device(dms["device"], b) for b, _ in zip(loaders["device"], range(4), strict=False)]

        def source(name: str) -> Callable[[], Iterator[Batch]]:
            if name == "floor":
                return lambda: iter(fixed * (self.steps + 2))
            dm, loader = dms[name], loaders[name]

            def gen() -> Iterator[Batch]:
                while True:
                    for b in loader:
                        yield self.to_device(dm, b)
            return gen

        rates: dict[str, list[float]] = {k: [] for k in ("floor", *dms)}
        peaks: dict[str, float] = {}
        for _ in range(self.rounds):
            for name in rates:
                self.reset_peak()
                rates[name].append(self.timed_steps(model, opt, source(name)(), self.steps))
                peaks[name] = max(peaks.get(name, 0.0), self.peak_mb())
        return {"px_per_s": {k: statistics.median(v) for k, v in rates.items()}, "all_rounds": rates,
                "peak_mb": peaks}

    # ---- (c): full-scene inference ----
    @torch.inference_mode()
    def inference(self, dm: HSILidarDataModule, model: MMLGNetModule, limit: int | None) -> dict:
        model.eval()
        n_total, done, preds = dm.scene.height * dm.scene.width, 0, []
        loader = dm.predict_dataloader()
        self.reset_peak()
        self.sync()
        t0 = time.perf_counter()
        for b in loader:
            batch = self.to_device(dm, b)
            with self.autocast():
                preds.append(model(batch).argmax(dim=1))
            done += len(batch["target"])
            if limit is not None and done >= limit:
                break
        self.sync()
        sec = time.perf_counter() - t0
        model.train()
        return {"pixels": done, "seconds": sec, "px_per_s": done / sec, "full_scene_pixels": n_total,
                "full_scene_s": sec * n_total / done, "extrapolated": done < n_total, "peak_mb": self.peak_mb()}

    # ---- scaling with scene size: device-path setup, gather, inference ----
    def scaling(self, name: str, limit_gather: int | None, limit_infer: int | None) -> dict:
        h, w, bands = SCENES[name]
        t0 = time.perf_counter()
        scene = make_synthetic_scene(height=h, width=w, num_classes=6, hsi_bands=bands, lidar_bands=1, seed=0)
        gen_s = time.perf_counter() - t0
        self.reset_peak()
        t0 = time.perf_counter()
        dm = self.datamodule(scene)
        dm.gather(torch.zeros(1, dtype=torch.int64, device=self.device))  # moves the padded scene to the device
        self.sync()
        setup_s = time.perf_counter() - t0
        n = h * w
        g = min(n, limit_gather or n)
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:g].to(self.device)
        self.sync()
        t0 = time.perf_counter()
        for s in range(0, g, self.eval_batch):
            dm.gather(idx[s : s + self.eval_batch])
        self.sync()
        gather_s = time.perf_counter() - t0
        model, _ = self.model(dm)
        inf = self.inference(dm, model, limit_infer)
        scene_mb = sum(t.numel() * 4 for t in dm.serving.padded.values()) / 2**20
        return {"scene": f"{h}×{w}×{bands}+1", "pixels": n, "generate_s": gen_s, "setup_s": setup_s,
                "scene_mb": scene_mb, "gather_px_per_s": g / gather_s, "gather_full_s": gather_s * n / g,
                "gather_extrapolated": g < n, "infer": inf, "peak_mb": self.peak_mb()}


def machine(device: torch.device) -> str:
    cpu = f"{platform.machine()} {platform.processor() or ''} ({torch.get_num_threads()} torch threads)".replace("  ", " ")
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"{platform.node()}: {cpu}{gpu}; python {platform.python_version()}, torch {torch.__version__}"


def report(b: Bench, r: dict) -> str:
    tr, inf = r["train"]["px_per_s"], r.get("inference", {})
    floor, dev = tr["floor"], tr["device"]
    lines = [
        f"### {b.device.type}, precision {b.a.precision}{' (quick)' if b.a.quick else ''}", "",
        f"- command: `{r['command']}`", f"- machine: {r['machine']}", f"- date: {r['date']}",
        f"- model: trento.yaml defaults (HSI 64-128-256, LiDAR 32-64-128, concat, text head {b.a.text_model}), "
        f"P = 11; training batch {b.batch}, {b.steps} timed steps × {b.rounds} interleaved rounds (median); "
        f"inference batch {b.eval_batch}", "",
        "| training source (Trento-size scene) | px/s | vs compute floor | device path vs this | peak MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for k, label in (("floor", "compute floor (pre-gathered batches on device)"), ("device", "device-resident path"),
                     ("per_sample_w0", "per-sample DataLoader, 0 workers"),
                     ("per_sample_w2", "per-sample DataLoader, 2 workers")):
        lines.append(f"| {label} | {tr[k]:,.0f} | {tr[k] / floor:.1%} | {dev / tr[k]:.2f}× | "
                     f"{r['train']['peak_mb'][k]:,.0f} |")
    lines += ["", "| full-scene inference (166×600 = 99,600 px) | px/s | time for 99,600 px | pixels timed |",
              "| --- | ---: | ---: | ---: |"]
    for k, v in inf.items():
        t = f"{v['full_scene_s']:.2f} s" + (" (EXTRAPOLATED)" if v["extrapolated"] else " (measured)")
        lines.append(f"| {k} | {v['px_per_s']:,.0f} | {t} | {v['pixels']:,} |")
    lines += ["", "| scaling (device path) | pixels | scene on device MB | setup s | gather px/s | full-scene gather s "
              "| inference px/s | full-scene inference s | µs/px inference | peak MB |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in r.get("scaling", {}).items():
        ex = lambda flag: " (extrap.)" if flag else ""  # noqa: E731
        i = s["infer"]
        lines.append(f"| {name} {s['scene']} | {s['pixels']:,} | {s['scene_mb']:,.0f} | {s['setup_s']:.2f} | "
                     f"{s['gather_px_per_s']:,.0f} | {s['gather_full_s']:.2f}{ex(s['gather_extrapolated'])} | "
                     f"{i['px_per_s']:,.0f} | {i['full_scene_s']:.2f}{ex(i['extrapolated'])} | "
                     f"{1e6 / i['px_per_s']:.2f} | {s['peak_mb']:,.0f} |")
    lines.append("")
    if b.device.type == "cpu":
        lines.append("Peak MB on CPU is the process's peak resident memory so far (monotone), not per phase.")
    return "\n".join(lines) + "\n"


def write_section(path: Path, key: str, text: str) -> None:
    begin, end = f"<!-- results:{key} -->", f"<!-- /results:{key} -->"
    old = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by `benchmarks/throughput.py`.\n\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def main() -> None:
    a = parse()
    b = Bench(a)
    torch.manual_seed(0)
    gpu = b.device.type == "cuda"
    infer_limit = a.infer_pixels if a.infer_pixels is not None else (None if gpu else (2048 if a.quick else 4096))
    r: dict = {"command": "python " + " ".join(sys.argv), "machine": machine(b.device),
               "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    h, w, bands = SCENES["trento"]
    scene = make_synthetic_scene(height=h, width=w, num_classes=6, hsi_bands=bands, lidar_bands=1, seed=0)
    t0 = time.perf_counter()
    r["train"] = b.training(scene)
    print(f"training: {json.dumps(r['train']['px_per_s'])}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    key = f"{b.device.type}:{a.precision}"
    write_section(Path(a.out), key, report(b, r))  # partial results survive a later timeout
    r["inference"] = {}
    for name, pipeline, workers in (("device-resident path", "device", 0), ("per-sample, 0 workers", "per_sample", 0),
                                    ("per-sample, 2 workers", "per_sample", 2)):
        dm = b.datamodule(scene, pipeline, workers)
        model, _ = b.model(dm)
        r["inference"][name] = b.inference(dm, model, infer_limit)
        print(f"inference {name}: {r['inference'][name]['px_per_s']:,.0f} px/s", flush=True)
    write_section(Path(a.out), key, report(b, r))
    names = a.scenes.split(",") if a.scenes else (["trento", "houston2013"] if a.quick else list(SCENES))
    r["scaling"] = {}
    for name in names:
        lim_g = None if gpu else (16384 if a.quick else 65536)
        lim_i = None if gpu else (512 if a.quick else 1024)
        r["scaling"][name] = b.scaling(name, lim_g, lim_i)
        print(f"scaling {name}: {json.dumps({k: v for k, v in r['scaling'][name].items() if k != 'infer'})}", flush=True)
        write_section(Path(a.out), key, report(b, r))
    text = report(b, r)
    print("\n" + text)
    write_section(Path(a.out), key, text)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1, default=str))


if __name__ == "__main__":
    main()
