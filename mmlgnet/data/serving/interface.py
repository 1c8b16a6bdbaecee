"""The one interface of a serving path: what HSILidarDataModule asks of the scene it serves.

A path serves training and evaluation batches (`loader`: a DataLoader of flat pixel indices), turns a batch into
patches on the device (`batch`) and serves the prediction pixels or tiles (`predict_loader`). The datamodule
chooses one path per scene from the memory budget (mmlgnet.data.sampling.budget) and stays a thin Lightning shell:

| path | module | serves |
|---|---|---|
| in memory | `in_memory.InMemoryServing` | the normalised, padded scene; patches cut with one gather |
| by windows | `windowed.WindowedServing` | the labelled pixels' patches read by windows (fit/validate/test) |
| by tiles | `streamed.StreamedServing` | predict only: tiles read by window, normalised with the checkpoint's stats |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmlgnet.data.sampling.batches import PixelBatchSampler, PixelIndexDataset
from mmlgnet.data.sampling.normalization import Normalization, NormStats
from mmlgnet.data.scenes.nodata_source import NodataSource
from mmlgnet.data.transfer import TrainingData

__all__ = ["Batch", "ServeOptions", "Serving", "index_batch", "index_loader", "moved_gather"]

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ServeOptions:
    """The datamodule's options a path serves with (checked by mmlgnet.data.data_options at construction)."""

    scene_name: str
    modalities: tuple[str, ...]
    patch_size: int
    normalization: Normalization
    nodata: float | None  # the value in force: --data.nodata, else the scene's own
    source: NodataSource | None  # where it was declared (messages)
    pipeline: str = "device"
    num_workers: int = 0


class Serving(Protocol):
    """One way of serving a scene: chosen once (HSILidarDataModule.setup), asked for batches from then on."""

    norm_stats: dict[str, NormStats]  # modality -> the statistics its patches are normalised with

    def check_stage(self, stage: str | None) -> None:
        """Refuse a stage this path cannot serve (ConfigError naming the option that changes the path)."""

    def use_training(self, training: TrainingData) -> None:
        """Normalise with a checkpoint's training-scene statistics from now on (load_state_dict after setup)."""

    def loader(self, index: np.ndarray, target: np.ndarray, shuffle: bool, batch_size: int, seed: int,
               world: int, rank: int) -> DataLoader:
        """Training or evaluation batches of the pixels `index` (flat, (N,)) with their 0-based `target` (N,)."""

    def predict_loader(self, batch_size: int, seed: int, world: int, rank: int) -> DataLoader:
        """Prediction batches: every pixel of the scene in raster order (in memory), or this rank's tiles."""

    def batch(self, batch: Any) -> Batch:
        """A batch on the device -> its patches (name -> (B, C, P, P)) and what the model step needs."""

    def nodata_pixels(self) -> dict[str, np.ndarray | None]:
        """Modality -> its (H, W) nodata pixels, when this path already found them (no second pass)."""


def index_loader(index: np.ndarray, target: np.ndarray, shuffle: bool, batch_size: int, seed: int,
                 world: int, rank: int) -> DataLoader:
    """Batches of flat pixel indices and targets, sharded over `world` ranks (mmlgnet.data.sampling.batches)."""
    sampler = PixelBatchSampler(len(index), batch_size, shuffle, seed=seed, num_replicas=world, rank=rank)
    return DataLoader(PixelIndexDataset(index, target), sampler=sampler, batch_size=None)


def index_batch(batch: Any, gather: Any) -> Batch:
    """(index (B,), target (B,)) on the device -> with the patches of every served modality (`gather(index)`)."""
    index, target = batch
    return {"index": index, "target": target, **gather(index)}


def moved_gather(gatherers: dict[str, Any], index: torch.Tensor, moved: Any = None) -> Batch:
    """Patches of every served modality for flat indices on any device: name -> (B, C, P, P).

    A gatherer is moved to the indices' device once and then reused (`moved(name)`: told, e.g. to drop the
    host copy of that modality).
    """
    out = {}
    for name, g in gatherers.items():
        if g.device != index.device:
            g = gatherers[name] = g.to(index.device)
            if moved is not None:
                moved(name)
        out[name] = g(index)
    return out
