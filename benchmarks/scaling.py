"""Scaling of streaming prediction: synthetic GeoTIFF scenes of growing size, wall time, µs/pixel, peak RSS.

    .venv/bin/python benchmarks/scaling.py --sizes-gb 0.25 1 4 --bands 128 --budget-mb 512

Each scene (an HSI GeoTIFF of `--bands` float32 bands + a DSM, tiled 256×256, pixel-interleaved) is written
window by window, never held in memory, in a temporary folder that is deleted after its run. A tiny model (the
debug overlay's widths, P = 5) is fitted once on a small scene of the same bands and classes; then `predict
--data.stream always` maps each big scene in a child process that reports its own peak RSS (ru_maxrss). The
target is a flat peak RSS (set by the memory budget, not by the scene) and a flat cost per pixel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import yaml
from rasterio.transform import Affine
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["Trees", "Grass", "Road", "Roof"]
CRS, TRANSFORM = "EPSG:32615", Affine(1.0, 0.0, 271460.0, 0.0, -1.0, 3290891.0)
BASE = ["--config", str(REPO / "configs/demo.yaml"), "--config", str(REPO / "configs/overlays/debug.yaml")]
# The child times the streaming loop itself (start_stream .. finish), apart from the start-up (imports, model).
_CHILD = """
import resource, sys, time
import mmlgnet.mapping.prediction as p, mmlgnet.mapping.stream_run as s
t = {}
start, finish = p.start_stream, s.StreamRun.finish
def timed_start(*a, **k):
    t["start"] = time.perf_counter(); return start(*a, **k)
def timed_finish(self, trainer):
    out = finish(self, trainer); t["end"] = time.perf_counter(); return out
p.start_stream, s.StreamRun.finish = timed_start, timed_finish
from mmlgnet.cli import main
main(sys.argv[1:])
u = resource.getrusage(resource.RUSAGE_SELF)
print("MAXRSS_KB", u.ru_maxrss, "LOOP_S", t.get("end", 0) - t.get("start", 0), "CPU_S", u.ru_utime + u.ru_stime)
"""


def _classes(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(h, w) class ids 1..4 in 24-pixel blocks: what the scene shows where."""
    return ((rows[:, None] // 24 + cols[None, :] // 24) % 4 + 1).astype(np.uint8)


def write_scene(folder: Path, height: int, width: int, bands: int, seed: int = 0) -> Path:
    """HSI + DSM + labels GeoTIFFs and a card, written by windows of ~64 MiB (bounded memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    signatures = rng.normal(size=(5, bands)).astype(np.float32)  # (K + 1, C): one spectrum per class
    common = {"driver": "GTiff", "height": height, "width": width, "crs": CRS, "transform": TRANSFORM,
              "tiled": True, "blockxsize": 256, "blockysize": 256, "BIGTIFF": "YES"}
    with rasterio.open(folder / "hsi.tif", "w", count=bands, dtype="float32", interleave="pixel", **common) as hsi, \
            rasterio.open(folder / "dsm.tif", "w", count=1, dtype="float32", **common) as dsm, \
            rasterio.open(folder / "labels.tif", "w", count=1, dtype="uint8", **common) as lab:
        step = max(1, 2**26 // (width * bands * 4))  # rows per window: ~64 MiB of HSI
        for r0 in range(0, height, step):
            rows = np.arange(r0, min(height, r0 + step))
            cls = _classes(rows, np.arange(width))  # (h, w)
            noise = rng.normal(scale=0.3, size=(len(rows), width, bands)).astype(np.float32)
            cube = signatures[cls] + noise  # (h, w, C)
            win = Window(0, r0, width, len(rows))
            hsi.write(cube.transpose(2, 0, 1), window=win)
            dsm.write((cls * 3.0 + noise[:, :, 0])[None], window=win)
            lab.write(cls[None], window=win)
            del cube, noise
    card = {"name": folder.name, "hsi": "hsi.tif", "lidar": ["dsm.tif"], "labels": "labels.tif",
            "class_names": CLASSES}
    (folder / "scene.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder / "scene.yaml"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, int, float]:
    """(loop wall s, process wall s, peak RSS bytes, process CPU s) of one CLI call in a child process."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(out.stdout[-2000:] + out.stderr[-4000:])
    f = next(line.split() for line in out.stdout.splitlines() if line.startswith("MAXRSS_KB"))
    return float(f[3]), wall, int(f[1]) * 1024, float(f[5])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="HSI file sizes on disk")
    p.add_argument("--bands", type=int, default=128)
    p.add_argument("--budget-mb", type=float, default=512.0, help="--data.memory_budget_mb of the predictions")
    p.add_argument("--eval-batch", type=int, default=4096)
    p.add_argument("--workdir", type=Path, default=None, help="where the scenes go (default: a temp folder)")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mmlgnet_scaling_", dir=a.workdir))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    try:
        small = write_scene(work / "train", 96, 96, a.bands)
        _run(["fit", *BASE, "--data.scene", str(small), "--trainer.logger.init_args.save_dir", str(work / "runs"),
              "--data.split", "per_class:40"], env)
        ckpt = next((work / "runs").rglob("last.ckpt"))
        rows = []
        for gb in a.sizes_gb:
            side = int(np.sqrt(gb * 2**30 / (a.bands * 4)))
            folder = work / f"scene_{gb:g}gb"
            t0 = time.perf_counter()
            card = write_scene(folder, side, side, a.bands, seed=1)
            write_s = time.perf_counter() - t0
            disk = sum(f.stat().st_size for f in folder.iterdir())
            loop, wall, rss, cpu = _run(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt),
                                   "--data.stream", "always", "--data.memory_budget_mb", str(a.budget_mb),
                                   "--data.eval_batch_size", str(a.eval_batch),
                                   "--trainer.logger.init_args.save_dir", str(work / "runs"),
                                   "--predict_writer.output_dir", str(folder / "maps")], env)
            pred = np.load(folder / "maps" / "prediction.npy", mmap_mode="r")
            assert pred.shape == (side, side) and int(pred[::97, ::89].min()) >= 1  # every pixel mapped
            px = side * side
            row = (disk / 2**30, px, wall, loop, 1e6 * loop / px, cpu, rss / 2**20)
            rows.append(row)
            print(f"{gb:g} GB: {side}x{side} px, disk {row[0]:.2f} GiB, process {wall:.0f} s, streaming loop "
                  f"{loop:.1f} s = {row[4]:.1f} us/px, process CPU {cpu:.0f} s, peak RSS {row[6]:.0f} MiB "
                  f"(scene written in {write_s:.0f} s)", flush=True)
            shutil.rmtree(folder)
        print("\n| scene on disk (GiB) | pixels | process wall (s) | streaming loop (s) | µs / pixel (loop) "
              "| process CPU (s) | peak RSS (MiB) |\n|---|---|---|---|---|---|---|")
        for disk, px, wall, loop, us, cpu, rss in rows:
            print(f"| {disk:.2f} | {px:,} | {wall:.0f} | {loop:.1f} | {us:.1f} | {cpu:.0f} | {rss:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
