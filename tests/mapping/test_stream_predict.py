"""Streaming tiled prediction (issue 10 item 1): the in-memory path's classes pixel for pixel (confidences to float32
rounding: CONF_ATOL), tiles, halo, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from cardkit import CRS, TRANSFORM, write_card_scene

from mmlgnet.cli import main
from mmlgnet.data.sampling.patches import pad_scene
from mmlgnet.data.sampling.tiles import Tile, TileGrid, read_padded, tile_side
from mmlgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
BASE = ["--config", str(REPO / "configs" / "demo.yaml"), "--config", str(REPO / "configs" / "overlays" / "debug.yaml")]
# Streaming batches a tile's pixels, the in-memory path the whole scene's: a pixel meets other batch-mates, and
# float32 matrix products / convolutions of other batch shapes add in another order. Classes are identical;
# the confidence (softmax maximum) may differ by float32 rounding: measured <= 3e-7 (2-5 ulp at 0.5) across
# --data.eval_batch_size 1..1000. 1e-5 (~170 ulp) bounds rounding, and is far below any real difference.
CONF_ATOL = 1e-5


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 24x32 card scene with nodata pixels (GeoTIFFs, UTM), a checkpoint fitted on it, the in-memory maps."""
    tmp = tmp_path_factory.mktemp("stream")
    card, _, _ = write_card_scene(tmp / "scene")
    runs = tmp / "runs"
    main(["fit", *BASE, "--data.scene", str(card), "--trainer.logger.init_args.save_dir", str(runs)])
    ckpt = next(runs.rglob("last.ckpt"))
    memory = tmp / "in_memory"
    _predict(card, ckpt, memory, "--data.stream", "never")
    return card, ckpt, memory


def _predict(card: Path, ckpt: Path, out: Path, *extra: str) -> Any:
    return main(["predict", *BASE, "--data.scene", str(card), "--ckpt_path", str(ckpt),
                 "--trainer.logger.init_args.save_dir", str(out.parent / "runs"),
                 "--predict_writer.output_dir", str(out), *extra])


def test_reflect_halo_equals_pad_scene_for_every_tile() -> None:
    cube = np.random.default_rng(0).normal(size=(13, 17, 3)).astype(np.float32)  # (H, W, C)

    class Source:
        shape = cube.shape

        def read(self, rows: slice, cols: slice) -> np.ndarray:
            return cube[rows, cols]

    for patch in (1, 5, 9, 25):
        r = patch // 2
        padded = pad_scene(cube, patch).numpy()  # (H + 2r, W + 2r, C)
        for side in (1, 4, 6, 13, 40):
            grid = TileGrid(13, 17, side)
            seen = np.zeros((13, 17), dtype=int)
            for i in range(len(grid)):
                t = grid[i]
                seen[t.r0:t.r1, t.c0:t.c1] += 1
                want = padded[t.r0:t.r1 + 2 * r, t.c0:t.c1 + 2 * r]
                np.testing.assert_array_equal(read_padded(Source(), t, r), want, err_msg=f"P {patch} side {side} {t}")
            assert (seen == 1).all()  # the tiles cover the scene exactly once


def test_tile_side_follows_the_budget() -> None:
    small = tile_side(64 * 2**20, channels=150, patch_size=11, height=10**5, width=10**5)
    large = tile_side(4 * 2**30, channels=150, patch_size=11, height=10**5, width=10**5)
    assert 32 <= small < large <= 4096
    assert (small + 10) ** 2 * 150 * 4 * 4 <= 64 * 2**20  # the padded tile's copies fit the budget
    assert tile_side(4 * 2**30, channels=150, patch_size=11, height=50, width=70) == 70  # one tile: the scene
    assert Tile(0, 2, 4, 3, 6).flat_index(10).tolist() == [23, 24, 25, 33, 34, 35]


def test_streaming_gives_the_in_memory_classes_pixel_for_pixel(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    card, ckpt, memory = fitted
    out = tmp_path / "streamed"
    _predict(card, ckpt, out, "--data.stream", "always", "--data.stream_tile", "10")  # 24x32: 3x4 tiles, ragged
    want_pred, want_conf = np.load(memory / "prediction.npy"), np.load(memory / "confidence.npy")
    pred, conf = np.load(out / "prediction.npy"), np.load(out / "confidence.npy")
    assert pred.dtype == want_pred.dtype and conf.dtype == want_conf.dtype
    np.testing.assert_array_equal(pred, want_pred)  # classes, borders and nodata pixels (0) included
    np.testing.assert_allclose(conf, want_conf, rtol=0, atol=CONF_ATOL)  # other batches: float32 rounding only
    assert (conf[pred == 0] == 0).all()
    assert (pred == 0).sum() == 5  # the scene's 5 nodata pixels
    with rasterio.open(out / "prediction.tif") as ds:
        assert ds.crs.to_string() == CRS and ds.transform == TRANSFORM and ds.shape == (24, 32)
        np.testing.assert_array_equal(ds.read(1), want_pred)
        assert ds.colormap(1)[1][3] == 255
    with rasterio.open(out / "confidence.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), conf)
    summary = json.loads((out / "maps.json").read_text())
    assert summary["streamed"]["tiles"] == 12 and summary["nodata_pixels"] == 5
    assert sum(summary["predicted_class_counts"]) == 24 * 32 - 5
    assert not list(out.glob("*.partial")) and not list(out.glob("stream_progress*"))


def test_auto_streams_only_over_the_budget(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    card, ckpt, memory = fitted
    cli = _predict(card, ckpt, tmp_path / "big", "--data.memory_budget_mb", "0.01", "--data.stream_tile", "16")
    assert cli.datamodule._stream is not None
    assert json.loads((tmp_path / "big" / "maps.json").read_text())["streamed"]["tiles"] == 4
    np.testing.assert_array_equal(np.load(tmp_path / "big" / "prediction.npy"), np.load(memory / "prediction.npy"))
    cli = _predict(card, ckpt, tmp_path / "fits")  # default budget: a quarter of the RAM, the scene fits
    assert cli.datamodule._stream is None and "streamed" not in json.loads((tmp_path / "fits" / "maps.json").read_text())


def test_streaming_refuses_bad_options(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    card, ckpt, _ = fitted
    for extra, match in [(["--data.stream_tile", "0"], "stream_tile"), (["--data.memory_budget_mb", "-1"],
                                                                          "memory_budget_mb")]:
        with pytest.raises(ConfigError, match=match):
            _predict(card, ckpt, tmp_path / "x", "--data.stream", "always", *extra)
    with pytest.raises(ConfigError, match="catalogue scene"):
        main(["predict", *BASE, "--data.stream", "always", "--allow_untrained", "true",
              "--predict_writer.output_dir", str(tmp_path / "y")])


def _progress(out: Path) -> int:
    done = 0
    for p in out.glob("stream_progress.rank*.json"):
        try:
            done += len(json.loads(p.read_text())["done"])
        except (OSError, ValueError):
            pass
    return done


@pytest.mark.slow  # kill/resume of a fresh-process prediction: `make test-all` only
def test_killed_prediction_resumes_and_completes(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """SIGKILL after some tiles: no final file, the partials and record stay; a rerun writes only the rest."""
    card, ckpt, memory = fitted
    out = tmp_path / "killed"
    args = ["--data.stream", "always", "--data.stream_tile", "4"]  # 6 x 8 = 48 tiles
    code = (f"import sys, time; sys.path.insert(0, {str(REPO / 'tests')!r})\n"
            "import mmlgnet.mapping.stream_writer as w\n"
            "done = w.StreamOutputs.tile_done\n"
            "def slow(self, tile):\n    done(self, tile); time.sleep(0.5)\n"
            "w.StreamOutputs.tile_done = slow\n"
            "from mmlgnet.cli import main\n"
            f"main(['predict', *{BASE!r}, '--data.scene', {str(card)!r}, '--ckpt_path', {str(ckpt)!r}, "
            f"'--trainer.logger.init_args.save_dir', {str(tmp_path / 'runs')!r}, "
            f"'--predict_writer.output_dir', {str(out)!r}, *{args!r}])\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    deadline = time.monotonic() + 600
    while _progress(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the prediction ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = _progress(out)
    assert 5 <= written < 48
    assert not (out / "prediction.npy").exists() and not (out / "prediction.tif").exists()
    assert (out / "prediction.npy.partial").exists()
    cli = _predict(card, ckpt, out, *args)
    assert sum(cli.trainer.num_predict_batches) == 48 - written  # one batch per 4x4 tile: only those left
    summary = json.loads((out / "maps.json").read_text())
    assert summary["streamed"]["tiles_resumed"] == written
    np.testing.assert_array_equal(np.load(out / "prediction.npy"), np.load(memory / "prediction.npy"))
    with rasterio.open(out / "prediction.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), np.load(memory / "prediction.npy"))
    assert not list(out.glob("*.partial")) and not list(out.glob("stream_progress*"))


def test_changed_options_restart_cleanly(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A record of another run (other tile size) is not trusted: every tile is classified again."""
    from mmlgnet.mapping.stream_writer import StreamOutputs

    card, ckpt, memory = fitted
    out = tmp_path / "changed"
    stale = StreamOutputs(out, 24, 32, 12, {"other": "run"})
    stale.prepare()
    stale.open(set())
    stale.write(np.arange(24 * 32), np.full(24 * 32, 3, dtype=np.int16), np.ones(24 * 32, dtype=np.float32))
    for t in range(12):
        stale.tile_done(t)  # a complete but stale record: the maps hold 3 everywhere
    stale.close()
    _predict(card, ckpt, out, "--data.stream", "always", "--data.stream_tile", "10")
    assert json.loads((out / "maps.json").read_text())["streamed"]["tiles_resumed"] == 0
    np.testing.assert_array_equal(np.load(out / "prediction.npy"), np.load(memory / "prediction.npy"))


def test_tiles_are_sharded_across_ranks_once_each() -> None:
    from mmlgnet.data.sampling.streaming import TileBatches

    grid = TileGrid(24, 32, 7)  # 4 x 5 = 20 tiles, ragged
    todo = [t for t in range(20) if t not in {3, 4, 11}]  # 3 tiles already written (resume)
    shards = [[tuple(b.tolist()) for b in TileBatches(grid, todo, chunk=20, num_replicas=2, rank=r)] for r in (0, 1)]
    tiles = [{t for t, _, _ in s} for s in shards]
    assert not tiles[0] & tiles[1] and tiles[0] | tiles[1] == set(todo)
    for shard in shards:  # each tile's chunks cover its pixels exactly once
        for t in {t for t, _, _ in shard}:
            spans = [(a, b) for u, a, b in shard if u == t]
            assert spans[0][0] == 0 and spans[-1][1] == grid[t].pixels
            assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    assert len(TileBatches(grid, todo, chunk=20, num_replicas=2, rank=1)) == len(shards[1])
