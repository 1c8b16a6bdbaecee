"""Streaming tiled prediction, data side: when to stream, the tile batches, and the patches of one tile.

`HSILidarDataModule` delegates here in `predict` when the scene is a card that does not fit the memory budget
(`--data.stream auto`, the default) or when forced (`--data.stream always`). The scene is opened lazily
(mmlgnet.data.scenes.lazy_scene); each batch names a tile and a range of its pixels; the tile (with its P // 2 halo,
reflected at the scene border as pad_scene does) is read by window, normalised with the CHECKPOINT's statistics
(nodata entries -> the training band mean, as in memory) and cut into patches. Only one tile is held at a time.
The writer side (resume, outputs) is mmlgnet.mapping.stream_writer, driven by mmlgnet.mapping.prediction.PredictionMapWriter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from mmlgnet.data.sampling.budget import PREDICT_IN_MEMORY_COST, default_budget_mb, in_memory_mb, over_budget
from mmlgnet.data.sampling.normalization import NormStats, nodata_mask, normalize_bands
from mmlgnet.data.sampling.patches import PatchGatherer, check_patch_size
from mmlgnet.data.sampling.tiles import Tile, TileGrid, read_padded, tile_side
from mmlgnet.data.scenes.cards import is_card
from mmlgnet.data.scenes.lazy_scene import LazyScene, open_card_lazily
from mmlgnet.errors import ConfigError

__all__ = ["StreamPlan", "default_budget_mb", "plan_stream"]

STREAM_CHOICES = ("auto", "always", "never")


def plan_stream(dm: Any) -> StreamPlan | None:
    """The streaming plan of datamodule `dm` (its scene, options), or None when the scene is loaded in memory."""
    mode = dm.stream
    if mode not in STREAM_CHOICES:
        raise ConfigError(f"--data.stream {mode!r}: use one of {STREAM_CHOICES}.")
    if mode == "never":
        return None
    if dm.scene_name == "synthetic" or not is_card(dm.scene_name):
        if mode == "always":
            raise ConfigError(f"--data.stream always maps scene cards by tiles; {dm.scene_name!r} is a catalogue "
                              f"scene (small: it fits in memory). Drop --data.stream, or describe the files in a card.")
        return None
    lazy = open_card_lazily(dm.scene_name, lidar_channels=dm.lidar_channels, require_hsi="hsi" in dm.modalities)
    budget_mb = dm.memory_budget_mb if dm.memory_budget_mb is not None else default_budget_mb()
    if budget_mb <= 0:
        raise ConfigError(f"--data.memory_budget_mb {budget_mb}: expected a positive number of MiB (e.g. 4096).")
    if dm.stream_tile is not None and (isinstance(dm.stream_tile, bool) or dm.stream_tile < 1):
        raise ConfigError(f"--data.stream_tile {dm.stream_tile}: expected a tile side of at least 1 pixel "
                          f"(e.g. 512), or null to size tiles from --data.memory_budget_mb.")
    served = [c for c in (lazy.cube(m) for m in dm.modalities) if c is not None]
    channels = sum(c.shape[2] for c in served)
    values = lazy.height * lazy.width * channels
    need_mb = in_memory_mb(PREDICT_IN_MEMORY_COST, values)
    if mode == "auto" and need_mb <= budget_mb:
        lazy.close()
        return None
    side = dm.stream_tile or tile_side(budget_mb * 2**20 / 2, channels, dm.patch_size, lazy.height, lazy.width)
    why = ("--data.stream always" if mode == "always" else
           over_budget(need_mb, budget_mb, dm.memory_budget_mb is not None, PREDICT_IN_MEMORY_COST, values))
    return StreamPlan(lazy, side, why)


class TileBatches(DistributedSampler):
    """Yields (3,) int64 tensors [tile id, start, stop]: this rank's share of the tiles left, in pixel chunks.

    Tiles (not pixels) are sharded: rank r takes the r-th, (r + R)-th, ... of the tiles not yet written, so each
    tile is classified and written by one rank. Subclassing DistributedSampler tells Lightning the data is
    already sharded.
    """

    def __init__(self, grid: TileGrid, todo: list[int], chunk: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.grid, self.chunk, self.num_replicas, self.rank = grid, chunk, num_replicas, rank
        self.mine = todo[rank::num_replicas]
        self.num_samples = sum(-(-grid[t].pixels // chunk) for t in self.mine)
        self.epoch, self.shuffle, self.drop_last = 0, False, False

    def __iter__(self) -> Iterator[torch.Tensor]:
        for t in self.mine:
            n = self.grid[t].pixels
            for start in range(0, n, self.chunk):
                yield torch.tensor([t, start, min(n, start + self.chunk)])

    def __len__(self) -> int:
        return self.num_samples


class _Items(Dataset):
    """The sampler's items are the batches themselves."""

    def __getitem__(self, item: torch.Tensor) -> torch.Tensor:
        return item

    def __len__(self) -> int:
        return 0


class StreamPlan:
    """One streaming prediction: the lazily opened scene, the tile grid, the statistics, the current tile."""

    def __init__(self, lazy: LazyScene, side: int, reason: str) -> None:
        self.lazy, self.reason = lazy, reason
        self.grid = TileGrid(lazy.height, lazy.width, side)
        self.stats: dict[str, NormStats] = {}
        self.skip: set[int] = set()  # tiles already written (resume): set by the writer before the loader is built
        # called first thing by `dataloader`, i.e. after the weights are restored: the writer decides to resume there
        self.before_loader: Callable[[], None] | None = None
        self._tile: tuple[int, dict[str, PatchGatherer], torch.Tensor, torch.Tensor] | None = None
        self.modalities: tuple[str, ...] = ()
        self.patch_size, self.chunk, self.fill, self.normalization = 1, 1, None, "standard"

    @property
    def stub(self) -> Any:
        return self.lazy.stub

    def setup(self, dm: Any) -> None:
        """Check the options and take the checkpoint's statistics (streaming needs them: no pass over the scene)."""
        check_patch_size(dm.patch_size, self.lazy.height, self.lazy.width)
        self.modalities, self.patch_size, self.chunk = tuple(dm.modalities), dm.patch_size, dm.eval_batch_size
        self.fill, self.normalization = dm.fill_value, dm.normalization
        training = dm._training
        if training is None:
            raise ConfigError(
                f"streaming prediction of {dm.scene_name} ({self.reason}) normalises the tiles with the statistics "
                f"stored in the checkpoint, and none were given: pass --ckpt_path of a fit by this version of "
                f"mmlgnet, or --data.stream never to load the scene in memory.")
        cubes = {m: self.lazy.cube(m) for m in self.modalities}
        missing = [m for m, c in cubes.items() if c is None]
        if missing:
            raise ConfigError(f"--model.modalities asks for {missing} but the scene {self.stub.name!r} has no such "
                              f"data: add its file, or drop it from --model.modalities.")
        training.check(dm.scene_name, self.normalization, list(self.stub.class_names),
                       {m: int(c.shape[2]) for m, c in cubes.items() if c is not None})
        self.stats = {m: training.stats[m] for m in self.modalities}
        rank_zero_info(f"Streaming prediction of {self.stub.name} ({self.lazy.height}×{self.lazy.width} px): "
                       f"{self.reason}; {len(self.grid)} tiles of {self.grid.side}×{self.grid.side} px.")

    def fingerprint(self, model: dict[str, Any]) -> dict[str, Any]:
        """What the partial outputs depend on (the resume key): `model` (mmlgnet.mapping.stream_key.model_identity:
        weights digest, class list, text embeddings, precision), scene files, data options and grid."""
        def stat(path: Any) -> list[Any]:
            st = os.stat(path)
            return [str(os.path.realpath(path)), st.st_size, st.st_mtime_ns]

        files = [stat(p.path) + [p.key, list(getattr(p, "band_index", []))]
                 for cube in (self.lazy.hsi, self.lazy.lidar) if cube is not None for p in cube.parts]
        return {"model": model,
                "card": stat(self.lazy.card.card), "files": files, "modalities": list(self.modalities),
                "patch_size": self.patch_size, "normalization": self.normalization,
                "nodata": None if self.fill is None else repr(float(self.fill)),  # NaN: "nan" (JSON has no NaN)
                "lidar_channels": self.lazy.lidar.channels, "eval_batch_size": self.chunk,
                "stats": {m: s.to_state() for m, s in self.stats.items()},
                "grid": [self.grid.height, self.grid.width, self.grid.side]}

    def dataloader(self, world: int, rank: int) -> DataLoader:
        if self.before_loader is not None:
            self.before_loader()  # the writer: resume or start afresh, sets self.skip
        todo = [t for t in range(len(self.grid)) if t not in self.skip]
        sampler = TileBatches(self.grid, todo, self.chunk, num_replicas=world, rank=rank)
        return DataLoader(_Items(), sampler=sampler, batch_size=None)

    def _load(self, tile: Tile, device: torch.device) -> tuple[dict[str, PatchGatherer], torch.Tensor, torch.Tensor]:
        r = self.patch_size // 2
        gatherers: dict[str, PatchGatherer] = {}
        void = np.zeros((tile.height, tile.width), dtype=bool)  # (h, w) any band == nodata, as the in-memory path
        for name in ("hsi", "lidar"):
            cube = self.lazy.cube(name)
            if cube is None or (name not in self.modalities and self.fill is None):
                continue
            if name not in self.modalities:  # not served, but its nodata pixels are 0 in the maps (in memory too)
                raw = cube.read(slice(tile.r0, tile.r1), slice(tile.c0, tile.c1))  # (h, w, C)
                void |= nodata_mask(raw, self.fill).any(axis=2)
                continue
            raw = read_padded(cube, tile, r)  # (h + 2r, w + 2r, C) float32
            if self.fill is not None:
                void |= nodata_mask(raw[r:r + tile.height, r:r + tile.width], self.fill).any(axis=2)
            normed = normalize_bands(raw, self.normalization, self.fill, stats=self.stats[name])  # type: ignore[arg-type]
            del raw
            gatherers[name] = PatchGatherer(torch.from_numpy(normed), tile.width, self.patch_size).to(device)
        index = torch.from_numpy(tile.flat_index(self.lazy.width)).to(device)  # (h * w,) scene flat indices
        return gatherers, index, torch.from_numpy(void.reshape(-1)).to(device)

    def batch(self, item: torch.Tensor) -> dict[str, torch.Tensor]:
        """[tile, start, stop] -> patches of those pixels of the tile, their scene indices, nodata flags, tile id."""
        t, start, stop = (int(v) for v in item.tolist())
        if self._tile is None or self._tile[0] != t:
            self._tile = None  # drop the previous tile before reading the next
            self._tile = (t, *self._load(self.grid[t], item.device))
        _, gatherers, index, void = self._tile
        local = torch.arange(start, stop, device=item.device)  # (B,) positions in the tile, raster order
        out = {name: g(local) for name, g in gatherers.items()}  # name -> (B, C, P, P)
        last = torch.tensor(stop == self.grid[t].pixels)
        return {"index": index[start:stop], "void": void[start:stop], "tile": torch.tensor(t), "last": last, **out}
