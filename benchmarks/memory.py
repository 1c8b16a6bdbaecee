"""Peak RSS of `fit` and `predict` against the scene's size: synthetic GeoTIFF/.npy scenes of growing size.

Each size is written as real files with a scene card (HSI cube, one LiDAR raster, a sparse label map and a few
nodata pixels), then `python -m mmlgnet fit` (1 short epoch of the tiny debug model, CPU) and `predict` (every
pixel, with the fitted checkpoint) run in a child process each; the child's peak RSS comes from os.wait4
(ru_maxrss). A tiny scene gives the baseline (Python + torch + the model); "cost" = peak - baseline, the
memory the scene path itself takes, and "ratio" = cost / scene bytes (HSI + LiDAR as float32).

    python benchmarks/memory.py --sizes-mb 100 400 1150 --format tif
    python benchmarks/memory.py --sizes-mb 100 --src now=. --src old=/tmp/mem_old   # and an older checkout

`--src LABEL=DIR`: run that checkout (e.g. `git archive 95c6fe9 | tar -x -C /tmp/mem_old`), several side by side
(same venv; DIR goes first on PYTHONPATH). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
NODATA = -9999.0
CLASSES = 4
ROWS_PER_WRITE = 256


def _cube_rows(rng: np.random.Generator, rows: int, width: int, bands: int, row0: int) -> np.ndarray:
    """(rows, W, C) float32: class means by vertical stripes of 16 columns plus noise (deterministic)."""
    cls = (np.arange(width) // 16) % CLASSES  # (W,)
    base = (cls[None, :, None] + 1.0) * np.linspace(0.5, 1.5, bands)[None, None, :]  # (1, W, C)
    noise = rng.standard_normal((rows, width, bands), dtype=np.float32) * 0.3
    out = (base + noise + 0.01 * row0).astype(np.float32)
    if row0 == 0:
        out[0, :8] = NODATA  # a few nodata pixels, never labelled
    return out


def _labels(height: int, width: int) -> np.ndarray:
    """(H, W) uint8: every 37th pixel labelled with its stripe's class (0 elsewhere and on row 0)."""
    lab = ((np.arange(width) // 16) % CLASSES + 1)[None, :].repeat(height, 0).astype(np.uint8)
    keep = (np.arange(height * width).reshape(height, width) % 37) == 5
    keep[0] = False
    return np.where(keep, lab, 0).astype(np.uint8)


def write_scene(folder: Path, scene_bytes: int, bands: int, fmt: str) -> tuple[Path, int, tuple[int, int]]:
    """HSI + LiDAR + labels of about `scene_bytes` (float32) and a card; returns (card, exact bytes, (H, W))."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = max(64 * 64, scene_bytes // (4 * (bands + 1)))
    width = max(64, int(np.sqrt(pixels * 1.5)) // 16 * 16)
    height = max(64, pixels // width)
    rng = np.random.default_rng(0)
    labels = _labels(height, width)
    if fmt == "npy":
        hsi = np.lib.format.open_memmap(folder / "hsi.npy", "w+", np.float32, (height, width, bands))
        lidar = np.lib.format.open_memmap(folder / "dsm.npy", "w+", np.float32, (height, width))
        for r in range(0, height, ROWS_PER_WRITE):
            block = _cube_rows(rng, min(ROWS_PER_WRITE, height - r), width, bands + 1, r)
            hsi[r:r + len(block)], lidar[r:r + len(block)] = block[:, :, :bands], block[:, :, bands]
        hsi.flush(), lidar.flush()
        del hsi, lidar
        np.save(folder / "gt.npy", labels)
        files = {"hsi": "hsi.npy", "lidar": "dsm.npy", "labels": "gt.npy"}
    else:
        import rasterio
        from rasterio.transform import Affine
        from rasterio.windows import Window

        profile = dict(driver="GTiff", height=height, width=width, dtype="float32", crs="EPSG:32615",
                       transform=Affine(1.0, 0, 271460.0, 0, -1.0, 3290891.0), nodata=NODATA, tiled=True,
                       blockxsize=256, blockysize=256, interleave="pixel")
        with rasterio.open(folder / "hsi.tif", "w", count=bands, **profile) as h, \
                rasterio.open(folder / "dsm.tif", "w", count=1, **profile) as d:
            for r in range(0, height, ROWS_PER_WRITE):
                block = _cube_rows(rng, min(ROWS_PER_WRITE, height - r), width, bands + 1, r)
                win = Window(0, r, width, len(block))
                h.write(np.moveaxis(block[:, :, :bands], 2, 0), window=win)
                d.write(block[None, :, :, bands], window=win)
        profile.update(dtype="uint8", nodata=None, tiled=False, interleave="band")
        profile.pop("blockxsize"), profile.pop("blockysize")
        with rasterio.open(folder / "gt.tif", "w", count=1, **profile) as g:
            g.write(labels[None])
        files = {"hsi": "hsi.tif", "lidar": "dsm.tif", "labels": "gt.tif"}
    card = {"name": f"mem_{height}x{width}x{bands}", **files, "nodata": NODATA,
            "class_names": [f"class{k}" for k in range(1, CLASSES + 1)]}
    (folder / "scene.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder / "scene.yaml", height * width * (bands + 1) * 4, (height, width)


def run_child(args: list[str], src: Path, log: Path) -> tuple[int, float, int]:
    """Run `python -m mmlgnet ARGS` with `src` first on the path; (peak RSS bytes, wall s, exit code)."""
    env = dict(os.environ, PYTHONPATH=str(src), HF_HUB_OFFLINE="1", WANDB_MODE="offline", MMLGNET_DEBUG="1")
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mmlgnet", *args], cwd=src, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024, time.perf_counter() - t0, proc.returncode  # ru_maxrss: KiB on Linux


def measure(card: Path, work: Path, src: Path, extra: list[str],
            commands: tuple[str, ...] = ("fit", "predict")) -> dict[str, tuple[int, float]]:
    """Peak RSS and wall time of fit then predict (with fit's last.ckpt) on `card`, run from `src`."""
    work.mkdir(parents=True, exist_ok=True)
    base = ["--config", str(src / "configs/demo.yaml"), "--config", str(src / "configs/overlays/debug.yaml"),
            "--data.scene", str(card), "--data.split", "per_class:20", "--trainer.logger.init_args.save_dir",
            str(work / "runs"), *extra]
    out: dict[str, tuple[int, float]] = {}
    rss, wall, rc = run_child(["fit", *base, "--test_after_fit", "false"], src, work / "fit.log")
    if rc != 0:
        raise SystemExit(f"fit failed (exit {rc}): see {work / 'fit.log'}")
    out["fit"] = (rss, wall)
    if "predict" not in commands:
        return out
    ckpt = next((work / "runs").rglob("last.ckpt"))
    rss, wall, rc = run_child(["predict", *base, "--ckpt_path", str(ckpt), "--predict_writer.output_dir",
                               str(work / "pred")], src, work / "predict.log")
    if rc != 0:
        raise SystemExit(f"predict failed (exit {rc}): see {work / 'predict.log'}")
    out["predict"] = (rss, wall)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", type=float, nargs="+", default=[100, 400, 1150], help="scene sizes (MB, float32)")
    ap.add_argument("--bands", type=int, default=144, help="HSI bands (Houston 2013 has 144)")
    ap.add_argument("--format", choices=("tif", "npy"), default="tif")
    ap.add_argument("--src", action="append", default=None, metavar="LABEL=DIR",
                    help="checkouts to run, side by side (default: now=this repository), e.g. old=/tmp/mem_old")
    ap.add_argument("--predict-batches", type=int, default=2,
                    help="predict batches per run (0: every pixel; slow on CPU for GB scenes): the scene is loaded, "
                    "normalised and padded in full either way, and the map writer still allocates full-size maps")
    ap.add_argument("--workdir", type=Path, default=None, help="where the scenes go (default: a temp dir)")
    ap.add_argument("--commands", nargs="+", choices=("fit", "predict"), default=["fit", "predict"],
                    help="fit only: e.g. with --extra --data.scene_in_memory false (predict then needs --data.stream)")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more CLI options for both commands")
    a = ap.parse_args()
    sources = {k: Path(v).resolve() for k, v in (x.split("=", 1) for x in a.src or [f"now={REPO}"])}
    if a.predict_batches:
        a.extra += ["--trainer.limit_predict_batches", str(a.predict_batches)]
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        root = Path(tmp)
        baseline = {}
        card0, _, _ = write_scene(root / "tiny", 0, 8, a.format)
        for label, src in sources.items():
            baseline[label] = measure(card0, root / f"tiny_{label}", src, a.extra, tuple(a.commands))
        print("baseline (tiny scene): " + ", ".join(
            f"{lab} " + ", ".join(f"{cmd} {rss / 2**20:.0f} MiB" for cmd, (rss, _) in b.items())
            for lab, b in baseline.items()), flush=True)
        print("| scene (H×W×bands, format) | scene MiB | code | command | peak RSS MiB | cost MiB (peak − baseline) "
              "| cost / scene | wall s |", flush=True)
        print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |", flush=True)
        for mb in a.sizes_mb:
            folder = root / f"scene_{mb:g}"
            card, nbytes, (h, w) = write_scene(folder, int(mb * 2**20), a.bands, a.format)
            for label, src in sources.items():
                result = measure(card, folder / f"run_{label}", src, a.extra, tuple(a.commands))
                for cmd, (rss, wall) in result.items():
                    cost = rss - baseline[label][cmd][0]
                    print(f"| {h}×{w}×{a.bands} {a.format} | {nbytes / 2**20:,.0f} | {label} | {cmd} | "
                          f"{rss / 2**20:,.0f} | {cost / 2**20:,.0f} | {cost / nbytes:.2f} | {wall:.0f} |", flush=True)
            for p in folder.glob("*.*"):
                p.unlink()  # free the disk before the next size


if __name__ == "__main__":
    main()
