"""The in-memory path: the whole scene normalised and reflect-padded once, patches cut on the device by one gather.

Each served cube is read twice in all, the fewest the arithmetic allows: `prepare` (setup) scans it ONCE for the
band statistics, the nodata mask and the band checks (mmlgnet.data.sampling.scan); the normalised, padded scene is
written at the first batch (`served`) from the raw cube and the scan's masks. A checkpoint's statistics that
arrive in between (Lightning's load_state_dict after setup) are simply used then: no second normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmlgnet.data.sampling.band_checks import check_scan
from mmlgnet.data.sampling.batches import PatchDataset
from mmlgnet.data.sampling.normalization import NormStats, norm_stats_from
from mmlgnet.data.sampling.patches import PatchGatherer, normalized_padded
from mmlgnet.data.sampling.scan import CubeScan, scan_cube
from mmlgnet.data.scenes.scene import Scene
from mmlgnet.data.serving.interface import Batch, ServeOptions, index_batch, index_loader, moved_gather
from mmlgnet.data.transfer import TrainingData
from mmlgnet.errors import ConfigError

__all__ = ["InMemoryServing", "served_cubes"]


def served_cubes(scene: Scene, modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Modality -> its (H, W, C) cube; ConfigError when the scene lacks a modality the model asks for."""
    cubes = {"hsi": scene.hsi, "lidar": scene.lidar}
    out: dict[str, np.ndarray] = {}
    for name in modalities:
        cube = cubes[name]
        if cube is None:
            raise ConfigError(f"--model.modalities asks for {name!r} but the scene {scene.name!r} has no "
                              f"{name} data: add its file, or drop {name!r} from --model.modalities.")
        out[name] = cube
    return out


class InMemoryServing:
    """A scene held in memory (catalogue and synthetic scenes, cards within --data.memory_budget_mb)."""

    def __init__(self, scene: Scene, options: ServeOptions) -> None:
        self.scene, self.options = scene, options
        self.cubes = served_cubes(scene, options.modalities)
        self.norm_stats: dict[str, NormStats] = {}
        self.scans: dict[str, CubeScan] = {}
        self.host: dict[str, torch.Tensor] = {}  # name -> (Hp, Wp, C) padded scene, until moved to the device
        self.gatherers: dict[str, PatchGatherer] = {}

    def prepare(self, training: TrainingData | None) -> None:
        """setup(): refuse what cannot be served, then scan each cube once (statistics, nodata, band checks)."""
        o = self.options
        if training is not None:
            training.check(o.scene_name, o.normalization, list(self.scene.class_names),
                           {k: int(v.shape[2]) for k, v in self.cubes.items()})
        for name, cube in self.cubes.items():
            scan = self.scans[name] = scan_cube(cube, o.nodata)
            check_scan(self.scene, name, cube, scan, o.nodata, o.source)
            self.norm_stats[name] = training.stats[name] if training is not None else \
                norm_stats_from(scan.stats, o.normalization)

    def check_stage(self, stage: str | None) -> None:
        """Every stage is served."""

    def use_training(self, training: TrainingData) -> None:
        o = self.options
        training.check(o.scene_name, o.normalization, list(self.scene.class_names),
                       {k: int(v.shape[2]) for k, v in self.cubes.items()})
        if all(self.norm_stats[k].same_as(training.stats[k]) for k in self.cubes):
            return
        self.norm_stats = {k: training.stats[k] for k in self.cubes}
        self.host, self.gatherers = {}, {}  # normalised again only if batches were served already

    @property
    def padded(self) -> dict[str, torch.Tensor]:
        """Modality -> the host copy of its normalised, padded scene (Hp, Wp, C); gone once moved to a device."""
        self.served()
        return self.host

    def served(self) -> dict[str, PatchGatherer]:
        """The gatherers, normalising and padding each cube at the first call (the scan's masks reused)."""
        if not self.gatherers:
            o = self.options
            for name, cube in self.cubes.items():
                scan = self.scans.get(name)
                masks = scan.masks(cube.shape) if scan is not None and scan.packed else None
                self.host[name] = normalized_padded(cube, self.norm_stats[name], o.nodata, o.patch_size, masks)
                self.gatherers[name] = PatchGatherer(self.host[name], self.scene.width, o.patch_size)
                if scan is not None:
                    scan.release_masks()
        return self.gatherers

    def loader(self, index: np.ndarray, target: np.ndarray, shuffle: bool, batch_size: int, seed: int,
               world: int, rank: int) -> DataLoader:
        self.served()
        o = self.options
        if o.pipeline == "per_sample":
            padded = {k: v.numpy() for k, v in self.host.items()}
            ds = PatchDataset(padded, self.scene.width, o.patch_size, index, target)
            return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=o.num_workers,
                              drop_last=False, persistent_workers=o.num_workers > 0,
                              pin_memory=torch.cuda.is_available())  # a fair baseline: async host→GPU copies
        return index_loader(index, target, shuffle, batch_size, seed, world, rank)

    def predict_loader(self, batch_size: int, seed: int, world: int, rank: int) -> DataLoader:
        s = self.scene
        index = np.arange(s.height * s.width)  # every pixel, background included, raster order
        return self.loader(index, s.labels.reshape(-1).astype(np.int64) - 1, False, batch_size, seed, world, rank)

    def gather(self, index: torch.Tensor) -> Batch:
        """Patches of every served modality for flat indices on any device: name -> (B, C, P, P)."""
        return moved_gather(self.served(), index, lambda name: self.host.pop(name, None))  # host RAM: raw scene only

    def batch(self, batch: Any) -> Batch:
        return batch if isinstance(batch, dict) else index_batch(batch, self.gather)  # dict: per_sample, cut already

    def nodata_pixels(self) -> dict[str, np.ndarray | None]:
        return {k: scan.void for k, scan in self.scans.items()}
